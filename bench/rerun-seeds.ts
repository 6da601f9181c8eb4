// Rerunning some seeds of committed random reports, every strategy, in place (issue 17): for a
// change that can only move the seeds of one kind — the retry path moves only the scenarios with
// a device failure, since a retry follows only a failed batch or a refusing device — rerunning
// those seeds of every report takes a fifth of the full commands' time. Each report's json and
// the tables of its md are rewritten from the merged seeds; the md keeps what sits above its
// "Command:" line (the readings added by hand) and gains a "Rerun" line saying what moved
// (src/sim/rerun-seeds.ts). The premise is checked, not assumed: `--verify K` also reruns K of the
// seeds left out (spread over the report) and stops, writing nothing, if any of them differs from
// the report. Worst-case plots (reports written with `--worst N`) are drawn again for the seeds rerun.
//
// A change to switchyard's rule alone (`--where all --only switchyard`) reruns every seed with
// switchyard only and takes the baselines from the report, in about a sixth of the full commands'
// time; `--verify K` then reruns K seeds per report in full and stops if their baselines differ
// from the report's.
//
// A change of the generated host (`--decode-waiting time`: the decode waiting room bounded by
// time, decode.maxWaiting null) reruns every seed, every strategy, and the report's options then
// name it. Seeds some other report already ran with the same options (`--from`: a measurement
// that preceded the change, or one run on code that differs in nothing these seeds reach) are
// taken from it instead of run again; `--verify K` reruns K of them with this tree's code and
// stops, writing nothing, if any differs.
//
// Usage: node --import tsx bench/rerun-seeds.ts --reports a,b,… --where failures --note "…" [--verify K] [--dry-run]
//   --reports  report names under bench/results (default: every judged set, JUDGED_REPORTS), or paths
//   --where    failures: the seeds whose scenario takes a device down (ScenarioEvent.down); all: every seed
//   --only     switchyard: run switchyard alone, the baselines as the report stored them (a change to
//              switchyard's rule that no baseline runs); the check is then that K seeds rerun in
//              full (--verify) hold the report's baselines
//   --note     what changed, for the Rerun line (e.g. "session 36, a retry runs where it was placed")
//   --verify   seeds not selected to rerun as a check of the premise (default 2 per report)
//   --dry-run  print what would move, write nothing
//   --decode-waiting  count|time: the generated host's decode waiting room for this rerun (with
//              --where all), recorded in the report's options; default: as the report ran
//   --from     reports (names or paths) whose seeds, run with the same options, are taken, not run
//   --redraw   rerun nothing: draw each report's worst-case plots again with this tree's code (after
//              a change to the drawing or to what a run's series records), as the full command would
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { compactJson } from '../src/sim/cli.js'
import { compactReport, randomMarkdown, runSeed, seedExperiment, worstLoad, worstSeeds, type RandomReport, type SeedResult } from '../src/sim/random-run.js'
import { failureSeeds, mergeRerun, rerunLine, runOptionsOf, sameAsStored, sameBaselines, spliceMarkdown, spread } from '../src/sim/rerun-seeds.js'
import { svg } from '../src/sim/report.js'
import { JUDGED_REPORTS, readRandomReport } from './random-reports.js'

const { values } = parseArgs({
  options: {
    reports: { type: 'string' },
    where: { type: 'string', default: 'failures' },
    only: { type: 'string' },
    note: { type: 'string' },
    verify: { type: 'string', default: '2' },
    'dry-run': { type: 'boolean', default: false },
    redraw: { type: 'boolean', default: false },
    'decode-waiting': { type: 'string' },
    from: { type: 'string' }
  }
})
const waiting = values['decode-waiting']
if (waiting !== undefined && waiting !== 'count' && waiting !== 'time') throw new Error('--decode-waiting: count or time')
if (waiting !== undefined && values.where !== 'all') throw new Error('--decode-waiting moves every seed: with --where all')
const donors = (values.from?.split(',') ?? []).map((n) => readRandomReport(n))
if (values.where !== 'failures' && values.where !== 'all') throw new Error('--where: failures (the seeds whose scenario takes a device down) or all')
if (values.only !== undefined && values.only !== 'switchyard') throw new Error('--only: switchyard (the baselines taken from the report)')
const onlySwitchyard = values.only === 'switchyard'
if (values.note === undefined && !values['dry-run'] && !values.redraw) throw new Error('--note: what changed, for the Rerun line')
const names = values.reports?.split(',') ?? [...JUDGED_REPORTS]
const verify = Number(values.verify)
const results = fileURLToPath(new URL('./results/', import.meta.url))

/** How many worst cases the report's command drew (`--worst`, default 3). */
function worstOf (r: RandomReport): number {
  return Number(/--worst (\d+)/.exec(r.command)?.[1] ?? '3')
}

function fileOf (name: string): string {
  return name.includes('/') ? name.replace(/\.json$/, '') : join(results, name)
}

const verdicts = (s: SeedResult): string => s.cells.map((c) => c.judgement.verdict[0]).join('')

for (const name of names) {
  const stored0 = readRandomReport(name)
  // the report as this rerun writes it: its options name the waiting room asked for
  const r: RandomReport = waiting === undefined ? stored0 : { ...stored0, options: { ...stored0.options, decodeWaiting: waiting } }
  if (waiting === 'count') delete r.options.decodeWaiting
  const o = runOptionsOf(r)
  // the --from reports run with this report's options: the only ones whose seeds may stand in
  const alike = donors.filter((d) => JSON.stringify(runOptionsOf(d)) === JSON.stringify(o))
  const donorOf = (seed: number): SeedResult | undefined => {
    for (const d of alike) { const s = d.seeds.find((x) => x.seed === seed); if (s !== undefined) return s }
    return undefined
  }
  const file = fileOf(name)
  const base = file.split('/').pop()!
  if (values.redraw) {
    for (const s of worstSeeds(r.seeds, worstOf(r))) {
      writeFileSync(join(dirname(file), `${base}-worst-${s.seed}.svg`), svg(seedExperiment(s.seed, o, worstLoad(s))))
      process.stderr.write(`${name}: drew ${base}-worst-${s.seed}.svg\n`)
    }
    continue
  }
  const all = r.seeds.map((s) => s.seed)
  const chosen = values.where === 'all' ? all : failureSeeds(r)
  const stored = (seed: number): SeedResult => r.seeds.find((s) => s.seed === seed)!
  const t0 = performance.now()
  const checks = onlySwitchyard ? spread(all, verify) : spread(all.filter((seed) => !chosen.includes(seed)), verify)
  if (onlySwitchyard) {
    // the premise: no baseline moves (seeds rerun in full hold the report's baselines)
    for (const seed of checks) {
      if (!sameBaselines(runSeed(seed, o).result, stored(seed))) throw new Error(`${name}: seed ${seed}, rerun in full, has baselines other than the report's: the change is not switchyard's alone (or the report is stale); nothing written`)
      process.stderr.write(`${name}: seed ${seed} rerun in full holds the report's baselines\n`)
    }
  } else {
    for (const seed of checks) {
      if (!sameAsStored(runSeed(seed, o).result, stored(seed))) throw new Error(`${name}: seed ${seed}, not selected, differs from the report: the premise fails (or the report is stale); nothing written`)
      process.stderr.write(`${name}: seed ${seed} (not selected) reproduces the report\n`)
    }
  }
  const rerun = new Map<number, SeedResult>()
  const taken = chosen.filter((seed) => donorOf(seed) !== undefined)
  const takenChecks = spread(taken, verify)
  for (const seed of takenChecks) {
    if (!sameAsStored(runSeed(seed, o).result, donorOf(seed)!)) throw new Error(`${name}: seed ${seed}, taken from --from, differs when rerun: that report ran other code or options; nothing written`)
    process.stderr.write(`${name}: seed ${seed} (taken from --from) reproduces\n`)
  }
  for (const seed of chosen) {
    const before = stored(seed)
    const again = donorOf(seed) ?? runSeed(seed, o, onlySwitchyard ? before : undefined).result
    rerun.set(seed, again)
    process.stderr.write(`${name}: seed ${seed} ${sameAsStored(again, before) ? 'unchanged' : `moved: ${verdicts(before)} → ${verdicts(again)}`}\n`)
  }
  const { report: next, moved } = mergeRerun(r, rerun)
  const line = rerunLine(stored0, next, { date: new Date().toISOString().slice(0, 10), note: values.note ?? '', rerun: chosen.length, checked: checks.length, onlySwitchyard, where: values.where as 'failures' | 'all', from: { reports: values.from?.split(',') ?? [], taken: taken.length, checked: takenChecks.length }, wallS: (performance.now() - t0) / 1000, moved })
  process.stdout.write(`${name}: ${line}\n`)
  if (values['dry-run'] || (moved.length === 0 && r === stored0)) continue
  const plots = worstSeeds(next.seeds, worstOf(r)).map((s) => {
    const load = worstLoad(s)
    const svgFile = `${base}-worst-${s.seed}.svg`
    const path = join(dirname(file), svgFile)
    if (moved.includes(s.seed) || !existsSync(path)) writeFileSync(path, svg(seedExperiment(s.seed, o, load)))
    return { seed: s, load, svg: svgFile }
  })
  // a seed that is no longer among the worst: its plot goes, as the full command would not draw it
  for (const f of readdirSync(dirname(file))) if (f.startsWith(`${base}-worst-`) && f.endsWith('.svg') && !plots.some((p) => p.svg === f)) rmSync(join(dirname(file), f))
  const machine = `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, shared with other work`
  writeFileSync(`${file}.md`, spliceMarkdown(readFileSync(`${file}.md`, 'utf8'), line, randomMarkdown(next, plots, machine)))
  writeFileSync(`${file}.json`, `${compactJson(compactReport(next))}\n`)
}
