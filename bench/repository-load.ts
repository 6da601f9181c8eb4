// A model copied into the repository and loaded over /v2/repository while another model serves
// traffic at half its capacity (issue 19, target 4):
//   1. the capacity of /classify (mobilenetv2, the CPU device) is measured closed-loop;
//   2. /classify is then offered 50 % of it, open-loop (Poisson arrivals), for the whole run;
//   3. meanwhile a real network (the shared fp32 MobileNetV2, as a plain ONNX model with no
//      model.json) is copied into the repository and loaded with POST /v2/repository/…/load;
//      the time from the load call to its first answer is compared with the time its session
//      creation and calibration took in the worker (ModelReport.loadMs);
//   4. every /classify answer before, during and after the load is counted by status, with
//      latency percentiles per phase.
// `npm run bench:repository` → bench/results/repository-load.{json,md}. Short on purpose: the
// development machine has 2 cores shared with other work, so absolute times are inflated.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { REPO, SHARED, image, startBenchServer, table } from './harness.js'

const ADMIN = 'bench-admin-key-0123456789'
const CAPACITY_S = Number(process.env.CAPACITY_S ?? 8)
const PHASE_S = Number(process.env.PHASE_S ?? 6)
const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-repo-'))
const photo = readFileSync(image('dog.jpg'))

const { server, url } = await startBenchServer({
  devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 2, latencyWorkers: 1, maxBatchSize: 8 }],
  modelRepository: { dir, pollMs: 0 },
  auth: { adminKeys: [ADMIN] }
})

interface Answer { at: number, ms: number, status: number }
const classify = async (): Promise<Answer> => {
  const at = performance.now()
  try {
    const r = await fetch(`${url}/classify/mobilenetv2`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } })
    await r.arrayBuffer()
    return { at, ms: performance.now() - at, status: r.status }
  } catch {
    return { at, ms: performance.now() - at, status: 0 }
  }
}

// 1. capacity, closed loop with 4 clients
let served = 0
const until = performance.now() + CAPACITY_S * 1000
await Promise.all(Array.from({ length: 4 }, async () => { while (performance.now() < until) if ((await classify()).status === 200) served++ }))
const capacity = served / CAPACITY_S
const rate = capacity / 2
console.log(`capacity ${capacity.toFixed(1)} req/s; offering ${rate.toFixed(1)} req/s`)

// 2. open-loop load at half the capacity, seeded exponential gaps
let seed = 7
const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return (seed + 0.5) / 2 ** 31 }
const answers: Array<Promise<Answer>> = []
let running = true
const load = (async () => {
  let next = performance.now()
  while (running) {
    next += -Math.log(random()) / rate * 1000
    const wait = next - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    answers.push(classify())
  }
})()

await new Promise((resolve) => setTimeout(resolve, PHASE_S * 1000))
// 3. copy a real network into the repository and load it
const copyStart = performance.now()
mkdirSync(join(dir, 'newnet', '1'), { recursive: true })
copyFileSync(join(SHARED, 'models', 'mobilenetv2-12-fp32', 'model.onnx'), join(dir, 'newnet', '1', 'model.onnx'))
const loadStart = performance.now()
const loaded = await fetch(`${url}/v2/repository/models/newnet/load`, { method: 'POST', headers: { 'x-switchyard-admin-key': ADMIN } })
const loadAnswered = performance.now()
const input = Buffer.from(new Float32Array(3 * 224 * 224).buffer)
const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224], parameters: { binary_data_size: input.length } }] }))
const first = await fetch(`${url}/v2/models/newnet/infer`, { method: 'POST', body: Buffer.concat([json, input]), headers: { 'inference-header-content-length': String(json.length) } })
const firstAnswered = performance.now()
// where the first request's time went in the server (Server-Timing: queue, inference)
const timing = Object.fromEntries((first.headers.get('server-timing') ?? '').split(',').map((p) => p.trim().split(';dur=')).map(([k, v]) => [k, Number(v)]))
const loadEnd = firstAnswered
// the same request again, the model loaded everywhere: what one round trip costs here now
const againStart = performance.now()
await (await fetch(`${url}/v2/models/newnet/infer`, { method: 'POST', body: Buffer.concat([json, input]), headers: { 'inference-header-content-length': String(json.length) } })).arrayBuffer()
const againMs = performance.now() - againStart
await new Promise((resolve) => setTimeout(resolve, PHASE_S * 1000))
running = false
await load
const all = await Promise.all(answers)
const meta = await (await fetch(`${url}/v2/models/newnet`)).json() as { inputs: unknown[] }
const report = server.repository.report('newnet@1')
await server.close()
rmSync(dir, { recursive: true, force: true })

const phase = (a: Answer): 'before' | 'during' | 'after' => a.at < copyStart ? 'before' : a.at <= loadEnd ? 'during' : 'after'
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((x, y) => x - y); return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]! * 10) / 10 : 0 }
const phases = (['before', 'during', 'after'] as const).map((p) => {
  const xs = all.filter((a) => phase(a) === p)
  const ok = xs.filter((a) => a.status === 200)
  return { phase: p, requests: xs.length, ok: ok.length, 'refused/failed': xs.length - ok.length, 'p50 ms': pct(ok.map((a) => a.ms), 50), 'p99 ms': pct(ok.map((a) => a.ms), 99), 'max ms': pct(ok.map((a) => a.ms), 100) }
})
const statuses: Record<string, number> = {}
for (const a of all) statuses[a.status] = (statuses[a.status] ?? 0) + 1
const result = {
  command: 'npm run bench:repository',
  machine: 'the 2-core development machine, shared with other work while it ran',
  capacityPerS: Math.round(capacity * 10) / 10,
  offeredPerS: Math.round(rate * 10) / 10,
  load: {
    status: loaded.status,
    copyMs: Math.round(loadStart - copyStart),
    loadCallMs: Math.round(loadAnswered - loadStart),
    toFirstAnswerMs: Math.round(firstAnswered - loadStart),
    firstAnswerStatus: first.status,
    firstDecodeMs: Math.round(timing.decode ?? -1),
    firstQueueMs: Math.round(timing.queue ?? -1),
    firstInferenceMs: Math.round(timing.inference ?? -1),
    firstServerMs: Math.round(timing.total ?? -1),
    /** the first answer's round trip (after the load call answered), and the next request's */
    firstRoundTripMs: Math.round(firstAnswered - loadAnswered),
    nextRoundTripMs: Math.round(againMs),
    workerSessionMs: Math.round(report?.loadMs?.session ?? -1),
    workerCalibrationMs: Math.round(report?.loadMs?.calibration ?? -1),
    calibration: report?.calibration,
    /** to the first answer, over the first worker's session creation + warm-up and calibration (the same run) */
    ratioFirstAnswer: 0,
    ratioLoadCall: 0,
    inputs: meta.inputs
  },
  phases,
  statuses
}
const worker = result.load.workerSessionMs + result.load.workerCalibrationMs
result.load.ratioLoadCall = Math.round(result.load.loadCallMs / worker * 100) / 100
result.load.ratioFirstAnswer = Math.round(result.load.toFirstAnswerMs / worker * 100) / 100
writeFileSync(join(REPO, 'bench/results/repository-load.json'), JSON.stringify(result, null, 2) + '\n')
const md = `# A model loaded over /v2/repository while another serves at half its capacity

\`${result.command}\` (bench/repository-load.ts), on ${result.machine}: absolute times are inflated.

The CPU device (2 workers, one reserved for latency work) serves \`/classify\` (mobilenetv2, int8):
closed-loop capacity ${result.capacityPerS} req/s, then ${result.offeredPerS} req/s offered open-loop
(Poisson) for the whole run. After ${PHASE_S} s the shared fp32 MobileNetV2 (14 MB, no model.json) is copied into
the repository as \`newnet/1/model.onnx\` and loaded with \`POST /v2/repository/models/newnet/load\`.

| step | ms |
| --- | --- |
| copy into the repository | ${result.load.copyMs} |
| load call answered (${result.load.status}) | ${result.load.loadCallMs} |
| load call → first answer of newnet (${result.load.firstAnswerStatus}) | ${result.load.toFirstAnswerMs} |
| of which in the first worker: session creation | ${result.load.workerSessionMs} |
| of which in the first worker: warm-up and calibration | ${result.load.workerCalibrationMs} |
| the first request's round trip (from the load call's answer) | ${result.load.firstRoundTripMs} |
| of which in the server (Server-Timing): total / input read / queued / inference | ${result.load.firstServerMs} / ${result.load.firstDecodeMs} / ${result.load.firstQueueMs} / ${result.load.firstInferenceMs} |
| the next request's round trip (the same request again) | ${result.load.nextRoundTripMs} |

Over the first worker's session creation + warm-up and calibration (${worker} ms, the same run): load
call answered ${result.load.ratioLoadCall}×, first answer ${result.load.ratioFirstAnswer}×. The first request's round trip
is an ordinary one (compare the next request's): the lane opens on the worker that calibrated the
model, whose next work is the new model's (Scheduler.openLane). Before that change (main at
c23e05a) this bench measured 1.04× and 1.21×: the first request queued behind a batch of /classify
on the one worker that had the model.

/classify, by when the request was sent (during = from the copy to newnet's first answer):

${table(phases)}

Statuses of every /classify request: ${Object.entries(statuses).map(([s, n]) => `${s}: ${n}`).join(', ')}.
`
writeFileSync(join(REPO, 'bench/results/repository-load.md'), md)
console.log(md)
