// Routing on the real models and worker threads: faults, retries, batching, headers. Every
// verdict here holds on an idle, a loaded or a fast machine: where placement would depend on
// learned costs, requests are pinned; the placement rules themselves are tested exactly on a
// virtual clock (router.test.ts, devices/scheduler.test.ts, sim/).
// Two CPU device profiles stand in for two devices:
//   cpu-latency: 1 intra-op thread, no batching
//   cpu-bulk:    2 threads, batches of up to 8 after a 20 ms batch delay
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { realClock } from '../devices/clock.js'
import { loadModel } from '../models/model-repository.js'
import { decodeImage } from '../preprocess/decode-image.js'
import { PHOTOS, REPO, SHARED_IMAGES, SHARED_MODELS, startServer, testConfig } from '../test-support/server.js'
import type { QueuedItem } from '../devices/request-queue.js'
import { Dispatcher } from './dispatcher.js'

const photo = (name: string): Buffer => readFileSync(join(SHARED_IMAGES, name))
const jpeg = { 'content-type': 'image/jpeg' }

const profiles = [
  { id: 'cpu-latency', kind: 'cpu', required: true, intraOpThreads: 1, maxBatchSize: 1 },
  { id: 'cpu-bulk', kind: 'cpu', required: true, intraOpThreads: 2, maxBatchSize: 8, batchDelayMs: { latency: 0, throughput: 20 } }
]

t.test('a worker killed mid-batch loses no request', async (t) => {
  // Every request is pinned to cpu-bulk, whose next batch dies with its thread: the fault
  // fires whatever the machine's speed (the old version let requests choose a device by
  // learned costs, so under load the fault could sit on a device nobody used). Placement
  // and retry arithmetic are pinned exactly on a virtual clock in devices/scheduler.test.ts;
  // this test proves the same on real worker threads and models.
  // cpu-bulk has two workers, so it stays healthy (and pinnable) while one is replaced; the
  // fault sits on its first worker, which the scheduler fills first
  const devices2 = profiles.map((p) => ({ ...p, maxBatchSize: 4, batchDelayMs: { latency: 0, throughput: 10 }, ...(p.id === 'cpu-bulk' ? { workers: 2, intraOpThreads: 1 } : {}) }))
  const server = await startServer(t, { devices: devices2 }, { deviceOptions: { allowFaults: true, restartBackoffMs: { initial: 50, max: 500 } } })
  const { app, devices } = server
  const bytes = photo('person.jpg')
  const reference = (await app.inject({ method: 'POST', url: '/classify', payload: bytes, headers: jpeg })).json().predictions
  devices.get('cpu-bulk')!.injectFault('exit') // its next batch dies with the thread
  const res = await Promise.all(Array.from({ length: 12 }, () => app.inject({ method: 'POST', url: '/classify', payload: bytes, headers: { ...jpeg, 'x-switchyard-policy': 'throughput', 'x-switchyard-device': 'cpu-bulk' } })))
  t.same(res.map((r) => r.statusCode), Array(12).fill(200), 'every request answered 200')
  t.ok(res.every((r) => JSON.stringify(r.json().predictions) === JSON.stringify(reference)), 'with the right answer')
  const retried = res.filter((r) => r.headers['x-switchyard-device'] === 'cpu-latency').length
  t.ok(retried >= 1, `the failed batch was retried on the other device (${retried} requests)`)
  const metrics = (await app.inject('/metrics')).body
  const m = /switchyard_batch_retries_total\{device="cpu-bulk",model="mobilenetv2"\} (\d+)/.exec(metrics)
  t.equal(Number(m?.[1]), retried, 'each retry counted against the device that failed')
  // the dead worker is replaced in the background and the device comes back
  for (let i = 0; i < 400 && devices.get('cpu-bulk')!.scheduler.liveWorkers < 2; i++) await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(devices.get('cpu-bulk')!.scheduler.liveWorkers, 2, 'a replacement worker started')
  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 200)
  t.same(ready.json().devices, { 'cpu-latency': 'healthy', 'cpu-bulk': 'healthy' })
  const pinned = await app.inject({ method: 'POST', url: '/classify', payload: bytes, headers: { ...jpeg, 'x-switchyard-device': 'cpu-bulk' } })
  t.equal(pinned.statusCode, 200, 'and serves again')
  t.equal(pinned.headers['x-switchyard-device'], 'cpu-bulk')
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

t.test('batched results equal unbatched results (dynamic-batch YOLOX)', async (t) => {
  const server = await startServer(t, {
    models: { enabled: ['mobilenetv2', 'yolox-nano-dynamic'] },
    routes: { detect: 'yolox-nano-dynamic' },
    devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 1, maxBatchSize: PHOTOS.length, batchDelayMs: { latency: 0, throughput: 1000 } }]
  })
  const { app } = server
  const alone = new Map<string, unknown>()
  for (const p of PHOTOS) {
    const r = await app.inject({ method: 'POST', url: '/detect', payload: photo(p), headers: { ...jpeg, 'x-switchyard-policy': 'latency' } })
    t.equal(r.headers['x-switchyard-batch-size'], '1')
    alone.set(p, r.json().detections)
  }
  // The photos are decoded first and then handed to the dispatcher in one synchronous loop:
  // the batch fills to its limit before any timer can fire, so it is one batch of all seven
  // whatever the machine's speed (through HTTP, decoding times decide who rides together).
  const model = await loadModel(join(REPO, 'models'), 'yolox-nano-dynamic', { localDir: SHARED_MODELS, cacheDir: join(REPO, '.cache/models'), download: false })
  const limits = testConfig().images
  const images = await Promise.all(PHOTOS.map((p) => decodeImage(photo(p), model, limits)))
  const dispatcher = new Dispatcher(server.devices.scheduling, server.metrics, realClock)
  const deadline = realClock.now() + 60_000
  const together = await Promise.all(images.map((image) => dispatcher.dispatch(model.name, image, {}, { policy: 'throughput', deadline })))
  t.same(together.map((d) => d.batchSize), Array(PHOTOS.length).fill(PHOTOS.length), 'served as one batch')
  for (const [i, p] of PHOTOS.entries()) {
    const r = together[i]!.result
    t.same(r.kind === 'detect' ? JSON.parse(JSON.stringify(r.detections)) : null, alone.get(p), `${p}: same detections in a batch as alone`)
  }
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

t.test('routing.strategy switches the real server to a baseline: shared-queue builds one queue per model', async (t) => {
  const server = await startServer(t, {
    routing: { strategy: 'shared-queue' },
    devices: [{ id: 'cpu-a', kind: 'cpu', required: true, workers: 1 }, { id: 'cpu-b', kind: 'cpu', required: true, workers: 1 }]
  })
  const [a, b] = server.devices.schedulers
  t.equal(a!.lanes.get('mobilenetv2')!.queue, b!.lanes.get('mobilenetv2')!.queue, 'both devices consume the same queue (Triton\'s rule)')
  const res = await Promise.all(Array.from({ length: 4 }, () => server.app.inject({ method: 'POST', url: '/classify', payload: photo('dog.jpg'), headers: { ...jpeg, 'x-switchyard-policy': 'throughput' } })))
  t.same(res.map((r) => r.statusCode), [200, 200, 200, 200])
  t.match((await server.app.inject('/metrics')).body, /switchyard_routing_decisions_total\{device="cpu-[ab]",model="mobilenetv2",policy="throughput",reason="shared-queue"\} [1-4]/)

  // GET /models shows the shared queue apart from what is pinned to each device (queued by hand
  // and taken out again; stamped a minute ahead, so that a pump in between — a timer left from the
  // requests above — finds them still gathering a batch and runs none of them)
  const lane = a!.lanes.get('mobilenetv2')!
  const later = realClock.now() + 60_000
  t.ok(lane.maxBatchSize > 2, 'two throughput items are short of a batch')
  const item = (policy: 'latency' | 'throughput', pinned: boolean): QueuedItem => ({ image: { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }, params: {}, policy, deadline: Number.MAX_SAFE_INTEGER, enqueuedAt: later, pinned, resolve () {}, reject () {} })
  const queued = [item('latency', false), item('throughput', false), item('throughput', false), item('throughput', true)]
  for (const q of queued.slice(0, 3)) lane.queue.push(q)
  lane.bound!.push(queued[3]!)
  const devices = (await server.app.inject('/models')).json().models.find((m: { name: string }) => m.name === 'mobilenetv2').devices as Array<{ id: string, queue: unknown }>
  t.same(devices.map((d) => [d.id, d.queue]), [
    ['cpu-a', { latency: 0, throughput: 1, shared: { latency: 1, throughput: 2 }, max: lane.maxQueue }],
    ['cpu-b', { latency: 0, throughput: 0, shared: { latency: 1, throughput: 2 }, max: lane.maxQueue }]
  ], 'each device its pinned items, the shared queue as `shared`')
  for (const q of queued) t.ok(a!.cancel('mobilenetv2', q))
  t.equal(testConfig({}).routing.strategy, 'switchyard', 'the default is switchyard')
})
