// Choosing the rule by replay (issue 17): how many of switchyard's lost generated cells would a
// router win back if, after a window of traffic, it replayed what arrived under its own rule and
// under Triton's shared queue (the baseline that holds in most of them, cross-judge.md) and ran
// the one that served the scenario's SLOs better? Measured on the committed random reports, from
// the stored cells (no router runs this rule today; docs/architecture.md, Routing, says what it
// would need). For every cell:
//
//   replay   the cell's first `window` of arrivals (the same arrivals: the generator's prefix)
//            simulated under switchyard and under shared-queue, with device jitter and decode
//            times drawn from another seed than the cell's (the router knows its devices' costs,
//            not the next batch's noise); the pick is shared-queue only where, on the replay,
//            shared-queue beats switchyard by the judge (judge.ts) and switchyard does not beat
//            shared-queue — else switchyard
//   judged   the picked strategy's stored full-run metrics against the five baselines, as the
//            report judges switchyard: a pick of shared-queue is judged by its own cell
//   hindsight the same pick made on the full run's stored metrics (what a replay of everything
//            the cell will see would pick): the bound a replay-chosen rule approaches
//
// Counts: cells, not beaten (switchyard as stored; the replay's pick; the hindsight pick), picks
// of shared-queue, cells a pick turned (switchyard lost, the pick holds) and broke (switchyard
// held, the pick loses), over 2× (judge.ts's worst ratio) for the replay's pick.
import { runScenario } from './engine.js'
import { metricsOf } from './experiment.js'
import { judgeCell, TOLERANCE, type CellMetrics } from './judge.js'
import { reportScenario, type RandomReport } from './random-run.js'
import { capacity, type Scenario, type Slo } from './scenario.js'
import { generate } from './workload.js'

export type ReplayPick = 'switchyard' | 'shared-queue'
const SY = 'switchyard'; const SQ = 'shared-queue'

/** Shared-queue where it beats switchyard by the judge and switchyard does not beat it; else switchyard. */
export function pickByReplay (sy: CellMetrics, sq: CellMetrics, slo: Slo): ReplayPick {
  const syLoses = judgeCell(sy, [{ strategy: SQ, m: sq }], slo).verdict === 'loss'
  const sqLoses = judgeCell(sq, [{ strategy: SY, m: sy }], slo).verdict === 'loss'
  return syLoses && !sqLoses ? SQ : SY
}

/** Switchyard's and shared-queue's metrics on the first `window` (a fraction) of a cell's arrivals, replayed on jitter drawn from `s.seed + seedOffset`. */
export function replayWindow (s: Scenario, load: number, window: number, seedOffset: number): { sy: CellMetrics, sq: CellMetrics } {
  const ratePerS = load * capacity(s)
  const durationMs = Math.round(s.durationS * 1000 * window)
  // the same arrivals: the generator's draws up to durationMs do not depend on the duration
  const w = generate(s.arrivals, s.traffic, ratePerS, durationMs, s.seed)
  const replay = { ...s, seed: s.seed + seedOffset }
  return {
    sy: metricsOf(runScenario(replay, { strategy: SY, ratePerS, durationMs }, w)),
    sq: metricsOf(runScenario(replay, { strategy: SQ, ratePerS, durationMs }, w))
  }
}

export interface ReplaySelection {
  cells: number
  /** switchyard's cells not beaten, as stored */
  switchyard: number
  replay: { notBeaten: number, picks: number, turned: number, broke: number, over2x: number }
  hindsight: { notBeaten: number, picks: number, turned: number, broke: number }
}

export function emptySelection (): ReplaySelection {
  return { cells: 0, switchyard: 0, replay: { notBeaten: 0, picks: 0, turned: 0, broke: 0, over2x: 0 }, hindsight: { notBeaten: 0, picks: 0, turned: 0, broke: 0 } }
}

/** `b` added into `a`. */
export function addSelection (a: ReplaySelection, b: ReplaySelection): ReplaySelection {
  a.cells += b.cells; a.switchyard += b.switchyard
  for (const k of Object.keys(a.replay) as Array<keyof ReplaySelection['replay']>) a.replay[k] += b.replay[k]
  for (const k of Object.keys(a.hindsight) as Array<keyof ReplaySelection['hindsight']>) a.hindsight[k] += b.hindsight[k]
  return a
}

const stored = (m: { latP99: number | null, thrP99: number | null, refused: number }): CellMetrics => ({ latP99: m.latP99 ?? NaN, thrP99: m.thrP99 ?? NaN, refused: m.refused })

type ReplayFn = (s: Scenario, load: number) => { sy: CellMetrics, sq: CellMetrics }

/**
 * Adds a report's cells to `into`. `replay` gives the window's metrics (replayWindow in the
 * bench; a table in tests); `scenarioOf` the report's scenario for a seed (reportScenario).
 */
export function selectByReplay (r: Pick<RandomReport, 'options' | 'seeds'>, replay: ReplayFn, into: ReplaySelection = emptySelection(), scenarioOf: (seed: number) => Scenario = (seed) => reportScenario(r, seed)): ReplaySelection {
  for (const seed of r.seeds) {
    const s = scenarioOf(seed.seed)
    for (const c of seed.cells) {
      into.cells++
      const all = Object.entries(c.metrics).map(([strategy, m]) => ({ strategy, m: stored(m as never) }))
      const baselines = all.filter((x) => x.strategy !== SY)
      const judged = (p: ReplayPick): ReturnType<typeof judgeCell> => judgeCell(all.find((x) => x.strategy === p)!.m, baselines, seed.slo)
      const syHolds = judged(SY).verdict !== 'loss'
      if (syHolds) into.switchyard++
      const w = replay(s, c.load)
      const pick = pickByReplay(w.sy, w.sq, seed.slo)
      const j = judged(pick)
      tally(into.replay, pick, syHolds, j.verdict !== 'loss')
      if (j.worstRatio > TOLERANCE.worstRatio) into.replay.over2x++
      const late = pickByReplay(stored(c.metrics[SY] as never), stored(c.metrics[SQ] as never), seed.slo)
      tally(into.hindsight, late, syHolds, judged(late).verdict !== 'loss')
    }
  }
  return into
}

function tally (t: { notBeaten: number, picks: number, turned: number, broke: number }, pick: ReplayPick, syHolds: boolean, holds: boolean): void {
  if (holds) t.notBeaten++
  if (pick === SY) return
  t.picks++
  if (holds && !syHolds) t.turned++
  if (!holds && syHolds) t.broke++
}
