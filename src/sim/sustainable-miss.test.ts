// Why a scenario misses the sustainable rule (sustainable-miss.ts): the conditions a run breaks,
// read the same from a live run and from a report's stored cell, and the rerun at the best
// baseline's load.
import t from 'tap'
import type { RunResult } from './engine.js'
import { breaksOf, meetsSlo, sloBreaks } from './experiment.js'
import { randomScenario } from './random-scenario.js'
import { explainMiss, type StoredSustainable } from './sustainable-miss.js'

const s = randomScenario(2, { durationS: 4, minDurationS: 4, maxRequests: 1e9 })
const run = (byPolicy: Record<string, { served: number, p99: number, rejected: number, unfinished: number }>, offered = 1000): RunResult => ({ offered, byPolicy }) as unknown as RunResult

t.test('a run breaks each condition of the sustainable rate on its own: a class p99 past its SLO, more than 0.1 % refused', async (t) => {
  const ok = { served: 10, p99: 1, rejected: 0, unfinished: 0 }
  t.same(sloBreaks(s, run({ latency: ok, throughput: ok })), [])
  t.same(sloBreaks(s, run({ latency: { ...ok, p99: s.slo.latency + 1 }, throughput: ok })), ['latency'])
  t.same(sloBreaks(s, run({ latency: ok, throughput: { ...ok, p99: s.slo.throughput + 1 } })), ['throughput'])
  t.same(sloBreaks(s, run({ latency: ok, throughput: { ...ok, rejected: 1, unfinished: 1 } })), ['refused'], '2 of 1,000 refused or unanswered')
  t.same(sloBreaks(s, run({ latency: { ...ok, p99: s.slo.latency }, throughput: { ...ok, rejected: 1 } })), [], 'at the SLO and at 0.1 %: met')
  t.same(sloBreaks(s, run({ latency: { ...ok, served: 0, p99: NaN } })), [], 'a class with no answers has no p99 to break')
  for (const r of [run({ latency: ok }), run({ latency: { ...ok, p99: 1e9 } })]) t.equal(meetsSlo(s, r), sloBreaks(s, r).length === 0, 'meetsSlo is "breaks nothing"')
})

t.test('a stored cell breaks what its run broke (a NaN p99: a class without answers)', async (t) => {
  t.same(breaksOf({ latP99: 120, thrP99: 2500, refused: 0.002 }, { latency: 100, throughput: 2000 }), ['latency', 'throughput', 'refused'])
  t.same(breaksOf({ latP99: NaN, thrP99: 2000, refused: 0.001 }, { latency: 100, throughput: 2000 }), [])
})

t.test('rerun at the best baseline\'s load: where switchyard meets every condition there, the first stored grid load below that it broke', async (t) => {
  // seed 2 at 20 % of capacity: every strategy well within both SLOs (random.md)
  const stored: StoredSustainable = {
    seed: 2,
    cells: [{ load: 0.1, metrics: { switchyard: { latP99: 150, thrP99: 10, refused: 0 } } }, { load: 0.15, metrics: { switchyard: { latP99: 10, thrP99: 3000, refused: 0 } } }],
    sustainable: { switchyard: 0, 'shared-queue': 0.2 },
    sustainableCheck: { ok: false, best: 0.2, bestStrategy: 'shared-queue' }
  }
  const m = explainMiss(s, stored)
  t.same([m.seed, m.load, m.switchyardLoad, m.baseline], [2, 0.2, 0, 'shared-queue'])
  t.same([m.breaks, m.baselineBreaks], [[], []], 'both meet every condition at 20 %')
  t.same(m.below, { load: 0.1, breaks: ['latency'] }, 'the lowest stored load that breaks one, with what')
  t.ok(m.switchyard.latP99 < s.slo.latency && m.baselineMetrics.thrP99 < s.slo.throughput)
})

t.test('switchyard with riders off: the same arrivals, every device\'s riders budgets 0', async (t) => {
  // seed 337 (two GPUs, 65 % latency class) at 100 %: latency batches carry throughput items
  // (random-unseen-6.md); without riders its latency p99 falls and its throughput p99 rises
  const s337 = randomScenario(337, { durationS: 30, maxRequests: 20000, minDurationS: 15 })
  const m = explainMiss(s337, { seed: 337, cells: [], sustainable: { switchyard: 0.9, 'shared-queue': 1 }, sustainableCheck: { ok: false, best: 1, bestStrategy: 'shared-queue' } })
  t.ok(m.withoutRiders.latP99 < m.switchyard.latP99, `latency p99 ${m.switchyard.latP99.toFixed(0)} → ${m.withoutRiders.latP99.toFixed(0)} ms`)
  t.ok(m.withoutRiders.thrP99 > m.switchyard.thrP99, `throughput p99 ${m.switchyard.thrP99.toFixed(0)} → ${m.withoutRiders.thrP99.toFixed(0)} ms`)
})
