// Screening a routing change on the generated scenarios (issue 17), switchyard alone: the cells
// of committed `npm run simulate -- random …` reports (bench/results/random*.json) run again with
// the code of this tree — same scenarios, loads, arrivals and run lengths, read from each report's
// options — and judged (src/sim/judge.ts) against the baselines' metrics and sustainable rates
// stored in the report. A change to switchyard's routing changes only switchyard's runs, so this
// gives the full command's verdicts in about a tenth of its time (seeds 1–200 in a few minutes
// on two cores instead of an hour): for trying a rule before running the full commands. Run on
// the code that wrote the reports it reproduces their p99s and counts (bench/results/screen-cells.md);
// judged on the reports' rounded numbers (4 decimals), a win and a tie can trade places where the
// rounding decides (4 of 3,840 cells there: refusal rates equal once rounded), and a judge changed
// since a report was written can move a cell; each report's totals line counts the verdicts that moved.
//
// Per seed: each load's verdict (`~k` before it where the run switched its rule k times: --select; W / T / L; with the report's in brackets where it differs, and
// `!` and the ratio where a p99 is over 2× a baseline's), switchyard's latency / throughput p99
// (the report's in brackets where either moved by more than 0.5 ms), the sustainable rate (the
// report's in brackets where it moved; FAIL below 0.97× the best baseline's). Totals per report.
//
// Usage: node --import tsx bench/screen-cells.ts [seeds, default: every seed of the reports] [--reports a,b,…]
//   --reports  report names under bench/results (default: every judged set, seeds 1–1800:
//              JUDGED_REPORTS in random-reports.ts), or paths of other reports (a name with a slash)
//   --latency-objective MS  switchyard's devices told the latency class's objective
//              (devices[].riders.latencyObjectiveMs); the stored baselines are not rerun with it
//   --select EVERY,WINDOW[,CONFIRM]  switchyard's runs choose their rule by replay as they go
//              (RunOptions.select, src/sim/replay-select.ts replayChooser): every EVERY simulated
//              seconds the last WINDOW seconds (since the run's start while shorter) replayed
//              under switchyard and shared-queue, the rule switched after CONFIRM such verdicts
//              in a row (default 2); the sustainable rate's bisection runs too
//   --learned  with --select: the replay a server would run (replay-select.ts learnedChooser) —
//              the arrivals the run's pipeline recorded, on the devices as their schedulers have
//              learned them (fitted costs and spread, live workers, measured decode times), not on
//              the scenario's true profiles and events
import { metricsOf, sustainableLoad } from '../src/sim/experiment.js'
import { metricOf } from '../src/sim/cross-judge.js'
import { judgeCell, sustainableOk, TOLERANCE, type CellJudgement } from '../src/sim/judge.js'
import { runScenario, type RunOptions, type RunResult } from '../src/sim/engine.js'
import { learnedChooser, REPLAY_SEED_OFFSET, replayChooser, selectArg } from '../src/sim/replay-select.js'
import { parseSeeds } from '../src/sim/random-scenario.js'
import { reportScenario, storedMetrics, type SeedResult } from '../src/sim/random-run.js'
import { capacity } from '../src/sim/scenario.js'
import { generate } from '../src/sim/workload.js'
import { objectiveArg } from '../src/sim/cli.js'
import { JUDGED_REPORTS, readRandomReport } from './random-reports.js'

const argv = process.argv.slice(2)
const flag = argv.indexOf('--reports')
const names: readonly string[] = flag >= 0 ? argv[flag + 1]!.split(',') : JUDGED_REPORTS
// --latency-objective MS: every device of switchyard's runs told the latency class's objective
// (devices[].riders.latencyObjectiveMs, src/devices/latency-gate.ts); the reports' baselines ran without it
const objFlag = argv.indexOf('--latency-objective')
const objective = objectiveArg(objFlag >= 0 ? argv[objFlag + 1] ?? '' : undefined)
const selFlag = argv.indexOf('--select')
const select = selFlag >= 0 ? selectArg(argv[selFlag + 1] ?? '') : undefined
const learned = argv.includes('--learned')
if (learned && select === undefined) throw new Error('--learned is a kind of --select: give --select EVERY,WINDOW too')
const positional = argv.filter((a, i) => !a.startsWith('--') && (flag < 0 || i !== flag + 1) && (objFlag < 0 || i !== objFlag + 1) && (selFlag < 0 || i !== selFlag + 1))
const only = positional[0] !== undefined ? new Set(parseSeeds(positional[0])) : null


const letter = (j: CellJudgement): string => j.verdict[0]!.toUpperCase()
const ms = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(0))

process.stdout.write(`Command: \`node --import tsx bench/screen-cells.ts${positional[0] !== undefined ? ` ${positional[0]}` : ''}${flag >= 0 ? ` --reports ${names.join(',')}` : ''}${objective !== undefined ? ` --latency-objective ${objective}` : ''}${select !== undefined ? ` --select ${argv[selFlag + 1]!}` : ''}${learned ? ' --learned' : ''}\`\n\n`)
for (const name of names) {
  // a name with a slash: a report elsewhere (the random command's --out path, .json optional)
  const report = readRandomReport(name)
  const o = report.options
  let cells = 0; let notBeaten = 0; let over2x = 0; let sustainable = 0; let seeds = 0
  let moved = 0
  /** cells whose run switched its rule (--select) */
  let switchedCells = 0
  for (const b of report.seeds as SeedResult[]) {
    if (only !== null && !only.has(b.seed)) continue
    seeds++
    // the generator's own option (random-scenario.ts), as `npm run simulate -- random --latency-objective` sets it
    const s = reportScenario(objective === undefined ? report : { options: { ...report.options, latencyObjectiveMs: objective } }, b.seed)
    const C = capacity(s)
    const durationMs = s.durationS * 1000
    // the rule chosen by replay (--select): the chooser replays at the run's own rate
    const extra = (ratePerS: number): Partial<RunOptions> => (select === undefined ? {} : { select: { everyMs: select.everyMs, windowMs: select.windowMs, confirm: select.confirm, choose: learned ? learnedChooser(s, REPLAY_SEED_OFFSET) : replayChooser(s, ratePerS, REPLAY_SEED_OFFSET) } })
    const runs: RunResult[] = []
    const line: string[] = []
    for (const c of b.cells) {
      const w = generate(s.arrivals, s.traffic, c.load * C, durationMs, s.seed)
      const r = runScenario(s, { ...extra(c.load * C), strategy: 'switchyard', ratePerS: c.load * C, durationMs }, w)
      runs.push(r)
      // judged as the report was written: its numbers rounded to 4 decimals (compactReport), so an
      // equal refusal rate stays equal
      const m = storedMetrics(metricsOf(r))
      const j = judgeCell(m, Object.entries(c.metrics).filter(([k]) => k !== 'switchyard').map(([k, v]) => ({ strategy: k, m: metricOf(v) })), s.slo)
      const old = c.metrics.switchyard!
      cells++
      if (j.verdict !== 'loss') notBeaten++
      if (j.worstRatio > TOLERANCE.worstRatio) over2x++
      if (j.verdict !== c.judgement.verdict) moved++
      const p99Moved = Math.abs((m.latP99 ?? 0) - (old.latP99 ?? 0)) > 0.5 || Math.abs((m.thrP99 ?? 0) - (old.thrP99 ?? 0)) > 0.5
      const switched = r.ruleSwitches?.length ?? 0
      if (switched > 0) switchedCells++
      line.push(`${Math.round(c.load * 100)}:${switched > 0 ? `~${switched}` : ''}${letter(j)}${j.verdict !== c.judgement.verdict ? `(${letter(c.judgement)})` : ''}${j.worstRatio > TOLERANCE.worstRatio ? `!${j.worstRatio.toFixed(2)}` : ''} ${ms(m.latP99)}/${ms(m.thrP99)}${p99Moved ? ` [${ms(old.latP99)}/${ms(old.thrP99)}]` : ''}`)
    }
    // the sustainable rate as the random command finds it: the grid, then o.bisect bisection steps
    const lo = sustainableLoad(s, 'switchyard', b.cells.map((c) => c.load), runs, o.bisect, { runOptions: extra })
    const others = Object.entries(b.sustainable).filter(([k]) => k !== 'switchyard').map(([, v]) => v)
    const ok = sustainableOk(lo, others).ok
    if (ok) sustainable++
    const was = b.sustainable.switchyard!
    process.stdout.write(`seed ${b.seed}: ${line.join(' | ')} | sustainable ${(lo * 100).toFixed(1)} %${Math.abs(lo - was) > 1e-9 ? ` [${(was * 100).toFixed(1)} %]` : ''}${ok ? '' : ' FAIL'}\n`)
  }
  if (seeds > 0) process.stdout.write(`\n${name}: not beaten ${notBeaten} of ${cells} cells, over 2× ${over2x}, sustainable ≥ ${TOLERANCE.sustainable}× ${sustainable} of ${seeds} (the report: ${report.totals.notBeaten}, ${report.totals.over2x}, ${report.totals.sustainableOk} over all its seeds); verdicts moved from the report's: ${moved}${select !== undefined ? `; cells that switched their rule: ${switchedCells}` : ''}\n\n`)
}
