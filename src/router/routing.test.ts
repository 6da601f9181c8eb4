// The router on the real models, with two CPU device profiles standing in for two devices:
//   cpu-latency: 1 intra-op thread, no batching
//   cpu-bulk:    2 threads, batches of up to 8 after a 20 ms batch delay
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { buildServer } from '../app.js'
import { PHOTOS, REPO, SHARED_IMAGES, startServer, testConfig } from '../test-support/server.js'

const photo = (name: string): Buffer => readFileSync(join(SHARED_IMAGES, name))
const jpeg = { 'content-type': 'image/jpeg' }

const profiles = [
  { id: 'cpu-latency', kind: 'cpu', required: true, intraOpThreads: 1, maxBatchSize: 1 },
  { id: 'cpu-bulk', kind: 'cpu', required: true, intraOpThreads: 2, maxBatchSize: 8, batchDelayMs: { latency: 0, throughput: 20 } }
]

t.test('mixed traffic is split as the policies say', async (t) => {
  const { app } = await startServer(t, { devices: profiles, routing: { calibrationRuns: 5 }, models: { enabled: ['mobilenetv2', 'yolox-nano-dynamic'] }, routes: { detect: 'yolox-nano-dynamic' } })
  const bytes = photo('dog.jpg')
  let outstanding = 48
  const bulk = Array.from({ length: 48 }, () => app.inject({ method: 'POST', url: '/detect', payload: bytes, headers: { ...jpeg, 'x-switchyard-policy': 'throughput' } }).finally(() => { outstanding-- }))
  await new Promise((resolve) => setTimeout(resolve, 150)) // let the bulk queue build
  const probes = []
  while (outstanding > 16) {
    probes.push(await app.inject({ method: 'POST', url: '/detect', payload: bytes, headers: { ...jpeg, 'x-switchyard-policy': 'latency' } }))
  }
  const bulkRes = await Promise.all(bulk)
  t.ok(bulkRes.every((r) => r.statusCode === 200), 'every bulk request answered 200')
  // two CPU profiles share two cores, so their measured costs move with the load; the split
  // is asserted as a clear majority, which random or FIFO placement would not give
  const onBulk = bulkRes.filter((r) => r.headers['x-switchyard-device'] === 'cpu-bulk').length
  t.ok(onBulk >= 0.8 * bulkRes.length, `throughput requests go to the best-throughput device (${onBulk}/${bulkRes.length})`)
  t.ok(bulkRes.some((r) => Number(r.headers['x-switchyard-batch-size']) > 1), 'and are batched there')
  t.ok(probes.length >= 3, `${probes.length} latency probes sent while the bulk load ran`)
  t.ok(probes.every((r) => r.statusCode === 200 && r.headers['x-switchyard-batch-size'] === '1'), 'probes are answered alone, never batched')
  // A probe goes wherever it is predicted to finish first: the latency device when the bulk
  // device is running a batch, the bulk device when it is between batches (a latency item
  // never waits behind a forming bulk batch). Either way it skips the bulk queue.
  const onLatency = probes.filter((r) => r.headers['x-switchyard-device'] === 'cpu-latency').length
  t.ok(onLatency >= probes.length / 3, `latency probes use the idle device while bulk traffic stays on its own (${onLatency}/${probes.length})`)
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const probeWait = median(probes.map((r) => r.json().timing.queueMs))
  const bulkWait = median(bulkRes.map((r) => r.json().timing.queueMs))
  t.ok(probeWait < bulkWait, `probes skip the bulk queue: median queue wait ${probeWait} ms vs bulk ${bulkWait} ms`)
  const metrics = (await app.inject('/metrics')).body
  t.match(metrics, /switchyard_routing_decisions_total\{device="cpu-bulk",model="yolox-nano-dynamic",policy="throughput",reason="best-throughput"\} (39|4[0-8])/)
  t.match(metrics, /switchyard_routing_decisions_total\{device="cpu-latency",model="yolox-nano-dynamic",policy="latency",reason="earliest-finish"\} [1-9]/)
})

t.test('a worker killed mid-batch loses no request', async (t) => {
  const server = await startServer(t, { devices: profiles.map((p) => ({ ...p, maxBatchSize: 4, batchDelayMs: { latency: 0, throughput: 10 } })) }, { deviceOptions: { allowFaults: true, restartBackoffMs: { initial: 50, max: 500 } } })
  const { app, devices } = server
  const bytes = photo('person.jpg')
  const reference = (await app.inject({ method: 'POST', url: '/classify', payload: bytes, headers: jpeg })).json().predictions
  devices.get('cpu-bulk')!.injectFault('exit') // its next batch dies with the thread
  const res = await Promise.all(Array.from({ length: 12 }, () => app.inject({ method: 'POST', url: '/classify', payload: bytes, headers: { ...jpeg, 'x-switchyard-policy': 'throughput' } })))
  t.same(res.map((r) => r.statusCode), Array(12).fill(200), 'every request answered 200')
  t.ok(res.every((r) => JSON.stringify(r.json().predictions) === JSON.stringify(reference)), 'with the right answer')
  t.ok(res.some((r) => r.headers['x-switchyard-device'] === 'cpu-latency'), 'the failed batch was retried on the other device')
  const metrics = (await app.inject('/metrics')).body
  t.match(metrics, /switchyard_batch_retries_total\{device="cpu-bulk",model="mobilenetv2"\} [1-9]/)
  // the dead worker is replaced in the background and the device comes back
  for (let i = 0; i < 200 && devices.get('cpu-bulk')!.liveWorkers === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(devices.get('cpu-bulk')!.liveWorkers, 1, 'a replacement worker started')
  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 200)
  t.same(ready.json().devices, { 'cpu-latency': 'healthy', 'cpu-bulk': 'healthy' })
  const pinned = await app.inject({ method: 'POST', url: '/classify', payload: bytes, headers: { ...jpeg, 'x-switchyard-device': 'cpu-bulk' } })
  t.equal(pinned.statusCode, 200, 'and serves again')
})

t.test('a failing run with nowhere to retry is a 503 naming the failure, then the device serves again', async (t) => {
  const server = await startServer(t, {}, { deviceOptions: { allowFaults: true } })
  server.devices.get('cpu')!.injectFault('throw')
  const res = await server.app.inject({ method: 'POST', url: '/classify', payload: photo('dog.jpg'), headers: jpeg })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '1')
  t.match(res.json(), { error: 'SY_INFERENCE_FAILED', message: /injected fault/ })
  const again = await server.app.inject({ method: 'POST', url: '/classify', payload: photo('dog.jpg'), headers: jpeg })
  t.equal(again.statusCode, 200)
})

t.test('CUDA requested on a machine without it: one warning, CPU service', async (t) => {
  const lines: string[] = []
  const logStream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const config = testConfig({ server: { logLevel: 'warn' }, devices: [{ id: 'cpu', kind: 'cpu', required: true }, { id: 'cuda:0', kind: 'cuda', deviceId: 0 }] })
  const server = await buildServer(config, { root: REPO, logStream })
  t.teardown(() => server.close())
  const warnings = lines.filter((l) => l.includes('cuda:0'))
  t.equal(warnings.length, 1, 'exactly one warning names the device')
  t.match(warnings[0], /CUDA execution provider cannot be loaded.*running without cuda:0/)
  const res = await server.app.inject({ method: 'POST', url: '/classify', payload: photo('eagle.jpg'), headers: jpeg })
  t.equal(res.headers['x-switchyard-device'], 'cpu')
  t.match((await server.app.inject('/models')).json().skippedDevices, { 'cuda:0': /cannot be loaded/ })
  const pinned = await server.app.inject({ method: 'POST', url: '/classify', payload: photo('eagle.jpg'), headers: { ...jpeg, 'x-switchyard-device': 'cuda:0' } })
  t.equal(pinned.statusCode, 404, 'pinning the absent device is a 404')
})

t.test('CUDA marked required on a machine without it: startup fails naming the cause', async (t) => {
  const config = testConfig({ devices: [{ id: 'cpu', kind: 'cpu' }, { id: 'cuda:0', kind: 'cuda', required: true }] })
  await t.rejects(buildServer(config, { root: REPO }), /required device cuda:0 failed to start: .*CUDA execution provider cannot be loaded/)
})

t.test('batched results equal unbatched results (dynamic-batch YOLOX)', async (t) => {
  const { app } = await startServer(t, {
    models: { enabled: ['mobilenetv2', 'yolox-nano-dynamic'] },
    routes: { detect: 'yolox-nano-dynamic' },
    devices: [{ id: 'cpu', kind: 'cpu', required: true, maxBatchSize: 8, batchDelayMs: { latency: 0, throughput: 200 } }]
  })
  const alone = new Map<string, unknown>()
  for (const p of PHOTOS) {
    const r = await app.inject({ method: 'POST', url: '/detect', payload: photo(p), headers: { ...jpeg, 'x-switchyard-policy': 'latency' } })
    t.equal(r.headers['x-switchyard-batch-size'], '1')
    alone.set(p, r.json().detections)
  }
  const together = await Promise.all(PHOTOS.map((p) => app.inject({ method: 'POST', url: '/detect', payload: photo(p), headers: { ...jpeg, 'x-switchyard-policy': 'throughput' } })))
  t.ok(together.every((r) => Number(r.headers['x-switchyard-batch-size']) > 1), `served in batches (${together.map((r) => r.headers['x-switchyard-batch-size']).join(',')})`)
  for (const [i, p] of PHOTOS.entries()) t.same(together[i]!.json().detections, alone.get(p), `${p}: same detections in a batch as alone`)
})

t.test('invalid routing headers are 400s naming the header', async (t) => {
  const { app } = await startServer(t)
  for (const [name, value] of [['x-switchyard-policy', 'fast'], ['x-switchyard-deadline-ms', '-5'], ['x-switchyard-deadline-ms', 'soon'], ['x-switchyard-device', 'GPU 0!']]) {
    const r = await app.inject({ method: 'POST', url: '/classify', payload: photo('dog.jpg'), headers: { ...jpeg, [name!]: value! } })
    t.equal(r.statusCode, 400, `${name}: ${value}`)
    t.match(r.json(), { error: 'SY_INVALID_HEADER', message: new RegExp(name!.replace(/^x/, 'X').replace(/-(\w)/g, (_m, c: string) => `-${c.toUpperCase()}`).replace('-Ms', '-Ms')) })
  }
})

t.test('a deadline no device can meet is refused at once with Retry-After', async (t) => {
  const { app } = await startServer(t)
  const r = await app.inject({ method: 'POST', url: '/detect', payload: photo('dog.jpg'), headers: { ...jpeg, 'x-switchyard-deadline-ms': '1' } })
  t.equal(r.statusCode, 429)
  t.match(r.json(), { error: 'SY_DEADLINE_UNMEETABLE' })
  t.ok(Number(r.headers['retry-after']) >= 1)
  t.match((await app.inject('/metrics')).body, /switchyard_rejected_requests_total\{device="",model="yolox-nano",policy="latency",reason="deadline"\} 1/)
})
