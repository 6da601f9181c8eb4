// `npm run simulate -- …` (bench/simulate.ts): scenarios, the wall-time check, capacity plans.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { comparePolicies, policiesMarkdown } from './policies.js'
import { cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { runScenario } from './engine.js'
import { runExperiment, type ExperimentReport } from './experiment.js'
import { STRATEGIES, type Strategy } from '../router/strategies.js'
import { plan, planText } from './plan.js'
import { compactReport, randomMarkdown, runRandom, seedExperiment, worstLoad } from './random-run.js'
import { parseSeeds } from './random-scenario.js'
import { fidelityJson, fidelityMarkdown, runFidelity } from './fidelity.js'
import { CLIENT_BURST_S, DEFAULT_PRECISION, DEFAULT_SAMPLES, DEFAULT_WARMUP, MAX_SAMPLES_FACTOR, measureProfile, type MeasureOptions } from './measure-profile.js'
import { loadProfile, type Profile } from './profile.js'
import { availableParallelism } from 'node:os'
import { markdown, svg, toJson } from './report.js'
import { capacity, loadScenario, type Scenario } from './scenario.js'

const BENCH = join(import.meta.dirname, '..', '..', 'bench')
const RESULTS = join(BENCH, 'results')
const SCENARIOS = join(BENCH, 'scenarios')
const err = (s: string): void => { process.stderr.write(`${s}\n`) }

export async function main (argv: string[]): Promise<void> {
  const cmd = argv[0]
  if (cmd === undefined || cmd === '--help') {
    process.stdout.write(`usage: npm run simulate -- <scenario>… [--out DIR] | all | wall | profile --url … | plan --profile … --rate … --slo … | policies <scenario>… | random --seeds 1-50 [--ranges default|wide] [--latency-objective ms] [--decode-waiting count|time] [--duration s] [--max-requests n] [--loads 0.2,0.4,…] [--out bench/results/random] | fidelity --url … [--profile …] [--profile-samples 40] [--profile-precision 0.05] [--profile-warmup 200] [--client-burst 5] [--client-rate r] [--client-on-host auto|true|false] | prediction [<scenario>…] [--loads 0.5,0.8,0.95] [--duration s] [--out file]\nscenarios: ${scenarioNames().join(', ')}\n`)
    return
  }
  if (cmd === 'plan') { runPlan(argv.slice(1)); return }
  if (cmd === 'random') { runRandomCmd(argv.slice(1)); return }
  if (cmd === 'fidelity') { await runFidelityCmd(argv.slice(1)); return }
  if (cmd === 'policies') { runPolicies(argv.slice(1)); return }
  if (cmd === 'wall') { process.stdout.write(`${wall()}\n`); return }
  if (cmd === 'prediction') { runPrediction(argv.slice(1)); return }
  const { names, outDir } = scenarioArgs(cmd === 'all' ? [] : argv)
  const sections: string[] = []
  for (const name of cmd === 'all' ? scenarioNames() : names) {
    const file = name.endsWith('.json') ? name : join(SCENARIOS, `${name}.json`)
    const s = loadScenario(file)
    const r = runExperiment(s, { progress: err })
    const md = markdown(r)
    process.stdout.write(`${md}\n`)
    // the committed scenarios' results live in bench/results; a scenario file from elsewhere
    // (a user's, a held-out one) writes only where --out says
    const dir = resultsDirFor(file, outDir)
    if (dir !== null) write(s, r, dir)
    else err(`${s.name}: tables on stdout only (--out DIR writes its json and svg)`)
    sections.push(md)
  }
  if (cmd === 'all') {
    const w = wall()
    process.stdout.write(`${w}\n`)
    writeFileSync(join(RESULTS, 'simulate.md'), header() + sections.join('\n') + `\n## Simulator speed\n\n${w}\n`)
    err(`wrote ${join(RESULTS, 'simulate.md')}`)
  }
}

function scenarioNames (): string[] {
  return readdirSync(SCENARIOS).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort()
}

/** Where a scenario's json and svg go: --out's DIR; else bench/results for a committed scenario; else nowhere (stdout only). */
export function resultsDirFor (file: string, outDir: string | null): string | null {
  return outDir ?? (resolve(dirname(file)) === resolve(SCENARIOS) ? RESULTS : null)
}

/** `<scenario>… [--out DIR]`: scenario names or files, and where to write their json and svg */
export function scenarioArgs (argv: string[]): { names: string[], outDir: string | null } {
  const names: string[] = []
  let outDir: string | null = null
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--out') {
      outDir = argv[++i] ?? null
      if (outDir === null) throw new Error('--out: a directory')
    } else if (a.startsWith('--out=')) outDir = a.slice('--out='.length)
    else if (!a.startsWith('-')) names.push(a)
  }
  return { names, outDir }
}

function write (s: Scenario, r: ExperimentReport, dir: string): void {
  const cmd = `npm run simulate -- ${s.name}`
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `sim-${s.name}.json`), `${compactJson(toJson(r, cmd))}\n`)
  writeFileSync(join(dir, `sim-${s.name}.svg`), svg(r))
  err(`wrote ${join(dir, `sim-${s.name}`)}.{json,svg}`)
}

/** Indented JSON with arrays of numbers on one line (the time series). */
export function compactJson (x: unknown): string {
  return JSON.stringify(x, null, 1).replace(/\[[-\d.,\s]*\]/g, (m) => m.replace(/\s+/g, ''))
}

function header (): string {
  return `# Simulator results (issue 9)

Command: \`npm run simulate -- all\` (each scenario alone: \`npm run simulate -- <name>\`; scenarios in
bench/scenarios/, device profiles in bench/profiles/). Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}.

What runs: the server's own Dispatcher (admission control, retry), Router (every strategy), each
device's Scheduler (queues, batcher, worker slots, cost model refitted from every batch, circuit
breaker, worker replacement) and DecodeGate, on a virtual clock. What is simulated: batch times
(profile t(n) = a + b·n with jitter, slow-downs, failures) and decode times (host profile, ms per
image per slot). The numbers below are as good as the profiles: the CPU profile was measured on
this shared 2-core machine while other engineers were running builds and tests (load average
about 15 at the time), so its costs — decode especially — are several times what an idle
machine shows; the GPU profiles are assumed, labelled so, until the GPU issue measures them.
Latency = arrival to answer, decode included; percentiles over answered requests; "refused" =
rejected (any reason) + failed + unanswered, as a share of offered requests. Utilisation is
sampled every 5 simulated ms: the share of time the device's throughput-taking workers run a batch.
Sustainable rate at SLO (per strategy): the highest offered rate at which, at that rate and at every
sweep point below it, latency-class p99 ≤ its SLO, throughput-class p99 ≤ its SLO and ≤ 0.1 % of
requests are refused; found on the sweep grid, then bisected 4 times (same seed). Wall times are of
this noisy machine.
Baselines (issue 17): the shared queue (Triton's rule) is capped at the sum of its lanes' caps
and predicted over every worker that serves it; speed-aware places by the least predicted work
weighted by device speed. Prediction error: per device and class, mean |predicted − actual| /
actual of each answer's predicted finish, 30 s after any event left out.

`
}

/** Wall time of 10 simulated minutes at 1,000 req/s (issue 9's speed target: < 10 s). */
function wall (): string {
  const s = loadScenario(join(SCENARIOS, 'cpu-two-gpus.json'))
  const rate = 1000
  const runs: string[] = []
  for (const strategy of ['switchyard', 'shared-queue'] as const) {
    const t0 = performance.now()
    const r = runScenario(s, { strategy, ratePerS: rate, durationMs: 600_000 })
    const wallS = (performance.now() - t0) / 1000
    const served = Object.values(r.byPolicy).reduce((a, c) => a + c.served, 0)
    runs.push(`- ${strategy}: ${r.offered.toLocaleString('en-US')} requests (${served.toLocaleString('en-US')} answered) over 600 simulated s at ${rate} req/s (${Math.round(rate / capacity(s) * 100)} % of ${s.name}'s capacity) in **${wallS.toFixed(2)} s** of wall time`)
  }
  return `\`npm run simulate -- wall\` — scenario ${s.name}, 10 simulated minutes at 1,000 req/s (target: under 10 s of wall time):\n\n${runs.join('\n')}`
}

function runPlan (args: string[]): void {
  const { values } = parseArgs({
    args,
    options: {
      profile: { type: 'string', multiple: true },
      rate: { type: 'string' },
      slo: { type: 'string', default: 'latency=100,throughput=2000' },
      model: { type: 'string' },
      'latency-share': { type: 'string', default: '0.1' },
      host: { type: 'string' },
      cores: { type: 'string', default: '16' },
      duration: { type: 'string', default: '60' },
      seed: { type: 'string', default: '1' },
      'max-each': { type: 'string', default: '8' }
    }
  })
  if (!values.profile?.length || values.rate === undefined) throw new Error('plan needs --profile (one or more) and --rate')
  const slo = { latency: 100, throughput: 2000 }
  for (const part of values.slo.split(',')) {
    const [k, v] = part.includes('=') ? part.split('=') : ['both', part]
    const ms = Number(v)
    if (!(ms > 0)) throw new Error(`--slo: ${part} is not a p99 in ms`)
    if (k === 'latency' || k === 'both') slo.latency = ms
    if (k === 'throughput' || k === 'both') slo.throughput = ms
  }
  const r = plan({
    profiles: values.profile,
    ratePerS: Number(values.rate),
    slo,
    ...(values.model !== undefined ? { model: values.model } : {}),
    latencyShare: Number(values['latency-share']),
    deadlineMs: { latency: 1000, throughput: 30_000 },
    ...(values.host !== undefined ? { hostProfile: values.host } : {}),
    cores: Number(values.cores),
    durationS: Number(values.duration),
    seed: Number(values.seed),
    maxEach: Number(values['max-each'])
  }, err)
  process.stdout.write(planText(r))
}

/** npm run simulate -- policies <scenario>…: throughput vs cost vs latency on the same arrivals */
function runPolicies (names: string[]): void {
  const sections: string[] = []
  for (const name of names.length > 0 ? names : ['cpu-gpu', 'cpu-two-gpus']) {
    const s = loadScenario(name.endsWith('.json') ? name : join(SCENARIOS, `${name}.json`))
    const durationS = Math.min(s.durationS, 120)
    for (const load of [0.4, s.load]) {
      const md = policiesMarkdown(s, comparePolicies(s, load, durationS), load, durationS)
      process.stdout.write(`${md}\n`)
      sections.push(md)
    }
  }
  writeFileSync(join(RESULTS, 'simulate-policies.md'), `# Request policies on the same arrivals (simulated)\n\n${sections.join('\n')}`)
  err(`wrote ${join(RESULTS, 'simulate-policies.md')}`)
}

/**
 * npm run simulate -- prediction: switchyard's steady-state prediction error (mean |predicted −
 * actual| / actual of each answer's X-Switchyard-Predicted-Ms, and the mean actual / predicted)
 * per device and class, on the named scenarios at a few loads; 30 s after any event left out.
 */
function runPrediction (args: string[]): void {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      loads: { type: 'string', default: '0.5,0.8,0.95' },
      duration: { type: 'string', default: '60' },
      out: { type: 'string' }
    }
  })
  const loads = values.loads.split(',').map(Number)
  if (loads.some((l) => !(l > 0))) throw new Error('--loads: fractions of capacity, e.g. 0.5,0.8,0.95')
  const durationS = Number(values.duration)
  const names = positionals.length > 0 ? positionals : scenarioNames()
  const rows: string[] = []
  let worst = 0; let cells = 0; let within = 0
  for (const name of names) {
    const s = loadScenario(name.endsWith('.json') ? name : join(SCENARIOS, `${name}.json`))
    for (const load of loads) {
      err(`${s.name} at ${Math.round(load * 100)} %…`)
      const r = runScenario(s, { strategy: 'switchyard', ratePerS: load * capacity(s), durationMs: durationS * 1000 })
      for (const d of r.devices) {
        for (const [policy, x] of Object.entries(d.prediction)) {
          if (x.n < 50) continue
          cells++
          if (x.meanAbsRelError <= 0.2) within++
          worst = Math.max(worst, x.meanAbsRelError)
          rows.push(`| ${s.name} | ${Math.round(load * 100)} % | ${d.id} | ${policy} | ${x.n.toLocaleString('en-US')} | ${(x.meanAbsRelError * 100).toFixed(1)} % | ×${x.meanRatio.toFixed(2)} |`)
        }
      }
    }
  }
  const cmd = `npm run simulate -- prediction${positionals.length > 0 ? ` ${positionals.join(' ')}` : ''} --loads ${values.loads} --duration ${durationS}`
  const md = [
    `Command: \`${cmd}\` (switchyard; ${durationS} simulated s per run; device × class cells with ≥ 50 steady-state answers).`,
    '',
    '| scenario | load | device | class | answers | mean \\|predicted − actual\\| / actual | mean actual / predicted |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `Within 20 %: ${within} of ${cells} cells; worst ${(worst * 100).toFixed(1)} %.`,
    ''
  ].join('\n')
  process.stdout.write(`${md}\n`)
  if (values.out !== undefined) { writeFileSync(values.out, md); err(`wrote ${values.out}`) }
}

/** --switchyard <strategy>: a candidate rule judged in switchyard's place */
function strategyArg (v: string): Strategy {
  if (!(STRATEGIES as readonly string[]).includes(v)) throw new Error(`--switchyard: one of ${STRATEGIES.join(', ')}`)
  return v as Strategy
}

/** --latency-objective MS: every generated device's devices[].riders.latencyObjectiveMs; absent: none. */
export function objectiveArg (v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const ms = Number(v)
  if (!(ms >= 1 && ms <= 600_000)) throw new Error(`--latency-objective: ms from 1 to 600000 (devices[].riders.latencyObjectiveMs), not ${v}`)
  return ms
}

/** --max-waiting N | null: the server's decode.maxWaiting (default null, the server's: waiting bounded by time; N: a count). */
function waitingArg (v: string): number | null {
  if (v === 'null') return null
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`--max-waiting: a count of requests or null (the server's decode.maxWaiting), not ${v}`)
  return n
}

function badWaiting (v: string | undefined): never {
  throw new Error(`--decode-waiting: count or time, not ${String(v)}`)
}

function badRanges (v: string | undefined): never {
  throw new Error(`--ranges: default or wide, not ${String(v)}`)
}

/** npm run simulate -- random --seeds 1-50: generated scenarios, judged by issue 17's targets */
function runRandomCmd (args: string[]): void {
  const { values } = parseArgs({
    args,
    options: {
      seeds: { type: 'string', default: '1-50' },
      duration: { type: 'string', default: '60' },
      'max-requests': { type: 'string', default: '60000' },
      'min-duration': { type: 'string', default: '20' },
      loads: { type: 'string' },
      bisect: { type: 'string', default: '2' },
      worst: { type: 'string', default: '3' },
      switchyard: { type: 'string' },
      ranges: { type: 'string', default: 'default' },
      'latency-objective': { type: 'string' },
      'decode-waiting': { type: 'string', default: 'time' },
      out: { type: 'string', default: join(RESULTS, 'random') }
    }
  })
  const loads = values.loads?.split(',').map(Number)
  if (loads?.some((l) => !(l > 0))) throw new Error('--loads: fractions of capacity, e.g. 0.2,0.4,0.6,0.8,0.9,1')
  const objective = objectiveArg(values['latency-objective'])
  const o = {
    seeds: parseSeeds(values.seeds),
    durationS: Number(values.duration),
    maxRequests: Number(values['max-requests']),
    minDurationS: Number(values['min-duration']),
    bisect: Number(values.bisect),
    ...(values.ranges === 'wide' ? { ranges: 'wide' as const } : values.ranges === 'default' ? {} : badRanges(values.ranges)),
    ...(objective !== undefined ? { latencyObjectiveMs: objective } : {}),
    ...(values['decode-waiting'] === 'time' ? { decodeWaiting: 'time' as const } : values['decode-waiting'] === 'count' ? { decodeWaiting: 'count' as const } : badWaiting(values['decode-waiting'])),
    ...(values.switchyard !== undefined ? { switchyard: strategyArg(values.switchyard) } : {}),
    ...(loads ? { loads } : {}),
    progress: err
  }
  const command = `npm run simulate -- random ${args.join(' ')}`.trim()
  const { report, worst } = runRandom(o, command)
  const outDir = join(values.out, '..')
  const base = values.out.split('/').pop()!
  mkdirSync(outDir, { recursive: true })
  const plots = worst.slice(0, Number(values.worst)).map((s) => {
    const load = worstLoad(s)
    const file = `${base}-worst-${s.seed}.svg`
    writeFileSync(join(outDir, file), svg(seedExperiment(s.seed, o, load)))
    return { seed: s, load, svg: file }
  })
  const machine = `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, shared with other work`
  const md = randomMarkdown(report, plots, machine)
  writeFileSync(`${values.out}.md`, `${md}\n`)
  writeFileSync(`${values.out}.json`, `${compactJson(compactReport(report))}\n`)
  process.stdout.write(`${md}\n`)
  err(`wrote ${values.out}.{md,json}${plots.length > 0 ? ` and ${plots.length} plot(s)` : ''}`)
}

/** --profile-samples, --profile-max-samples, --profile-precision, --profile-warmup: how the profile step samples (measure-profile.ts) */
export function samplingArgs (v: { 'profile-samples'?: string, 'profile-max-samples'?: string | undefined, 'profile-precision'?: string, 'profile-warmup'?: string }): Pick<MeasureOptions, 'samples' | 'maxSamples' | 'precision' | 'warmup'> {
  const whole = (name: string, x: string | undefined, fallback: number, min: number): number => {
    const n = x === undefined ? fallback : Number(x)
    if (!(Number.isInteger(n) && n >= min)) throw new Error(`--${name}: a whole number ≥ ${min}`)
    return n
  }
  const samples = whole('profile-samples', v['profile-samples'], DEFAULT_SAMPLES, 1)
  const precision = v['profile-precision'] === undefined ? DEFAULT_PRECISION : Number(v['profile-precision'])
  if (!(precision > 0 && precision < 1)) throw new Error('--profile-precision: a fraction, e.g. 0.05 for ±5 %')
  return {
    samples,
    maxSamples: whole('profile-max-samples', v['profile-max-samples'], MAX_SAMPLES_FACTOR * samples, samples),
    precision,
    warmup: whole('profile-warmup', v['profile-warmup'], DEFAULT_WARMUP, 0)
  }
}

/** --client-burst s (0: none), --client-rate req/s: the profile step's open-loop burst measuring the load client's CPU per request */
export function clientArgs (v: { 'client-burst'?: string | undefined, 'client-rate'?: string | undefined }): Pick<MeasureOptions, 'clientBurstS' | 'clientRate'> {
  const burst = v['client-burst'] === undefined ? CLIENT_BURST_S : Number(v['client-burst'])
  if (!(burst >= 0)) throw new Error('--client-burst: seconds ≥ 0 (0: the client\'s CPU not measured)')
  if (v['client-rate'] === undefined) return { clientBurstS: burst }
  const rate = Number(v['client-rate'])
  if (!(rate > 0)) throw new Error('--client-rate: requests per second > 0')
  return { clientBurstS: burst, clientRate: rate }
}

/** Whether a server URL is on this machine (loopback): its load client then shares the server's cores. */
export function isLoopback (url: string): boolean {
  const h = new URL(url).hostname
  return h === 'localhost' || h === '[::1]' || h === '::1' || /^127\./.test(h)
}

/**
 * npm run simulate -- fidelity --url http://127.0.0.1:PORT [--profile file]: the same open-loop
 * /classify arrivals against the live server and the simulator on its profile (measured first
 * unless --profile names one), per class p99 and refusals side by side.
 */
async function runFidelityCmd (args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      url: { type: 'string' },
      profile: { type: 'string' },
      'profile-out': { type: 'string', default: join(BENCH, 'profiles', 'cpu-fidelity.json') },
      'profile-samples': { type: 'string', default: String(DEFAULT_SAMPLES) },
      'profile-max-samples': { type: 'string' },
      'profile-precision': { type: 'string', default: String(DEFAULT_PRECISION) },
      'profile-warmup': { type: 'string', default: String(DEFAULT_WARMUP) },
      'client-burst': { type: 'string' },
      'client-rate': { type: 'string' },
      // whether the simulator charges the load client's CPU to the host's cores; auto: a measured
      // profile says so when the server is on loopback, a loaded one by its host.clientOnHost
      'client-on-host': { type: 'string', default: 'auto' },
      rates: { type: 'string', default: '50,80,110' },
      duration: { type: 'string', default: '30' },
      'latency-share': { type: 'string', default: '0.1' },
      seed: { type: 'string', default: '1' },
      path: { type: 'string', default: '/classify' },
      model: { type: 'string' },
      image: { type: 'string', default: join(process.env.SWITCHYARD_SHARED_DIR ?? join(BENCH, '..', '..', 'shared'), 'images', 'dog.jpg') },
      'decode-slots': { type: 'string', default: '4' },
      'bulk-slots': { type: 'string', default: '2' },
      'max-waiting': { type: 'string', default: 'null' },
      'latency-deadline': { type: 'string', default: '10000' },
      'throughput-deadline': { type: 'string', default: '30000' },
      out: { type: 'string', default: join(RESULTS, 'fidelity') }
    }
  })
  if (values.url === undefined) throw new Error('fidelity needs --url of a running server')
  const url = values.url.replace(/\/$/, '')
  const onHost = values['client-on-host']
  if (onHost !== 'auto' && onHost !== 'true' && onHost !== 'false') throw new Error('--client-on-host: auto, true or false')
  const clientOnHost = onHost === 'auto' ? undefined : onHost === 'true'
  const models = await (await fetch(`${url}/models`)).json() as { models: Array<{ name: string, task: string }> }
  const model = values.model ?? models.models.find((m) => m.task === 'classify')?.name
  if (model === undefined) throw new Error('the server serves no classify model (--model)')
  let profile: Profile
  if (values.profile !== undefined) profile = loadProfile(values.profile)
  else {
    const out = values['profile-out']
    const name = out.split('/').pop()!.replace(/\.json$/, '')
    profile = await measureProfile({ url, name, image: values.image, ...samplingArgs(values), ...clientArgs(values), clientOnHost: clientOnHost ?? isLoopback(url), clientModel: true, burst: 160, concurrency: 8, latencyWorkers: { cpu: 1 }, jitter: 0.1, command: `npm run simulate -- fidelity ${args.join(' ')} (profile step)` }, err)
    writeFileSync(out, `${JSON.stringify(profile, null, 2)}\n`)
    err(`wrote ${out}`)
  }
  const o = {
    url,
    path: values.path,
    model,
    image: values.image,
    profile,
    rates: values.rates.split(',').map(Number),
    durationS: Number(values.duration),
    latencyShare: Number(values['latency-share']),
    seed: Number(values.seed),
    decode: { slots: Number(values['decode-slots']), bulkSlots: Number(values['bulk-slots']), maxWaiting: waitingArg(values['max-waiting']) },
    deadlineMs: { latency: Number(values['latency-deadline']), throughput: Number(values['throughput-deadline']) },
    ...(clientOnHost !== undefined ? { clientOnHost } : {})
  }
  const rows = await runFidelity(o, err)
  const command = `npm run simulate -- fidelity ${args.join(' ')}`
  const machine = `Machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, shared with other work (load client, server and simulator on the same cores)`
  const md = fidelityMarkdown(rows, o, command, machine)
  mkdirSync(join(values.out, '..'), { recursive: true })
  writeFileSync(`${values.out}.md`, `${md}\n`)
  writeFileSync(`${values.out}.json`, `${compactJson(fidelityJson(rows, o, command))}\n`)
  process.stdout.write(`${md}\n`)
  err(`wrote ${values.out}.{md,json}`)
}
