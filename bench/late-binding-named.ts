// Late binding on the five named scenarios (issue 17): switchyard (late binding) against
// early-binding (the rule before) and the five baselines, at 60 %, 80 % and the scenario's load,
// on identical arrivals. Usage: node --import tsx bench/late-binding-named.ts [simulated s per run, default 60]
import { join } from 'node:path'
import { runScenario } from '../src/sim/engine.js'
import { capacity, loadScenario } from '../src/sim/scenario.js'
import { generate } from '../src/sim/workload.js'
import { judgeCell } from '../src/sim/judge.js'
import { metricsOf } from '../src/sim/experiment.js'
import type { CellMetrics } from '../src/sim/judge.js'
const durS = Number(process.argv[2] ?? 60)
const base = ['fastest-only', 'round-robin', 'join-shortest-queue', 'shared-queue', 'speed-aware'] as const
const f = (x: number | undefined): string => x === undefined || Number.isNaN(x) ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(1)
console.log(`Named scenarios, ${durS} simulated s per run, identical arrivals per row; cells: latency p99 / throughput p99 ms (refused %); verdict by src/sim/judge.ts against the five baselines.\n`)
console.log('| scenario | load | early-binding (the rule before) | switchyard (late binding) | best baseline per column | verdict early → late |')
console.log('| --- | --- | --- | --- | --- | --- |')
for (const name of ['cpu-gpu', 'cpu-two-gpus', 'decode-bound', 'gpu-fails', 'mixed-models']) {
  const s = loadScenario(join(import.meta.dirname, 'scenarios', `${name}.json`))
  const C = capacity(s)
  for (const load of [0.6, 0.8, s.load]) {
    const w = generate(s.arrivals, s.traffic, load * C, durS * 1000, s.seed)
    const m: Record<string, CellMetrics> = {}
    for (const st of ['early-binding', 'switchyard', ...base] as const) m[st] = metricsOf(runScenario(s, { strategy: st, ratePerS: load * C, durationMs: durS * 1000 }, w))
    const cell = (x: CellMetrics): string => `${f(x.latP99)} / ${f(x.thrP99)} (${(x.refused * 100).toFixed(1)})`
    const bs = base.map((st) => ({ strategy: st, m: m[st] }))
    const bestLat = bs.reduce((a, b) => (b.m.latP99 < a.m.latP99 ? b : a)); const bestThr = bs.reduce((a, b) => (b.m.thrP99 < a.m.thrP99 ? b : a)); const bestRef = bs.reduce((a, b) => (b.m.refused < a.m.refused ? b : a))
    const v0 = judgeCell(m['early-binding'], bs, s.slo).verdict; const v1 = judgeCell(m.switchyard, bs, s.slo).verdict
    console.log(`| ${name} | ${Math.round(load * 100)} % | ${cell(m['early-binding'])} | ${cell(m.switchyard)} | lat ${f(bestLat.m.latP99)} (${bestLat.strategy}), thr ${f(bestThr.m.thrP99)} (${bestThr.strategy}), refused ${(bestRef.m.refused * 100).toFixed(1)} % (${bestRef.strategy}) | ${v0} → ${v1} |`)
  }
}
