// Router arithmetic on simulated devices with known service times (router.ts has the model).
// Each device is a real Scheduler (a SimDevice's, on a virtual clock): its worker slots — which
// are alive, which take throughput work — are the scheduler's own, never a copy of its rule;
// queued items and running batches are set as the scheduler holds them mid-run.
import t from 'tap'
import { VirtualClock } from '../devices/clock.js'
import { RequestQueue, type QueuedItem } from '../devices/request-queue.js'
import type { Scheduler } from '../devices/scheduler.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { predict, route, Router, type DeviceView } from './router.js'

interface Sim { id: string, a: number, b: number, max: number, workers?: number, latencyWorkers?: number, busyOthers?: number, dead?: number[], inFlight?: number, latencyQ?: number, bulkQ?: number, residual?: number, maxQueue?: number, healthy?: boolean, delay?: number, queue?: RequestQueue, pool?: RequestQueue }

const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }
const queued = (policy: 'latency' | 'throughput'): QueuedItem => ({ image: IMAGE, params: {}, policy, deadline: 60_000, enqueuedAt: 0, resolve () {}, reject () {} })

function sim (s: Sim): Scheduler {
  const sim = new SimDevice({
    id: s.id,
    workers: s.workers ?? 1,
    latencyWorkers: s.latencyWorkers ?? 0,
    maxQueue: s.maxQueue ?? 100_000,
    batchDelayMs: { latency: 0, throughput: s.delay ?? 5 },
    // calibrated at n = 1, 2, 4, … max on t(n) = a + b·n: the cost model fits a and b exactly
    models: { m: { a: s.a, b: s.b, maxBatchSize: s.max } }
  }, new VirtualClock(), seededRandom(1), s.queue ? { sharedQueues: new Map([['m', s.queue]]) } : s.pool ? { pools: new Map([['m@default', s.pool]]) } : {})
  const device = sim.scheduler
  // workers that died (their replacements pending: the clock never moves here)
  for (const i of s.healthy === false ? device.workers.map((w) => w.index) : s.dead ?? []) sim.executors.started[i]!.kill()
  // work queued and running, put where the scheduler keeps it, without running it
  const lane = device.lanes.get('m')!
  for (let i = 0; i < (s.latencyQ ?? 0); i++) lane.queue.push(queued('latency'))
  for (let i = 0; i < (s.bulkQ ?? 0); i++) lane.queue.push(queued('throughput'))
  lane.inFlight = s.inFlight ?? 0
  device.workers.forEach((w, i) => { if (w.alive) w.busyUntil = i === 0 ? s.residual ?? 0 : s.busyOthers ?? 0 })
  return device
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
  // 40 latency items queued on the GPU (batches of 32): a full batch t(32) = 12 ms runs first,
  // then this one with the other 8, t(9) = 6.25 ms: 18.25 > 6
  t.match(route([cpu(), gpu({ latencyQ: 40 })], req('latency'), 0), { ok: true, device: 'cpu' })
  // a running batch counts too
  t.match(route([cpu(), gpu({ residual: 3 })], req('latency'), 0), { ok: true, device: 'cpu' })
  t.match(route([cpu(), gpu({ residual: 1 })], req('latency'), 0), { ok: true, device: 'cuda:0' })
})

t.test('a latency request joins the latency batch queued ahead of it: it adds b there, not a second a', async (t) => {
  // the GPU's worker is busy for 1 ms more, 2 latency items of the model wait for it; the
  // batcher sends them with this one as one batch: 1 + t(3) = 1 + 4 + 3·0.25 = 5.75 ms, before
  // the idle CPU's 6 ms. (Counted as a batch of 2 ahead and then a batch of its own —
  // 1 + (4 + 0.5) + 4.25 = 9.75 ms — it went to the CPU, and on a GPU fleet every latency
  // item that found one queued went to a slower device, in batches of one.)
  const d = route([cpu(), gpu({ latencyQ: 2, residual: 1 })], req('latency'), 0)
  t.match(d, { ok: true, device: 'cuda:0', reason: 'earliest-finish' })
  t.ok(d.ok && Math.abs(d.predictedMs - 5.75) < 1e-9, 'predicts the residual and the batch it joins')
  // a full batch ahead is waited for whole: 31 queued + this one = t(32) = 12 ms, at 0 + 12
  const full = route([gpu({ latencyQ: 31 })], req('latency'), 0)
  t.ok(full.ok && Math.abs(full.predictedMs - 12) < 1e-9, 'the last place of a batch')
  const next = route([gpu({ latencyQ: 32 })], req('latency'), 0)
  t.ok(next.ok && Math.abs(next.predictedMs - (12 + 4.25)) < 1e-9, 'a full batch, then one of its own')
  // on two workers the full batches ahead share them: 16 queued on a CPU of batches of 8, two
  // workers busy 10 ms → 10 + 2·t(8)/2 = 58 ms, then a batch of 1: + 6 = 64 ms
  const two = route([cpu({ workers: 2, latencyQ: 16, residual: 10, busyOthers: 10 })], req('latency'), 0)
  t.ok(two.ok && Math.abs(two.predictedMs - 64) < 1e-9, 'full batches over the workers')
})

t.test('a worker past its predicted end is not idle: its overrun so far counts as what it still needs', async (t) => {
  // the GPU's batch was to end at 10 ms; at 30 ms it still runs (the device slowed down, and
  // the cost model has not seen it yet): counted as free it would take the latency request
  // (4.25 ms), counted with its 20 ms overrun it finishes at 24.25 ms and the idle CPU (6 ms) does
  const late = route([cpu(), gpu({ residual: 10 })], req('latency'), 30)
  t.match(late, { ok: true, device: 'cpu' })
  // the estimate grows from 0 at the predicted end: just past it, the GPU still wins
  t.match(route([cpu(), gpu({ residual: 10 })], req('latency'), 11), { ok: true, device: 'cuda:0' })
  const gpuAlone = route([gpu({ residual: 10 })], req('latency'), 30)
  t.ok(gpuAlone.ok && Math.abs(gpuAlone.predictedMs - 24.25) < 1e-9, 'predicts the overrun, then t(1)')
})

t.test('a latency request does not count throughput work queued ahead of it', async (t) => {
  // it jumps the bulk queue, so 500 queued bulk images do not make the GPU slower for it
  t.match(route([cpu(), gpu({ bulkQ: 500 })], req('latency'), 0), { ok: true, device: 'cuda:0' })
})

t.test('throughput goes to the best images-per-ms device while it is less than one of its batches behind', async (t) => {
  // GPU t(32) = 12 ms. 64 bulk items ahead: 2·4 + 64·0.25 = 24 ms of wait, + t(32) = 36 ms;
  // the idle CPU would finish this one image in 5 + 6 = 11 ms: 36 ≤ 11 + 12? no → but first
  // with 16 ahead: 4 + 4 = 8 ms wait + 12 = 20 ≤ 11 + 12 → the GPU, though the CPU is sooner
  t.match(route([cpu(), gpu({ bulkQ: 16 })], req('throughput'), 0), { ok: true, device: 'cuda:0', reason: 'best-throughput' })
})

t.test('...and work flows to the next device once the efficient one is backed up (work-conserving)', async (t) => {
  // 64 ahead on the GPU: finish 36 ms > 11 + 12 → the CPU takes it, long before any deadline
  t.match(route([cpu(), gpu({ bulkQ: 64 })], req('throughput'), 0), { ok: true, device: 'cpu', reason: 'overflow' })
  // the old rule (best images-per-ms meeting the deadline) kept the GPU here until the 30 s
  // deadline bit; the threshold is one GPU batch-time, not the deadline:
  t.match(route([cpu(), gpu({ bulkQ: 320 })], req('throughput', 30_000), 0), { ok: true, device: 'cpu' })
  // ...and a busy CPU (its one worker 100 ms from free) sends work back to the GPU
  t.match(route([cpu({ residual: 100 }), gpu({ bulkQ: 64 })], req('throughput'), 0), { ok: true, device: 'cuda:0' })
})

t.test('a deadline only the slower device can meet goes there', async (t) => {
  // 320 bulk items ahead on the GPU: 10·4 + 320·0.25 = 120 ms of wait
  t.match(route([cpu(), gpu({ bulkQ: 320 })], req('throughput', 50), 0), { ok: true, device: 'cpu' })
})

t.test('baseline strategies place as their names say', async (t) => {
  const devices = (): DeviceView[] => [cpu({ bulkQ: 3, inFlight: 1 }), gpu({ bulkQ: 64 })]
  t.match(new Router('fastest-only').route(devices(), req('throughput'), 0), { ok: true, device: 'cuda:0', reason: 'fastest-only' })
  t.match(new Router('fastest-only').route([cpu(), gpu({ healthy: false })], req('throughput'), 0), { ok: true, device: 'cpu' })
  const rr = new Router('round-robin')
  t.same([1, 2, 3, 4].map(() => { const d = rr.route(devices(), req('throughput'), 0); return d.ok && d.device }), ['cpu', 'cuda:0', 'cpu', 'cuda:0'])
  // fewest items queued + running: the CPU's 4 against the GPU's 64
  t.match(new Router('join-shortest-queue').route(devices(), req('throughput'), 0), { ok: true, device: 'cpu', reason: 'join-shortest-queue' })
  t.match(new Router('shared-queue').route(devices(), req('latency'), 0), { ok: true, reason: 'shared-queue' })
  // a pinned request is placed on its device whatever the strategy
  t.match(new Router('round-robin').route(devices(), req('latency', 10_000, { pinned: 'cuda:0' }), 0), { ok: true, device: 'cuda:0', reason: 'pinned' })
})

t.test('a tiled request is predicted as what it is: k items in batches over the workers', async (t) => {
  // 24 tiles, latency: CPU 8 per batch → 3 batches of t(8) = 48 ms on one worker = 144 ms;
  // GPU 1 batch of t(24) = 4 + 6 = 10 ms → the GPU, though t(1) alone would favour neither much
  const d = route([cpu(), gpu()], req('latency', 10_000, { items: 24 }), 0)
  t.match(d, { ok: true, device: 'cuda:0' })
  t.ok(d.ok && Math.abs(d.predictedMs - 10) < 1e-9, `predicted ${d.ok && d.predictedMs} ms = t(24)`)
  // on a CPU with 3 workers the 3 batches run side by side
  const c = route([cpu({ workers: 3 })], req('latency', 10_000, { items: 24 }), 0)
  t.ok(c.ok && Math.abs(c.predictedMs - 48) < 1e-9, `3 workers: ${c.ok && c.predictedMs} ms = one round of t(8)`)
  // admission counts tiles: 24 more would overflow a queue with room for 10
  t.match(route([cpu({ maxQueue: 10 })], req('latency', 10_000, { items: 24 }), 0), { ok: false, reason: 'queue-full' })
})

t.test('no device can meet the deadline: early 429 with a sane Retry-After', async (t) => {
  const d = route([cpu({ bulkQ: 400 }), gpu({ bulkQ: 8000 })], req('throughput', 100), 0)
  t.match(d, { ok: false, reason: 'deadline' })
  // the GPU drains 8000 images in 250·4 + 8000·0.25 = 3000 ms; the CPU 400·6 = 2400 ms
  t.ok(!d.ok && d.retryAfterS === 3, `Retry-After ${!d.ok && d.retryAfterS} s = the smallest drain time, rounded up`)
})

t.test('full queues are not candidates; all full → 429 queue-full', async (t) => {
  t.match(route([cpu(), gpu({ bulkQ: 100, maxQueue: 100 })], req('throughput'), 0), { ok: true, device: 'cpu' })
  t.match(route([cpu({ bulkQ: 10, maxQueue: 10 }), gpu({ bulkQ: 100, maxQueue: 100 })], req('throughput'), 0), { ok: false, reason: 'queue-full' })
})

t.test('unhealthy devices are skipped; none healthy → 503', async (t) => {
  t.match(route([cpu(), gpu({ healthy: false })], req('latency'), 0), { ok: true, device: 'cpu' })
  t.match(route([cpu({ healthy: false }), gpu({ healthy: false })], req('latency'), 0), { ok: false, reason: 'no-healthy-device' })
})

t.test('pinning and retries', async (t) => {
  t.match(route([cpu(), gpu()], req('latency', 10_000, { pinned: 'cpu' }), 0), { ok: true, device: 'cpu', reason: 'pinned' })
  t.match(route([cpu(), gpu()], req('latency', 10_000, { pinned: 'cuda:7' }), 0), { ok: false, reason: 'unknown-device' })
  t.match(route([cpu(), gpu()], req('latency', 10_000, { exclude: ['cuda:0'] }), 0), { ok: true, device: 'cpu', reason: 'retry' })
  t.match(route([cpu()], req('latency', 10_000, { exclude: ['cpu'] }), 0), { ok: false, reason: 'no-healthy-device' })
})

t.test('more workers drain a queue faster', async (t) => {
  // 8 latency items ahead: one worker → 48 ms wait, two workers → 24 ms
  const one = route([cpu({ id: 'one', latencyQ: 8 })], req('latency'), 0)
  const two = route([cpu({ id: 'two', latencyQ: 8, workers: 2 })], req('latency'), 0)
  t.ok(one.ok && two.ok && Math.abs(one.predictedMs - 54) < 1e-9 && Math.abs(two.predictedMs - 30) < 1e-9, 'wait is divided among workers')
})

t.test('worker slots: the router sees what the scheduler will do after a worker dies (bug: reserved workers by position)', async (t) => {
  // [reserved dead, general idle, general busy 50 ms]: the idle general worker takes the item
  // at once (the old router, capping reserved workers by position over live ones, said 50 ms)
  const d = cpu({ workers: 3, latencyWorkers: 1, dead: [0], residual: 0, busyOthers: 50 })
  d.workers[1]!.busyUntil = 0
  const bulk = route([d], req('throughput'), 0)
  t.ok(bulk.ok && bulk.predictedMs === 11, `throughput: starts on the idle general worker (${bulk.ok && bulk.predictedMs} ms = 5 + 6)`)
  // only the reserved worker alive: it takes throughput work (the scheduler promotes it too)
  const lone = cpu({ workers: 2, latencyWorkers: 1, dead: [1], residual: 20 })
  t.ok(lone.workers[0]!.takesThroughput, 'the reserved worker takes bulk work while no general worker lives')
  const r = route([lone], req('throughput'), 0)
  t.ok(r.ok && r.predictedMs === 31, `and the router predicts it there (${r.ok && r.predictedMs} ms = 20 + 11)`)
})

t.test('latency: the earliest finish while no bulk work waits there, even beside an idle reserved latency worker', async (t) => {
  // the CPU's reserved worker is idle (t(1) = 6 ms), its general worker busy; the idle GPU finishes at 4.25 ms.
  // No bulk work waits for the GPU, so the item takes nothing from the throughput class there:
  // it is not stretched (sending it to the reserved worker regardless cost the fleet simulator's
  // EPP latency p99 22 %, 151 → 185 ms, src/sim/fleet.test.ts; bench/results/late-binding.md)
  t.match(route([cpu({ workers: 2, latencyWorkers: 1, residual: 0, busyOthers: 40 }), gpu()], req('latency'), 0), { ok: true, device: 'cuda:0', reason: 'earliest-finish' })
})

t.test('latency: where a full batch of bulk work waits for the earliest device, an idle reserved worker within 2× the finish there, riders included, takes it', async (t) => {
  const spare = (o: Partial<Sim> = {}): DeviceView => cpu({ workers: 2, latencyWorkers: 1, residual: 0, busyOthers: 40, ...o })
  // 64 bulk items wait in the GPU's queue: a latency item there takes a batch's time from them;
  // on the CPU's reserved worker (no bulk work) it costs them nothing, 6 ms ≤ 2 × 4.25
  t.match(route([spare(), gpu({ bulkQ: 64 })], req('latency'), 0), { ok: true, device: 'cpu', reason: 'spare-reserved', predictedMs: 6 })
  // the bound is the finish the item would have on the GPU: there the device is behind (64 wait,
  // two batches), so 31 ride with it (riders under a backlog) and it finishes at t(32) = 12 ms;
  // 10 ms on the reserved worker is within 2 × 12 (not within 2 × t(1) = 8.5: the GPU, when
  // riders were left out, and the item came back at 12 ms, for a reserved worker left idle)
  t.match(route([spare({ b: 10 }), gpu({ bulkQ: 64 })], req('latency'), 0), { ok: true, device: 'cpu', reason: 'spare-reserved', predictedMs: 10 })
  // the same in a late-binding pool the GPU pulls from
  const pool = new RequestQueue()
  for (let i = 0; i < 64; i++) pool.push(queued('throughput'))
  t.match(route([spare(), gpu({ pool })], req('latency'), 0), { ok: true, device: 'cpu', reason: 'spare-reserved' }, 'bulk waiting in a pool counts too')
  t.match(route([spare({ b: 25 }), gpu({ bulkQ: 64 })], req('latency'), 0), { ok: true, device: 'cuda:0', reason: 'earliest-finish', predictedMs: 12 }, 'beyond 2× the GPU\'s finish (25 > 24): the GPU')
  // less than a full batch waits (20 < 32): the latency batch takes it as riders, so the item
  // costs the bulk work nothing on the GPU either, and comes back sooner there (t(18) = 8.5 ms)
  // than on the reserved worker (10 ms, within 2×: the CPU before the rule asked for a full batch)
  t.match(route([spare({ b: 10 }), gpu({ bulkQ: 20 })], req('latency'), 0), { ok: true, device: 'cuda:0', reason: 'earliest-finish' }, '20 wait, less than a batch: 17 ride (t(18) = 8.5), the GPU')
  t.match(route([spare({ b: 10 }), gpu({ bulkQ: 32 })], req('latency'), 0), { ok: true, device: 'cpu', reason: 'spare-reserved' }, 'a full batch waits (32): the CPU, within 2× the GPU\'s finish')
  t.match(route([spare({ residual: 1 }), gpu({ bulkQ: 64 })], req('latency'), 0), { ok: true, device: 'cuda:0' }, 'a reserved worker busy for 1 ms more (7 ≤ 24, but busy), the GPU\'s worker idle: the earliest finish')
  const loading = spare()
  ;(loading.workers[0] as { held?: boolean }).held = true
  t.match(route([loading, gpu({ bulkQ: 64 })], req('latency'), 0), { ok: true, device: 'cuda:0' }, 'a reserved worker held by a model load is not idle')
  // the GPU's own reserved worker is idle: the item costs its bulk work nothing there either
  t.match(route([spare(), gpu({ workers: 2, latencyWorkers: 1, bulkQ: 64, residual: 0, busyOthers: 3 })], req('latency'), 0), { ok: true, device: 'cuda:0', reason: 'earliest-finish' }, 'the earliest device\'s own idle reserved worker: it stays')
})

t.test('latency: where the earliest device is backlogged on bulk work, a busy reserved worker within 1.25× the finish there takes it', async (t) => {
  const spare = (o: Partial<Sim> = {}): DeviceView => cpu({ workers: 2, latencyWorkers: 1, residual: 1, busyOthers: 40, ...o })
  // the GPU's one worker is busy for 2 ms more and 64 bulk items (two full batches) wait for it:
  // whatever it runs next takes from them. The item would finish there at 2 + t(32) = 14 ms (31
  // ride with it); on the CPU at 1 + 6 = 7 ms, its reserved worker busy for 1 ms more: 7 ≤ 1.25 × 14
  const d = route([spare(), gpu({ bulkQ: 64, residual: 2 })], req('latency'), 0)
  t.match(d, { ok: true, device: 'cpu', reason: 'spare-reserved' })
  t.ok(d.ok && Math.abs(d.predictedMs - 7) < 1e-9, `predicted on the CPU: ${d.ok && d.predictedMs} ms`)
  // 1 + 17 = 18 > 17.5: the GPU (an idle reserved worker would still take it, within 2×)
  t.match(route([spare({ b: 17 }), gpu({ bulkQ: 64, residual: 2 })], req('latency'), 0), { ok: true, device: 'cuda:0', reason: 'earliest-finish' }, 'beyond 1.25× the GPU\'s finish: the GPU')
  t.match(route([spare({ b: 17, residual: 0 }), gpu({ bulkQ: 64, residual: 2 })], req('latency'), 0), { ok: true, device: 'cpu', reason: 'spare-reserved' }, 'idle, 17 ≤ 2 × 14: the CPU')
  // not backlogged: fewer than a full batch waits (20 < 32), or the GPU's worker is idle
  t.match(route([spare(), gpu({ bulkQ: 20, residual: 2 })], req('latency'), 0), { ok: true, device: 'cuda:0' }, 'less than a batch waits: the earliest finish')
  t.match(route([spare(), gpu({ bulkQ: 64, residual: 0 })], req('latency'), 0), { ok: true, device: 'cuda:0' }, 'the GPU\'s worker idle: the earliest finish')
  // the pool counts as waiting for the GPU, as its own queue does
  const pool = new RequestQueue()
  for (let i = 0; i < 64; i++) pool.push(queued('throughput'))
  t.match(route([spare(), gpu({ pool, residual: 2 })], req('latency'), 0), { ok: true, device: 'cpu', reason: 'spare-reserved' }, 'a backlogged pool')
  // the GPU's recent batch time went mostly to latency batches (their riders are its bulk work's
  // ride): moving the item would take the ride away, so it stays
  const riding = Object.create(gpu({ bulkQ: 64, residual: 2 }), { bulkShare: { value: 0.4 } }) as DeviceView
  t.match(route([spare(), riding], req('latency'), 0), { ok: true, device: 'cuda:0', reason: 'earliest-finish' }, 'bulk share 0.4 < 0.5: the GPU')
  const bulky = Object.create(gpu({ bulkQ: 64, residual: 2 }), { bulkShare: { value: 0.6 } }) as DeviceView
  t.match(route([spare(), bulky], req('latency'), 0), { ok: true, device: 'cpu', reason: 'spare-reserved' }, 'bulk share 0.6: the CPU')
  // a device with no reserved worker is no stand-in: its general worker would take the item from
  // its own bulk work. The earliest finish is compared without the riders (6.25 ms on the GPU
  // against 7 on the CPU), so the GPU, where the item then waits for its riders
  t.match(route([cpu({ workers: 2, residual: 1, busyOthers: 40 }), gpu({ bulkQ: 64, residual: 2 })], req('latency'), 0), { ok: true, device: 'cuda:0', reason: 'earliest-finish' }, 'no reserved worker on the CPU: the GPU')
})

t.test('latency near saturation: the device where the item takes the least bulk capacity, priced by the fleet', async (t) => {
  // one model's pool, both devices pull from it; what admission counted arriving in the last ~2 s
  // (RequestQueue.arrived, τ 2 s) is the offered rate λ. The fleet drains 32/12 + 8/48 = 2.83
  // items per ms at full batches, so λ = 2.5 runs it at u* = 0.88, λ = 0.5 at 0.18.
  const offered = (perMs: number): RequestQueue => { const pool = new RequestQueue(); pool.arrived.add(perMs * 2000, 0); return pool }
  // one model: a ms of a device is worth its items per ms over λ (p = eff / λ). A latency item
  // opening a batch on the idle GPU takes t(1) = 4.25 ms there (p 1.07: 4.5), on the idle CPU
  // t(1) = 6 ms (p 0.067: 0.4) — one CPU image against eleven GPU images of bulk work. The CPU
  // finishes it at 6 ms, within 1.5 × the GPU's 4.25: the CPU.
  let pool = offered(2.5)
  t.match(route([cpu({ pool }), gpu({ pool })], req('latency'), 0), { ok: true, device: 'cpu', reason: 'fleet-priced', predictedMs: 6 })
  pool = offered(0.5)
  t.match(route([cpu({ pool }), gpu({ pool })], req('latency'), 0), { ok: true, device: 'cuda:0', reason: 'earliest-finish' }, 'u* 0.18: not near saturation, the earliest finish')
  pool = offered(2.5)
  t.match(route([cpu({ pool, residual: 1 }), gpu({ pool })], req('latency'), 0), { ok: true, device: 'cuda:0', reason: 'earliest-finish' }, 'the CPU busy for 1 ms more: 7 > 1.5 × 4.25, the GPU')
  // two latency items wait on the GPU for its worker: this one joins their batch and adds b =
  // 0.25 ms there (0.27 priced), less than the CPU's image
  pool = offered(2.5)
  t.match(route([cpu({ pool }), gpu({ pool, latencyQ: 2, residual: 1 })], req('latency'), 0), { ok: true, device: 'cuda:0', reason: 'earliest-finish' }, 'joining a latency batch costs b: the GPU')
  // an idle reserved worker anywhere: the spare-reserved rule decides, as below saturation
  pool = offered(2.5)
  t.match(route([cpu({ pool, workers: 2, latencyWorkers: 1, busyOthers: 40 }), gpu({ pool })], req('latency'), 0), { ok: true, device: 'cuda:0', reason: 'earliest-finish' }, 'an idle reserved worker: the rule steps aside')
  // the GPU backlogged on bulk work (64 wait, two full batches) and a busy reserved worker on the
  // CPU finishing the item at 1 + 6 = 7 ms, within 1.25× the GPU's finish: the stand-in comes
  // first, as below saturation. Priced, the GPU (joining its latency batch, b = 0.25 ms against
  // a CPU image) — that order cost h200-host its sustainable rate (late-binding.md)
  pool = offered(2.5)
  t.match(route([cpu({ pool, workers: 2, latencyWorkers: 1, residual: 1, busyOthers: 40 }), gpu({ pool, latencyQ: 2, bulkQ: 64, residual: 1 })], req('latency'), 0), { ok: true, device: 'cpu', reason: 'spare-reserved', predictedMs: 7 }, 'a busy reserved stand-in before the prices')
  // pinned and throughput requests are not priced
  pool = offered(2.5)
  t.match(route([cpu({ pool }), gpu({ pool })], req('latency', 10_000, { pinned: 'cuda:0' }), 0), { ok: true, device: 'cuda:0', reason: 'pinned' })
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

t.test('speed-aware: the least work ahead per unit of device speed', async (t) => {
  // GPU: t(32)/32 = 0.375 ms of work per item; CPU: 6 ms. 8 queued on the GPU = 3 ms + this one
  // 0.375 → 3.375 < the idle CPU's 6 ms: the GPU; 40 queued = 15.4 ms > 6: the CPU
  const sa = new Router('speed-aware')
  t.match(sa.route([cpu(), gpu({ bulkQ: 8 })], req('throughput'), 0), { ok: true, device: 'cuda:0', reason: 'speed-aware' })
  t.match(sa.route([cpu(), gpu({ bulkQ: 40 })], req('throughput'), 0), { ok: true, device: 'cpu', reason: 'speed-aware' })
  // running items count, and more workers mean more speed: 2 CPU workers halve its 2 × 6 ms
  t.match(sa.route([cpu({ inFlight: 1 }), gpu({ bulkQ: 20 })], req('throughput'), 0), { ok: true, device: 'cuda:0' })
  t.match(sa.route([cpu({ inFlight: 1, workers: 2 }), gpu({ bulkQ: 20 })], req('throughput'), 0), { ok: true, device: 'cpu' })
})

t.test('shared queue: predicted over every worker that serves it, capped at the fleet\'s total', async (t) => {
  // two CPUs (6 ms per image, one worker each, 30 items cap each) consume one queue of 40 items:
  // alone each would drain it in 40 · 6 = 240 ms; together in 1 / (1/240 + 1/240) = 120 ms
  // items put into the shared queue once both devices consume it, where the scheduler keeps them, without running them
  const fleet = (n: number): DeviceView[] => {
    const q = new RequestQueue()
    const devices = [cpu({ id: 'a', maxQueue: 30, queue: q }), cpu({ id: 'b', maxQueue: 30, queue: q })]
    for (let i = 0; i < n; i++) q.push(queued('throughput'))
    return devices
  }
  const d = new Router('shared-queue').route(fleet(40), req('throughput'), 0)
  t.match(d, { ok: true, reason: 'shared-queue' })
  t.ok(d.ok && Math.abs(d.predictedMs - (120 + 6 * 8)) < 1e-9, `wait 120 ms over both workers, then a full batch t(8) = 48 ms (${d.ok ? d.predictedMs : '–'})`)
  // the same 40 items in one device's own queue: the whole backlog on its one worker
  const own = new Router('switchyard').route([cpu({ bulkQ: 40 })], req('throughput'), 0)
  t.ok(own.ok && Math.abs(own.predictedMs - (240 + 48)) < 1e-9, `one device alone: 240 ms wait (${own.ok ? own.predictedMs : '–'})`)
  // cap: 40 items exceed one lane's 30 but not the fleet's 60; 60 do
  t.match(new Router('shared-queue').route(fleet(59), req('throughput'), 0), { ok: true })
  t.match(new Router('shared-queue').route(fleet(60), req('throughput'), 0), { ok: false, reason: 'queue-full' })
  // a device whose worker is busy still waits for its own worker: max(own, fleet)
  const q = new RequestQueue()
  const busy = new Router('shared-queue').route([cpu({ id: 'a', residual: 50, queue: q }), cpu({ id: 'b', residual: 50, queue: q })], req('latency'), 0)
  t.ok(busy.ok && Math.abs(busy.predictedMs - 56) < 1e-9, `both busy for 50 ms: 50 + t(1) (${busy.ok ? busy.predictedMs : '–'})`)
})

t.test('a latency item\'s predicted finish counts its riders: the budget\'s, and more under a backlog (riders.ts)', async (t) => {
  // the GPU above, t(1) = 4.25 ms; riders' budget 1 (up to 8.5 ms), under a backlog 2 (up to 12.75 ms)
  const ridersMs = (bulkQ: number): number => {
    const d = gpu({ bulkQ })
    return predict(d, d.lanes.get('m')!, 'latency', 0).ridersMs
  }
  t.equal(ridersMs(0), 0, 'nothing waits: it runs alone')
  t.equal(ridersMs(20), 17 * 0.25, '20 wait, within one full batch (32): 17 ride, t(18) = 8.5')
  t.equal(ridersMs(40), 17 * 0.25, '40 wait: the 8 beyond the next full batch are fewer than the budget\'s 17')
  t.equal(ridersMs(100), 31 * 0.25, '100 wait: the device is behind, the batch fills, t(32) = 12 ≤ 12.75')
})
