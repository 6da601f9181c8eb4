// Every strategy judged as switchyard is (issue 17): how hard "not beaten in ≥ 95 % of cells"
// is, read from a random report's stored cells (no run). In a cell, a strategy *holds* against a
// set of others when none of them beats it by issue 17's rule (judge.ts beats: refusals by more
// than 0.5 points, throughput p99 by 25 % above a quarter of its SLO, latency p99 by 10 % above
// half its SLO). Per report:
//
//   notBeaten[x]       cells where strategy x holds against the other five (switchyard's count is
//                      the report's own "not beaten")
//   bestOfSix          cells where at least one of the six holds against the five baselines: what
//                      a router that picked, per cell and knowing it in advance, the best of the six
//                      behaviours would reach
//   bestPerScenario    per scenario, the one strategy (of the six) that holds against the five
//                      baselines in most of its cells, those cells summed: what choosing one of
//                      the six behaviours per deployment, knowing its traffic in advance, reaches;
//                      otherBest: the scenarios where a baseline holds in more of them than
//                      switchyard, the cells it gains, and which baseline (a scenario may name several)
//   noneHolds          cells where no strategy holds against the other five: the measured points
//                      spread over the trade between the classes, and none is within tolerance of
//                      the best on both
//   lost               switchyard's lost cells, split by whether a baseline holds against the other
//                      baselines there (holdsBy: which)
//   sustainable[x]     scenarios where x's sustainable rate is ≥ 0.97× the best of the other five's
import { judgeCell, sustainableOk, type CellMetrics } from './judge.js'
import type { Slo } from './scenario.js'

/** A cell as a random report stores it: p99s null where not finite. */
export interface StoredCell {
  metrics: Record<string, { latP99: number | null, thrP99: number | null, refused: number }>
}

export interface CrossJudgement {
  cells: number
  scenarios: number
  notBeaten: Record<string, number>
  sustainable: Record<string, number>
  bestOfSix: number
  bestPerScenario: number
  otherBest: { scenarios: number, cells: number, by: Record<string, number> }
  noneHolds: number
  lost: { cells: number, baselineHolds: number, noBaselineHolds: number, holdsBy: Record<string, number> }
}

const SWITCHYARD = 'switchyard'

/** A stored cell's metrics as the judge reads them: a p99 stored as null (not finite) is NaN. */
export const metricOf = (m: StoredCell['metrics'][string]): CellMetrics => ({ latP99: m.latP99 ?? NaN, thrP99: m.thrP99 ?? NaN, refused: m.refused })

/** The strategies of `cell` that hold against every other strategy in `judges` (themselves excluded). */
export function holders (cell: StoredCell, slo: Slo, judges: (strategy: string) => boolean = () => true): string[] {
  const all = Object.entries(cell.metrics).map(([strategy, m]) => ({ strategy, m: metricOf(m) }))
  const out: string[] = []
  for (const x of all) {
    const others = all.filter((o) => o !== x && judges(o.strategy))
    if (judgeCell(x.m, others, slo).verdict !== 'loss') out.push(x.strategy)
  }
  return out
}

export function emptyCrossJudgement (): CrossJudgement {
  return { cells: 0, scenarios: 0, notBeaten: {}, sustainable: {}, bestOfSix: 0, bestPerScenario: 0, otherBest: { scenarios: 0, cells: 0, by: {} }, noneHolds: 0, lost: { cells: 0, baselineHolds: 0, noBaselineHolds: 0, holdsBy: {} } }
}

const inc = (r: Record<string, number>, k: string, by = 1): void => { r[k] = (r[k] ?? 0) + by }

/** Adds the scenarios `seeds` (a random report's) to `into`. */
export function crossJudge (seeds: ReadonlyArray<{ slo: Slo, cells: readonly StoredCell[], sustainable: Record<string, number> }>, into: CrossJudgement = emptyCrossJudgement()): CrossJudgement {
  const baseline = (s: string): boolean => s !== SWITCHYARD
  for (const s of seeds) {
    into.scenarios++
    const rates = Object.entries(s.sustainable)
    for (const [k, v] of rates) {
      inc(into.sustainable, k, 0)
      if (sustainableOk(v, rates.filter(([o]) => o !== k).map(([, o]) => o)).ok) inc(into.sustainable, k)
    }
    const perStrategy: Record<string, number> = {}
    for (const c of s.cells) {
      into.cells++
      for (const k of Object.keys(c.metrics)) inc(into.notBeaten, k, 0)
      const all = holders(c, s.slo)
      for (const k of all) inc(into.notBeaten, k)
      if (all.length === 0) into.noneHolds++
      const againstBaselines = holders(c, s.slo, baseline)
      if (againstBaselines.length > 0) into.bestOfSix++
      for (const k of Object.keys(c.metrics)) inc(perStrategy, k, againstBaselines.includes(k) ? 1 : 0)
      if (!all.includes(SWITCHYARD)) {
        into.lost.cells++
        const others = againstBaselines.filter(baseline)
        if (others.length > 0) into.lost.baselineHolds++
        else into.lost.noBaselineHolds++
        for (const k of others) inc(into.lost.holdsBy, k)
      }
    }
    const best = Math.max(0, ...Object.values(perStrategy))
    into.bestPerScenario += best
    const mine = perStrategy[SWITCHYARD] ?? 0
    if (best > mine) {
      into.otherBest.scenarios++
      into.otherBest.cells += best - mine
      for (const [k, v] of Object.entries(perStrategy)) if (v === best) inc(into.otherBest.by, k)
    }
  }
  return into
}

/** `b` added into `a`. */
export function addCrossJudgement (a: CrossJudgement, b: CrossJudgement): CrossJudgement {
  a.cells += b.cells; a.scenarios += b.scenarios; a.bestOfSix += b.bestOfSix; a.bestPerScenario += b.bestPerScenario; a.noneHolds += b.noneHolds
  a.otherBest.scenarios += b.otherBest.scenarios; a.otherBest.cells += b.otherBest.cells
  a.lost.cells += b.lost.cells; a.lost.baselineHolds += b.lost.baselineHolds; a.lost.noBaselineHolds += b.lost.noBaselineHolds
  for (const [k, v] of Object.entries(b.notBeaten)) inc(a.notBeaten, k, v)
  for (const [k, v] of Object.entries(b.sustainable)) inc(a.sustainable, k, v)
  for (const [k, v] of Object.entries(b.lost.holdsBy)) inc(a.lost.holdsBy, k, v)
  for (const [k, v] of Object.entries(b.otherBest.by)) inc(a.otherBest.by, k, v)
  return a
}
