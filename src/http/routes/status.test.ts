// /healthz, /readyz, /models, /metrics on a real server.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import t from 'tap'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { SHARED_IMAGES, startServer } from '../../test-support/server.js'

// two workers: only the first calibrates, and the lanes (with their calibration) must be its
const server = await startServer(t, {
  // yolox-nano as exported (batch 1): the static cap; yolox-nano-dynamic freed at load
  models: { enabled: ['mobilenetv2', 'yolox-nano', 'yolox-nano-dynamic'], staticBatch: ['yolox-nano'] },
  // one intra-op thread per worker, on any machine: an inference is then one thread's work, as
  // the main thread's share of a request is (see the event-loop test)
  devices: [{ id: 'cpu', kind: 'cpu', required: true, maxBatchSize: 4, workers: 2, intraOpThreads: 1 }]
})
const { app } = server
const dog = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))

t.test('/healthz and /readyz', async (t) => {
  t.same((await app.inject('/healthz')).json(), { status: 'ok' })
  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 200)
  t.same(ready.json().models, { mobilenetv2: true, 'yolox-nano': true, 'yolox-nano-dynamic': true })
})

t.test('/models reads the batch dimension from the session', async (t) => {
  const { models } = (await app.inject('/models')).json()
  const by = Object.fromEntries(models.map((m: { name: string }) => [m.name, m]))
  t.match(by.mobilenetv2, { task: 'classify', ready: true, labels: 1000, input: { name: 'input', shape: ['batch_size', 3, 224, 224], dynamicBatch: true } })
  t.match(by['yolox-nano'], { task: 'detect', labels: 80, input: { name: 'images', shape: [1, 3, 416, 416], dynamicBatch: false } })
  t.match(by['yolox-nano-dynamic'], { input: { shape: ['batch', 3, 416, 416], dynamicBatch: true } })
  t.equal(by['yolox-nano'].devices[0].maxBatchSize, 1, 'a static batch dimension caps the batch at 1')
  t.equal(by['yolox-nano-dynamic'].devices[0].maxBatchSize, 4, 'a dynamic one keeps the device setting')
  t.match(by['yolox-nano-dynamic'].devices[0], { id: 'cpu', kind: 'cpu', healthy: true, cost: { aMs: Number, bMs: Number } })
  t.ok(by['yolox-nano-dynamic'].devices[0].calibration.length >= 2, 'calibrated at several batch sizes')
  t.ok(by.mobilenetv2.devices[0].cost.bMs > 0, 'the cost model is seeded from the calibration')
})

t.test('/metrics parses as Prometheus text and moves when requests are served', async (t) => {
  // the value of the first sample `name{...}` whose labels include `labels` (histograms: name_count)
  const count = (text: string, name: string, labels: Record<string, string>): number => {
    for (const line of text.split('\n')) {
      const m = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
      if (!m || (m[1] !== name && m[1] !== `${name}_count`)) continue
      const got = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]))
      if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3])
    }
    return 0
  }
  const before = (await app.inject('/metrics')).body
  const labels = { route: '/classify', model: 'mobilenetv2', device: 'cpu', status: '200' }
  const before200 = count(before, 'switchyard_http_requests_total', labels)
  for (let i = 0; i < 3; i++) await app.inject({ method: 'POST', url: '/classify', payload: dog, headers: { 'content-type': 'image/jpeg' } })
  await app.inject({ method: 'POST', url: '/classify', payload: Buffer.from('nope'), headers: { 'content-type': 'image/jpeg' } })
  const res = await app.inject('/metrics')
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const after = res.body
  const families = parsePrometheusTextFormat(after)
  t.equal(count(after, 'switchyard_http_requests_total', labels) - before200, 3, 'three 200s counted')
  t.equal(count(after, 'switchyard_http_requests_total', { route: '/classify', status: '400' }), 1, 'the bad one counted as 400')
  const hist = { device: 'cpu', model: 'mobilenetv2', policy: 'latency' }
  for (const h of ['switchyard_decode_duration_seconds', 'switchyard_inference_duration_seconds', 'switchyard_request_duration_seconds', 'switchyard_queue_wait_duration_seconds']) {
    t.ok(count(after, h, hist) >= 3, `${h} has observations`)
    t.equal(families.find((f) => f.name === h)?.type, 'HISTOGRAM')
  }
  t.equal(count(after, 'switchyard_queue_depth', { device: 'cpu', model: 'mobilenetv2' }), 0)
  t.equal(count(after, 'switchyard_device_healthy', { device: 'cpu' }), 1)
  t.equal(count(after, 'switchyard_model_ready', { model: 'yolox-nano' }), 1)
  t.ok(count(after, 'switchyard_cost_slope_seconds', { device: 'cpu', model: 'yolox-nano-dynamic' }) > 0, 'fitted slope exported')
  t.ok(families.some((f) => f.name === 'switchyard_process_cpu_seconds_total'), 'default process metrics')
  for (const f of families) t.match(f.name, /^switchyard_[a-z0-9_]+$/, `${f.name} follows the naming convention`)
})

t.test('inference runs off the main thread: the event loop stays responsive', async (t) => {
  // What is measured here, and against what. While 16 detections are served, the main thread's
  // event loop is busy (not waiting for I/O) for eventLoopUtilization().active ms: HTTP,
  // routing, handing pixels to a worker, JSON. Had the runs been on this thread instead,
  // session.run() would have blocked it for every one of them: busy time ≥ the sum of the
  // inference times the workers measured (batch size 1, the YOLOX file's batch dimension is
  // static, so that sum counts each run once). Both are measured in this test, on this machine,
  // under whatever load it carries; each run uses one intra-op thread, so a faster, slower,
  // busier or wider machine stretches or shrinks both alike: the verdict is a ratio of two
  // measurements, with no time constant. (The event-loop delay percentiles are reported, not
  // judged: a single preemption or GC pause moves them, whatever the code does.)
  const elu = performance.eventLoopUtilization()
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  const detect = () => app.inject({ method: 'POST', url: '/detect', payload: dog, headers: { 'content-type': 'image/jpeg' } })
  const res = await Promise.all(Array.from({ length: 16 }, detect))
  h.disable()
  const busy = performance.eventLoopUtilization(elu)
  t.ok(res.every((r) => r.statusCode === 200), '16 detections served')
  t.ok(res.every((r) => r.json().batchSize === 1), 'each run was one image')
  const inferMs = res.reduce((s, r) => s + r.json().timing.inferenceMs, 0)
  t.ok(inferMs > 0, 'the workers measured their runs')
  t.ok(busy.active < inferMs / 2,
    `event loop busy ${busy.active.toFixed(0)} ms < half the ${inferMs.toFixed(0)} ms of inference that ran meanwhile ` +
    `(utilisation ${(busy.utilization * 100).toFixed(0)}%; delay p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms, max ${(h.max / 1e6).toFixed(1)} ms)`)
})
