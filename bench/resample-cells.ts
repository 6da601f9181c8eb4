// The cells of committed `npm run simulate -- random …` reports (bench/results/random*.json) judged
// again on other draws of their chance (src/sim/redraw.ts): the same scenario at the same load,
// other arrival times, jitter and decodes. Every strategy runs on each draw (the baselines' stored
// numbers are one draw's), and switchyard is judged against them by src/sim/judge.ts.
//
// What it tells: whether a cell's verdict is the scenario's or its draw's. A cell lost on most
// draws is a loss the rule owns; one lost on a few is chance, and so is the part of a set's
// not-beaten count it moves. For a set, the mean over draws of its not-beaten share is the
// figure one draw of the set estimates. For trying a rule (bench/screen-cells.ts replays one
// draw): a rule that only changes chance cells has not been shown to change anything.
//
// Per cell: the report's verdict, then each draw's (W / T / L), the losses out of the draws and
// what beat switchyard on each lost draw (the judge's first word: throughput, latency, refuses).
// Per report: the not-beaten share on each draw and their mean, and how many cells were lost on
// every draw, on some, on none.
//
// Usage: node --import tsx bench/resample-cells.ts [seeds] [--draws K] [--lost] [--reports a,b,…]
//   --draws    draws 1..K (draw 0 is the report's own; default 5)
//   --lost     only the cells the report lost (default: every cell)
//   --reports  report names under bench/results (default: random), or paths (a name with a slash)
import { metricsOf } from '../src/sim/experiment.js'
import { judgeCell, type CellMetrics } from '../src/sim/judge.js'
import { runScenario } from '../src/sim/engine.js'
import { parseSeeds } from '../src/sim/random-scenario.js'
import { reportScenario, type SeedResult } from '../src/sim/random-run.js'
import { redraw } from '../src/sim/redraw.js'
import { capacity } from '../src/sim/scenario.js'
import { generate } from '../src/sim/workload.js'
import { readRandomReport } from './random-reports.js'

const argv = process.argv.slice(2)
const option = (name: string): string | undefined => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined }
const names = (option('--reports') ?? 'random').split(',')
const draws = Number(option('--draws') ?? 5)
if (!Number.isInteger(draws) || draws < 1) throw new RangeError(`--draws ${option('--draws')}: a positive integer`)
const lostOnly = argv.includes('--lost')
const valued = new Set(['--reports', '--draws'])
const positional = argv.filter((a, i) => !a.startsWith('--') && !valued.has(argv[i - 1] ?? ''))
const only = positional[0] !== undefined ? new Set(parseSeeds(positional[0])) : null

const letter = (v: string): string => v[0]!.toUpperCase()

process.stdout.write(`Command: \`node --import tsx bench/resample-cells.ts${positional[0] !== undefined ? ` ${positional[0]}` : ''} --draws ${draws}${lostOnly ? ' --lost' : ''} --reports ${names.join(',')}\`\n\n`)
for (const name of names) {
  const report = readRandomReport(name)
  const notBeaten = new Array<number>(draws).fill(0)
  let cells = 0; let always = 0; let sometimes = 0; let never = 0
  process.stdout.write(`## ${name}\n\n| seed | load | report | draws 1–${draws} | lost | beaten on |\n| --- | --- | --- | --- | --- | --- |\n`)
  for (const b of report.seeds as SeedResult[]) {
    if (only !== null && !only.has(b.seed)) continue
    const s0 = reportScenario(report, b.seed)
    const C = capacity(s0)
    const durationMs = s0.durationS * 1000
    for (const c of b.cells) {
      if (lostOnly && c.judgement.verdict !== 'loss') continue
      cells++
      let verdicts = ''; let lost = 0
      const why: string[] = []
      for (let k = 1; k <= draws; k++) {
        const s = redraw(s0, k)
        const w = generate(s.arrivals, s.traffic, c.load * C, durationMs, s.seed)
        const m = new Map<string, CellMetrics>()
        for (const st of s.strategies) m.set(st, metricsOf(runScenario(s, { strategy: st, ratePerS: c.load * C, durationMs }, w)))
        const j = judgeCell(m.get('switchyard')!, [...m].filter(([st]) => st !== 'switchyard').map(([st, v]) => ({ strategy: st, m: v })), s.slo)
        verdicts += letter(j.verdict)
        if (j.verdict === 'loss') {
          lost++
          why.push([...new Set(j.beatenBy.map((x) => x.why.split(' ')[0]))].join('+'))
        } else {
          notBeaten[k - 1]!++
        }
      }
      if (lost === draws) always++; else if (lost > 0) sometimes++; else never++
      process.stdout.write(`| ${b.seed} | ${Math.round(c.load * 100)} % | ${letter(c.judgement.verdict)} | ${verdicts} | ${lost} / ${draws} | ${why.join(', ') || '–'} |\n`)
    }
  }
  if (cells === 0) { process.stdout.write(`\n${name}: no cells${lostOnly ? ' lost in the report' : ''}\n\n`); continue }
  const shares = notBeaten.map((n) => n / cells)
  const mean = shares.reduce((a, x) => a + x, 0) / draws
  process.stdout.write(`\n${name}: ${cells} cells${lostOnly ? ' (lost in the report)' : ''}; not beaten on draws 1–${draws}: ${notBeaten.map((n, i) => `${n} (${(shares[i]! * 100).toFixed(1)} %)`).join(', ')}; mean ${(mean * 100).toFixed(1)} %; lost on every draw ${always}, on some ${sometimes}, on none ${never}\n\n`)
}
