// An overdue pool: bulk work a device's latency batches have starved, run ahead of one of them.
// Pure arithmetic, read by the scheduler (scheduler.ts pump) when a general worker is about to
// start a latency batch.
//
// The batcher runs latency work first (batcher.ts, rule 1), and a model's pooled throughput
// items also leave as riders of that model's latency batches (riders.ts). On a device whose one
// general worker runs latency batches back to back, a model whose latency items are few there
// (the router placed them elsewhere, or its traffic is mostly bulk) has no batch of its own to
// ride: its pool is reached only when latency work pauses, while the other models' pools empty
// as riders. Seed 187 at 90 % (a one-worker GPU beside a slow CPU, 62 % latency class) waited
// 2,176 ms at the p99 against speed-aware's 345; seed 553 at 40 %, in bursts, 3,238 against
// shared-queue's 518 (bench/results/late-binding.md, "An overdue pool").
//
// The rule. A general worker about to start a latency batch that holds every latency item
// waiting on the device (no latency backlog: one batch's wait is all it adds) runs instead one
// full batch of a pool when
//
//   the pool holds a full batch B of the lane, and the lane's cost model says filling a batch
//   is cheap (b < a: on a CPU a bulk batch is as long as its items' latency work, and latency
//   items wait the whole of it);
//   its head has waited OVERDUE_MS, and OVERDUE_RATIO × as long as the youngest head among the
//   device's other pools (an empty pool's: 0) — starved beside the others, not merely behind
//   with them: where every pool is backlogged (a saturated fleet), nothing is overdue, and a
//   device serving one pool never has one;
//   another live device serves the pool (a pool this device serves alone waits on the batcher's
//   class order as it would under any rule: no device was left out of it, and running it ahead
//   only moves the wait onto the latency items), and this device may pull a full batch of it
//   (late-binding.ts pullCount: a faster device would not reach it first);
//   the latency batch's earliest deadline leaves room for both batches (now + 2·t(B));
//
// the oldest such head first, and never two in a row on one worker: the latency batch runs next.
// What it costs the latency items waiting is one bulk batch, t(B) ms, at most once per latency
// batch; measured on the generated scenarios (bench/results/late-binding.md): on seeds 1–1400,
// over-2× cells 21 → 10, not beaten 8,111 → 8,116, sustainable rates 1,362 → 1,358 — the latency
// class's p99 crosses its objective where it was near it (five scenarios under bursts, two of
// them a lone GPU; one gains). A lone device's pools (session 48): on seeds 1–1720 the rule lost
// 13 cells of single-device scenarios, 12 on the latency p99, where every baseline runs the same
// schedule; without it there, not beaten 9,964 → 9,976 of 10,320, over 2× 13 → 13, sustainable
// 1,665 → 1,667.

/** How long a pool's head waits before its pool may be overdue (ms): a quarter of the shortest throughput SLO the generated scenarios set (2 s). */
export const OVERDUE_MS = 500

/** How many times as long as the youngest head among the device's other pools an overdue head has waited. */
export const OVERDUE_RATIO = 3

/**
 * Whether a pool head that has waited `ageMs` is overdue beside the device's other pools, the
 * youngest of whose heads has waited `youngestOtherMs` (0 where one is empty; Infinity where the
 * device serves no other pool: then none is).
 */
export function overdue (ageMs: number, youngestOtherMs: number): boolean {
  return Number.isFinite(youngestOtherMs) && ageMs >= OVERDUE_MS && ageMs >= OVERDUE_RATIO * youngestOtherMs
}
