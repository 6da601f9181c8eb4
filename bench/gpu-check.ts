// The GPU check (issues 6, 11): one command that proves CPU + CUDA routing on a real GPU, and runs
// here too (CUDA absent: it says so and completes on the CPU).
//   npm run gpu:check                      (here: builds, then runs with tsx)
//   node .gpu/gpu-check.mjs                (on the device: self-contained bundle, see docs/gpu.md)
// Steps (docs/gpu.md says why each is there):
//  0. the card: `nvidia-smi --query-gpu=name,driver_version,memory.total` where it exists; the
//     output files are named after it: $OUT/gpu-check-<card>.json, $OUT/profile-<card>.json
//     (`cpu` without a GPU), plus $OUT/gpu-check-<card>.log (the servers' last log lines).
//  1. the reference server: one CPU device `cpu-fp32` running the fp32 classifier, alone in its
//     own process, so that no load phase can ever route to it (a device serving mobilenetv2 in
//     the main server would take unpinned classify traffic: the router has no pinned-only device).
//     Its answers for every photo are the parity reference for CUDA's fp32 classifier.
//  2. the main server: devices `cpu` (int8 classifier) and `cuda:0` (fp32 classifier, the default
//     for kind cuda: CUDA has no QLinearConv), dynamic-batch YOLOX for /detect; startup
//     calibration (a, b per device, model and variant) from GET /models of both servers.
//  3. parity per photo and route: classify cuda:0 fp32 vs cpu-fp32 (top-1 equal, top-5 scores
//     within 1e-2), the CPU int8 answer recorded beside; detect cuda:0 vs cpu (same count, each
//     CPU box matched within 1 px, scores within 1e-2).
//  4. load per route (detect, classify), three phases of the same load: routed (both devices),
//     GPU pinned, CPU pinned — throughput-class bulk at high concurrency (autocannon) plus a
//     latency-class probe — recording which device served what, batch sizes, p50/p99 and
//     predicted vs actual finish times (from /metrics deltas), and the ratios between phases.
//     Then, per route, the same load as /v2 binary-tensor requests pinned to each device: the
//     prepared input tensor (decoded and resized here, once) and the decoded outputs as binary
//     data, so no JPEG is decoded on the server: the device's own throughput apart from host
//     decoding, and the decode's share of the GPU's capacity (image route / tensor route).
//  5. a simulator profile (src/sim/profile.ts format) measured on this server: decode ms from
//     Server-Timing of sequential requests, each device's refitted cost from GET /models.
// Prints a short table last.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { measureProfile } from '../src/sim/measure-profile.js'
import { checkProfile } from '../src/sim/profile.js'
import { round } from '../src/util/format.js'
import { BOX_TOLERANCE_PX as BOX_TOL_PX, cardSlug, compareClassify, compareDetect, SCORE_TOLERANCE as SCORE_TOL, type Detection, type Prediction } from './gpu-parity.js'

const here = dirname(fileURLToPath(import.meta.url))
const bundled = import.meta.url.endsWith('.mjs')
const REPO = resolve(here, '..') // bench/ here, .gpu/ in the bundle: the project root either way
const SHARED = process.env.SWITCHYARD_SHARED_DIR ?? resolve(REPO, '../shared')
const OUT = process.env.OUT ?? join(REPO, 'bench/results')
const SECONDS = Number(process.env.GPU_CHECK_SECONDS ?? 8)
const CONNECTIONS = Number(process.env.GPU_CHECK_CONNECTIONS ?? 64)
const CORES = cpus().length
// the latency probe's rate: well under what the CPU alone serves, so it measures latency, not overload
const PROBE_RATE = Number(process.env.GPU_CHECK_PROBE_RATE ?? (CORES >= 8 ? 20 : 3))
// decoding runs on the host's cores whichever device infers: a GPU needs more decode slots than
// the default 4 (2 for bulk) to be kept busy; the libuv pool is sized to match
const DECODE_SLOTS = Number(process.env.GPU_CHECK_DECODE_SLOTS ?? (CORES >= 8 ? Math.floor(CORES / 2) : 4))
// GPU_CHECK_REHEARSAL=1: a dry run of the GPU path with no GPU — `cuda:0` is then a CPU device
// running the fp32 classifier, so every step (parity, three load phases, ratios, profile) runs;
// its numbers say nothing about a GPU and go to gpu-check-rehearsal.* only
const REHEARSAL = process.env.GPU_CHECK_REHEARSAL === '1'
const photos = readdirSync(join(SHARED, 'images')).filter((f) => f.endsWith('.jpg')).sort()
const t0 = Date.now()

function log (msg: string): void {
  process.stderr.write(`[gpu-check] ${msg}\n`)
}

// ---- 0. the card -----------------------------------------------------------------------------
interface Card { name: string, driver: string, memory: string, slug: string }
function gpuCard (): Card | null {
  try {
    const line = execFileSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8', timeout: 30_000 }).trim().split('\n')[0]!
    const [name = '', driver = '', memory = ''] = line.split(',').map((s) => s.trim())
    return name ? { name, driver, memory, slug: cardSlug(name) } : null
  } catch { return null }
}
const card = REHEARSAL ? null : gpuCard()
const tag = REHEARSAL ? 'rehearsal' : card?.slug ?? 'cpu'
const resultsFile = join(OUT, `gpu-check-${tag}.json`)
const profileFile = join(OUT, `profile-${tag}.json`)
const logFile = join(OUT, `gpu-check-${tag}.log`)
log(card ? `card: ${card.name} (driver ${card.driver}, ${card.memory})` : 'no nvidia-smi: no GPU here')

// ---- servers ---------------------------------------------------------------------------------
interface Server { name: string, base: string, child: ChildProcess, logs: string[], startup: string[] }

async function startServer (name: string, config: Record<string, unknown>): Promise<Server> {
  const port = 18080 + Math.floor(Math.random() * 1000)
  const base = `http://127.0.0.1:${port}`
  const dir = mkdtempSync(join(tmpdir(), 'sy-gpu-'))
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, server: { host: '127.0.0.1', port, logLevel: 'info' } }))
  const logs: string[] = []
  const startup: string[] = [] // the first lines (devices, calibration, batch shapes), kept beside the last 400
  const env = { ...process.env, SWITCHYARD_CONFIG: join(dir, 'config.json'), UV_THREADPOOL_SIZE: String(Math.max(4, DECODE_SLOTS)) }
  const child = spawn(process.execPath, [join(REPO, 'dist/main.js')], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const keep = (d: Buffer): void => {
    const lines = String(d).split('\n').filter(Boolean)
    if (startup.length < 150) startup.push(...lines.splice(0, 150 - startup.length))
    logs.push(...lines)
    if (logs.length > 400) logs.splice(0, logs.length - 400)
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const deadline = Date.now() + 180_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} server exited ${child.exitCode}:\n${logs.slice(-20).join('\n')}`)
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return { name, base, child, logs, startup }
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`${name} server not ready after 180 s:\n${logs.slice(-20).join('\n')}`)
}

async function stopServer (s: Server): Promise<void> {
  if (s.child.exitCode !== null) return
  const exited = new Promise((resolve) => s.child.once('exit', resolve))
  s.child.kill('SIGTERM')
  await exited
}

const models = { localDir: join(SHARED, 'models'), download: false }
// the parity reference: the fp32 classifier on the CPU, served alone (see step 1 above)
const referenceConfig = {
  models: { ...models, enabled: ['mobilenetv2'] },
  routes: { classify: 'mobilenetv2', detect: 'mobilenetv2' },
  routing: { calibrationRuns: 3 },
  devices: [{ id: 'cpu-fp32', kind: 'cpu', required: true, workers: 1, intraOpThreads: 0, maxBatchSize: 8, models: ['mobilenetv2'], variants: { mobilenetv2: 'fp32' } }]
}
const mainConfig = {
  models: { ...models, enabled: ['mobilenetv2', 'yolox-nano-dynamic'] },
  routes: { classify: 'mobilenetv2', detect: 'yolox-nano-dynamic' },
  routing: { calibrationRuns: 5 },
  // room for every connection and the probe to wait for a decode slot: the check measures the devices, not admission control
  decode: { slots: DECODE_SLOTS, bulkSlots: Math.max(2, DECODE_SLOTS - 2), maxWaiting: Math.max(64, 2 * CONNECTIONS) },
  devices: [
    // 2 workers, one kept for latency-class work; intra-op threads sized automatically
    { id: 'cpu', kind: 'cpu', required: true, workers: 2, latencyWorkers: 1, intraOpThreads: 0, maxBatchSize: 8, batchDelayMs: { latency: 0, throughput: 4 } },
    // the classifier variant is the default for kind cuda (fp32); checked from GET /models below
    REHEARSAL
      ? { id: 'cuda:0', kind: 'cpu', required: true, workers: 1, intraOpThreads: 1, maxBatchSize: 32, batchDelayMs: { latency: 0, throughput: 3 }, variants: { mobilenetv2: 'fp32' }, batchShapes: 'calibrated' }
      : { id: 'cuda:0', kind: 'cuda', deviceId: 0, required: false, workers: 2, maxBatchSize: 32, batchDelayMs: { latency: 0, throughput: 3 } }
  ]
}
const LATENCY_WORKERS = { cpu: 1, 'cuda:0': 0 }

// ---- requests --------------------------------------------------------------------------------
interface InferBody { device: string, variant: string, batchSize: number, predictions?: Prediction[], detections?: Detection[] }

async function infer (s: Server, route: string, photo: string, device: string): Promise<InferBody> {
  const res = await fetch(`${s.base}/${route}`, { method: 'POST', body: readFileSync(join(SHARED, 'images', photo)), headers: { 'content-type': 'image/jpeg', 'x-switchyard-device': device, 'x-switchyard-policy': 'latency' } })
  const body = await res.json() as InferBody
  if (res.status !== 200) throw new Error(`${s.name} ${route} ${photo} on ${device}: HTTP ${res.status} ${JSON.stringify(body)}`)
  return body
}

interface ModelsBody {
  models: Array<{ name: string, devices: Array<{ id: string, kind: 'cpu' | 'cuda', variant: string, workers: number, maxBatchSize: number, batchDelayMs: { latency: number, throughput: number }, queue: { max: number }, cost: { aMs: number, bMs: number, samples: number }, calibration: Array<{ batchSize: number, ms: number }> }> }>
  skippedDevices: Record<string, string>
}
async function getModels (s: Server): Promise<ModelsBody> {
  return await (await fetch(`${s.base}/models`)).json() as ModelsBody
}
function calibrationRows (server: string, m: ModelsBody): Array<Record<string, unknown>> {
  return m.models.flatMap((x) => x.devices.map((d) => ({ server, model: x.name, device: d.id, kind: d.kind, variant: d.variant, maxBatchSize: d.maxBatchSize, aMs: d.cost.aMs, bMs: d.cost.bMs, points: d.calibration })))
}

// ---- parity ----------------------------------------------------------------------------------
const top1 = (p: Prediction[]): { index: number, label: string, score: number } => ({ index: p[0]!.index, label: p[0]!.label, score: round(p[0]!.score, 4) })

// ---- load ------------------------------------------------------------------------------------
interface Bulk { rps: number, p50: number, p99: number, non2xx: number, statuses: Record<string, number> }
interface Probe { sent: number, ok: number, p50: number, p99: number, devices: Record<string, number>, server: Record<string, number> }

function runLoad (spec: object): Promise<{ bulk: Bulk, probe: Probe }> {
  const client = bundled ? [join(here, 'load-client.mjs')] : ['--import', 'tsx', join(REPO, 'bench/load-client.ts')]
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...client, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => { out += d })
    child.on('exit', (code) => code === 0 ? resolvePromise(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`load client exited ${code}`)))
  })
}

/** Sums of a metric's samples by the given label, from the Prometheus text. */
function metric (text: string, name: string, by: string, filter: Record<string, string> = {}): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*)\{(.*)\} (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const labels = Object.fromEntries([...m[2]!.matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]))
    if (!Object.entries(filter).every(([k, v]) => labels[k] === v)) continue
    const key = labels[by] ?? ''
    out[key] = (out[key] ?? 0) + Number(m[3])
  }
  return out
}

interface Phase {
  pin: string | null
  bulk: Bulk
  probe: Probe
  throughputDecisions: Record<string, number>
  latencyDecisions: Record<string, number>
  decisionReasons: Record<string, number>
  meanBatchSize: Record<string, number>
  /** worker ms per batch (layout + run + decode), what the cost model fits */
  meanBatchMs: Record<string, number>
  meanPredictionErrorMs: Record<string, number>
  rejected: Record<string, number>
  /** nvidia-smi's utilization.gpu (%) sampled every 200 ms during the phase; null without nvidia-smi */
  gpuUtil: { mean: number, max: number, samples: number } | null
}

/**
 * Samples the GPU's utilization while a phase runs (nvidia-smi -lms 200): a GPU that is busy
 * while batches are slow is contended; one that is idle is waiting on the host.
 */
function sampleGpu (): () => Promise<Phase['gpuUtil']> {
  if (card === null) return async () => null
  const child = spawn('nvidia-smi', ['--query-gpu=utilization.gpu', '--format=csv,noheader,nounits', '-lms', '200'], { stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d })
  child.on('error', () => {})
  return async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000))])
    const xs = out.split('\n').map((l) => l.trim()).filter((l) => /^\d+(\.\d+)?$/.test(l)).map(Number)
    return xs.length ? { mean: round(xs.reduce((a, b) => a + b, 0) / xs.length, 1), max: Math.max(...xs), samples: xs.length } : null
  }
}

/**
 * The metrics once the server is idle: autocannon stops at its duration and leaves its last
 * requests in the server (waiting to decode, queued, running), which would otherwise be counted
 * in the next phase. Idle: nothing queued or running, and the answered-request count unchanged
 * over half a second (requests waiting for a decode slot are in no gauge).
 */
async function drained (s: Server): Promise<string> {
  const deadline = Date.now() + 30_000
  let last = -1
  for (;;) {
    const text = await (await fetch(`${s.base}/metrics`)).text()
    const busy = [...Object.values(metric(text, 'switchyard_queue_depth', 'device')), ...Object.values(metric(text, 'switchyard_in_flight', 'device'))].reduce((a, b) => a + b, 0)
    const answered = Object.values(metric(text, 'switchyard_http_requests_total', 'route')).reduce((a, b) => a + b, 0)
    if ((busy === 0 && answered === last) || Date.now() > deadline) return text
    last = busy === 0 ? answered : -1
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

/** A /v2 binary-tensor request body for the model: the photo's input tensor, made as the server makes it. */
interface TensorRequest { path: string, file: string, headers: Record<string, string> }
async function tensorRequest (s: Server, model: string): Promise<TensorRequest> {
  // from dist/, as the server runs them (the bundle must not carry sharp, a native module; dist/ travels with it)
  const dist = async <T>(file: string): Promise<T> => await import(pathToFileURL(join(REPO, 'dist', file)).href) as T
  const { loadConfig } = await dist<typeof import('../src/config/load-config.js')>('config/load-config.js')
  const { readModelSpec } = await dist<typeof import('../src/models/model-repository.js')>('models/model-repository.js')
  const { decodeImage } = await dist<typeof import('../src/preprocess/decode-image.js')>('preprocess/decode-image.js')
  const { TensorLayout } = await dist<typeof import('../src/worker/tensor-layout.js')>('worker/tensor-layout.js')
  const spec = await readModelSpec(join(REPO, 'models'), model)
  const config = loadConfig({ file: join(REPO, 'config/default.json'), env: {}, root: REPO })
  const layout = new TensorLayout(spec.input, spec.preprocess)
  const x = new Float32Array(3 * layout.plane)
  layout.write(await decodeImage(readFileSync(join(SHARED, 'images', 'dog.jpg')), spec, config.images), x, 0)
  const data = Buffer.from(x.buffer, x.byteOffset, x.byteLength)
  // the decoded outputs (as /classify and /detect compute them), as binary data; not the raw output
  const meta = await (await fetch(`${s.base}/v2/models/${model}`)).json() as { inputs: Array<{ name: string }>, outputs: Array<{ name: string }> }
  const outputs = meta.outputs.filter((o) => o.name !== spec.output.name).map((o) => ({ name: o.name, parameters: { binary_data: true } }))
  const head = Buffer.from(JSON.stringify({ inputs: [{ name: meta.inputs[0]!.name, shape: [1, 3, spec.input.height, spec.input.width], datatype: 'FP32', parameters: { binary_data_size: data.length } }], outputs }))
  const file = join(mkdtempSync(join(tmpdir(), 'sy-gpu-v2-')), `${model}.bin`)
  writeFileSync(file, Buffer.concat([head, data]))
  return { path: `/v2/models/${model}/infer`, file, headers: { 'inference-header-content-length': String(head.length) } }
}

async function loadPhase (s: Server, route: string, model: string, pin: string | null, tensor?: TensorRequest): Promise<Phase> {
  const pinned: Record<string, string> = pin ? { 'x-switchyard-device': pin } : {}
  const m0 = await drained(s)
  const path = tensor?.path ?? `/${route}`
  const gpuDone = sampleGpu()
  const r = await runLoad({
    url: s.base,
    image: tensor?.file ?? join(SHARED, 'images', 'dog.jpg'),
    ...(tensor ? { contentType: 'application/octet-stream' } : {}),
    seconds: SECONDS,
    bulk: { path, connections: CONNECTIONS, headers: { 'x-switchyard-policy': 'throughput', ...pinned, ...tensor?.headers } },
    probe: { path, rate: PROBE_RATE, headers: { 'x-switchyard-policy': 'latency', ...pinned, ...tensor?.headers } }
  })
  const gpuUtil = await gpuDone()
  const m1 = await drained(s) // the phase's abandoned requests finish and count here
  const delta = (name: string, by: string, filter: Record<string, string>): Record<string, number> => {
    const a = metric(m0, name, by, filter); const b = metric(m1, name, by, filter)
    return Object.fromEntries(Object.keys(b).map((k) => [k, round(b[k]! - (a[k] ?? 0), 3)]).filter(([, v]) => v !== 0))
  }
  const batches = delta('switchyard_batch_size_count', 'device', { model })
  const items = delta('switchyard_batch_size_sum', 'device', { model })
  const serviceSum = delta('switchyard_batch_duration_seconds_sum', 'device', { model })
  const errSum = delta('switchyard_prediction_error_seconds_sum', 'device', { model })
  const errCount = delta('switchyard_prediction_error_seconds_count', 'device', { model })
  return {
    pin,
    bulk: { rps: r.bulk.rps, p50: r.bulk.p50, p99: r.bulk.p99, non2xx: r.bulk.non2xx, statuses: r.bulk.statuses },
    probe: r.probe,
    throughputDecisions: delta('switchyard_routing_decisions_total', 'device', { model, policy: 'throughput' }),
    latencyDecisions: delta('switchyard_routing_decisions_total', 'device', { model, policy: 'latency' }),
    decisionReasons: delta('switchyard_routing_decisions_total', 'reason', { model }),
    meanBatchSize: Object.fromEntries(Object.keys(batches).map((d) => [d, batches[d] ? round(items[d]! / batches[d]!, 1) : 0])),
    meanBatchMs: Object.fromEntries(Object.keys(batches).map((d) => [d, batches[d] ? round((serviceSum[d] ?? 0) / batches[d]! * 1000, 1) : 0])),
    meanPredictionErrorMs: Object.fromEntries(Object.keys(errCount).map((d) => [d, errCount[d] ? round(errSum[d]! / errCount[d]! * 1000, 1) : 0])),
    rejected: delta('switchyard_rejected_requests_total', 'reason', { model }),
    gpuUtil
  }
}

// ---- GPU_CHECK_ONLY=workers: how the GPU's batch time depends on its workers ------------------
// The classifier alone on cuda:0, /v2 binary tensors (no decoding), pinned, at the check's load,
// with 1 worker in a process, 2 in processes, 2 in threads: calibration (each worker alone) vs
// the batch time under load (workers side by side on one GPU).
async function workersOnly (): Promise<void> {
  const out: Array<Record<string, unknown>> = []
  const lines: string[] = []
  for (const [workers, isolation] of [[1, 'process'], [2, 'process'], [2, 'thread']] as const) {
    log(`workers: cuda:0 with ${workers} worker(s), ${isolation} isolation`)
    const cfg = {
      ...mainConfig,
      models: { ...models, enabled: ['mobilenetv2'] },
      routes: { classify: 'mobilenetv2', detect: 'mobilenetv2' },
      devices: [REHEARSAL
        ? { id: 'cuda:0', kind: 'cpu', required: true, workers, isolation, intraOpThreads: 1, maxBatchSize: 32, batchDelayMs: { latency: 0, throughput: 3 }, variants: { mobilenetv2: 'fp32' }, batchShapes: 'calibrated' }
        : { id: 'cuda:0', kind: 'cuda', deviceId: 0, required: true, workers, isolation, maxBatchSize: 32, batchDelayMs: { latency: 0, throughput: 3 } }]
    }
    const s = await startServer(`workers-${workers}-${isolation}`, cfg)
    servers.push(s)
    try {
      const calib = calibrationRows(s.name, await getModels(s))[0]
      const phase = await loadPhase(s, 'classify', 'mobilenetv2', 'cuda:0', await tensorRequest(s, 'mobilenetv2'))
      const row = { workers, isolation, calibration: calib, phase }
      out.push(row)
      lines.push(`workers  ${workers} ${pad(isolation, 7)} calib a=${String(calib?.aMs)} b=${String(calib?.bMs)} ms | under load ${phase.bulk.rps} req/s, batch ${JSON.stringify(phase.meanBatchSize)}, batch ms ${JSON.stringify(phase.meanBatchMs)}, gpu util ${phase.gpuUtil ? `${phase.gpuUtil.mean} % (max ${phase.gpuUtil.max})` : 'n/a'}, probe p50/p99 ${phase.probe.p50}/${phase.probe.p99} ms ${JSON.stringify(phase.probe.server)}`)
    } finally {
      await stopServer(s)
    }
  }
  results.workers = out
  results.summary = lines
  results.seconds = Math.round((Date.now() - t0) / 1000)
  writeFileSync(join(OUT, `gpu-workers-${tag}.json`), JSON.stringify(results, null, 2) + '\n')
  writeFileSync(join(OUT, `gpu-workers-${tag}.log`), servers.map((s) => `== ${s.name} server (first ${s.startup.length} lines)\n${s.startup.join('\n')}\n== ${s.name} server (last ${s.logs.length} lines)\n${s.logs.join('\n')}`).join('\n') + '\n')
  process.stdout.write(`\nSwitchyard GPU check, workers only (${String(results.seconds)} s)\n${lines.join('\n')}\n`)
}
const pad = (s: unknown, n: number): string => String(s).padEnd(n)

// ---- the check -------------------------------------------------------------------------------
const results: Record<string, unknown> = {
  startedAt: new Date().toISOString(),
  card: card ?? null,
  rehearsal: REHEARSAL,
  machine: { cpus: CORES, cpu: cpus()[0]?.model, node: process.version },
  settings: { seconds: SECONDS, connections: CONNECTIONS, probeRate: PROBE_RATE, decodeSlots: DECODE_SLOTS, scoreTolerance: SCORE_TOL, boxTolerancePx: BOX_TOL_PX, photos }
}
const servers: Server[] = []
const summary: string[] = []
mkdirSync(OUT, { recursive: true })
try {
  if (process.env.GPU_CHECK_ONLY === 'workers') {
    await workersOnly()
    process.exit(0)
  }
  // 1. the fp32 reference, then its server goes away before the main one starts
  log(`reference server: cpu-fp32 (mobilenetv2 fp32, 1 worker) on ${SHARED}`)
  const ref = await startServer('reference', referenceConfig)
  servers.push(ref)
  const refModels = await getModels(ref)
  const refFp32: Record<string, Prediction[]> = {}
  for (const photo of photos) refFp32[photo] = (await infer(ref, 'classify', photo, 'cpu-fp32')).predictions!
  await stopServer(ref)

  // 2. the main server
  log('main server: cpu (int8 classifier) + cuda:0 (fp32 classifier)')
  const main = await startServer('main', mainConfig)
  servers.push(main)
  const mainModels = await getModels(main)
  const devices = [...new Set(mainModels.models.flatMap((m) => m.devices.map((d) => d.id)))]
  const cuda = devices.includes('cuda:0')
  const cudaWarning = main.logs.find((l) => l.includes('cuda:0') && /cannot|failed/i.test(l))
  results.devices = devices
  results.skippedDevices = mainModels.skippedDevices
  results.cuda = cuda ? 'present' : `absent: ${mainModels.skippedDevices['cuda:0'] ?? cudaWarning ?? 'unknown'}`
  log(`devices: ${devices.join(', ')}; CUDA ${String(results.cuda)}`)
  const calibration = [...calibrationRows('reference', refModels), ...calibrationRows('main', mainModels)]
  results.calibration = calibration
  const cudaClassifier = mainModels.models.find((m) => m.name === 'mobilenetv2')?.devices.find((d) => d.id === 'cuda:0')?.variant
  if (cuda && cudaClassifier !== 'fp32') log(`WARNING: cuda:0 runs classifier variant ${cudaClassifier}, not fp32`)

  // 3. parity
  log(`parity: ${photos.length} photos × classify, detect${cuda ? '' : ' (CUDA absent: the references and the int8 answer only)'}`)
  const parity: Array<Record<string, unknown>> = []
  for (const photo of photos) {
    const int8 = await infer(main, 'classify', photo, 'cpu')
    const fp32 = refFp32[photo]!
    const row: Record<string, unknown> = {
      photo, route: 'classify',
      reference: { device: 'cpu-fp32', variant: 'fp32', top1: top1(fp32) },
      cpuInt8: { device: 'cpu', variant: int8.variant, top1: top1(int8.predictions!), ...compareClassify(fp32, int8.predictions!) }
    }
    if (cuda) {
      const g = await infer(main, 'classify', photo, 'cuda:0')
      row.cuda = { device: 'cuda:0', variant: g.variant, top1: top1(g.predictions!), ...compareClassify(fp32, g.predictions!) }
    }
    parity.push(row)
    const cpuDet = (await infer(main, 'detect', photo, 'cpu')).detections!
    const drow: Record<string, unknown> = { photo, route: 'detect', reference: { device: 'cpu', detections: cpuDet.length } }
    if (cuda) drow.cuda = { device: 'cuda:0', ...compareDetect(cpuDet, (await infer(main, 'detect', photo, 'cuda:0')).detections!) }
    parity.push(drow)
  }
  results.parity = parity
  const compared = parity.filter((p) => p.cuda)
  const passed = compared.filter((p) => (p.cuda as { pass: boolean }).pass)
  const int8Agrees = parity.filter((p) => p.route === 'classify' && (p.cpuInt8 as { top1Equal: boolean }).top1Equal).length

  // 4. load: routed, GPU pinned, CPU pinned, per route
  const phases = (cuda ? [['routed', null], ['gpu', 'cuda:0'], ['cpu', 'cpu']] : [['routed', null], ['cpu', 'cpu']]) as Array<[string, string | null]>
  const load: Record<string, Record<string, Phase>> = {}
  for (const [route, model] of [['detect', 'yolox-nano-dynamic'], ['classify', 'mobilenetv2']] as const) {
    load[route] = {}
    for (const [name, pin] of phases) {
      log(`load ${route} ${name}${pin ? ` (pinned to ${pin})` : ''}: ${CONNECTIONS} throughput connections + a latency probe at ${PROBE_RATE} req/s, ${SECONDS} s`)
      load[route][name] = await loadPhase(main, route, model, pin)
    }
    const tensor = await tensorRequest(main, model)
    for (const [name, pin] of phases.filter(([, p]) => p !== null)) {
      log(`load ${route} as /v2 binary tensors, pinned to ${pin!}: ${CONNECTIONS} throughput connections + a latency probe at ${PROBE_RATE} req/s, ${SECONDS} s`)
      load[route][`v2-${name}`] = await loadPhase(main, route, model, pin, tensor)
    }
  }
  const ratio = (a?: number, b?: number): number | null => a && b ? round(a / b, 2) : null
  const ratios = Object.fromEntries(Object.entries(load).map(([route, p]) => [route, {
    routedOverCpu: ratio(p.routed?.bulk.rps, p.cpu?.bulk.rps),
    gpuOverCpu: ratio(p.gpu?.bulk.rps, p.cpu?.bulk.rps),
    routedOverGpu: ratio(p.routed?.bulk.rps, p.gpu?.bulk.rps),
    probeP99WithGpuMs: cuda ? p.routed!.probe.p99 : null,
    probeP99CpuOnlyMs: p.cpu!.probe.p99,
    // the image route's rate over the tensor route's on the same device: 1 − this is the share of
    // the device's capacity that host decoding (and the JPEG upload) takes away
    gpuImageOverTensor: ratio(p.gpu?.bulk.rps, p['v2-gpu']?.bulk.rps),
    cpuImageOverTensor: ratio(p.cpu?.bulk.rps, p['v2-cpu']?.bulk.rps)
  }]))
  results.load = load
  results.ratios = ratios

  // 5. the simulator profile
  log('profile: decode ms (sequential latency-class requests) and each device\'s refitted cost from GET /models')
  const command = bundled ? 'node .gpu/gpu-check.mjs' : 'npm run gpu:check'
  const variants = mainModels.models.flatMap((m) => m.devices.map((d) => `${d.id} ${m.name} ${d.variant}`)).join(', ')
  const profile = await measureProfile({
    url: main.base, name: tag, image: join(SHARED, 'images', 'dog.jpg'), samples: 10, maxSamples: 40, burst: 64, concurrency: 16,
    latencyWorkers: LATENCY_WORKERS, jitter: 0.1, command: `${command} (${card ? `${card.name}, driver ${card.driver}` : 'no GPU'}; variants: ${variants}; after the load phases)`
  }, log)
  checkProfile(profile, profileFile)
  writeFileSync(profileFile, JSON.stringify(profile, null, 2) + '\n')
  results.profile = profileFile.split('/').pop()

  // the summary, printed last
  const phaseCell = (p?: Phase): string => p ? `${p.bulk.rps} req/s (p99 ${p.bulk.p99} ms, non2xx ${p.bulk.non2xx})` : 'n/a'
  summary.push(
    `card     ${REHEARSAL ? 'REHEARSAL: cuda:0 is a CPU device running fp32, no GPU numbers' : card ? `${card.name} (driver ${card.driver}, ${card.memory})` : 'none (no nvidia-smi)'}; CUDA ${String(results.cuda)}`,
    ...main.startup.filter((l) => l.includes('batch shapes')).map((l) => { try { return `shapes   ${String((JSON.parse(l) as { msg: string }).msg)}` } catch { return `shapes   ${l}` } }),
    ...calibration.map((c) => `calib    ${pad(c.device, 9)} ${pad(c.model, 19)} ${pad(c.variant, 5)} a=${c.aMs} ms b=${c.bMs} ms (max batch ${c.maxBatchSize})`),
    `parity   ${compared.length ? `${passed.length}/${compared.length} photo×route pairs within tolerance (classify cuda:0 fp32 vs cpu-fp32, detect cuda:0 vs cpu: top-1, scores ±${SCORE_TOL}, boxes ±${BOX_TOL_PX} px)` : 'CUDA absent: nothing compared'}; cpu int8 top-1 = fp32 top-1 on ${int8Agrees}/${photos.length} photos`
  )
  for (const [route, p] of Object.entries(load)) {
    const r = ratios[route]!
    summary.push(
      `load     ${pad(route, 8)} routed ${phaseCell(p.routed)} | gpu-pinned ${phaseCell(p.gpu)} | cpu-pinned ${phaseCell(p.cpu)}`,
      `         ${pad('', 8)} ratios routed/cpu ${r.routedOverCpu ?? 'n/a'}, gpu/cpu ${r.gpuOverCpu ?? 'n/a'}, routed/gpu ${r.routedOverGpu ?? 'n/a'} | probe p99 with GPU ${r.probeP99WithGpuMs ?? 'n/a'} ms, CPU only ${r.probeP99CpuOnlyMs} ms`,
      `         ${pad('', 8)} /v2 tensors gpu-pinned ${phaseCell(p['v2-gpu'])} | cpu-pinned ${phaseCell(p['v2-cpu'])} | image/tensor req/s gpu ${r.gpuImageOverTensor ?? 'n/a'}, cpu ${r.cpuImageOverTensor ?? 'n/a'}`,
      ...Object.entries(p).map(([name, x]) => `         ${pad('', 8)} ${pad(name, 6)} bulk→${JSON.stringify(x.throughputDecisions)} probe→${JSON.stringify(x.probe.devices)} reasons ${JSON.stringify(x.decisionReasons)} batch ${JSON.stringify(x.meanBatchSize)} batch ms ${JSON.stringify(x.meanBatchMs)} gpu util ${x.gpuUtil ? `${x.gpuUtil.mean} % (max ${x.gpuUtil.max})` : 'n/a'} pred err ${JSON.stringify(x.meanPredictionErrorMs)} ms`)
    )
  }
  summary.push(`profile  ${profileFile.split('/').pop()!} (${profile.devices.map((d) => `${d.id}: ${Object.entries(d.models).map(([m, c]) => `${m} a=${c.a} b=${c.b}`).join(', ')}`).join('; ')}; decode ${JSON.stringify(profile.host?.decodeMs)} ms)`)
  results.summary = summary
  results.seconds = Math.round((Date.now() - t0) / 1000)
  writeFileSync(resultsFile, JSON.stringify(results, null, 2) + '\n')
  process.stdout.write(`\nSwitchyard GPU check (${String(results.seconds)} s)\n${summary.join('\n')}\nfull results: ${resultsFile}\n`)
} catch (err) {
  results.error = String((err as Error).stack ?? err)
  writeFileSync(resultsFile, JSON.stringify(results, null, 2) + '\n')
  throw err
} finally {
  for (const s of servers) await stopServer(s)
  writeFileSync(logFile, servers.map((s) => `== ${s.name} server (first ${s.startup.length} lines)\n${s.startup.join('\n')}\n== ${s.name} server (last ${s.logs.length} lines)\n${s.logs.join('\n')}`).join('\n') + '\n')
}
