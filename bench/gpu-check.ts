// The GPU check (issue 6): one command that proves CPU + CUDA routing on a real GPU, and runs
// here too (CUDA absent: it says so and completes on the CPU).
//   npm run gpu:check                      (here: builds, then runs with tsx)
//   node .gpu/gpu-check.mjs                (on the device: self-contained bundle, see docs/gpu.md)
// Steps: start the built server (node dist/main.js) with devices cpu and cuda:0 on the shared
// models (dynamic-batch YOLOX for /detect); read the startup calibration (a, b per device and
// model) from /models; run every shared photo through both routes pinned to each device and
// compare with the CPU (top-1 equal, scores within 1e-3, boxes within 1 px); then a short load:
// throughput-policy detect and classify at high concurrency with a latency-policy probe
// alongside, recording which device served what, batch sizes, p50/p99, and predicted vs actual
// finish times. Prints a short table last; writes everything to $OUT/gpu-check.json.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { iou } from '../src/postprocess/nms.js'

const here = dirname(fileURLToPath(import.meta.url))
const bundled = import.meta.url.endsWith('.mjs')
const REPO = bundled ? resolve(here, '..') : resolve(here, '..')
const SHARED = process.env.SWITCHYARD_SHARED_DIR ?? resolve(REPO, '../shared')
const OUT = process.env.OUT ?? join(REPO, 'bench/results')
const SECONDS = Number(process.env.GPU_CHECK_SECONDS ?? 8)
const CONNECTIONS = Number(process.env.GPU_CHECK_CONNECTIONS ?? 64)
// the latency probe's rate: well under what the CPU alone serves, so it measures latency, not overload
const PROBE_RATE = Number(process.env.GPU_CHECK_PROBE_RATE ?? (cpus().length >= 8 ? 20 : 3))
const PORT = 18080 + Math.floor(Math.random() * 1000)
const base = `http://127.0.0.1:${PORT}`
const photos = readdirSync(join(SHARED, 'images')).filter((f) => f.endsWith('.jpg')).sort()

const config = {
  server: { host: '127.0.0.1', port: PORT, logLevel: 'info' },
  models: { localDir: join(SHARED, 'models'), download: false, enabled: ['mobilenetv2', 'yolox-nano-dynamic'] },
  routes: { classify: 'mobilenetv2', detect: 'yolox-nano-dynamic' },
  routing: { calibrationRuns: 5 },
  devices: [
    { id: 'cpu', kind: 'cpu', required: true, workers: 2, latencyWorkers: 1, intraOpThreads: 0, maxBatchSize: 8, batchDelayMs: { latency: 0, throughput: 4 } },
    { id: 'cuda:0', kind: 'cuda', deviceId: 0, required: false, workers: 2, maxBatchSize: 32, batchDelayMs: { latency: 0, throughput: 3 } }
  ]
}

function log (msg: string): void {
  process.stderr.write(`[gpu-check] ${msg}\n`)
}

async function startServer (): Promise<{ child: ChildProcess, logs: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-gpu-'))
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config))
  const logs: string[] = []
  const child = spawn(process.execPath, [join(REPO, 'dist/main.js')], { cwd: REPO, env: { ...process.env, SWITCHYARD_CONFIG: join(dir, 'config.json') }, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout!.on('data', (d: Buffer) => logs.push(...String(d).split('\n').filter(Boolean)))
  child.stderr!.on('data', (d: Buffer) => logs.push(...String(d).split('\n').filter(Boolean)))
  const deadline = Date.now() + 180_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}:\n${logs.slice(-20).join('\n')}`)
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return { child, logs }
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error('server not ready after 180 s')
}

interface InferBody { device: string, batchSize: number, predictions?: Array<{ index: number, label: string, score: number }>, detections?: Array<{ index: number, label: string, score: number, box: { x1: number, y1: number, x2: number, y2: number } }> }

async function infer (route: string, photo: string, headers: Record<string, string>): Promise<{ status: number, body: InferBody, headers: Headers }> {
  const res = await fetch(`${base}/${route}`, { method: 'POST', body: readFileSync(join(SHARED, 'images', photo)), headers: { 'content-type': 'image/jpeg', ...headers } })
  return { status: res.status, body: await res.json() as InferBody, headers: res.headers }
}

async function parity (devices: string[]): Promise<Array<Record<string, unknown>>> {
  const rows: Array<Record<string, unknown>> = []
  for (const photo of photos) {
    const ref = { classify: await infer('classify', photo, { 'x-switchyard-device': 'cpu' }), detect: await infer('detect', photo, { 'x-switchyard-device': 'cpu' }) }
    for (const device of devices.filter((d) => d !== 'cpu')) {
      const c = await infer('classify', photo, { 'x-switchyard-device': device })
      const d = await infer('detect', photo, { 'x-switchyard-device': device })
      const a = ref.classify.body.predictions!; const b = c.body.predictions!
      const scoreDiff = Math.max(...a.map((p) => Math.abs(p.score - (b.find((q) => q.index === p.index)?.score ?? 0))))
      const da = ref.detect.body.detections!; const db = d.body.detections!
      let boxDiff = 0; const unmatched: string[] = []
      for (const x of da) {
        const m = db.filter((y) => y.index === x.index).sort((p, q) => iou(q.box, x.box) - iou(p.box, x.box))[0]
        if (!m || iou(m.box, x.box) < 0.5) { unmatched.push(`${x.label} ${x.score.toFixed(2)}`); continue }
        boxDiff = Math.max(boxDiff, Math.abs(m.box.x1 - x.box.x1), Math.abs(m.box.y1 - x.box.y1), Math.abs(m.box.x2 - x.box.x2), Math.abs(m.box.y2 - x.box.y2))
      }
      rows.push({
        photo, device,
        top1Equal: a[0]!.index === b[0]!.index,
        maxScoreDiff: Number(scoreDiff.toExponential(2)),
        detections: `${db.length} vs cpu ${da.length}`,
        maxBoxDiffPx: Math.round(boxDiff * 100) / 100,
        unmatched,
        pass: a[0]!.index === b[0]!.index && scoreDiff <= 1e-3 && boxDiff <= 1 && unmatched.length === 0 && db.length === da.length
      })
    }
  }
  return rows
}

function runLoad (spec: object): Promise<{ bulk?: Record<string, unknown>, probe?: { sent: number, ok: number, p50: number, p99: number, devices: Record<string, number>, predicted: number[], actual: number[] } }> {
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

const t0 = Date.now()
log(`starting the server (devices cpu, cuda:0) on ${SHARED}`)
const { child, logs } = await startServer()
const results: Record<string, unknown> = { startedAt: new Date().toISOString(), machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version } }
try {
  const models = await (await fetch(`${base}/models`)).json() as { models: Array<{ name: string, devices: Array<{ id: string, kind: string, maxBatchSize: number, cost: { aMs: number, bMs: number }, calibration: Array<{ batchSize: number, ms: number }> }> }>, skippedDevices: Record<string, string> }
  const devices = [...new Set(models.models.flatMap((m) => m.devices.map((d) => d.id)))]
  const cudaWarning = logs.find((l) => l.includes('cuda:0') && /cannot|failed/i.test(l))
  results.devices = devices
  results.skippedDevices = models.skippedDevices
  results.cuda = devices.includes('cuda:0') ? 'present' : `absent: ${models.skippedDevices['cuda:0'] ?? cudaWarning ?? 'unknown'}`
  log(`devices: ${devices.join(', ')}; CUDA ${results.cuda}`)
  results.calibration = models.models.flatMap((m) => m.devices.map((d) => ({ model: m.name, device: d.id, maxBatchSize: d.maxBatchSize, aMs: d.cost.aMs, bMs: d.cost.bMs, points: d.calibration })))

  log('parity: every photo, both routes, pinned to each device')
  const par = await parity(devices)
  results.parity = par

  const before = await (await fetch(`${base}/metrics`)).text()
  const dog = join(SHARED, 'images', 'dog.jpg')
  const loads: Record<string, unknown> = {}
  for (const route of ['detect', 'classify']) {
    log(`load: ${route}, ${CONNECTIONS} throughput connections + a latency probe at ${PROBE_RATE} req/s, ${SECONDS} s`)
    const m0 = await (await fetch(`${base}/metrics`)).text()
    const r = await runLoad({ url: base, image: dog, seconds: SECONDS, bulk: { path: `/${route}`, connections: CONNECTIONS, headers: { 'x-switchyard-policy': 'throughput' } }, probe: { path: `/${route}`, rate: PROBE_RATE, headers: { 'x-switchyard-policy': 'latency' } } })
    const m1 = await (await fetch(`${base}/metrics`)).text()
    const delta = (name: string, by: string, filter: Record<string, string>) => {
      const a = metric(m0, name, by, filter); const b = metric(m1, name, by, filter)
      return Object.fromEntries(Object.keys(b).map((k) => [k, Math.round((b[k]! - (a[k] ?? 0)) * 1000) / 1000]))
    }
    const model = route === 'detect' ? 'yolox-nano-dynamic' : 'mobilenetv2' // int8 on the CPU, fp32 on CUDA
    const batches = delta('switchyard_batch_size_count', 'device', { model })
    const items = delta('switchyard_batch_size_sum', 'device', { model })
    const errSum = delta('switchyard_prediction_error_seconds_sum', 'device', { model })
    const errCount = delta('switchyard_prediction_error_seconds_count', 'device', { model })
    loads[route] = {
      bulk: r.bulk,
      probe: r.probe,
      throughputDecisions: delta('switchyard_routing_decisions_total', 'device', { model, policy: 'throughput' }),
      latencyDecisions: delta('switchyard_routing_decisions_total', 'device', { model, policy: 'latency' }),
      meanBatchSize: Object.fromEntries(Object.keys(batches).map((d) => [d, batches[d] ? Math.round(items[d]! / batches[d]! * 10) / 10 : 0])),
      meanPredictionErrorMs: Object.fromEntries(Object.keys(errCount).map((d) => [d, errCount[d] ? Math.round(errSum[d]! / errCount[d]! * 10000) / 10 : 0])),
      rejected: delta('switchyard_rejected_requests_total', 'reason', { model })
    }
  }
  results.load = loads
  results.metricsBefore = before.length
  const rows = [
    ...(results.calibration as Array<Record<string, unknown>>).map((c) => `calib  ${String(c.model).padEnd(20)} ${String(c.device).padEnd(7)} a=${c.aMs} ms b=${c.bMs} ms (max batch ${c.maxBatchSize})`),
    `parity ${par.length === 0 ? 'no second device: nothing to compare' : `${par.filter((p) => p.pass).length}/${par.length} photo×device pairs within tolerance`}`,
    ...Object.entries(loads).map(([route, l]) => {
      const x = l as { bulk: { rps: number, p50: number, p99: number, non2xx: number }, probe: { p50: number, p99: number, devices: Record<string, number> }, throughputDecisions: Record<string, number>, meanBatchSize: Record<string, number>, meanPredictionErrorMs: Record<string, number> }
      return `load   ${route.padEnd(8)} bulk ${x.bulk.rps} req/s p50 ${x.bulk.p50} p99 ${x.bulk.p99} ms non2xx ${x.bulk.non2xx} | served by ${JSON.stringify(x.throughputDecisions)} batch ${JSON.stringify(x.meanBatchSize)} | probe p50 ${x.probe.p50} p99 ${x.probe.p99} ms on ${JSON.stringify(x.probe.devices)} | pred err ${JSON.stringify(x.meanPredictionErrorMs)} ms`
    })
  ]
  results.summary = rows
  mkdirSync(OUT, { recursive: true })
  writeFileSync(join(OUT, 'gpu-check.json'), JSON.stringify(results, null, 2))
  process.stdout.write(`\nSwitchyard GPU check (${Math.round((Date.now() - t0) / 1000)} s; CUDA ${results.cuda})\n${rows.join('\n')}\nfull results: ${join(OUT, 'gpu-check.json')}\n`)
} finally {
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  if (!existsSync(join(OUT, 'gpu-check.json'))) process.stderr.write(logs.slice(-30).join('\n') + '\n')
}
