// Late binding (routing.strategy `late-binding`): throughput items wait in one pool per model
// that free workers pull from; a slower device pulls only what it would finish before the
// faster ones reach it. Real Schedulers (a SimDevice's) on a virtual clock: every time is exact.
import t from 'tap'
import { DeviceRefusedError } from '../errors.js'
import { Dispatcher } from '../router/dispatcher.js'
import { Router } from '../router/router.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { VirtualClock } from './clock.js'
import { ADVANTAGE_LOAD, ADVANTAGE_MARGIN, OFFERED_TAU_MS, choosePool, joinCount, poolFinishMs, pullCount, type PoolMember } from './late-binding.js'
import { RequestQueue, type CompletedItem, type QueuedItem } from './request-queue.js'
import type { Scheduler } from './scheduler.js'

const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }
interface Outcome { at: number, done?: CompletedItem, err?: Error }

function item (clock: VirtualClock, policy: 'latency' | 'throughput', out: Outcome[]): QueuedItem {
  return {
    image: IMAGE, params: {}, policy, deadline: clock.now() + 60_000, enqueuedAt: clock.now(),
    resolve: (done) => out.push({ at: clock.now(), done }),
    reject: (err) => out.push({ at: clock.now(), err })
  }
}

// GPU: t(n) = 4 + n, batches of 8 → eff 8/12 = 0.67 img/ms. CPU: t(n) = 50·n, batches of 2 → eff 0.02.
// The CPU is built first, so it is asked first whenever the pool grows.
// `gpuDelayMs`: the GPU's throughput batch delay (the CPU's is 0).
function fleet (gpuDelayMs = 0): { clock: VirtualClock, cpu: Scheduler, gpu: Scheduler, gpuDevice: SimDevice, pool: RequestQueue } {
  const clock = new VirtualClock()
  const pools = new Map([['m@default', new RequestQueue()]]) // keyed model@variant (lane-settings.ts)
  const delay = { latency: 0, throughput: 0 }
  const cpu = new SimDevice({ id: 'cpu', workers: 1, batchDelayMs: delay, models: { m: { a: 0, b: 50, maxBatchSize: 2 } } }, clock, seededRandom(1), { pools })
  const gpuDevice = new SimDevice({ id: 'gpu', kind: 'cuda', workers: 1, batchDelayMs: { latency: 0, throughput: gpuDelayMs }, models: { m: { a: 4, b: 1, maxBatchSize: 8 } } }, clock, seededRandom(2), { pools })
  return { clock, cpu: cpu.scheduler, gpu: gpuDevice.scheduler, gpuDevice, pool: pools.get('m@default')! }
}

const by = (out: Outcome[], id: string): number => out.filter((o) => o.done?.device === id).length

t.test('riders bound what a pooled item reports, not what it is admitted by', async (t) => {
  // one GPU, t(n) = 4 + n; another model's pool of 8 (100 ms) is counted ahead of a pooled item,
  // while latency batches of its own model have lately been taking 10 items a second from its pool
  const clock = new VirtualClock()
  const pools = new Map([['m@default', new RequestQueue()], ['big@default', new RequestQueue()]])
  const delay = { latency: 0, throughput: 0 }
  const gpu = new SimDevice({ id: 'gpu', kind: 'cuda', workers: 1, batchDelayMs: delay, models: { m: { a: 4, b: 1, maxBatchSize: 8 }, big: { a: 10, b: 10, maxBatchSize: 4 } } }, clock, seededRandom(2), { pools }).scheduler
  const out: Outcome[] = []
  for (let i = 0; i < 8; i++) pools.get('big@default')!.push(item(clock, 'throughput', out))
  const router = new Router('late-binding')
  const req = { model: 'm', policy: 'throughput' as const, deadlineMs: 60_000 }
  t.match(router.route([gpu], req, 0), { ok: true, pooled: true, predictedMs: 105, modelMs: 105 }, 'nothing rode: F, behind the other pool (100 + 5 ms)')
  pools.get('m@default')!.ridden.add(10, 0)
  // 10 a second: riders reach the item in 100 ms and run it in t(2) = 6 — 3× that (the margin) is later than F
  t.match(router.route([gpu], req, 0), { ok: true, predictedMs: 105 }, 'a bound later than F changes nothing')
  pools.get('m@default')!.ridden.add(40, 0)
  t.match(router.route([gpu], req, 0), { ok: true, pooled: true, predictedMs: 78, modelMs: 105 }, '50 a second: reported 3 × (1000 / 50 + t(2)) = 78 ms; the model, which the correction learns from, stays 105')
  t.match(router.route([gpu], { ...req, deadlineMs: 90 }, 0), { ok: false, reason: 'deadline' }, 'admitted by F alone: a 90 ms deadline is refused though 78 ms is what an answer would report')
  gpu.pump()
  clock.advance(1000)
  t.equal(out.length, 8)
})

t.test('the pull rule: t_d(n) ≤ F̂ of the faster devices, F̂ = min reach + max(t_*(min(P, B_*)), P / Σ G·eff)', async (t) => {
  const gpu: PoolMember = { eff: 8 / 12, reachMs: 0, workers: 1, maxBatchSize: 8, predict: (n) => 4 + n }
  const cpu: PoolMember = { eff: 2 / 100, reachMs: 0, workers: 1, maxBatchSize: 2, predict: (n) => 50 * n }
  t.equal(poolFinishMs([gpu], 4), 8, 'a small pool costs one batch: t(4) = 8')
  t.equal(poolFinishMs([gpu], 80), 120, '80 items at 2/3 img/ms')
  t.equal(poolFinishMs([{ ...gpu, reachMs: 30 }], 4), 38, 'after its residual busy time')
  t.equal(pullCount(cpu, [gpu], 4), 0, 'the GPU finishes 4 items in 8 ms: the CPU takes none')
  t.equal(pullCount(cpu, [gpu], 60), 1, 'F = 90: one item (50 ms), not two (100 ms)')
  t.equal(pullCount(cpu, [gpu], 80), 2, 'F = 120: a full batch of two')
  t.equal(pullCount(gpu, [cpu], 3), 3, 'the fastest device always pulls')
})

t.test('F(P) reads each device from its own reach: a small pool finishes on whichever device ends a batch holding it first', async (t) => {
  const gpu: PoolMember = { eff: 8 / 12, reachMs: 0, workers: 1, maxBatchSize: 8, predict: (n) => 4 + n }
  const cpu: PoolMember = { eff: 2 / 100, reachMs: 0, workers: 1, maxBatchSize: 2, predict: (n) => 50 * n }
  const busyGpu = { ...gpu, reachMs: 100 }
  t.equal(poolFinishMs([busyGpu, cpu], 1), 50, 'the GPU is busy for 100 ms: the free CPU ends the item at 50 ms (not the idle CPU\'s reach with the GPU\'s cost, 5 ms)')
  t.equal(poolFinishMs([{ ...busyGpu, reachMs: 30 }, cpu], 1), 35, 'the GPU free at 30 ms ends it at 35')
  // 80 items: the CPU alone from 0 drains 2 by 100 ms, then both: (80 + 0.6667·100) / 0.6867
  const F = poolFinishMs([busyGpu, cpu], 80)
  t.ok(Math.abs(F - (80 + (8 / 12) * 100) / (8 / 12 + 2 / 100)) < 1e-9, `water-filling by reach: ${F}`)
  t.equal(poolFinishMs([{ ...gpu, workers: 0 }], 4), Infinity, 'no worker takes pool work: never')
})

t.test('the router counts the other models\' pools on the same workers ahead of a pooled item', async (t) => {
  const clock = new VirtualClock()
  const pools = new Map([['m@default', new RequestQueue()], ['big@default', new RequestQueue()]])
  const delay = { latency: 0, throughput: 0 }
  const gpu = new SimDevice({ id: 'gpu', kind: 'cuda', workers: 1, batchDelayMs: delay, models: { m: { a: 4, b: 1, maxBatchSize: 8 }, big: { a: 10, b: 10, maxBatchSize: 4 } } }, clock, seededRandom(2), { pools }).scheduler
  const router = new Router('late-binding')
  const req = { model: 'm', policy: 'throughput' as const, deadlineMs: 60_000 }
  t.match(router.route([gpu], req, 0), { ok: true, pooled: true, predictedMs: 5 }, 'alone: t(1) = 5 ms')
  const out: Outcome[] = []
  for (let i = 0; i < 8; i++) pools.get('big@default')!.push(item(clock, 'throughput', out))
  // 8 items of `big` in 2 batches of 4: 2·10 + 8·10 = 100 ms of the GPU's one worker first
  t.match(router.route([gpu], req, 0), { ok: true, pooled: true, predictedMs: 105 }, 'behind the other pool: 100 + 5 ms')
  gpu.pump()
  clock.advance(1000)
  t.equal(out.length, 8)
})

t.test('a slow CPU never strands work that a free fast GPU reaches sooner', async (t) => {
  const { clock, cpu, gpu, pool } = fleet()
  const out: Outcome[] = []
  for (let i = 0; i < 4; i++) pool.push(item(clock, 'throughput', out))
  cpu.pump()
  gpu.pump()
  clock.advance(1000)
  t.equal(by(out, 'gpu'), 4, 'all four on the GPU')
  t.same(out.map((o) => o.at), [8, 8, 8, 8], 'done at t(4) = 8 ms; a CPU batch of 2 would have ended at 100 ms')
  t.equal(pool.size, 0)
})

t.test('a free slow device takes work when the fast one is a long way behind', async (t) => {
  const { clock, cpu, gpu, pool } = fleet()
  const out: Outcome[] = []
  for (let i = 0; i < 80; i++) pool.push(item(clock, 'throughput', out))
  cpu.pump()
  gpu.pump()
  t.equal(cpu.workers[0]!.running?.size, 2, 'the GPU needs ~120 ms for the pool; the CPU finishes two in 100')
  clock.advance(1000)
  t.equal(out.length, 80)
  t.equal(by(out, 'cpu'), 2)
  t.equal(by(out, 'gpu'), 78)
  t.ok(out.every((o) => o.at <= 120), 'nothing finished later than the GPU alone would have')
})

t.test('an overdue fast device is not free: a slow one counts its overrun so far before leaving it the pool', async (t) => {
  const { clock, cpu, gpu, gpuDevice, pool } = fleet()
  const out: Outcome[] = []
  gpuDevice.setSlowdown(100) // its batches now take 100× the predicted time
  for (let i = 0; i < 8; i++) pool.push(item(clock, 'throughput', out))
  gpu.pump(); cpu.pump()
  t.equal(gpu.workers[0]!.running?.size, 8, 'the GPU takes a batch of 8, predicted to end at t(8) = 12 ms (it takes 1,200)')
  t.equal(cpu.workers[0]!.running, null, 'and the CPU leaves it: the GPU would have finished them in 12 ms')
  clock.advance(100)
  // the GPU is 88 ms past its predicted end: it reaches the pool no sooner than 88 ms from now,
  // so the bound is 88 + max(t(4) = 8, 4 / (2/3) = 6) = 96 ms: the CPU takes one item (50 ms), not two (100)
  for (let i = 0; i < 4; i++) pool.push(item(clock, 'throughput', out))
  gpu.pump(); cpu.pump()
  t.equal(cpu.workers[0]!.running?.size, 1, 'the CPU takes one of the four (read as free, the GPU would have left it none)')
  t.equal(pool.size, 3)
  clock.advance(10_000)
  t.equal(out.length, 12)
  // the GPU stays overdue, its overrun growing: the CPU takes the rest as it frees up
  t.same(out.filter((o) => o.done?.device === 'cpu').map((o) => o.at), [150, 250, 250, 300], 'the CPU ran all four by 300 ms')
  t.ok(out.filter((o) => o.done?.device === 'gpu').every((o) => o.at === 1200), 'the GPU ran only its batch of 8, ending at 1,200 ms')
})

t.test('the faster device\'s batch delay counts: an idle slow device takes a single item the fast one would only start after its delay', async (t) => {
  // the GPU waits 60 ms for a pool short of a batch to fill; the CPU runs one item in 50 ms
  const { clock, cpu, gpu, pool } = fleet(60)
  const out: Outcome[] = []
  gpu.enqueue('m', item(clock, 'throughput', out), true)
  t.equal(cpu.workers[0]!.running?.size, 1, 'the GPU would answer at 60 + t(1) = 65 ms: the CPU, done at 50, takes it')
  clock.advance(1000)
  t.same(out.map((o) => [o.done?.device, o.at]), [['cpu', 50]])
  t.equal(pool.size, 0)
  // a GPU that would answer sooner keeps the item: with a 40 ms delay it answers at 45
  const short = fleet(40)
  const out2: Outcome[] = []
  short.gpu.enqueue('m', item(short.clock, 'throughput', out2), true)
  t.equal(short.cpu.workers[0]!.running, null, 'the CPU leaves it to the GPU')
  short.clock.advance(1000)
  t.same(out2.map((o) => [o.done?.device, o.at]), [['gpu', 45]])
})

t.test('late-binding routes only single throughput items into the pool: latency, cost, pinned and tiled stay bound', async (t) => {
  const { cpu, gpu, pool } = fleet()
  const router = new Router('late-binding')
  const req = { model: 'm', deadlineMs: 60_000 }
  t.match(router.route([cpu, gpu], { ...req, policy: 'throughput' }, 0), { ok: true, pooled: true, reason: 'late-binding', predictedMs: 5 })
  t.match(new Router('switchyard').route([cpu, gpu], { ...req, policy: 'throughput' }, 0), { ok: true, pooled: true }, 'switchyard binds late too (the default)')
  const early = new Router('early-binding').route([cpu, gpu], { ...req, policy: 'throughput' }, 0)
  t.match(early, { ok: true, device: 'gpu', reason: 'best-throughput' }, 'early-binding: the old rule, bound at arrival')
  t.notOk(early.ok && early.pooled)
  const latency = router.route([cpu, gpu], { ...req, policy: 'latency' }, 0)
  t.match(latency, { ok: true, reason: 'earliest-finish' })
  t.notOk(latency.ok && latency.pooled)
  const pinned = router.route([cpu, gpu], { ...req, policy: 'throughput', pinned: 'cpu' }, 0)
  t.match(pinned, { ok: true, device: 'cpu', reason: 'pinned' })
  t.notOk(pinned.ok && pinned.pooled)
  const cost = router.route([cpu, gpu], { ...req, policy: 'cost' }, 0)
  t.notOk(cost.ok && cost.pooled, 'the cost policy\'s choice is bound')
  const tiled = router.route([cpu, gpu], { ...req, policy: 'throughput', items: 4 }, 0)
  t.notOk(tiled.ok && tiled.pooled, 'a tiled request\'s images stay together on one device')
  // a latency item handed to enqueue as pooled still lands in its device's own queue
  const out: Outcome[] = []
  const clock = new VirtualClock()
  gpu.workers[0]!.busyUntil = 0
  cpu.enqueue('m', item(clock, 'latency', out), true)
  t.equal(pool.size, 0, 'never pooled')
})

t.test('the pool is admitted and predicted over every device serving it', async (t) => {
  const { clock, cpu, gpu, pool } = fleet()
  const out: Outcome[] = []
  for (let i = 0; i < 79; i++) pool.push(item(clock, 'throughput', out))
  const d = new Router('late-binding').route([cpu, gpu], { model: 'm', policy: 'throughput', deadlineMs: 60_000 }, 0)
  // P = 80 items over the GPU's 2/3 and the CPU's 1/50 img/ms: 80 / (0.6667 + 0.02) = 116.5 ms
  t.match(d, { ok: true, pooled: true })
  t.ok(d.ok && Math.abs(d.predictedMs - 80 / (8 / 12 + 2 / 100)) < 1e-6, `predicted ${d.predictedMs}`)
  const tight = new Router('late-binding').route([cpu, gpu], { model: 'm', policy: 'throughput', deadlineMs: 50 }, 0)
  t.match(tight, { ok: false, reason: 'deadline' })
})

t.test('when the fast device fails, the slow one takes what it had left in the pool', async (t) => {
  const { clock, cpu, gpu, gpuDevice, pool } = fleet()
  const out: Outcome[] = []
  for (let i = 0; i < 20; i++) pool.push(item(clock, 'throughput', out))
  cpu.pump()
  gpu.pump()
  t.equal(cpu.workers[0]!.running, null, 'the GPU drains 20 items in 30 ms: the CPU waits')
  t.equal(pool.size, 12, 'the GPU runs a batch of 8')
  gpuDevice.setDown(true)
  clock.advance(10_000)
  t.equal(by(out, 'cpu'), 12, 'the CPU ran the 12 pooled items once the GPU was gone')
  t.equal(out.filter((o) => o.err !== undefined).length, 8, 'the batch that was running on the GPU failed (the dispatcher retries it)')
  t.equal(pool.size, 0)
})

t.test('a pooled item whose client went away is removed from the pool', async (t) => {
  const { clock, cpu, gpu, pool } = fleet()
  const out: Outcome[] = []
  gpu.workers[0]!.busyUntil = 0
  for (let i = 0; i < 9; i++) gpu.enqueue('m', item(clock, 'throughput', out), true)
  const last = pool.throughput[pool.throughput.length - 1]!
  t.ok(cpu.cancel('m', last), 'any device serving the pool can cancel it')
  t.notOk(pool.throughput.includes(last))
})

// Two models. GPU: m t(n) = 4 + n (eff 8/12 = 0.67 img/ms), k t(n) = 4 + 5n (eff 8/44 = 0.18);
// CPU: t(n) = 50·n on both, batches of 2 (eff 0.02). The CPU is 33× slower than the GPU on m
// and 9× on k: its comparative advantage is k.
function twoModels (): { clock: VirtualClock, cpu: Scheduler, gpu: Scheduler, m: RequestQueue, k: RequestQueue } {
  const clock = new VirtualClock()
  const pools = new Map([['m@default', new RequestQueue()], ['k@default', new RequestQueue()]])
  const delay = { latency: 0, throughput: 0 }
  const cpu = new SimDevice({ id: 'cpu', workers: 1, batchDelayMs: delay, models: { m: { a: 0, b: 50, maxBatchSize: 2 }, k: { a: 0, b: 50, maxBatchSize: 2 } } }, clock, seededRandom(1), { pools })
  const gpu = new SimDevice({ id: 'gpu', kind: 'cuda', workers: 1, batchDelayMs: delay, models: { m: { a: 4, b: 1, maxBatchSize: 8 }, k: { a: 4, b: 5, maxBatchSize: 8 } } }, clock, seededRandom(2), { pools })
  return { clock, cpu: cpu.scheduler, gpu: gpu.scheduler, m: pools.get('m@default')!, k: pools.get('k@default')! }
}

/** `n` throughput items due `dueMs` from now into `pool` */
function fill (clock: VirtualClock, pool: RequestQueue, n: number, dueMs: number, out: Outcome[]): void {
  for (let i = 0; i < n; i++) pool.push({ ...item(clock, 'throughput', out), deadline: clock.now() + dueMs })
}

t.test('comparative advantage: near saturation a slower device pulls from the pool where it is least behind', async (t) => {
  // both pools deep enough that the CPU pulls from either (the GPU is far behind on both);
  // m's head is due 30 ms before k's: less than one CPU batch (t(1) = 50 ms)
  const run = (offered: number, kDueMs: number): string => {
    const { clock, cpu, gpu, m, k } = twoModels()
    const out: Outcome[] = []
    fill(clock, m, 80, 10_000, out); fill(clock, k, 80, kDueMs, out)
    // what admission saw arrive over the last while, per pool (the dispatcher counts it: below)
    m.arrived.add(offered, 0); k.arrived.add(offered, 0)
    gpu.pump(); cpu.pump()
    return cpu.workers[0]!.running?.lane.model ?? 'none'
  }
  // ρ̂ = λ/cap per pool, summed: λ = offered / τ; cap_m = 0.67 + 0.02, cap_k = 0.18 + 0.02
  const rho = (offered: number): number => (offered / OFFERED_TAU_MS) * (1 / (8 / 12 + 0.02) + 1 / (8 / 44 + 0.02))
  t.ok(rho(400) >= ADVANTAGE_LOAD && rho(200) < ADVANTAGE_LOAD, `ρ̂ ${rho(400).toFixed(2)} and ${rho(200).toFixed(2)} around ${ADVANTAGE_LOAD}`)
  t.equal(run(400, 10_030), 'k', 'saturated: the CPU takes k, where it is 9× behind rather than 33×, and leaves m to the GPU')
  t.equal(run(200, 10_030), 'm', 'below saturation: the most urgent head first')
  t.equal(run(0, 10_030), 'm', 'nothing arriving: the most urgent head first')
  t.equal(run(400, 10_060), 'm', 'k\'s head due more than one CPU batch after m\'s: urgency wins')
})

t.test('choosePool: urgency order unless the device is slower somewhere and the pools are saturated', async (t) => {
  const a = { id: 'a', count: 2, deadline: 100, advantage: 0.03 }
  const b = { id: 'b', count: 2, deadline: 120, advantage: 0.11 }
  const c = { id: 'c', count: 2, deadline: 200, advantage: 0.5 }
  let asked = 0
  const saturated = (v: boolean) => () => { asked++; return v }
  t.equal(choosePool([a, b, c], () => 50, saturated(true))?.id, 'b', 'the best advantage within 50 ms of the urgent head; c is too late')
  t.equal(choosePool([a, b, c], () => 150, saturated(true))?.id, 'c')
  t.equal(choosePool([a, b, c], () => 50, saturated(false))?.id, 'a')
  t.equal(choosePool([a, { ...b, advantage: 0.036 }], () => 50, saturated(true))?.id, 'a', `0.036 is less than ${ADVANTAGE_MARGIN} × 0.03: not worth leaving the urgent head`)
  t.equal(choosePool([a, { ...b, advantage: 0.038 }], () => 50, saturated(true))?.id, 'b')
  asked = 0
  const fastest = [{ ...a, advantage: Infinity }, { ...b, advantage: 2 }]
  t.equal(choosePool(fastest, () => 50, saturated(true))?.id, 'a', 'the fastest device everywhere keeps urgency order')
  t.equal(asked, 0, 'and the load is not even read')
  t.equal(choosePool([], () => 50, saturated(true)), null)
})

t.test('admission counts each request\'s items as offered to its model\'s pool, refused ones too', async (t) => {
  const { clock, cpu, gpu, m, k } = twoModels()
  const dispatcher = new Dispatcher({ devices: [cpu, gpu], get: (id) => [cpu, gpu].find((d) => d.id === id) }, { decision () {}, rejected () {}, retry () {}, predictionError () {} }, clock)
  dispatcher.admit('m', { policy: 'throughput', deadline: 60_000 }, 3)
  dispatcher.admit('m', { policy: 'latency', deadline: 60_000 })
  t.throws(() => dispatcher.admit('m', { policy: 'throughput', deadline: 1 }), 'refused: its deadline cannot be met')
  t.equal(m.arrived.perMs(0) * OFFERED_TAU_MS, 5, 'three, one and the refused one')
  t.equal(k.arrived.perMs(0), 0)
  t.ok(Math.abs(m.arrived.perMs(OFFERED_TAU_MS) * OFFERED_TAU_MS - 5 / Math.E) < 1e-9, 'decayed over τ')
})

t.test('joinCount: the most of another device\'s waiting latency items a starting batch finishes no later than that device would', async (t) => {
  const cost = (a: number, b: number): Pick<PoolMember, 'predict'> => ({ predict: (n) => a + b * n })
  // own t(n) = 4 + n with 1 item; the other t(k) = 40 + k, free in 40 ms: 5 + k ≤ 80 + k for any k
  t.equal(joinCount(cost(4, 1), 1, 7, cost(40, 1), 40, 5), 5, 'all five, well before')
  t.equal(joinCount(cost(4, 1), 1, 3, cost(40, 1), 40, 5), 3, 'no more than the batch has room for')
  // own t(n) = 4 + 10n, the other t(k) = 10 + 2k free in 30 ms: 14 + 10k ≤ 40 + 2k → k ≤ 3
  t.equal(joinCount(cost(4, 10), 1, 7, cost(10, 2), 30, 5), 3, 'the largest k that still finishes no later')
  t.equal(joinCount(cost(4, 50), 1, 7, cost(40, 1), 40, 5), 0, 'a slow device takes none: 54 + 50k > 80 + k')
  t.equal(joinCount(cost(4, 1), 1, 7, cost(40, 1), 0, 5), 0, 'the other device has a worker free: it takes its own')
  t.equal(joinCount(cost(4, 1), 1, 7, cost(40, 1), Infinity, 5), 5, 'no worker of the other device lives: any finish is sooner')
  t.equal(joinCount(cost(4, 1), 1, 7, cost(40, 1), 40, 0), 0, 'nothing waits')
})

// Two GPUs sharing model m's pool: A t(n) = 4 + n, B t(n) = 40 + n (or `slowA`: A t(n) = 4 + 50n),
// one worker each, batches of 8. Latency items are bound to a device (enqueue), as the router places them.
function twoGpus (o: { slowA?: boolean, pooled?: boolean } = {}): { clock: VirtualClock, a: Scheduler, b: Scheduler } {
  const clock = new VirtualClock()
  const pools = o.pooled === false ? undefined : new Map([['m@default', new RequestQueue()]])
  const delay = { latency: 0, throughput: 0 }
  const a = new SimDevice({ id: 'a', kind: 'cuda', workers: 1, batchDelayMs: delay, models: { m: { a: 4, b: o.slowA === true ? 50 : 1, maxBatchSize: 8 } } }, clock, seededRandom(1), pools ? { pools } : {})
  const b = new SimDevice({ id: 'b', kind: 'cuda', workers: 1, batchDelayMs: delay, models: { m: { a: 40, b: 1, maxBatchSize: 8 } } }, clock, seededRandom(2), pools ? { pools } : {})
  return { clock, a: a.scheduler, b: b.scheduler }
}

t.test('a starting latency batch takes the latency items waiting on a busy device of its pool, when it finishes them no later', async (t) => {
  const { clock, a, b } = twoGpus()
  const out: Outcome[] = []
  b.enqueue('m', item(clock, 'latency', out)) // B runs it: t(1) = 41 ms
  b.enqueue('m', item(clock, 'latency', out))
  b.enqueue('m', item(clock, 'latency', out)) // two wait behind it: B would answer them at 41 + 42 = 83 ms
  clock.advance(1)
  a.enqueue('m', item(clock, 'latency', out)) // A starts a batch at 1 ms: t(3) = 7, answered at 8 ms
  clock.advance(200)
  t.same(out.map((o) => [o.done?.device, o.at]), [['a', 8], ['a', 8], ['a', 8], ['b', 41]], 'the two waiting items left with A\'s batch at 8 ms instead of 83')
})

t.test('it takes none it would finish later, and none without a pool', async (t) => {
  const slow = twoGpus({ slowA: true })
  const out: Outcome[] = []
  slow.b.enqueue('m', item(slow.clock, 'latency', out))
  slow.b.enqueue('m', item(slow.clock, 'latency', out))
  slow.clock.advance(1)
  slow.a.enqueue('m', item(slow.clock, 'latency', out)) // t_A(2) = 104 > 40 + t_B(1) = 81
  slow.clock.advance(500)
  t.same(out.map((o) => o.done?.device).sort(), ['a', 'b', 'b'], 'A\'s batch of 2 would end at 105 ms, B\'s at 82: B keeps its item')

  const bound = twoGpus({ pooled: false })
  const out2: Outcome[] = []
  bound.b.enqueue('m', item(bound.clock, 'latency', out2))
  bound.b.enqueue('m', item(bound.clock, 'latency', out2))
  bound.clock.advance(1)
  bound.a.enqueue('m', item(bound.clock, 'latency', out2))
  bound.clock.advance(500)
  t.same(out2.map((o) => o.done?.device).sort(), ['a', 'b', 'b'], 'the baselines\' devices share no pool: each runs its own')
})

t.test('a latency item pinned to its device stays there: the joining batch takes the others', async (t) => {
  const { clock, a, b } = twoGpus()
  const out: Outcome[] = []
  b.enqueue('m', item(clock, 'latency', out)) // B busy until 41 ms
  const pinned = item(clock, 'latency', out)
  pinned.pinned = true
  b.enqueue('m', pinned)
  b.enqueue('m', item(clock, 'latency', out))
  clock.advance(1)
  a.enqueue('m', item(clock, 'latency', out))
  clock.advance(200)
  t.same(out.map((o) => [o.done?.device, o.at]), [['a', 7], ['a', 7], ['b', 41], ['b', 82]], 'A takes the unpinned one (t(2) = 6, at 7 ms); the pinned one waits for B (41 + t(1) = 82)')
})

t.test('the dispatcher pins the item of a request that names its device', async (t) => {
  const { clock, a, b } = twoGpus()
  const dispatcher = new Dispatcher({ devices: [a, b], get: (id) => [a, b].find((d) => d.id === id) }, { decision () {}, rejected () {}, retry () {}, predictionError () {} }, clock)
  const answered: Array<[string, number]> = []
  const send = (pinned?: string): void => dispatcher.submit({ model: 'm', image: IMAGE, params: {}, opts: { policy: 'latency', deadline: 60_000, pinned } }, (err, r) => { if (err === null) answered.push([r!.device, clock.now()]) })
  send('b') // B runs it: t(1) = 41 ms
  send('b') // pinned: waits for B
  clock.advance(1)
  send('a') // A's batch would take an unpinned item from B; there is none
  clock.advance(200)
  t.same(answered, [['a', 6], ['b', 41], ['b', 82]])
})

t.test("a joined item's deadline bounds the riders of the batch it joins", async (t) => {
  const { clock, a, b } = twoGpus()
  const out: Outcome[] = []
  b.enqueue('m', item(clock, 'latency', out)) // B busy until 41 ms
  const soon = item(clock, 'latency', out)
  soon.deadline = 12
  b.enqueue('m', soon)
  clock.advance(1)
  // A: its own latency item (due in 60 s) and six throughput items that could ride
  a.together(() => {
    for (let i = 0; i < 6; i++) a.enqueue('m', item(clock, 'throughput', out))
    a.enqueue('m', item(clock, 'latency', out))
  })
  clock.advance(200)
  const answer = out.find((o) => o.done !== undefined && o.at < 41)
  t.equal(answer?.at, 12, 'five riders, not six: t(2 + 5) = 11 ends at 12 ms, the joined item\'s deadline (six would end at 13)')
  t.equal(answer?.done?.batchSize, 7)
})

t.test('switching to the shared queue (useShared): what waits in the pool and in a busy device\'s own queue moves to one queue every device takes from', async (t) => {
  const { clock, cpu, gpu, pool } = fleet()
  const out: Outcome[] = []
  gpu.together(() => { for (let i = 0; i < 8; i++) gpu.enqueue('m', item(clock, 'throughput', out), true) })
  t.equal(pool.size, 0, 'the GPU took the first 8: busy until t(8) = 12 ms')
  gpu.together(() => { for (let i = 0; i < 8; i++) gpu.enqueue('m', item(clock, 'throughput', out), true) })
  const urgent = item(clock, 'latency', out)
  gpu.enqueue('m', urgent)
  t.equal(pool.size, 8, 'the CPU (t(1) = 50 ms) leaves 8 items the GPU reaches by 24 ms')
  t.equal(gpu.lanes.get('m')!.queue.latency.length, 1, 'the latency item waits for the GPU it was bound to')
  const shared = new Map([['m', new RequestQueue()]])
  gpu.useShared(shared)
  cpu.useShared(shared)
  t.equal(shared.get('m')!.size, 9, 'nothing starts until the devices pump')
  cpu.pump()
  gpu.pump()
  t.equal(pool.size, 0, 'the pool is empty')
  t.equal(gpu.lanes.get('m')!.pool, undefined, 'and left')
  t.equal(gpu.lanes.get('m')!.queue, shared.get('m'), 'both lanes take from the shared queue')
  t.same([shared.get('m')!.latency.length, shared.get('m')!.throughput.length], [0, 8], 'the free CPU took the latency item at once')
  clock.advance(1000)
  // Triton's rule: the first free worker takes the next batch — the CPU, 50 ms, where the GPU it
  // was bound to would have answered it at 12 + t(1) = 17 ms (what the replay weighs)
  t.same(out.map((o) => [o.done?.device, o.at, o.done?.batchSize]), [
    ...Array.from({ length: 8 }, () => ['gpu', 12, 8]),
    ...Array.from({ length: 8 }, () => ['gpu', 24, 8]),
    ['cpu', 50, 1]
  ])
})

t.test('back from the shared queue (useOwn): each lane has its own queue and pool again, even after two switches to a shared one', async (t) => {
  const { clock, cpu, gpu, pool } = fleet()
  const own = gpu.lanes.get('m')!.queue
  const first = new Map([['m', new RequestQueue()]])
  const second = new Map([['m', new RequestQueue()]])
  const out: Outcome[] = []
  gpu.useShared(first); cpu.useShared(first)
  first.get('m')!.push(item(clock, 'throughput', out))
  gpu.useShared(second); cpu.useShared(second)
  t.equal(first.get('m')!.size, 0, 'what waited in the first moved to the second')
  t.same(first.get('m')!.consumers, [], 'and nobody takes from the first')
  gpu.useOwn(); cpu.useOwn()
  t.equal(gpu.lanes.get('m')!.queue, own, 'the lane\'s own queue, not the first shared one')
  t.equal(gpu.lanes.get('m')!.pool, pool, 'its pool')
  t.equal(cpu.lanes.get('m')!.pool, pool)
  t.same(second.get('m')!.consumers, [], 'nobody takes from the second')
  t.equal(second.get('m')!.size, 1, 'what still waits there is the caller\'s to place (Dispatcher.useRule)')
})

t.test('an item pinned to a device stays with it under the shared queue: kept in its own queue, planned with the shared one by class and deadline', async (t) => {
  const { clock, cpu, gpu } = fleet()
  const out: Outcome[] = []
  const seen = new Map<string, [string, number]>()
  const track = (tag: string, policy: 'latency' | 'throughput', pinned = false): QueuedItem => {
    const it = item(clock, policy, out)
    const resolve = it.resolve
    it.resolve = (done) => { seen.set(tag, [done.device, clock.now()]); resolve(done) }
    if (pinned) it.pinned = true
    return it
  }
  gpu.together(() => { for (let i = 0; i < 8; i++) gpu.enqueue('m', item(clock, 'throughput', out), true) }) // the GPU busy until 12 ms
  gpu.enqueue('m', track('gpu-pinned-before', 'latency', true))
  gpu.enqueue('m', track('gpu-unpinned', 'latency'))
  const shared = new Map([['m', new RequestQueue()]])
  gpu.useShared(shared); cpu.useShared(shared)
  const lane = gpu.lanes.get('m')!
  t.equal(lane.bound?.latency.length, 1, 'the pinned item stays in the GPU lane\'s own queue, now its bound queue')
  t.equal(shared.get('m')!.latency.length, 1, 'the unpinned one moved to the shared queue')
  t.equal(cpu.lanes.get('m')!.bound?.size, 0, 'every lane keeps a bound queue')
  cpu.pump(); gpu.pump()
  t.equal(shared.get('m')!.size, 0, 'the free CPU took the unpinned item')
  t.equal(lane.bound?.size, 1, 'not the pinned one')
  // arrivals under the shared rule: pinned to the busy GPU, into its bound queue; the CPU is busy until 50 ms
  gpu.enqueue('m', track('gpu-pinned-after', 'throughput', true))
  cpu.enqueue('m', track('shared-throughput', 'throughput'))
  t.equal(lane.bound?.size, 2)
  t.equal(shared.get('m')!.throughput.length, 1, 'an unpinned arrival waits in the shared queue')
  clock.advance(1000)
  const at = (tag: string): [string, number] | undefined => seen.get(tag)
  t.same(at('gpu-unpinned'), ['cpu', 50], 'the CPU, first free, ran the unpinned latency item')
  // the GPU, free at 12 ms: the pinned latency item first (latency before throughput), with the
  // shared queue's throughput item riding along (t(2) = 6 ≤ 2·t(1): riders.ts); then its own pinned one
  t.same(at('gpu-pinned-before'), ['gpu', 18], 'the pinned latency item on its GPU after the running batch')
  t.same(at('shared-throughput'), ['gpu', 18], 'a rider from the shared queue')
  t.same(at('gpu-pinned-after'), ['gpu', 23], 'the pinned throughput item on its GPU, t(1) later')
  t.equal(out.filter((o) => o.err !== undefined).length, 0)
  t.equal(out.length, 12, 'every item answered once')

  gpu.useOwn(); cpu.useOwn()
  t.equal(lane.bound, undefined, 'back on its own queue: no bound queue')
  t.equal(cpu.lanes.get('m')!.bound, undefined)
})

t.test('a queue shared from the start (the shared-queue strategy): pinned items wait in the lane\'s bound queue, and expire or are refused there like any other', async (t) => {
  const clock = new VirtualClock()
  const queues = new Map([['m', new RequestQueue()]])
  const delay = { latency: 0, throughput: 0 }
  const a = new SimDevice({ id: 'a', workers: 1, batchDelayMs: delay, models: { m: { a: 0, b: 50, maxBatchSize: 2 } } }, clock, seededRandom(1), { sharedQueues: queues }).scheduler
  const b = new SimDevice({ id: 'b', workers: 1, batchDelayMs: delay, models: { m: { a: 0, b: 50, maxBatchSize: 2 } } }, clock, seededRandom(2), { sharedQueues: queues }).scheduler
  t.equal(a.lanes.get('m')!.queue, b.lanes.get('m')!.queue, 'one queue for both')
  t.not(a.lanes.get('m')!.bound, undefined, 'and a bound queue each')
  const out: Outcome[] = []
  a.enqueue('m', item(clock, 'throughput', out)) // a busy until 50 ms
  const pinned = item(clock, 'throughput', out)
  pinned.pinned = true
  pinned.deadline = 40
  a.enqueue('m', pinned)
  t.equal(b.lanes.get('m')!.queue.size, 0, 'the free device b did not take the item pinned to a')
  t.equal(a.lanes.get('m')!.bound!.size, 1)
  clock.advance(1000)
  t.same(out.map((o) => [o.done?.device ?? (o.err as Error & { code?: string } | undefined)?.code, o.at]), [['SY_DEADLINE_EXCEEDED', 40], ['a', 50]], 'a could not reach it by its deadline: answered 504 at 40 ms by the sweep, not run on b')
  a.enqueue('m', item(clock, 'throughput', out)) // a busy again, until 1,050 ms
  const kept = item(clock, 'latency', out)
  kept.pinned = true
  a.enqueue('m', kept)
  t.ok(a.cancel('m', kept), 'a client that goes away takes it out of the bound queue')
  t.equal(a.lanes.get('m')!.bound!.size, 0)
  const last = item(clock, 'latency', out)
  last.pinned = true
  a.enqueue('m', last)
  const before = out.length
  await a.stop()
  t.same(out.slice(before).map((o) => o.err instanceof DeviceRefusedError), [true], 'a device that stops refuses what is pinned to it (its retry is the dispatcher\'s), though b still serves the shared queue')
})
