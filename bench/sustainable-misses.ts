// The generated scenarios whose sustainable rate misses issue 17's rule (≥ 0.97× the best
// baseline's), and why: at the best baseline's sustainable load, on the same arrivals, which of
// the rate's conditions switchyard breaks and by how much, beside that baseline's numbers and
// switchyard's with riders off (src/sim/sustainable-miss.ts). Three runs per missed seed: seconds
// for the judged sets. With --draws, is a miss the scenario's or its draw's: each missed scenario's
// sustainable rates, every strategy's, measured again on other draws of its arrivals and jitter
// (src/sim/redraw.ts), and — for the odds of a miss by chance — the same for a sample of the
// scenarios that meet the rule (minutes). Output: bench/results/sustainable-misses.md.
//
// Usage: node --import tsx bench/sustainable-misses.ts [--reports a,b,…] [--draws K] [--control N] [--md]
//   --reports  report names under bench/results (default: every judged set, JUDGED_REPORTS)
//   --draws    draws 1..K of each missed scenario (default 0: none)
//   --control  with --draws: N scenarios that meet the rule, evenly spaced through the reports (default: as many as miss)
import { reportScenario, reportWaiting, runSeed } from '../src/sim/random-run.js'
import { breaksOf } from '../src/sim/experiment.js'
import { explainMiss, type SustainableMiss } from '../src/sim/sustainable-miss.js'
import { JUDGED_REPORTS, readRandomReport } from './random-reports.js'

const argv = process.argv.slice(2)
const flag = argv.indexOf('--reports')
const names: readonly string[] = flag >= 0 ? argv[flag + 1]!.split(',') : JUDGED_REPORTS
const md = argv.includes('--md')
const arg = (k: string): string | undefined => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined }
const draws = Number(arg('--draws') ?? 0)

const t0 = performance.now()
type Report = ReturnType<typeof readRandomReport>
/** the sustainable rule on draws 1..K of a scenario: each draw's verdict and switchyard / best baseline ratio */
type Check = { ok: boolean, ratio: number }
const onDraws = (r: Report, seed: number): Check[] => Array.from({ length: draws }, (_, k) => runSeed(seed, { ...r.options, decodeWaiting: reportWaiting(r.options), draw: k + 1 }).result.sustainableCheck)
const rows: Array<{ report: string, description: string, miss: SustainableMiss, slo: { latency: number, throughput: number }, draws: Check[] }> = []
const passing: Array<{ r: Report, seed: number }> = []
let scenarios = 0
for (const name of names) {
  const r = readRandomReport(name)
  for (const seed of r.seeds) {
    scenarios++
    if (seed.sustainableCheck.ok) { passing.push({ r, seed: seed.seed }); continue }
    const s = reportScenario(r, seed.seed)
    rows.push({ report: name, description: `${seed.devices}; ${Math.round(seed.latencyShare * 100)} % latency; ${seed.arrivals}${seed.events > 0 ? `; ${seed.events} events` : ''}`, miss: explainMiss(s, seed), slo: s.slo, draws: onDraws(r, seed.seed) })
  }
}
// the control: scenarios meeting the rule in their report, evenly spaced, on the same draws
const controlN = draws > 0 ? Math.min(passing.length, Number(arg('--control') ?? rows.length)) : 0
const control = Array.from({ length: controlN }, (_, i) => passing[Math.floor((i + 0.5) * passing.length / controlN)]!)
  .map((p) => ({ seed: p.seed, draws: onDraws(p.r, p.seed) }))

const pc = (x: number): string => `${Math.round(x * 1000) / 10} %`
const ms = (x: number): string => Number.isFinite(x) ? String(Math.round(x)) : '–'
const what = (m: SustainableMiss): string => m.breaks.length > 0
  ? m.breaks.join(', ')
  : m.below !== null ? `none here; at ${pc(m.below.load)}: ${m.below.breaks.join(', ')}` : 'none here nor on the grid below (a bisection point)'
const met = (cs: Check[]): number => cs.filter((c) => c.ok).length
const onOther = (cs: Check[]): string => `${met(cs)} of ${cs.length} (${cs.map((c) => Number.isFinite(c.ratio) ? c.ratio.toFixed(2) : '–').join(', ')})`
const cols = ['seed', 'report', 'scenario', 'switchyard / best baseline (load)', 'switchyard breaks', 'switchyard: latency / throughput p99 ms, refused', 'switchyard, riders off', 'baseline: latency / throughput p99 ms, refused', ...(draws > 0 ? ['other draws: rule met (switchyard / best baseline)'] : [])]
const row = (x: typeof rows[number]): string[] => {
  const m = x.miss
  return [String(m.seed), x.report, x.description, `${pc(m.switchyardLoad)} / ${pc(m.load)} (${m.baseline})`, what(m),
    `${ms(m.switchyard.latP99)} / ${ms(m.switchyard.thrP99)}, ${pc(m.switchyard.refused)}`,
    `${ms(m.withoutRiders.latP99)} / ${ms(m.withoutRiders.thrP99)}, ${pc(m.withoutRiders.refused)}`,
    `${ms(m.baselineMetrics.latP99)} / ${ms(m.baselineMetrics.thrP99)}, ${pc(m.baselineMetrics.refused)}${m.baselineBreaks.length > 0 ? ` (breaks ${m.baselineBreaks.join(', ')} on this rerun)` : ''}`,
    ...(draws > 0 ? [onOther(x.draws)] : [])]
}
const count = (k: string): number => rows.filter((x) => x.miss.breaks.includes(k as never)).length
const only = (k: string): number => rows.filter((x) => x.miss.breaks.length === 1 && x.miss.breaks[0] === k).length
const over = (k: 'latP99' | 'thrP99', slo: 'latency' | 'throughput'): number[] => rows.filter((x) => x.miss.breaks.includes(slo)).map((x) => x.miss.switchyard[k] / x.slo[slo])
const span = (xs: number[]): string => xs.length === 0 ? '–' : `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}× the SLO (median ${[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2)})`

const summary = [
  `${rows.length} of ${scenarios} scenarios miss the rule. At the best baseline's sustainable load, switchyard breaks:`,
  `- the latency class's p99 SLO in ${count('latency')} (alone in ${only('latency')}): ${span(over('latP99', 'latency'))};`,
  `- the throughput class's p99 SLO in ${count('throughput')} (alone in ${only('throughput')}): ${span(over('thrP99', 'throughput'))};`,
  `- the refusal bound (0.1 %) in ${count('refused')} (alone in ${only('refused')});`,
  `- nothing in ${rows.filter((x) => x.miss.breaks.length === 0).length} (it broke a condition at a lower load).`,
  '',
  `With riders off on every device (the same arrivals), switchyard's latency p99 is within its SLO in ${rows.filter((x) => x.miss.breaks.includes('latency') && x.miss.withoutRiders.latP99 <= x.slo.latency).length} of the ${count('latency')} that break it, and the throughput p99 within its SLO in ${rows.filter((x) => x.miss.breaks.includes('latency') && x.miss.withoutRiders.thrP99 <= x.slo.throughput).length} of them; every condition is met in ${rows.filter((x) => breaksOf(x.miss.withoutRiders, x.slo).length === 0).length} of the ${rows.length}.`,
  ...(draws > 0
    ? ['', `On draws 1–${draws} of their arrivals and jitter (every strategy rerun, the rate bisected as the reports do): the ${rows.length} scenarios that miss meet the rule in ${rows.reduce((a, x) => a + met(x.draws), 0)} of ${rows.length * draws} (on every draw: ${rows.filter((x) => met(x.draws) === draws).length}; on none: ${rows.filter((x) => met(x.draws) === 0).length}); ${control.length} that meet it in their report (every ${Math.round(passing.length / Math.max(1, control.length))}th: seeds ${control.map((c) => c.seed).join(', ')}) meet it in ${control.reduce((a, c) => a + met(c.draws), 0)} of ${control.length * draws}.`]
    : [])
].join('\n')
if (md) {
  process.stdout.write(`Command: \`node --import tsx bench/sustainable-misses.ts${flag >= 0 ? ` --reports ${names.join(',')}` : ''}${draws > 0 ? ` --draws ${draws}${arg('--control') !== undefined ? ` --control ${controlN}` : ''}` : ''} --md\` (${((performance.now() - t0) / 1000).toFixed(0)} s)\n\n${summary}\n\n`)
  process.stdout.write([`| ${cols.join(' | ')} |`, `| ${cols.map(() => '---').join(' | ')} |`, ...rows.map((x) => `| ${row(x).join(' | ')} |`)].join('\n') + '\n')
} else {
  process.stdout.write(`${summary}\n\n${rows.map((x) => row(x).map((v, i) => `${cols[i]}: ${v}`).join(', ')).join('\n')}\n`)
}
