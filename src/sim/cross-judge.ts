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
//   lostOn             switchyard's lost cells by what the baselines that beat it beat it on
//                      (judge.ts beatsOn: refusals, throughput p99, latency p99; 'several' where
//                      they beat it on more than one), and of those the trades: cells where
//                      switchyard beats back, on another of the three, every baseline that beats
//                      it — a point elsewhere on the trade between the classes, where the other
//                      lost cells have a baseline at least as good on everything the judge reads
//   sustainable[x]     scenarios where x's sustainable rate is ≥ 0.97× the best of the other five's
import { beatsOn, judgeCell, sustainableOk, type Axis, type CellMetrics } from './judge.js'
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
  lostOn: Record<Axis | 'several', { cells: number, trades: number }>
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
  return { cells: 0, scenarios: 0, notBeaten: {}, sustainable: {}, bestOfSix: 0, bestPerScenario: 0, otherBest: { scenarios: 0, cells: 0, by: {} }, noneHolds: 0, lost: { cells: 0, baselineHolds: 0, noBaselineHolds: 0, holdsBy: {} }, lostOn: emptyLostOn() }
}

function emptyLostOn (): CrossJudgement['lostOn'] {
  return { latency: { cells: 0, trades: 0 }, throughput: { cells: 0, trades: 0 }, refusals: { cells: 0, trades: 0 }, several: { cells: 0, trades: 0 } }
}

/** What a lost cell's baselines beat switchyard on (one axis, or 'several'), and whether switchyard beats back every one of them. */
export function lossOf (cell: StoredCell, slo: Slo): { on: Axis | 'several', trade: boolean } | null {
  const sy = cell.metrics[SWITCHYARD]
  if (sy === undefined) return null
  const mine = metricOf(sy)
  let on: Axis | 'several' | null = null; let trade = true
  for (const [k, m] of Object.entries(cell.metrics)) {
    if (k === SWITCHYARD) continue
    const theirs = metricOf(m)
    const axis = beatsOn(theirs, mine, slo)
    if (axis === null) continue
    on = on === null || on === axis ? axis : 'several'
    if (beatsOn(mine, theirs, slo) === null) trade = false
  }
  return on === null ? null : { on, trade }
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
        const loss = lossOf(c, s.slo)
        if (loss !== null) { into.lostOn[loss.on].cells++; if (loss.trade) into.lostOn[loss.on].trades++ }
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
  for (const k of Object.keys(b.lostOn) as Array<keyof CrossJudgement['lostOn']>) { a.lostOn[k].cells += b.lostOn[k].cells; a.lostOn[k].trades += b.lostOn[k].trades }
  return a
}
