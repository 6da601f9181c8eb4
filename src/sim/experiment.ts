// One scenario, every strategy, identical arrivals: the headline run (the scenario's load for
// its full duration), a sweep over offered load, each strategy's sustainable rate at the SLOs,
// and the issue's targets checked against the measurements.
//
// Sustainable rate at SLO (per strategy): the highest offered rate r such that at r and at every
// sweep point below it, the latency class's p99 ≤ slo.latency, the throughput class's p99 ≤
// slo.throughput, and at most 0.1 % of requests are refused, failed or left unanswered. Found
// on the sweep grid, then refined by bisection between the last passing and the first failing
// point (same seed, same arrival process).
import type { Strategy } from '../router/strategies.js'
import { runScenario, type RunOptions, type RunResult } from './engine.js'
import { capacity, decodeCapacity, deviceCapacity, type Scenario, type Slo } from './scenario.js'
import { judgeCell, type CellJudgement, type CellMetrics } from './judge.js'
import { generate } from './workload.js'

export const MAX_REFUSED = 0.001
const BISECT_STEPS = 4

export interface SweepPoint {
  load: number
  ratePerS: number
  result: RunResult
  pass: boolean
}

export interface StrategyReport {
  strategy: Strategy
  headline: RunResult
  /** the headline's throughput-class traffic alone, at the same fraction of capacity (issue 9's first target) */
  bulk: RunResult
  sweep: SweepPoint[]
  /** req/s; 0 when even the lowest sweep point fails */
  sustainableRate: number
  sustainableLoad: number
}

export interface Target {
  name: string
  pass: boolean | null
  detail: string
}

export interface ExperimentReport {
  scenario: Scenario
  capacityPerS: number
  deviceCapacityPerS: Record<string, number>
  decodeCapacityPerS: number
  /** capacity for the throughput-class traffic alone */
  bulkCapacityPerS: number
  strategies: StrategyReport[]
  targets: Target[]
  wallMs: number
}

export interface ExperimentOptions {
  /** override the headline duration (tests) */
  durationS?: number
  sweepS?: number
  sweep?: number[]
  strategies?: Strategy[]
  bisect?: number
  progress?: (msg: string) => void
}

export function refused (r: RunResult): number {
  let bad = 0
  for (const c of Object.values(r.byPolicy)) bad += c.rejected + c.unfinished
  return r.offered > 0 ? bad / r.offered : 0
}

/** One run as the judge reads it (src/sim/judge.ts): each class's p99 and the share refused. */
export function metricsOf (r: RunResult): CellMetrics {
  return { latP99: r.byPolicy.latency?.p99 ?? NaN, thrP99: r.byPolicy.throughput?.p99 ?? NaN, refused: refused(r) }
}

/** What a run breaks of the sustainable rate's conditions: a class's p99 over its SLO, more than MAX_REFUSED refused. */
export type SloBreak = 'latency' | 'throughput' | 'refused'

export function sloBreaks (s: Scenario, r: RunResult): SloBreak[] {
  return breaksOf(metricsOf(r), s.slo)
}

/** The same, read from a run's metrics as the judge stores them (metricsOf): a NaN p99 is a class without answers, which breaks nothing. */
export function breaksOf (m: CellMetrics, slo: Slo): SloBreak[] {
  const out: SloBreak[] = []
  if (!Number.isNaN(m.latP99) && !(m.latP99 <= slo.latency)) out.push('latency')
  if (!Number.isNaN(m.thrP99) && !(m.thrP99 <= slo.throughput)) out.push('throughput')
  if (!(m.refused <= MAX_REFUSED)) out.push('refused')
  return out
}

export function meetsSlo (s: Scenario, r: RunResult): boolean {
  return sloBreaks(s, r).length === 0
}

/**
 * A strategy's sustainable load (a fraction of capacity): the highest of `loads` (ascending) that
 * passes (meetsSlo) with every lower one, given their runs (`grid`, in the same order), then
 * `bisect` bisection steps toward the first that fails, one run at each midpoint on its own
 * arrivals (the same seed). Where the lowest load fails, the answer is 0 — or, with `belowGrid`,
 * the bisection runs between 0 and it. `durationMs`: the midpoints' run length (default the
 * scenario's). `runOptions`: more of the midpoints' run options, by rate (the screen's rule
 * chosen by replay). The random command and the screen use the defaults; a scenario file's sweep
 * (runExperiment) bisects below its grid, at its sweep length.
 */
export function sustainableLoad (s: Scenario, strategy: Strategy, loads: readonly number[], grid: readonly RunResult[], bisect: number, o: { durationMs?: number, belowGrid?: boolean, runOptions?: (ratePerS: number) => Partial<RunOptions> } = {}): number {
  const C = capacity(s)
  const durationMs = o.durationMs ?? s.durationS * 1000
  let lo = 0; let hi = -1
  for (let i = 0; i < loads.length; i++) { if (meetsSlo(s, grid[i]!)) lo = loads[i]!; else { hi = loads[i]!; break } }
  if (hi > 0 && (lo > 0 || o.belowGrid === true)) {
    for (let k = 0; k < bisect; k++) {
      const mid = (lo + hi) / 2
      const w = generate(s.arrivals, s.traffic, mid * C, durationMs, s.seed)
      if (meetsSlo(s, runScenario(s, { ...o.runOptions?.(mid * C), strategy, ratePerS: mid * C, durationMs }, w))) lo = mid; else hi = mid
    }
  }
  return lo
}

export function runExperiment (s: Scenario, o: ExperimentOptions = {}): ExperimentReport {
  const started = performance.now()
  const C = capacity(s)
  const strategies = o.strategies ?? s.strategies
  const durationMs = (o.durationS ?? s.durationS) * 1000
  const sweepMs = (o.sweepS ?? s.sweepS) * 1000
  const grid = [...(o.sweep ?? s.sweep)].sort((a, b) => a - b)
  const headlineLoad = generate(s.arrivals, s.traffic, s.load * C, durationMs, s.seed)
  const bulkS = bulkOnly(s)
  const Cb = capacity(bulkS)
  const bulkLoad = bulkS === s ? headlineLoad : generate(bulkS.arrivals, bulkS.traffic, s.load * Cb, durationMs, s.seed)
  const workloads = new Map(grid.map((f) => [f, generate(s.arrivals, s.traffic, f * C, sweepMs, s.seed)]))
  const reports: StrategyReport[] = []
  for (const strategy of strategies) {
    o.progress?.(`${s.name}: ${strategy}`)
    const headline = runScenario(s, { strategy, ratePerS: s.load * C, durationMs, series: true }, headlineLoad)
    const bulk = bulkS === s ? headline : runScenario(bulkS, { strategy, ratePerS: s.load * Cb, durationMs, series: true }, bulkLoad)
    const sweep: SweepPoint[] = grid.map((load) => {
      const result = runScenario(s, { strategy, ratePerS: load * C, durationMs: sweepMs }, workloads.get(load))
      return { load, ratePerS: load * C, result, pass: meetsSlo(s, result) }
    })
    // (a scenario file's sweep bisects below its lowest point too, at the sweep's run length)
    const lo = sustainableLoad(s, strategy, grid, sweep.map((p) => p.result), o.bisect ?? BISECT_STEPS, { durationMs: sweepMs, belowGrid: true })
    reports.push({ strategy, headline, bulk, sweep, sustainableRate: lo * C, sustainableLoad: lo })
  }
  const deviceCapacityPerS = Object.fromEntries(s.devices.map((d) => [d.id, deviceCapacity(d, s.traffic)]))
  return {
    scenario: s,
    capacityPerS: C,
    deviceCapacityPerS,
    decodeCapacityPerS: decodeCapacity(s),
    strategies: reports,
    bulkCapacityPerS: Cb,
    targets: checkTargets(s, Cb, Object.fromEntries(bulkS.devices.map((d) => [d.id, deviceCapacity(d, bulkS.traffic)])), reports),
    wallMs: performance.now() - started
  }
}

/** The scenario with its throughput-class traffic alone (shares renormalised); itself when that is all it has. */
export function bulkOnly (s: Scenario): Scenario {
  const bulk = s.traffic.filter((c) => c.policy === 'throughput')
  if (bulk.length === s.traffic.length || bulk.length === 0) return s
  const sum = bulk.reduce((a, c) => a + c.share, 0)
  return { ...s, traffic: bulk.map((c) => ({ ...c, share: c.share / sum })) }
}

/**
 * The issue's targets, each with the measurement it rests on. The first two are judged on the
 * throughput-class-only run (the issue: "offered throughput-class load at 95 %"); a bounded
 * backlog also asks that nothing be refused (a full queue bounds any backlog).
 */
export function checkTargets (s: Scenario, C: number, devCap: Record<string, number>, reports: StrategyReport[]): Target[] {
  const out: Target[] = []
  const sy = reports.find((r) => r.strategy === 'switchyard')
  if (!sy) return out
  const h = sy.bulk
  const thr = h.byPolicy.throughput
  if (thr && s.events.length === 0) {
    const ratio = thr.p99LastHalf / thr.p99FirstHalf
    out.push({
      name: `bounded backlog, throughput class alone at ${Math.round(s.load * 100)} % of capacity: p99 of the last half ≤ 1.2× the first half, ≤ 0.1 % refused`,
      pass: ratio <= 1.2 && refused(h) <= MAX_REFUSED,
      detail: `first half ${fmt(thr.p99FirstHalf)} ms, last half ${fmt(thr.p99LastHalf)} ms (×${ratio.toFixed(2)}); refused ${(refused(h) * 100).toFixed(2)} %`
    })
  }
  const fastest = Math.max(...Object.values(devCap))
  if (s.load * C > fastest && s.events.length === 0) {
    const low = h.devices.filter((d) => d.utilThroughput < 0.8)
    out.push({
      name: 'every device busy ≥ 80 % of the time (load above the fastest device\'s capacity)',
      pass: low.length === 0,
      detail: h.devices.map((d) => `${d.id} ${(d.utilThroughput * 100).toFixed(1)} %`).join(', ')
    })
  }
  const worst = sy.headline.devices.flatMap((d) => Object.entries(d.prediction).filter(([, p]) => p.n > 0).map(([policy, p]) => ({ at: `${d.id} ${policy}`, e: p.meanAbsRelError })))
  if (worst.length > 0) {
    out.push({
      name: 'steady-state prediction error (mean |predicted − actual| / actual, 30 s after events left out) ≤ 20 % on every device and class, headline run',
      pass: worst.every((w) => w.e <= 0.2),
      detail: worst.map((w) => `${w.at} ${(w.e * 100).toFixed(1)} %`).join(', ')
    })
  }
  const baselines = reports.filter((r) => r !== sy)
  if (baselines.length > 0) {
    const beaten = baselines.filter((b) => b.sustainableRate > sy.sustainableRate)
    out.push({
      name: 'sustainable rate at SLO: switchyard ≥ every baseline',
      pass: beaten.length === 0,
      detail: reports.map((r) => `${r.strategy} ${fmt(r.sustainableRate)} req/s (${(r.sustainableLoad * 100).toFixed(1)} %)`).join(', ')
    })
    const judged = judgedLoads(s, sy, baselines)
    if (judged.length > 0) {
      const lost = judged.filter((j) => j.verdict === 'loss')
      out.push({
        name: 'not beaten (issue 17\'s judge, src/sim/judge.ts) at every sweep load from 20 % to 100 % of capacity',
        pass: lost.length === 0,
        detail: `${judged.map((j) => `${Math.round(j.load * 100)} % ${VERDICT_LETTER[j.verdict]}`).join(', ')}${lost.length > 0 ? `; beaten at ${lost.map((j) => `${Math.round(j.load * 100)} % by ${j.beatenBy.map((b) => `${b.strategy} (${b.why})`).join(', ')}`).join('; ')}` : ''}`
      })
    }
    const point80 = (r: StrategyReport) => r.sweep.find((p) => Math.abs(p.load - 0.8) < 1e-9)?.result.byPolicy.latency
    const at80 = (r: StrategyReport): number => point80(r)?.p99 ?? NaN
    const after80 = (r: StrategyReport): number => point80(r)?.p99AfterDecode ?? NaN
    const mine = at80(sy)
    if (!Number.isNaN(mine)) {
      const best = Math.min(...baselines.map(at80).filter((x) => !Number.isNaN(x)))
      const bestAfter = Math.min(...baselines.map(after80).filter((x) => !Number.isNaN(x)))
      out.push({
        name: 'latency-class p99 at 80 % load ≤ 0.5× the best baseline\'s',
        pass: mine <= 0.5 * best,
        detail: `switchyard ${fmt(mine)} ms; best baseline ${fmt(best)} ms (${baselines.map((b) => `${b.strategy} ${fmt(at80(b))}`).join(', ')}); ratio ${(mine / best).toFixed(2)}. Decode excluded (dispatch to answer): switchyard ${fmt(after80(sy))} ms, best baseline ${fmt(bestAfter)} ms (${baselines.map((b) => `${b.strategy} ${fmt(after80(b))}`).join(', ')}); ratio ${(after80(sy) / bestAfter).toFixed(2)}`
      })
    }
  }
  return out
}

const VERDICT_LETTER = { win: 'W', tie: 'T', loss: 'L' } as const

/**
 * Issue 17's judge at each sweep load from 20 % to 100 % of capacity (the sweep runs every
 * strategy on the same arrivals at a load, so each sweep point is a cell as the generated
 * scenarios' are): W switchyard beats every baseline, T within tolerance, L some baseline beats it.
 */
export function judgedLoads (s: Scenario, sy: StrategyReport, baselines: readonly StrategyReport[]): Array<{ load: number } & CellJudgement> {
  const out: Array<{ load: number } & CellJudgement> = []
  for (const p of sy.sweep) {
    if (p.load < 0.2 - 1e-9 || p.load > 1 + 1e-9) continue
    const others = baselines.flatMap((b) => {
      const q = b.sweep.find((x) => Math.abs(x.load - p.load) < 1e-9)
      return q === undefined ? [] : [{ strategy: b.strategy, m: metricsOf(q.result) }]
    })
    out.push({ load: p.load, ...judgeCell(metricsOf(p.result), others, s.slo) })
  }
  return out
}

function fmt (x: number): string {
  return Number.isFinite(x) ? (x >= 100 ? Math.round(x).toString() : x.toFixed(1)) : String(x)
}
