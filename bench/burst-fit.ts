// Issue 17's burst target on the generated scenarios: "bursts that fit within the deadlines (a
// burst's excess work drains in less than the throughput deadline): ≤ 0.1 % refused at ≤ 80 % mean
// load". Reads the committed reports (no simulation, a second): every bursty scenario's cells at
// 20–80 %, whether its bursts fit there (src/sim/burst-fit.ts, on the scenario's capacity and its
// throughput deadline), and each strategy's refused share in the cells where they do. Scenarios
// with a slow-down or a failure are counted apart: the capacity the fit is computed on is not the
// fleet's while an event lasts.
//
// Usage: node --import tsx bench/burst-fit.ts [--reports a,b,…] [--reasons] [--md]
//   --reports  report names under bench/results (default: every judged set, JUDGED_REPORTS)
//   --reasons  run switchyard again in each cell it refused more than the bound in (the report's
//              run: its scenario, load and run length), and count what it refused by class and
//              reason (minutes)
//   --md       also write bench/results/burst-fit.md
import { writeFileSync } from 'node:fs'
import { burstFit } from '../src/sim/burst-fit.js'
import { runScenario } from '../src/sim/engine.js'
import { reportScenario } from '../src/sim/random-run.js'
import { capacity } from '../src/sim/scenario.js'
import { generate } from '../src/sim/workload.js'
import { JUDGED_REPORTS, readRandomReport } from './random-reports.js'

const BOUND = 0.001
const LOADS = [0.2, 0.4, 0.6, 0.8]
const argv = process.argv.slice(2)
const flag = argv.indexOf('--reports')
const names: readonly string[] = flag >= 0 ? argv[flag + 1]!.split(',') : JUDGED_REPORTS

type Tally = { cells: number, over: Record<string, number> }
const tally = (): Tally => ({ cells: 0, over: {} })
const byLoad = new Map<number, { calm: Tally, events: Tally, unfit: number }>(LOADS.map((l) => [l, { calm: tally(), events: tally(), unfit: 0 }]))
const misses: string[] = []
const reasons: Record<string, number> = {}
let reasonCells = 0
let strategies: string[] = []
let bursty = 0; let scenarios = 0; let first = Infinity; let last = -Infinity
for (const name of names) {
  const r = readRandomReport(name)
  for (const seed of r.seeds) {
    scenarios++
    first = Math.min(first, seed.seed); last = Math.max(last, seed.seed)
    const s = reportScenario(r, seed.seed)
    if (s.arrivals.kind !== 'bursty') continue
    bursty++
    const C = capacity(s)
    const deadlineS = Math.min(...s.traffic.filter((c) => c.policy === 'throughput').map((c) => c.deadlineMs)) / 1000
    for (const cell of seed.cells) {
      const row = byLoad.get(cell.load)
      if (row === undefined) continue
      const fit = burstFit(s.arrivals, C, cell.load, deadlineS)!
      if (!fit.fits) { row.unfit++; continue }
      const t = seed.events > 0 ? row.events : row.calm
      t.cells++
      if (strategies.length === 0) strategies = Object.keys(cell.metrics)
      for (const [k, m] of Object.entries(cell.metrics)) if (m.refused > BOUND) t.over[k] = (t.over[k] ?? 0) + 1
      const sy = cell.metrics.switchyard!.refused
      if (sy > BOUND) {
        if (argv.includes('--reasons')) {
          const rate = cell.load * C; const ms = seed.durationS * 1000
          const run = runScenario(s, { strategy: 'switchyard', ratePerS: rate, durationMs: ms }, generate(s.arrivals, s.traffic, rate, ms, s.seed))
          for (const [k, v] of Object.entries(run.rejections)) reasons[k] = (reasons[k] ?? 0) + v
          reasonCells++
        }
        const least = Object.entries(cell.metrics).filter(([k]) => k !== 'switchyard').reduce((a, b) => (b[1].refused < a[1].refused ? b : a))
        misses.push(`| ${seed.seed} | ${Math.round(cell.load * 100)} % | ${seed.events > 0 ? 'yes' : 'no'} | ${s.arrivals.factor}× for ${s.arrivals.burstS} s every ${s.arrivals.periodS} s | ${Math.round(fit.drainS * 10) / 10} / ${deadlineS} s | ${pct(sy)} | ${least[0]} ${pct(least[1].refused)} | ${seed.devices} |`)
      }
    }
  }
}

function pct (x: number): string { return `${Math.round(x * 1000) / 10} %` }
const cellRow = (load: number, kind: 'calm' | 'events'): string => {
  const t = byLoad.get(load)![kind]
  return `| ${Math.round(load * 100)} % | ${kind === 'calm' ? 'none' : 'slow-down or failure'} | ${t.cells} | ${strategies.map((k) => String(t.over[k] ?? 0)).join(' | ')} |`
}
const sum = (kind: 'calm' | 'events', k: string): number => LOADS.reduce((a, l) => a + (byLoad.get(l)![kind].over[k] ?? 0), 0)
const cells = (kind: 'calm' | 'events'): number => LOADS.reduce((a, l) => a + byLoad.get(l)![kind].cells, 0)
const out = [
  `Command: \`node --import tsx bench/burst-fit.ts${names === JUDGED_REPORTS ? '' : ` --reports ${names.join(',')}`}${argv.includes('--reasons') ? ' --reasons' : ''}${argv.includes('--md') ? ' --md' : ''}\` — ${names.length} report(s), seeds ${first}–${last}: ${scenarios} scenarios, ${bursty} with bursty arrivals.`,
  '',
  `Cells (bursty scenario, load ≤ 80 %) whose bursts fit within the throughput deadline, and in how many of them each strategy refused more than ${pct(BOUND)} of requests. Bursts that do not fit: ${LOADS.map((l) => `${Math.round(l * 100)} % ${byLoad.get(l)!.unfit}`).join(', ')} cells, not counted.`,
  '',
  `| load | events | cells where the bursts fit | ${strategies.map((k) => `${k} > ${pct(BOUND)}`).join(' | ')} |`,
  `| --- | --- | --- | ${strategies.map(() => '---').join(' | ')} |`,
  ...LOADS.map((l) => cellRow(l, 'calm')),
  ...LOADS.map((l) => cellRow(l, 'events')),
  `| all | none | ${cells('calm')} | ${strategies.map((k) => String(sum('calm', k))).join(' | ')} |`,
  `| all | slow-down or failure | ${cells('events')} | ${strategies.map((k) => String(sum('events', k))).join(' | ')} |`,
  '',
  `Switchyard's cells over ${pct(BOUND)}, with the baseline that refused least there:`,
  '',
  '| seed | load | events | bursts | drain / deadline | switchyard refused | least-refusing baseline | devices |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...(misses.length > 0 ? misses : ['| – | | | | | | | |']),
  '',
  ...(reasonCells > 0
    ? [`What switchyard refused in those ${reasonCells} cells, run again (--reasons), by class and reason: ${Object.entries(reasons).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ')}.`, '']
    : [])
].join('\n')
process.stdout.write(out)
if (argv.includes('--md')) writeFileSync(new URL('./results/burst-fit.md', import.meta.url), `# Bursts that fit within the deadlines (issue 17)\n\n${out}`)
