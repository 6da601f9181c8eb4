// One generated cell taken apart (issue 17): a seed of the judged sets at one load, run again by
// each strategy asked for on the cell's own arrivals, with what each report's tables do not show —
// each traffic class's p50 / p99 per model, the refused by class and reason, where every device's
// worker time went (latency batches with their riders, bulk batches, a reserved latency worker's), and one class's answers
// over time per device (ms from placement to answer against the router's prediction). The tool
// behind the per-cell diagnoses in bench/results/late-binding.md and sustainable-misses.md.
//
// Usage: node --import tsx bench/cell-trace.ts SEED LOAD [--strategies a,b,…] [--policy latency|throughput]
//          [--step MS] [--from S] [--to S] [--log DEVICE] [--report NAME]
//   LOAD          a fraction of capacity (0.45) or a percentage (45)
//   --strategies  default switchyard,shared-queue
//   --policy      the class whose answers are shown over time (default latency)
//   --step        their window, ms (default 1000); --from / --to: only windows in [from, to) s
//   --log         also every batch DEVICE ran that ended in [from, to): start, end, model, size, latency items
//   --report      the report whose run options the scenario takes (default: the judged set holding SEED)
import type { Policy } from '../src/config/schema.js'
import { cellTrace } from '../src/sim/cell-trace.js'
import { runScenario } from '../src/sim/engine.js'
import { metricsOf } from '../src/sim/experiment.js'
import { reportScenario } from '../src/sim/random-run.js'
import { capacity } from '../src/sim/scenario.js'
import { generate } from '../src/sim/workload.js'
import type { Strategy } from '../src/router/strategies.js'
import { JUDGED_REPORTS, readRandomReport } from './random-reports.js'

const argv = process.argv.slice(2)
const arg = (k: string): string | undefined => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined }
const seed = Number(argv[0]); const loadArg = Number(argv[1])
if (!Number.isInteger(seed) || !(loadArg > 0)) {
  process.stderr.write('usage: node --import tsx bench/cell-trace.ts SEED LOAD [--strategies a,b] [--policy latency] [--step MS] [--from S] [--to S] [--log DEVICE] [--report NAME]\n')
  process.exit(2)
}
const load = loadArg > 2 ? loadArg / 100 : loadArg
const strategies = (arg('--strategies') ?? 'switchyard,shared-queue').split(',') as Strategy[]
const policy = (arg('--policy') ?? 'latency') as Policy
const stepMs = Number(arg('--step') ?? 1000)
const fromMs = arg('--from') !== undefined ? Number(arg('--from')) * 1000 : 0
const toMs = arg('--to') !== undefined ? Number(arg('--to')) * 1000 : Infinity
const logDevice = arg('--log')
const reportName = arg('--report') ?? JUDGED_REPORTS.find((n) => readRandomReport(n).seeds.some((s) => s.seed === seed)) ?? 'random'
const s = reportScenario(readRandomReport(reportName), seed)
const C = capacity(s)
const durationMs = s.durationS * 1000

const f0 = (x: number): string => Number.isFinite(x) ? x.toFixed(0) : '–'
const out: string[] = [
  `${s.description}`,
  `events: ${s.events.length === 0 ? 'none' : s.events.map((e) => `${e.atS} s ${e.device} ${'down' in e ? (e.down ? 'down' : 'up') : `×${e.slowdown}`}`).join(', ')}`,
  `load ${Math.round(load * 1000) / 10} % of ${f0(C)} req/s for ${s.durationS} s (the scenario as ${reportName} ran it); SLO: latency ${s.slo.latency} ms, throughput ${s.slo.throughput} ms`
]
for (const strategy of strategies) {
  const t = cellTrace()
  const r = runScenario(s, { strategy, ratePerS: load * C, durationMs, trace: t.trace }, generate(s.arrivals, s.traffic, load * C, durationMs, s.seed))
  const m = metricsOf(r)
  out.push('', `## ${strategy}: latency p99 ${f0(m.latP99)} ms, throughput p99 ${f0(m.thrP99)} ms, refused ${(m.refused * 100).toFixed(2)} %${Object.keys(r.rejections).length > 0 ? ` (${Object.entries(r.rejections).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}`, '')
  out.push(`per class (p50 / p99 ms): ${r.byClass.map((c) => `${c.label} ${f0(c.p50)} / ${f0(c.p99)}`).join('; ')}`, '')
  out.push(`route decisions per device (reason: count, every class): ${r.devices.map((d) => `${d.id} ${Object.entries(d.decisions).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`).join('; ')}`, '')
  out.push('| device | model | batches | count | items (latency) | mean size | worker s |', '| --- | --- | --- | --- | --- | --- | --- |')
  for (const b of t.batches()) out.push(`| ${b.device} | ${b.model} | ${b.kind} | ${b.batches} | ${b.items} (${b.latencyItems}) | ${(b.items / b.batches).toFixed(1)} | ${(b.busyMs / 1000).toFixed(2)} |`)
  out.push('', `${policy} answers per ${stepMs} ms window and device: count, mean / max ms from placement to answer, mean predicted`, '')
  out.push('| from s | device | answers | mean | max | predicted |', '| --- | --- | --- | --- | --- | --- |')
  for (const w of t.windows(policy, stepMs, fromMs, toMs)) out.push(`| ${(w.fromMs / 1000).toFixed(2)} | ${w.device} | ${w.answers} | ${f0(w.meanMs)} | ${f0(w.maxMs)} | ${f0(w.meanPredictedMs)} |`)
  if (logDevice !== undefined) {
    out.push('', `${logDevice}'s batches (worker ms: tensor layout, run, decode)`, '', '| start s | end s | model | size | latency items | worker ms |', '| --- | --- | --- | --- | --- | --- |')
    for (const e of t.log(logDevice, fromMs, toMs)) out.push(`| ${((e.endMs - e.serviceMs) / 1000).toFixed(3)} | ${(e.endMs / 1000).toFixed(3)} | ${e.model} | ${e.size} | ${e.latency} | ${e.serviceMs.toFixed(1)} |`)
  }
}
process.stdout.write(out.join('\n') + '\n')
