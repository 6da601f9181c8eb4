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
//   online   where the replay picks shared-queue, the cell run again as a live router would run
//            it: switchyard until the window's end, then the shared-queue rule (RunOptions.
//            switchToSharedAtMs: what waits moves to one queue per model), judged against the
//            stored baselines — the window is no longer free
//   long     the same picked cells run `long`× as long (the same rate and arrival process), every
//            strategy rerun at that length, the switch at the same time: the judge against those
//
// Counts: cells, not beaten (switchyard as stored; the replay's pick; the hindsight pick), picks
// of shared-queue, cells a pick turned (switchyard lost, the pick holds) and broke (switchyard
// held, the pick loses), over 2× (judge.ts's worst ratio) for the replay's pick; for the online
// and long runs, over the picked cells: those where switchyard, the switched run and shared-queue
// hold, turned, broke, over 2×.
import { metricOf } from './cross-judge.js'
import { runScenario } from './engine.js'
import { metricsOf } from './experiment.js'
import { judgeCell, TOLERANCE, type CellMetrics } from './judge.js'
import { reportScenario, type RandomReport } from './random-run.js'
import type { LiveState } from './engine.js'
import { snapshotScenario, takeSnapshot, type ReplayHost, type ReplaySnapshot } from './learned-replay.js'
import { capacity, DEFAULT_SIM_QUEUE_BYTES, type HostModel, type Scenario, type Slo } from './scenario.js'
import { generate, type Workload } from './workload.js'

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
  return replayBoth({ ...s, seed: s.seed + seedOffset }, ratePerS, durationMs, w)
}

/** Switchyard's and shared-queue's metrics on arrivals `w`, `durationMs` long, of scenario `replay`. */
function replayBoth (replay: Scenario, ratePerS: number, durationMs: number, w: Workload): { sy: CellMetrics, sq: CellMetrics } {
  return {
    sy: metricsOf(runScenario(replay, { strategy: SY, ratePerS, durationMs }, w)),
    sq: metricsOf(runScenario(replay, { strategy: SQ, ratePerS, durationMs }, w))
  }
}

/** The replay's jitter seed, added to the scenario's: another draw than the run's (bench/replay-select.ts --seed-offset, bench/screen-cells.ts --select). */
export const REPLAY_SEED_OFFSET = 100003

/** `EVERY,WINDOW[,CONFIRM]` (seconds, seconds, windows) as RunOptions.select's numbers. */
export function selectArg (v: string): { everyMs: number, windowMs: number, confirm: number } {
  const [every, window, confirm = 2] = v.split(',').map(Number)
  if (!(every! > 0 && window! > 0 && Number.isInteger(confirm) && confirm >= 1)) throw new Error(`--select wants EVERY,WINDOW[,CONFIRM] (seconds > 0, seconds > 0, a whole number ≥ 1), got ${JSON.stringify(v)}`)
  return { everyMs: every! * 1000, windowMs: window! * 1000, confirm }
}

/**
 * The chooser a run that selects its rule by replay calls after each window (RunOptions.select):
 * the window's arrivals replayed from empty queues under switchyard and under shared-queue, on
 * jitter drawn from another seed than the run's (`s.seed + seedOffset`, and the window's start:
 * each window its own draw), the scenario's events moved to the window's time — those before
 * it applied at its start, so a device down or slowed then is down or slowed in the replay —
 * and picked as pickByReplay picks.
 */
export function replayChooser (s: Scenario, ratePerS: number, seedOffset: number): (w: Workload, fromMs: number, durationMs: number) => ReplayPick {
  return (w, fromMs, durationMs) => {
    const { sy, sq } = replayBoth(windowScenario(s, fromMs, durationMs, seedOffset), ratePerS, durationMs, w)
    return pickByReplay(sy, sq, s.slo)
  }
}

/** The rule a snapshot's replay chooses (pickByReplay on both rules' runs of its arrivals): what the server's replay thread answers (src/router/replay-worker.ts). */
export function pickOnSnapshot (snap: ReplaySnapshot): ReplayPick {
  const ratePerS = snap.workload.count / (snap.durationMs / 1000)
  const { sy, sq } = replayBoth(snapshotScenario(snap), ratePerS, snap.durationMs, snap.workload)
  return pickByReplay(sy, sq, snap.slo)
}

/** The decode settings a simulated host's replay copies (as the server's come from its decode gate and budget). */
export function replayHostOf (h: HostModel): ReplayHost {
  return { slots: h.slots, bulkSlots: h.bulkSlots, maxWaiting: h.maxWaiting, maxQueuedBytes: h.maxQueuedBytes ?? DEFAULT_SIM_QUEUE_BYTES }
}

/**
 * The chooser a server would run (RunOptions.select, `--select … --learned`): the window's
 * arrivals as the run's own pipeline recorded them, replayed on the simulated devices as their
 * schedulers have learned them (learned-replay.ts takeSnapshot: fitted costs and spread, live
 * workers, measured decode times; no events — what happened to a device is in what it learned),
 * not on the scenario's true profiles as replayChooser does; jitter from `s.seed + seedOffset` and
 * the window's start. No verdict (null) where nothing is left to replay.
 */
export function learnedChooser (s: Scenario, seedOffset: number): (w: Workload, fromMs: number, durationMs: number, live: LiveState) => ReplayPick | null {
  const host = replayHostOf(s.host)
  return (_w, fromMs, durationMs, live) => {
    const snap = takeSnapshot(live.devices, live.record, host, fromMs, fromMs + durationMs, s.slo, s.seed + seedOffset + Math.round(fromMs))
    return snap === null ? null : pickOnSnapshot(snap)
  }
}

/** The scenario a window [fromMs, fromMs + windowMs) is replayed on: events in the window's time (earlier ones at its start, in order), jitter from its own seed. */
export function windowScenario (s: Scenario, fromMs: number, windowMs: number, seedOffset: number): Scenario {
  const events = [...s.events].sort((a, b) => a.atS - b.atS)
    .map((e) => ({ ...e, atS: Math.max(0, e.atS - fromMs / 1000) }))
    .filter((e) => e.atS * 1000 < windowMs)
  return { ...s, seed: s.seed + seedOffset + Math.round(fromMs), events }
}

/** The picked cells run with the switch: where switchyard, the switched run and shared-queue hold. */
export interface SwitchedCounts { cells: number, switchyard: number, switched: number, sharedQueue: number, turned: number, broke: number, over2x: number }

export interface ReplaySelection {
  cells: number
  /** switchyard's cells not beaten, as stored */
  switchyard: number
  replay: { notBeaten: number, picks: number, turned: number, broke: number, over2x: number }
  hindsight: { notBeaten: number, picks: number, turned: number, broke: number }
  online: SwitchedCounts
  long: SwitchedCounts
}

const emptySwitched = (): SwitchedCounts => ({ cells: 0, switchyard: 0, switched: 0, sharedQueue: 0, turned: 0, broke: 0, over2x: 0 })

export function emptySelection (): ReplaySelection {
  return { cells: 0, switchyard: 0, replay: { notBeaten: 0, picks: 0, turned: 0, broke: 0, over2x: 0 }, hindsight: { notBeaten: 0, picks: 0, turned: 0, broke: 0 }, online: emptySwitched(), long: emptySwitched() }
}

/** `b` added into `a`. */
export function addSelection (a: ReplaySelection, b: ReplaySelection): ReplaySelection {
  a.cells += b.cells; a.switchyard += b.switchyard
  for (const part of ['replay', 'hindsight', 'online', 'long'] as const) {
    const x = a[part] as Record<string, number>; const y = b[part] as Record<string, number>
    for (const k of Object.keys(x)) x[k]! += y[k]!
  }
  return a
}

/** The cell run whole (`long`× its duration), switchyard until `window` of the cell's own duration, then the shared-queue rule. */
export function switchedRun (s: Scenario, load: number, window: number, long = 1): CellMetrics {
  const ratePerS = load * capacity(s)
  const durationMs = s.durationS * 1000 * long
  const w = generate(s.arrivals, s.traffic, ratePerS, durationMs, s.seed)
  return metricsOf(runScenario(s, { strategy: SY, ratePerS, durationMs, switchToSharedAtMs: s.durationS * 1000 * window }, w))
}

/** Every strategy of the scenario and the switched run on the cell's arrivals `long`× as long. */
export function longCell (s: Scenario, load: number, window: number, long: number): { metrics: Record<string, CellMetrics>, switched: CellMetrics } {
  const ratePerS = load * capacity(s)
  const durationMs = s.durationS * 1000 * long
  const w = generate(s.arrivals, s.traffic, ratePerS, durationMs, s.seed)
  const metrics: Record<string, CellMetrics> = {}
  for (const st of s.strategies) metrics[st] = metricsOf(runScenario(s, { strategy: st, ratePerS, durationMs }, w))
  return { metrics, switched: switchedRun(s, load, window, long) }
}

type ReplayFn = (s: Scenario, load: number) => { sy: CellMetrics, sq: CellMetrics }

export interface SelectOptions {
  /** the switched run of a picked cell (switchedRun); absent: not run */
  online?: (s: Scenario, load: number) => CellMetrics
  /** a picked cell run longer, every strategy and the switched run (longCell); absent: not run */
  long?: (s: Scenario, load: number) => { metrics: Record<string, CellMetrics>, switched: CellMetrics }
  /** the report's scenario for a seed; default reportScenario */
  scenarioOf?: (seed: number) => Scenario
}

/**
 * Adds a report's cells to `into`. `replay` gives the window's metrics (replayWindow in the
 * bench; a table in tests).
 */
export function selectByReplay (r: Pick<RandomReport, 'options' | 'seeds'>, replay: ReplayFn, into: ReplaySelection = emptySelection(), o: SelectOptions = {}): ReplaySelection {
  const scenarioOf = o.scenarioOf ?? ((seed: number) => reportScenario(r, seed))
  for (const seed of r.seeds) {
    const s = scenarioOf(seed.seed)
    for (const c of seed.cells) {
      into.cells++
      const all = Object.entries(c.metrics).map(([strategy, m]) => ({ strategy, m: metricOf(m) }))
      const baselines = all.filter((x) => x.strategy !== SY)
      const judged = (p: ReplayPick): ReturnType<typeof judgeCell> => judgeCell(all.find((x) => x.strategy === p)!.m, baselines, seed.slo)
      const syHolds = judged(SY).verdict !== 'loss'
      if (syHolds) into.switchyard++
      const w = replay(s, c.load)
      const pick = pickByReplay(w.sy, w.sq, seed.slo)
      const j = judged(pick)
      tally(into.replay, pick, syHolds, j.verdict !== 'loss')
      if (j.worstRatio > TOLERANCE.worstRatio) into.replay.over2x++
      const late = pickByReplay(metricOf(c.metrics[SY]!), metricOf(c.metrics[SQ]!), seed.slo)
      tally(into.hindsight, late, syHolds, judged(late).verdict !== 'loss')
      if (pick === SY) continue
      if (o.online !== undefined) switchedTally(into.online, Object.fromEntries(all.map((x) => [x.strategy, x.m])), o.online(s, c.load), seed.slo)
      if (o.long !== undefined) { const l = o.long(s, c.load); switchedTally(into.long, l.metrics, l.switched, seed.slo) }
    }
  }
  return into
}

/** A picked cell's switched run judged against the cell's baselines in `metrics` (switchyard's and shared-queue's own verdicts beside it). */
function switchedTally (t: SwitchedCounts, metrics: Record<string, CellMetrics>, switched: CellMetrics, slo: Slo): void {
  const baselines = Object.entries(metrics).filter(([k]) => k !== SY).map(([strategy, m]) => ({ strategy, m }))
  const holds = (m: CellMetrics): boolean => judgeCell(m, baselines, slo).verdict !== 'loss'
  const sy = holds(metrics[SY]!); const j = judgeCell(switched, baselines, slo); const sw = j.verdict !== 'loss'
  t.cells++
  if (sy) t.switchyard++
  if (sw) t.switched++
  if (holds(metrics[SQ]!)) t.sharedQueue++
  if (sw && !sy) t.turned++
  if (!sw && sy) t.broke++
  if (j.worstRatio > TOLERANCE.worstRatio) t.over2x++
}

function tally (t: { notBeaten: number, picks: number, turned: number, broke: number }, pick: ReplayPick, syHolds: boolean, holds: boolean): void {
  if (holds) t.notBeaten++
  if (pick === SY) return
  t.picks++
  if (holds && !syHolds) t.turned++
  if (!holds && syHolds) t.broke++
}
