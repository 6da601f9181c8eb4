// Router arithmetic on simulated devices with known service times (router.ts has the model).
import t from 'tap'
import { CostModel } from './cost-model.js'
import { route, type DeviceView, type LaneView } from './router.js'

interface Sim { id: string, a: number, b: number, max: number, workers?: number, latencyWorkers?: number, busyOthers?: number, latencyQ?: number, bulkQ?: number, residual?: number, maxQueue?: number, healthy?: boolean, delay?: number }

function sim (s: Sim): DeviceView {
  const cost = new CostModel(8)
  cost.observe(1, s.a + s.b); cost.observe(s.max, s.a + s.b * s.max)
  const latency = { length: s.latencyQ ?? 0 }
  const throughput = { length: s.bulkQ ?? 0 }
  const lane: LaneView = {
    model: 'm',
    maxBatchSize: s.max,
    maxQueue: s.maxQueue ?? 100_000,
    delayMs: { latency: 0, throughput: s.delay ?? 5 },
    queue: { latency, throughput, size: latency.length + throughput.length },
    cost
  }
  const residuals = Array.from({ length: s.workers ?? 1 }, (_, i) => i === 0 ? s.residual ?? 0 : s.busyOthers ?? 0)
  return { id: s.id, healthy: s.healthy ?? true, latencyWorkers: s.latencyWorkers ?? 0, residualsMs: () => residuals, lanes: new Map([['m', lane]]) }
}

// A GPU: 4 ms fixed, 0.25 ms per image, batches of 32 → 32/12 = 2.67 img/ms, t(1) = 4.25 ms.
// A CPU: no fixed cost, 6 ms per image, batches of 8 → 0.17 img/ms, t(1) = 6 ms.
const gpu = (o: Partial<Sim> = {}): DeviceView => sim({ id: 'cuda:0', a: 4, b: 0.25, max: 32, ...o })
const cpu = (o: Partial<Sim> = {}): DeviceView => sim({ id: 'cpu', a: 0, b: 6, max: 8, ...o })
const req = (policy: 'latency' | 'throughput', deadlineMs = 10_000, extra = {}) => ({ model: 'm', policy, deadlineMs, ...extra })

t.test('latency goes to the earliest predicted finish', async (t) => {
  const d = route([cpu(), gpu()], req('latency'), 0)
  t.match(d, { ok: true, device: 'cuda:0', reason: 'earliest-finish' })
  t.ok(d.ok && Math.abs(d.predictedMs - 4.25) < 1e-9, 'predicts t(1) on an idle GPU')
})

t.test('queue depth shifts a latency request to the idle device', async (t) => {
  // 2 latency items queued on the GPU: ⌈2/32⌉·4 + 2·0.25 = 4.5 ms of wait, + 4.25 = 8.75 > 6
  t.match(route([cpu(), gpu({ latencyQ: 2 })], req('latency'), 0), { ok: true, device: 'cpu' })
  // a running batch counts too
  t.match(route([cpu(), gpu({ residual: 3 })], req('latency'), 0), { ok: true, device: 'cpu' })
  t.match(route([cpu(), gpu({ residual: 1 })], req('latency'), 0), { ok: true, device: 'cuda:0' })
})

t.test('a latency request does not count throughput work queued ahead of it', async (t) => {
  // it jumps the bulk queue, so 500 queued bulk images do not make the GPU slower for it
  t.match(route([cpu(), gpu({ bulkQ: 500 })], req('latency'), 0), { ok: true, device: 'cuda:0' })
})

t.test('throughput goes to the best images-per-ms device', async (t) => {
  // even when the CPU would finish this one image sooner
  t.match(route([cpu(), gpu({ bulkQ: 64 })], req('throughput'), 0), { ok: true, device: 'cuda:0', reason: 'best-throughput' })
})

t.test('...unless it cannot meet the deadline there', async (t) => {
  // 320 bulk items ahead on the GPU: 10·4 + 320·0.25 = 120 ms of wait
  t.match(route([cpu(), gpu({ bulkQ: 320 })], req('throughput', 50), 0), { ok: true, device: 'cpu' })
  t.match(route([cpu(), gpu({ bulkQ: 320 })], req('throughput', 500), 0), { ok: true, device: 'cuda:0' })
})

t.test('no device can meet the deadline: early 429 with a sane Retry-After', async (t) => {
  const d = route([cpu({ bulkQ: 400 }), gpu({ bulkQ: 8000 })], req('throughput', 100), 0)
  t.match(d, { ok: false, status: 429, reason: 'deadline' })
  // the GPU drains 8000 images in 250·4 + 8000·0.25 = 3000 ms; the CPU 400·6 = 2400 ms
  t.ok(!d.ok && d.retryAfterS === 3, `Retry-After ${!d.ok && d.retryAfterS} s = the smallest drain time, rounded up`)
})

t.test('full queues are not candidates; all full → 429 queue-full', async (t) => {
  t.match(route([cpu(), gpu({ bulkQ: 100, maxQueue: 100 })], req('throughput'), 0), { ok: true, device: 'cpu' })
  t.match(route([cpu({ bulkQ: 10, maxQueue: 10 }), gpu({ bulkQ: 100, maxQueue: 100 })], req('throughput'), 0), { ok: false, status: 429, reason: 'queue-full' })
})

t.test('unhealthy devices are skipped; none healthy → 503', async (t) => {
  t.match(route([cpu(), gpu({ healthy: false })], req('latency'), 0), { ok: true, device: 'cpu' })
  t.match(route([cpu({ healthy: false }), gpu({ healthy: false })], req('latency'), 0), { ok: false, status: 503, reason: 'no-healthy-device' })
})

t.test('pinning and retries', async (t) => {
  t.match(route([cpu(), gpu()], req('latency', 10_000, { pinned: 'cpu' }), 0), { ok: true, device: 'cpu', reason: 'pinned' })
  t.match(route([cpu(), gpu()], req('latency', 10_000, { pinned: 'cuda:7' }), 0), { ok: false, status: 404, reason: 'unknown-device' })
  t.match(route([cpu(), gpu()], req('latency', 10_000, { exclude: ['cuda:0'] }), 0), { ok: true, device: 'cpu', reason: 'retry' })
  t.match(route([cpu()], req('latency', 10_000, { exclude: ['cpu'] }), 0), { ok: false, status: 503 })
})

t.test('more workers drain a queue faster', async (t) => {
  // 8 latency items ahead: one worker → 48 ms wait, two workers → 24 ms
  const one = route([cpu({ id: 'one', latencyQ: 8 })], req('latency'), 0)
  const two = route([cpu({ id: 'two', latencyQ: 8, workers: 2 })], req('latency'), 0)
  t.ok(one.ok && two.ok && Math.abs(one.predictedMs - 54) < 1e-9 && Math.abs(two.predictedMs - 30) < 1e-9, 'wait is divided among workers')
})

t.test('a latency request waits for the first free worker; a throughput one shares the rest', async (t) => {
  // two workers, worker 0 reserved for latency and idle, worker 1 busy for 40 ms more
  const d = cpu({ workers: 2, latencyWorkers: 1, residual: 0, busyOthers: 40 })
  const lat = route([d], req('latency'), 0)
  t.ok(lat.ok && lat.predictedMs === 6, 'latency: starts at once on the reserved worker')
  const bulk = route([d], req('throughput'), 0)
  // only worker 1 takes bulk: 40 ms left, then its own batch of one (5 ms delay + 6 ms)
  t.ok(bulk.ok && bulk.predictedMs === 51, `throughput: waits for the general worker (${bulk.ok && bulk.predictedMs})`)
})
