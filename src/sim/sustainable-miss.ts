// Why a generated scenario misses issue 17's sustainable rule (switchyard's sustainable rate
// ≥ 0.97× the best baseline's), read off runs rather than guessed. The rule compares two
// bisections; what it does not say is which of the rate's three conditions (experiment.ts:
// latency p99 ≤ its SLO, throughput p99 ≤ its SLO, ≤ 0.1 % refused) switchyard breaks where the
// best baseline still meets all three. So: at the best baseline's sustainable load, on the
// arrivals every strategy saw there (the same seed), switchyard and that baseline are run again
// and each one's breaks listed. Where switchyard meets them there too, it broke them at a lower
// load of the report's grid, and the stored cells say which. Beside them, switchyard once more
// with riders off on every device (riders.ts: budget and backlogBudget 0), the same arrivals: how
// much of a miss is the time latency batches spend carrying throughput items.
import type { Strategy } from '../router/strategies.js'
import { runScenario } from './engine.js'
import { metricOf } from './cross-judge.js'
import { breaksOf, metricsOf, sloBreaks, type SloBreak } from './experiment.js'
import type { CellMetrics } from './judge.js'
import { capacity, type Scenario } from './scenario.js'
import { generate } from './workload.js'

/** What a random report stores of a seed that this reads. */
export interface StoredSustainable {
  seed: number
  cells: ReadonlyArray<{ load: number, metrics: Record<string, { latP99: number | null, thrP99: number | null, refused: number }> }>
  sustainable: Record<string, number>
  sustainableCheck: { ok: boolean, best: number, bestStrategy: string }
}

export interface SustainableMiss {
  seed: number
  /** the best baseline's sustainable load (fraction of capacity) and switchyard's */
  load: number
  switchyardLoad: number
  baseline: string
  /** at `load`, same arrivals */
  switchyard: CellMetrics
  baselineMetrics: CellMetrics
  /** what switchyard breaks at `load` ([] where it meets every condition there) */
  breaks: SloBreak[]
  /** switchyard at `load` with riders off on every device */
  withoutRiders: CellMetrics
  /** what the baseline breaks there: [] unless the rerun disagrees with the report */
  baselineBreaks: SloBreak[]
  /** where switchyard meets every condition at `load`: the lowest grid load below it that it breaks, with what */
  below: { load: number, breaks: SloBreak[] } | null
}

/** Reruns a missed seed (`s`: its scenario as the report ran it) at the best baseline's sustainable load. */
export function explainMiss (s: Scenario, stored: StoredSustainable): SustainableMiss {
  const load = stored.sustainableCheck.best
  const baseline = stored.sustainableCheck.bestStrategy
  const C = capacity(s)
  const durationMs = s.durationS * 1000
  const run = (strategy: string, sc: Scenario = s): ReturnType<typeof runScenario> =>
    runScenario(sc, { strategy: strategy as Strategy, ratePerS: load * C, durationMs }, generate(s.arrivals, s.traffic, load * C, durationMs, s.seed))
  const sy = run('switchyard')
  const base = run(baseline)
  const breaks = sloBreaks(s, sy)
  let below: SustainableMiss['below'] = null
  if (breaks.length === 0) {
    for (const c of stored.cells) {
      if (c.load >= load) break
      const b = breaksOf(metricOf(c.metrics.switchyard!), s.slo)
      if (b.length > 0) { below = { load: c.load, breaks: b }; break }
    }
  }
  return {
    seed: stored.seed,
    load,
    switchyardLoad: stored.sustainable.switchyard ?? 0,
    baseline,
    switchyard: metricsOf(sy),
    baselineMetrics: metricsOf(base),
    breaks,
    withoutRiders: metricsOf(run('switchyard', { ...s, devices: s.devices.map((d) => ({ ...d, ridersBudget: 0, ridersBacklogBudget: 0 })) })),
    baselineBreaks: sloBreaks(s, base),
    below
  }
}
