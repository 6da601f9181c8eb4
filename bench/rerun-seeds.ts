// Rerunning some seeds of committed random reports, every strategy, in place (issue 17): for a
// change that can only move the seeds of one kind — the retry path moves only the scenarios with
// a device failure, since a retry follows only a failed batch or a refusing device — rerunning
// those seeds of every report takes a fifth of the full commands' time. Each report's json and
// the tables of its md are rewritten from the merged seeds (src/sim/random-run.ts summarize and
// randomMarkdown); the md keeps what sits above its "Command:" line (the readings added by hand)
// and gains a "Rerun" line saying what moved. The premise is checked, not assumed: `--verify K`
// also reruns K of the seeds left out (spread over the report) and stops, writing nothing, if any
// of them differs from the report (numbers compared as the json stores them, 4 decimals).
// Worst-case plots (reports written with `--worst N`) are drawn again for the seeds rerun.
//
// Usage: node --import tsx bench/rerun-seeds.ts --reports a,b,… --where failures --note "…" [--verify K] [--dry-run]
//   --reports  report names under bench/results (default: every judged set, JUDGED_REPORTS), or paths
//   --where    failures: the seeds whose scenario takes a device down (ScenarioEvent.down)
//   --note     what changed, for the Rerun line (e.g. "session 36, a retry runs where it was placed")
//   --verify   seeds not selected to rerun as a check of the premise (default 2 per report)
//   --dry-run  print what would move, write nothing
//   --redraw   rerun nothing: draw each report's worst-case plots again with this tree's code (after
//              a change to the drawing or to what a run's series records), as the full command would
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { compactJson } from '../src/sim/cli.js'
import { compactReport, randomMarkdown, reportScenario, runSeed, seedExperiment, summarize, worstLoad, worstSeeds, type RandomReport, type SeedResult } from '../src/sim/random-run.js'
import { svg } from '../src/sim/report.js'
import { JUDGED_REPORTS, readRandomReport } from './random-reports.js'

const { values } = parseArgs({
  options: {
    reports: { type: 'string' },
    where: { type: 'string', default: 'failures' },
    note: { type: 'string' },
    verify: { type: 'string', default: '2' },
    'dry-run': { type: 'boolean', default: false },
    redraw: { type: 'boolean', default: false }
  }
})
if (values.where !== 'failures') throw new Error('--where: failures (the seeds whose scenario takes a device down)')
if (values.note === undefined && !values['dry-run'] && !values.redraw) throw new Error('--note: what changed, for the Rerun line')
const names = values.reports?.split(',') ?? [...JUDGED_REPORTS]
const verify = Number(values.verify)
const results = fileURLToPath(new URL('./results/', import.meta.url))

/** A seed result as the json stores it (compactReport's rounding), without its wall time. */
function stored (s: SeedResult): string {
  const { wallMs: _, ...rest } = s
  return JSON.stringify((compactReport({ seeds: [rest] } as unknown as RandomReport) as { seeds: unknown[] }).seeds[0])
}

/** How many worst cases the report's command drew (`--worst`, default 3). */
function worstOf (r: RandomReport): number {
  return Number(/--worst (\d+)/.exec(r.command)?.[1] ?? '3')
}

function fileOf (name: string): string {
  return name.includes('/') ? name.replace(/\.json$/, '') : join(results, name)
}

for (const name of names) {
  const r = readRandomReport(name)
  const o = {
    durationS: r.options.durationS,
    maxRequests: r.options.maxRequests,
    minDurationS: r.options.minDurationS,
    bisect: r.options.bisect,
    loads: r.options.loads,
    ...(r.options.ranges === 'wide' ? { ranges: 'wide' as const } : {}),
    ...(r.options.latencyObjectiveMs !== undefined ? { latencyObjectiveMs: r.options.latencyObjectiveMs } : {})
  }
  if (/--switchyard\b/.test(r.command)) throw new Error(`${name}: written with --switchyard; not supported`)
  if (values.redraw) {
    const file = fileOf(name)
    const base = file.split('/').pop()!
    for (const s of worstSeeds(r.seeds, worstOf(r))) {
      writeFileSync(join(dirname(file), `${base}-worst-${s.seed}.svg`), svg(seedExperiment(s.seed, o, worstLoad(s))))
      process.stderr.write(`${name}: drew ${base}-worst-${s.seed}.svg\n`)
    }
    continue
  }
  const chosen = r.seeds.filter((s) => reportScenario(r, s.seed).events.some((e) => e.down === true)).map((s) => s.seed)
  const rest = r.seeds.map((s) => s.seed).filter((seed) => !chosen.includes(seed))
  const checks = rest.filter((_, i) => verify > 0 && i % Math.max(1, Math.floor(rest.length / verify)) === 0).slice(0, verify)
  const t0 = performance.now()
  for (const seed of checks) {
    const again = runSeed(seed, o).result
    const before = r.seeds.find((s) => s.seed === seed)!
    if (stored(again) !== stored(before)) throw new Error(`${name}: seed ${seed}, not selected, differs from the report: the premise fails (or the report is stale); nothing written`)
    process.stderr.write(`${name}: seed ${seed} (not selected) reproduces the report\n`)
  }
  const seeds: SeedResult[] = []
  const moved: number[] = []
  for (const s of r.seeds) {
    if (!chosen.includes(s.seed)) { seeds.push(s); continue }
    const again = runSeed(s.seed, o).result
    if (stored(again) !== stored(s)) moved.push(s.seed)
    seeds.push(again)
    process.stderr.write(`${name}: seed ${s.seed} ${stored(again) === stored(s) ? 'unchanged' : `moved: ${s.cells.map((c) => c.judgement.verdict[0]).join('')} → ${again.cells.map((c) => c.judgement.verdict[0]).join('')}`}\n`)
  }
  const wallS = (performance.now() - t0) / 1000
  const next = summarize(seeds, r.options.loads, { ...o, seeds: r.options.seeds }, r.command, r.wallMs)
  const a = r.totals; const b = next.totals
  const line = `**Rerun (${new Date().toISOString().slice(0, 10)}, ${values.note ?? ''}; the ${chosen.length} seeds with a device failure rerun, every strategy, \`bench/rerun-seeds.ts\`, ${wallS.toFixed(0)} s; ${checks.length} others rerun reproduce the report):** not beaten ${a.notBeaten} → ${b.notBeaten} of ${b.cells}, over 2× ${a.over2x} → ${b.over2x}, sustainable ≥ 0.97× ${a.sustainableOk} → ${b.sustainableOk} of ${b.scenarios}; seeds moved: ${moved.length === 0 ? 'none' : moved.join(', ')}; the tables below are this rerun.`
  process.stdout.write(`${name}: ${line}\n`)
  if (values['dry-run'] || moved.length === 0) continue
  const file = fileOf(name)
  const worstN = worstOf(r)
  const base = file.split('/').pop()!
  const plots = worstSeeds(seeds, worstN).map((s) => {
    const load = worstLoad(s)
    const svgFile = `${base}-worst-${s.seed}.svg`
    const path = join(dirname(file), svgFile)
    if (moved.includes(s.seed) || !existsSync(path)) writeFileSync(path, svg(seedExperiment(s.seed, o, load)))
    return { seed: s, load, svg: svgFile }
  })
  // a seed that is no longer among the worst: its plot goes, as the full command would not draw it
  for (const f of readdirSync(dirname(file))) if (f.startsWith(`${base}-worst-`) && f.endsWith('.svg') && !plots.some((p) => p.svg === f)) rmSync(join(dirname(file), f))
  const old = readFileSync(`${file}.md`, 'utf8')
  const at = old.indexOf('\nCommand: `')
  if (at < 0) throw new Error(`${file}.md: no "Command:" line`)
  const machine = `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, shared with other work`
  const body = randomMarkdown(next, plots, machine)
  writeFileSync(`${file}.md`, `${old.slice(0, at).replace(/\n+$/, '')}\n\n${line}\n\n${body.slice(body.indexOf('Command: `'))}\n`)
  writeFileSync(`${file}.json`, `${compactJson(compactReport(next))}\n`)
}
