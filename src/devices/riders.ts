// Batches latency work can share: throughput items that ride along with a latency batch.
// Pure arithmetic, shared by the scheduler (how many ride) and the router (what the latency
// request is promised), so the two cannot disagree.
//
// A latency batch of n items on a lane with cost t(k) = a + b·k runs alone today. Filling it
// with r throughput items costs the latency items b·r ms more; those r items, run in bulk
// batches of B instead, would cost the device r·(b + a/B). So riding saves the device
// r·a/B ms of worker time, and its price is paid by the latency items. It is worth it only where
// the cost model says filling a batch is cheap — the marginal image costs less than the fixed
// cost of a run (b < a: a GPU, with its launch overheads; on a CPU b ≫ a and nothing rides) —
// and then only within a budget:
//
//   r = the largest r ≤ min(B − n, available) with
//       t(n + r) ≤ (1 + budget) · t(n)          (the latency batch at most budget× slower)
//       now + t(n + r) ≤ the batch's earliest deadline
//
// budget = devices[].riders.budget (default 1: a latency batch may take up to twice its time
// alone); 0 turns riding off.

export interface RiderCost {
  a: number
  b: number
  predict: (n: number) => number
}

/**
 * How many throughput items may ride with a latency batch of `n` items.
 * `slackMs`: ms from now to the batch's earliest deadline; `available`: throughput items waiting.
 */
export function riderCount (cost: RiderCost, n: number, maxBatchSize: number, budget: number, slackMs: number, available: number): number {
  const room = Math.min(maxBatchSize - n, available)
  if (room <= 0 || budget <= 0 || !(cost.b < cost.a)) return 0
  const limit = Math.min((1 + budget) * cost.predict(n), slackMs)
  if (cost.predict(n + 1) > limit) return 0
  if (cost.b <= 0) return room
  // t grows linearly: the largest r with a + b·(n + r) ≤ limit
  let r = Math.max(0, Math.min(room, Math.floor((limit - cost.a) / cost.b) - n))
  while (r > 0 && cost.predict(n + r) > limit) r-- // (rounding)
  return r
}

export const DEFAULT_RIDER_BUDGET = 1
