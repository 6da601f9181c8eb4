// How likely a generated set not yet drawn is to meet issue 17's three targets (≥ 95 % of cells
// not beaten, no cell over 2×, every scenario's sustainable rate ≥ 0.97× the best baseline's),
// judged from the committed held-out sets: each committed set scored as it stands, then sets of
// 40 and 50 seeds drawn with replacement from all their seeds (src/sim/set-odds.ts says how).
// Reads the reports' stored cells; runs nothing (seconds). Output: bench/results/set-odds.md.
//
// Usage: node --import tsx bench/set-odds.ts [--reports a,b,…] [--sizes 40,50] [--draws 20000] [--md]
//   --reports  report names under bench/results (default: the held-out judged sets, JUDGED_REPORTS
//              without `random`, the seeds the rule was developed on)
import { scoreSet, seedOutcome, setOdds, SET_TARGET, type SeedOutcome } from '../src/sim/set-odds.js'
import { JUDGED_REPORTS, readRandomReport } from './random-reports.js'

const argv = process.argv.slice(2)
const arg = (k: string): string | undefined => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined }
const names: readonly string[] = arg('--reports')?.split(',') ?? JUDGED_REPORTS.filter((n) => n !== 'random')
const sizes = (arg('--sizes') ?? '40,50').split(',').map(Number)
const draws = Number(arg('--draws') ?? 20_000)
const md = argv.includes('--md')

const pool: SeedOutcome[] = []
const sets: Array<{ name: string, seeds: string, n: number, score: ReturnType<typeof scoreSet> }> = []
for (const name of names) {
  const outcomes = readRandomReport(name).seeds.map(seedOutcome)
  pool.push(...outcomes)
  const ids = outcomes.map((o) => o.seed)
  sets.push({ name, seeds: `${Math.min(...ids)}–${Math.max(...ids)}`, n: ids.length, score: scoreSet(outcomes) })
}

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`
const meets = (s: typeof sets[number]['score']): [boolean, boolean, boolean] => [s.notBeatenShare >= SET_TARGET.notBeatenShare, s.over2x === 0, s.sustainableFails === 0]
const mark = (b: boolean): string => b ? 'yes' : '**no**'
const row = (cols: string[]): string => md ? `| ${cols.join(' | ')} |` : cols.join('  ')
const head = (cols: string[]): string => md ? `${row(cols)}\n${row(cols.map(() => '---'))}` : row(cols)

const seedsWith = (f: (o: SeedOutcome) => boolean): number => pool.filter(f).length
const qOver = seedsWith((o) => o.over2x > 0) / pool.length
const qSus = seedsWith((o) => !o.sustainableOk) / pool.length
const total = scoreSet(pool)

const out: string[] = []
if (md) out.push(`Command: \`node --import tsx bench/set-odds.ts${arg('--reports') !== undefined ? ` --reports ${names.join(',')}` : ''}${arg('--sizes') !== undefined ? ` --sizes ${sizes.join(',')}` : ''}${arg('--draws') !== undefined ? ` --draws ${draws}` : ''} --md\`\n`)
out.push(`Pool: ${pool.length} seeds from ${names.length} reports, ${pool.reduce((a, o) => a + o.cells, 0)} cells: not beaten ${pct(total.notBeatenShare)}; ` +
  `seeds with a cell over 2× ${seedsWith((o) => o.over2x > 0)} (${pct(qOver)}), cells over 2× ${total.over2x}; seeds whose sustainable rate fails ${total.sustainableFails} (${pct(qSus)}).\n`)
out.push(md ? '**The committed sets as they stand**\n' : 'the committed sets as they stand')
out.push(head(['report', 'seeds', 'not beaten', '≥ 95 %', 'cells over 2×', 'none over 2×', 'sustainable fails', 'every scenario sustainable', 'all three']))
let met = [0, 0, 0, 0]
for (const s of sets) {
  const m = meets(s.score)
  met = [met[0]! + Number(m[0]), met[1]! + Number(m[1]), met[2]! + Number(m[2]), met[3]! + Number(m.every(Boolean))]
  out.push(row([s.name, s.seeds, pct(s.score.notBeatenShare), mark(m[0]), String(s.score.over2x), mark(m[1]), String(s.score.sustainableFails), mark(m[2]), mark(m.every(Boolean))]))
}
out.push(row(['sets meeting it', `${sets.length} sets`, '', String(met[0]), '', String(met[1]), '', String(met[2]), String(met[3])]))
out.push('')
out.push(md ? `**Sets drawn from the pool** (${draws.toLocaleString('en')} draws each, with replacement; a seed's six cells together)\n` : `sets drawn from the pool (${draws} draws each)`)
out.push(head(['seeds per set', 'share not beaten: 5th / 50th / 95th percentile', 'P(≥ 95 % not beaten)', 'P(no cell over 2×)', 'P(every scenario sustainable)', 'P(all three)']))
for (const n of sizes) {
  const o = setOdds(pool, n, draws)
  out.push(row([String(n), `${pct(o.share.p5)} / ${pct(o.share.p50)} / ${pct(o.share.p95)}`, pct(o.notBeaten), pct(o.noOver2x), pct(o.allSustainable), pct(o.all)]))
}
out.push('')
const need = (p: number, n: number): string => pct(1 - p ** (1 / n))
out.push(`A set of n seeds has no cell over 2× with probability (1 − q)^n, q the share of seeds that have one (${pct(qOver)} here). ` +
  `For 90 % at 50 seeds, q must be at most ${need(0.9, 50)}; the same holds for the seeds whose sustainable rate fails (${pct(qSus)} here).`)
process.stdout.write(out.join('\n') + '\n')
