// Issue 17's targets as a judge: is switchyard "not beaten" by a baseline at one offered load
// of one scenario (same arrivals)? A baseline beats switchyard when it
//   - refuses more than 0.5 percentage points less, or, refusing no more than switchyard,
//   - has a throughput-class p99 better by more than 25 % (unless switchyard's is under a
//     quarter of the throughput SLO), or
//   - has a latency-class p99 better by more than 10 % (unless switchyard's is under half the
//     latency SLO).
// A baseline that refuses more does not count as better on p99. The same test the other way
// round says when switchyard beats a baseline. A cell is a loss when any baseline beats
// switchyard, a win when switchyard beats every baseline, else within tolerance.
// Beside it: the 2× rule (switchyard's p99 never above 2× a baseline's that refuses no more,
// where switchyard's is above the floors) and the sustainable-rate rule (≥ 0.97× the best
// baseline's).
import type { Slo } from './scenario.js'

export interface CellMetrics {
  /** p99 ms, NaN when the class has no answers (or does not exist) */
  latP99: number
  thrP99: number
  /** refused, failed or unanswered, fraction of offered */
  refused: number
}

export const TOLERANCE = { throughput: 0.25, latency: 0.10, refusedPp: 0.005, worstRatio: 2, sustainable: 0.97 } as const

export type Verdict = 'win' | 'tie' | 'loss'

/** What a win is on: refusals, the throughput class's p99, the latency class's p99. */
export type Axis = 'refusals' | 'throughput' | 'latency'

/** On what x beats y (the first of the tests, in the order above), or null. */
export function beatsOn (x: CellMetrics, y: CellMetrics, slo: Slo): Axis | null {
  if (x.refused < y.refused - TOLERANCE.refusedPp) return 'refusals'
  if (x.refused > y.refused) return null // refusing more: not better on p99
  if (y.thrP99 >= slo.throughput / 4 && y.thrP99 > (1 + TOLERANCE.throughput) * x.thrP99) return 'throughput'
  if (y.latP99 >= slo.latency / 2 && y.latP99 > (1 + TOLERANCE.latency) * x.latP99) return 'latency'
  return null
}

/** Why x beats y (the first reason found), or null. */
export function beats (x: CellMetrics, y: CellMetrics, slo: Slo): string | null {
  switch (beatsOn(x, y, slo)) {
    case 'refusals': return `refuses ${pp(y.refused - x.refused)} pp less`
    case 'throughput': return `throughput p99 ${ms(x.thrP99)} vs ${ms(y.thrP99)} ms`
    case 'latency': return `latency p99 ${ms(x.latP99)} vs ${ms(y.latP99)} ms`
    default: return null
  }
}

export interface CellJudgement {
  verdict: Verdict
  /** baselines that beat switchyard, with why */
  beatenBy: Array<{ strategy: string, why: string }>
  /** the largest switchyard p99 / baseline p99 over the classes and the baselines that refuse no more (switchyard's p99 above the floors); 0 when none counts */
  worstRatio: number
  worstRatioAgainst: string
}

export function judgeCell (sy: CellMetrics, baselines: ReadonlyArray<{ strategy: string, m: CellMetrics }>, slo: Slo): CellJudgement {
  const beatenBy: CellJudgement['beatenBy'] = []
  let winsAll = baselines.length > 0
  let worstRatio = 0; let worstRatioAgainst = ''
  for (const b of baselines) {
    const why = beats(b.m, sy, slo)
    if (why !== null) beatenBy.push({ strategy: b.strategy, why })
    if (beats(sy, b.m, slo) === null) winsAll = false
    if (b.m.refused <= sy.refused) {
      const rT = sy.thrP99 >= slo.throughput / 4 ? sy.thrP99 / b.m.thrP99 : NaN
      const rL = sy.latP99 >= slo.latency / 2 ? sy.latP99 / b.m.latP99 : NaN
      for (const r of [rT, rL]) if (Number.isFinite(r) && r > worstRatio) { worstRatio = r; worstRatioAgainst = b.strategy }
    }
  }
  return { verdict: beatenBy.length > 0 ? 'loss' : winsAll ? 'win' : 'tie', beatenBy, worstRatio, worstRatioAgainst }
}

/** switchyard's sustainable rate against the best baseline's: passes at ≥ 0.97× */
export function sustainableOk (sy: number, baselines: readonly number[]): { ok: boolean, ratio: number, best: number } {
  const best = Math.max(0, ...baselines)
  const ratio = best > 0 ? sy / best : Infinity
  return { ok: sy >= TOLERANCE.sustainable * best, ratio, best }
}

function pp (x: number): string { return (x * 100).toFixed(1) }
function ms (x: number): string { return Number.isFinite(x) ? Math.round(x).toString() : '–' }
