// Another draw of a scenario's chance: the same fleet, traffic mix, arrival process, events and
// SLOs, with another seed for what the simulator draws at run time — the arrival times and
// classes (workload.ts), each batch's jitter (the devices' generators) and each decode's
// (engine.ts). Draw 0 is the scenario as written.
//
// A cell of a generated report (one scenario at one load) is one draw of its arrivals, and its
// p99s are taken over a few hundred requests of a class: whether switchyard is beaten there can
// be the scenario or the draw. Judging the same cell on several draws tells them apart
// (bench/resample-cells.ts): a loss on most draws is the rule's, one on a few is chance.
import type { Scenario } from './scenario.js'

/**
 * The stride between draws' seeds: a prime above any seed a report uses (the generated sets run
 * to the hundreds), so no draw's seed is another scenario's own.
 */
export const DRAW_STRIDE = 1_000_003

/** `s` with the seed of draw `k` (k = 0: `s` itself). */
export function redraw (s: Scenario, k: number): Scenario {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`draw ${k}: a non-negative integer`)
  return k === 0 ? s : { ...s, seed: s.seed + DRAW_STRIDE * k }
}
