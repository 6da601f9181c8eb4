// How steady is the profile step? `node --import tsx bench/profile-repeat.ts --url http://127.0.0.1:PORT
// [--rounds 3] [--out bench/results/profile-repeat]`: measures the running server's host costs
// (decode ms per model, the per-request fixed cost; src/sim/measure-profile.ts) again and again,
// each time in a fresh process (a fresh client, as each run of the fidelity command is),
// interleaving the old sampling (1 warm-up, 20 sequential requests per model: what the fidelity
// command used) with the current defaults (200 warm-up discarded, 40 or more until each median's
// 95 % interval is within ±5 %), and reports how far the repeats of each fall apart. No
// throughput burst: the devices' fitted costs are not what is compared.
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULT_PRECISION, DEFAULT_SAMPLES, DEFAULT_WARMUP, MAX_SAMPLES_FACTOR, measureProfile, type MeasureOptions } from '../src/sim/measure-profile.js'

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    rounds: { type: 'string', default: '4' },
    image: { type: 'string', default: join(process.env.SWITCHYARD_SHARED_DIR ?? join(import.meta.dirname, '..', '..', 'shared'), 'images', 'dog.jpg') },
    out: { type: 'string', default: join(import.meta.dirname, 'results', 'profile-repeat') },
    one: { type: 'string' }
  }
})
const url = values.url.replace(/\/$/, '')
const rounds = Number(values.rounds)
const methods: Array<{ name: string, o: Pick<MeasureOptions, 'samples' | 'maxSamples' | 'warmup' | 'precision'> }> = [
  { name: 'old: 1 warm-up, 20 requests', o: { samples: 20, maxSamples: 20, warmup: 1 } },
  { name: `now: ${DEFAULT_WARMUP} warm-up, ${DEFAULT_SAMPLES}–${MAX_SAMPLES_FACTOR * DEFAULT_SAMPLES} until ±${DEFAULT_PRECISION * 100} %`, o: { samples: DEFAULT_SAMPLES } }
]
interface Run { method: string, round: number, decodeMs: Record<string, number>, requestMs: number, wallS: number, load: number, source: string }

if (values.one !== undefined) {
  // one measurement in this fresh process (a fresh client, as each `npm run simulate -- fidelity` is)
  const m = methods[Number(values.one)]!
  const t0 = performance.now()
  const load = loadavg()[0]!
  const p = await measureProfile({ url, name: 'repeat', image: values.image, ...m.o, burst: 0, concurrency: 1, latencyWorkers: {}, jitter: 0.1, command: 'bench/profile-repeat.ts' }, () => {})
  process.stdout.write(`${JSON.stringify({ method: m.name, decodeMs: p.host!.decodeMs, requestMs: p.host!.requestMs ?? NaN, wallS: (performance.now() - t0) / 1000, load, source: p.source })}\n`)
  process.exit(0)
}

const runs: Run[] = []
const log = (s: string): void => { process.stderr.write(`${s}\n`) }
for (let r = 1; r <= rounds; r++) {
  for (const [i, m] of methods.entries()) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--one', String(i), '--url', url, '--image', values.image], { encoding: 'utf8' })
    const run = { ...JSON.parse(out) as Omit<Run, 'round'>, round: r }
    runs.push(run)
    log(`round ${r}, ${m.name}: decode ${JSON.stringify(run.decodeMs)} ms, fixed ${run.requestMs} ms, ${run.wallS.toFixed(1)} s`)
  }
}

/** (max − min) / median of the repeats */
const range = (xs: number[]): number => {
  const a = [...xs].sort((x, y) => x - y)
  return (a[a.length - 1]! - a[0]!) / a[Math.floor(a.length / 2)]!
}
const models = Object.keys(runs[0]!.decodeMs)
const pc = (x: number): string => `${(x * 100).toFixed(1)} %`
const L: string[] = ['# Profile step: how far repeats fall apart (issue 17, item 8)', '']
L.push(`Command: \`node --import tsx bench/profile-repeat.ts --url ${values.url} --rounds ${rounds}\` against a server started with \`PORT=… SWITCHYARD_MODELS_DIR=../shared/models node dist/main.js\` (default config). Machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, shared with other work (1-minute load average at each run's start in the table). The two samplings interleaved, ${rounds} rounds, each run in a fresh process (a fresh client, as each fidelity run is); sequential latency-class requests with ${values.image.split('/').pop()}; each value is a median (src/sim/sample-stats.ts).`, '')
L.push(`| round | sampling | ${models.map((m) => `decode ${m} ms`).join(' | ')} | fixed cost ms | wall s | load |`)
L.push(`| --- | --- | ${models.map(() => '---').join(' | ')} | --- | --- | --- |`)
for (const r of runs) L.push(`| ${r.round} | ${r.method} | ${models.map((m) => r.decodeMs[m]!.toFixed(2)).join(' | ')} | ${r.requestMs.toFixed(2)} | ${r.wallS.toFixed(1)} | ${r.load.toFixed(1)} |`)
L.push('', 'Spread of the repeats, (max − min) / median:', '')
L.push(`| sampling | ${models.map((m) => `decode ${m}`).join(' | ')} | fixed cost |`)
L.push(`| --- | ${models.map(() => '---').join(' | ')} | --- |`)
for (const m of methods) {
  const of = runs.filter((r) => r.method === m.name)
  L.push(`| ${m.name} | ${models.map((k) => pc(range(of.map((r) => r.decodeMs[k]!)))).join(' | ')} | ${pc(range(of.map((r) => r.requestMs)))} |`)
}
L.push('', `The last run's source (the spread it states): ${runs[runs.length - 1]!.source}`, '')
mkdirSync(dirname(values.out), { recursive: true })
writeFileSync(`${values.out}.md`, L.join('\n'))
writeFileSync(`${values.out}.json`, `${JSON.stringify({ command: `node --import tsx bench/profile-repeat.ts --url ${values.url} --rounds ${rounds}`, runs }, null, 1)}\n`)
process.stdout.write(`${L.join('\n')}\n`)
