// Every strategy judged as switchyard is, over the committed random reports (issue 17): each
// strategy's cells not beaten by the other five, the best of six per scenario and per cell, the cells where no
// strategy holds, what switchyard's lost cells are and what they are lost on, and each strategy's sustainable rate against
// the best other's (src/sim/cross-judge.ts says what each count means). Reads the reports'
// stored cells; runs nothing (seconds). Output: bench/results/cross-judge.md.
//
// Usage: node --import tsx bench/cross-judge.ts [--reports a,b,…] [--md]
//   --reports  report names under bench/results (default: every judged set, JUDGED_REPORTS)
import { addCrossJudgement, crossJudge, emptyCrossJudgement, type CrossJudgement } from '../src/sim/cross-judge.js'
import { JUDGED_REPORTS, readRandomReport } from './random-reports.js'

const argv = process.argv.slice(2)
const flag = argv.indexOf('--reports')
const names: readonly string[] = flag >= 0 ? argv[flag + 1]!.split(',') : JUDGED_REPORTS
const md = argv.includes('--md')

const rows: Array<{ name: string, seeds: string, j: CrossJudgement }> = []
const total = emptyCrossJudgement()
let first = Infinity; let last = -Infinity
for (const name of names) {
  const r = readRandomReport(name)
  const j = crossJudge(r.seeds)
  const seeds = r.seeds.map((s) => s.seed)
  first = Math.min(first, ...seeds); last = Math.max(last, ...seeds)
  rows.push({ name, seeds: `${Math.min(...seeds)}–${Math.max(...seeds)}`, j })
  addCrossJudgement(total, j)
}
rows.push({ name: 'all', seeds: `${first}–${last}`, j: total })

const strategies = Object.keys(total.notBeaten)
const pct = (a: number, b: number): string => `${(100 * a / b).toFixed(1)} %`
const n = (a: number, b: number): string => `${a} (${pct(a, b)})`
const holdsBy = (j: CrossJudgement): string => strategies.filter((k) => (j.lost.holdsBy[k] ?? 0) > 0).map((k) => `${k} ${j.lost.holdsBy[k]}`).join(', ') || '–'
const cellCols = ['report', 'seeds', 'cells', ...strategies, 'best of six per scenario', 'best of six per cell', 'no strategy holds']
const cellRow = (r: typeof rows[number]): string[] => [r.name, r.seeds, String(r.j.cells), ...strategies.map((k) => n(r.j.notBeaten[k] ?? 0, r.j.cells)), n(r.j.bestPerScenario, r.j.cells), n(r.j.bestOfSix, r.j.cells), String(r.j.noneHolds)]
const lostCols = ['report', 'switchyard lost', 'a baseline holds there', 'no baseline holds', 'which baseline holds (a cell may have several)']
const lostRow = (r: typeof rows[number]): string[] => [r.name, String(r.j.lost.cells), String(r.j.lost.baselineHolds), String(r.j.lost.noBaselineHolds), holdsBy(r.j)]
const onCols = ['report', 'switchyard lost', 'on latency p99 (trades)', 'on throughput p99 (trades)', 'on refusals (trades)', 'on several (trades)']
const on = (x: { cells: number, trades: number }): string => `${x.cells} (${x.trades})`
const onRow = (r: typeof rows[number]): string[] => [r.name, String(r.j.lost.cells), on(r.j.lostOn.latency), on(r.j.lostOn.throughput), on(r.j.lostOn.refusals), on(r.j.lostOn.several)]
const pickCols = ['report', 'scenarios where a baseline holds in more cells than switchyard', 'cells it gains', 'which baseline (a scenario may name several)']
const pickRow = (r: typeof rows[number]): string[] => [r.name, String(r.j.otherBest.scenarios), String(r.j.otherBest.cells), strategies.filter((k) => (r.j.otherBest.by[k] ?? 0) > 0).map((k) => `${k} ${r.j.otherBest.by[k]}`).join(', ') || '–']
const susCols = ['report', 'scenarios', ...strategies]
const susRow = (r: typeof rows[number]): string[] => [r.name, String(r.j.scenarios), ...strategies.map((k) => String(r.j.sustainable[k] ?? 0))]

const table = (h: string[], body: string[][]): string => md
  ? [`| ${h.join(' | ')} |`, `| ${h.map(() => '---').join(' | ')} |`, ...body.map((b) => `| ${b.join(' | ')} |`)].join('\n')
  : body.map((b) => b.map((v, i) => `${h[i]}: ${v}`).join(', ')).join('\n')
if (md) process.stdout.write(`Command: \`node --import tsx bench/cross-judge.ts${flag >= 0 ? ` --reports ${names.join(',')}` : ''} --md\`\n\n`)
process.stdout.write(`${md ? '**Cells not beaten by the other five** (each strategy judged as switchyard is)' : 'cells not beaten by the other five'}\n\n${table(cellCols, rows.map(cellRow))}\n\n`)
process.stdout.write(`${md ? "**Switchyard's lost cells**" : "switchyard's lost cells"}\n\n${table(lostCols, rows.map(lostRow))}\n\n`)
process.stdout.write(`${md ? "**What switchyard's lost cells are lost on** (the baselines that beat it; a trade: switchyard beats back every one of them on another of the three)" : "what switchyard's lost cells are lost on (trades)"}\n\n${table(onCols, rows.map(onRow))}\n\n`)
process.stdout.write(`${md ? '**One behaviour per scenario**' : 'one behaviour per scenario'}\n\n${table(pickCols, rows.map(pickRow))}\n\n`)
process.stdout.write(`${md ? '**Sustainable rate ≥ 0.97× the best of the other five**' : 'sustainable rate ≥ 0.97× the best of the other five'}\n\n${table(susCols, rows.map(susRow))}\n`)
