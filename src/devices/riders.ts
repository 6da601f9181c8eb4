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
//
// A backlog changes the price. When more throughput work waits for the lane than its next full
// bulk batch will take, the device is behind, and each latency batch it runs short of full is
// capacity lost for good: a GPU with t(n) = 6 + 1.2n (B = 32) serving a 10 % latency class ran
// batches of 8.6 on average — 526 images/s instead of 720 in full batches — and its throughput
// backlog grew without bound at 90 % load (issue 17's held-out slow-CPU + mid-GPU scenario).
// So, only then, the latency batch also takes the backlog's excess, bounded by a second budget:
//
//   fill = the largest f ≤ min(B − n, available, ⌊backlog − B⌋) with
//          t(n + f) ≤ (1 + backlogBudget) · t(n)  and  now + t(n + f) ≤ the earliest deadline
//   riders = max(r, fill)
//
// backlog = the lane's own bulk queue plus its device's share of the pool (its workers × full-
// batch throughput over all the pool's consumers'); backlogBudget = devices[].riders.backlogBudget
// (default 2: under a backlog a latency batch may take up to three times its time alone; 0: off).
// Riders come only from beyond the next full batch, so a device that keeps up (backlog ≤ B)
// never pays it. The second budget is the trade between the two classes, measured on the
// generated scenarios (bench/results/random*.md): unbounded (deadline only), the latency class's
// p99 crossed 100 ms on GPUs whose full batch takes longer than that (t(n) = 17 + 3.1n, B = 32).
//
// Told the latency class's objective (devices[].riders.latencyObjectiveMs; unset: never), a device
// at least DEEP_BACKLOG_BATCHES full batches behind lifts the second budget — the deadline alone
// bounds the fill — while its own latency items' recent p95 is within 0.7 of the objective
// (latency-gate.ts): the budget is spent only where the latency class has room.

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

/**
 * Under a backlog, how many throughput items a latency batch of `n` items takes (the riders
 * above, or more): `backlog` is the throughput work waiting for this device's lane (its own queue
 * plus its share of the pool), `available` what it could take now.
 */
export function fillCount (cost: RiderCost, n: number, maxBatchSize: number, backlogBudget: number, slackMs: number, backlog: number, available: number, deep = false): number {
  const room = Math.min(maxBatchSize - n, available, Math.floor(backlog - maxBatchSize))
  if (room <= 0 || backlogBudget <= 0 || !(cost.b < cost.a)) return 0
  const f = riderCount(cost, n, maxBatchSize, backlogBudget, slackMs, room)
  if (!deep || backlog < DEEP_BACKLOG_BATCHES * maxBatchSize) return f
  return Math.max(f, riderCount(cost, n, maxBatchSize, Infinity, slackMs, room))
}

/**
 * How far behind a device is (full batches of throughput work waiting for it) before a latency
 * batch fills past its backlog budget, where the device's latency gate is open (`deep`,
 * latency-gate.ts): deadline only. 4 and 8 screened alike (bench/results/late-binding.md).
 */
export const DEEP_BACKLOG_BATCHES = 4

export const DEFAULT_BACKLOG_BUDGET = 2
