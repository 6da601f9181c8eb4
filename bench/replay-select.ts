// Choosing the rule by replay, measured on the committed random reports (issue 17;
// src/sim/replay-select.ts says what each count means): each cell's first window of arrivals
// replayed under switchyard and shared-queue (on other jitter), the better by the judge picked,
// the pick's stored full-run cell judged against the five baselines; beside it the same pick in
// hindsight (made on the full run). Runs two short simulations per cell (about 6 min for seeds
// 1–760 on two cores). Output: bench/results/replay-select.md.
//
// Usage: node --import tsx bench/replay-select.ts [--reports a,b,…] [--window F] [--seed-offset K] [--online] [--long K] [--md]
//   --reports      report names under bench/results (default: every judged set, JUDGED_REPORTS)
//   --window       the replayed fraction of each cell's duration (default 1/3: 5–10 s)
//   --seed-offset  the replay's jitter seed, added to the scenario's (default 100003)
//   --online       the picked cells run again with the switch at the window's end (seconds)
//   --long K       the picked cells run K× as long, every strategy and the switched run (minutes)
import { addSelection, emptySelection, longCell, REPLAY_SEED_OFFSET, replayWindow, selectByReplay, switchedRun, type ReplaySelection, type SwitchedCounts } from '../src/sim/replay-select.js'
import { JUDGED_REPORTS, readRandomReport } from './random-reports.js'

const argv = process.argv.slice(2)
const arg = (name: string): string | undefined => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined }
const names: readonly string[] = arg('--reports')?.split(',') ?? JUDGED_REPORTS
const window = Number(arg('--window') ?? 1 / 3)
const seedOffset = Number(arg('--seed-offset') ?? REPLAY_SEED_OFFSET)
const md = argv.includes('--md')
const online = argv.includes('--online')
const long = arg('--long') === undefined ? undefined : Number(arg('--long'))
if (!(window > 0 && window <= 1) || !Number.isInteger(seedOffset) || (long !== undefined && !(long >= 1))) throw new Error('--window must be in (0, 1], --seed-offset an integer, --long ≥ 1')

const rows: Array<{ name: string, seeds: string, j: ReplaySelection }> = []
const total = emptySelection()
const t0 = performance.now()
for (const name of names) {
  const r = readRandomReport(name)
  const j = selectByReplay(r, (s, load) => replayWindow(s, load, window, seedOffset), undefined, {
    ...(online ? { online: (s, load) => switchedRun(s, load, window) } : {}),
    ...(long !== undefined ? { long: (s, load) => longCell(s, load, window, long) } : {})
  })
  const seeds = r.seeds.map((s) => s.seed)
  rows.push({ name, seeds: `${Math.min(...seeds)}–${Math.max(...seeds)}`, j })
  addSelection(total, j)
  if (!md) process.stderr.write(`${name}: ${j.replay.notBeaten} / ${j.cells} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`)
}
const lo = Math.min(...rows.map((r) => Number(r.seeds.split('–')[0])))
const hi = Math.max(...rows.map((r) => Number(r.seeds.split('–')[1])))
rows.push({ name: 'all', seeds: `${lo}–${hi}`, j: total })

const pct = (a: number, b: number): string => `${a} (${(100 * a / b).toFixed(1)} %)`
const cols = ['report', 'seeds', 'cells', 'switchyard not beaten', 'replay: not beaten', 'picks of shared-queue', 'turned / broke', 'over 2×', 'hindsight: not beaten', 'hindsight picks', 'hindsight turned / broke']
const row = (r: typeof rows[number]): string[] => [r.name, r.seeds, String(r.j.cells), pct(r.j.switchyard, r.j.cells), pct(r.j.replay.notBeaten, r.j.cells), String(r.j.replay.picks), `${r.j.replay.turned} / ${r.j.replay.broke}`, String(r.j.replay.over2x), pct(r.j.hindsight.notBeaten, r.j.cells), String(r.j.hindsight.picks), `${r.j.hindsight.turned} / ${r.j.hindsight.broke}`]
const flags = `${arg('--reports') !== undefined ? ` --reports ${names.join(',')}` : ''}${arg('--window') !== undefined ? ` --window ${arg('--window')}` : ''}${arg('--seed-offset') !== undefined ? ` --seed-offset ${seedOffset}` : ''}${online ? ' --online' : ''}${long !== undefined ? ` --long ${long}` : ''}`
const swCols = ['report', 'picked cells', 'switchyard holds', 'switched holds', 'shared-queue holds', 'turned / broke', 'over 2×']
const swRow = (name: string, c: SwitchedCounts): string[] => [name, String(c.cells), String(c.switchyard), String(c.switched), String(c.sharedQueue), `${c.turned} / ${c.broke}`, String(c.over2x)]
const mdTable = (h: string[], body: string[][]): string => [`| ${h.join(' | ')} |`, `| ${h.map(() => '---').join(' | ')} |`, ...body.map((b) => `| ${b.join(' | ')} |`)].join('\n') + '\n'
const sections: Array<[string, 'online' | 'long']> = [...(online ? [['**Switched at the window\'s end** (the picked cells run whole, judged against the stored baselines)', 'online'] as [string, 'online']] : []), ...(long !== undefined ? [[`**${long}× as long** (the picked cells, every strategy rerun at that length, the switch at the same time)`, 'long'] as [string, 'long']] : [])]
if (md) {
  process.stdout.write(`Command: \`node --import tsx bench/replay-select.ts${flags} --md\` (window ${(window * 100).toFixed(1)} % of each cell, replay seed + ${seedOffset}; ${((performance.now() - t0) / 1000).toFixed(0)} s)\n\n`)
  process.stdout.write(mdTable(cols, rows.map(row)))
  for (const [title, part] of sections) process.stdout.write(`\n${title}\n\n${mdTable(swCols, rows.map((r) => swRow(r.name, r.j[part])))}`)
} else {
  for (const r of rows) process.stdout.write(row(r).map((v, i) => `${cols[i]}: ${v}`).join(', ') + '\n')
  for (const [, part] of sections) for (const r of rows) process.stdout.write(`${part}: ${swRow(r.name, r.j[part]).map((v, i) => `${swCols[i]}: ${v}`).join(', ')}\n`)
}
