// The dispatcher on simulated devices and a virtual clock: placement of one item and of a
// request that is many (tiles), admission, and what the observer hears. Exact on any machine.
import t from 'tap'
import { VirtualClock } from '../devices/clock.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { OFFERED_TAU_MS } from '../devices/late-binding.js'
import { RequestQueue } from '../devices/request-queue.js'
import type { Scheduler } from '../devices/scheduler.js'
import { Dispatcher, noteOffered, type Dispatched } from './dispatcher.js'

const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }

// CPU: t(1) = 25 ms, batches of 4, one worker. GPU: t(1) = 31 ms, but t(24) = 54 ms.
function setup (): { clock: VirtualClock, dispatcher: Dispatcher, decisions: string[] } {
  const clock = new VirtualClock()
  const random = seededRandom(11)
  const cpu = new SimDevice({ id: 'cpu', workers: 1, models: { m: { a: 5, b: 20, maxBatchSize: 4 } }, maxQueue: 1000 }, clock, random).scheduler
  const gpu = new SimDevice({ id: 'cuda:0', workers: 1, models: { m: { a: 30, b: 1, maxBatchSize: 32 } }, maxQueue: 1000 }, clock, random).scheduler
  const devices = [cpu, gpu]
  const decisions: string[] = []
  const dispatcher = new Dispatcher({ devices, get: (id) => devices.find((d) => d.id === id) }, {
    decision: (device, _m, _p, reason) => decisions.push(`${device}:${reason}`),
    rejected () {}, retry () {}, predictionError () {}
  }, clock)
  return { clock, dispatcher, decisions }
}

t.test('one latency image goes where it finishes first: the CPU', async (t) => {
  const { clock, dispatcher } = setup()
  const p = dispatcher.dispatch('m', IMAGE, {}, { policy: 'latency', deadline: 10_000 })
  clock.advance(1000)
  const r = await p
  t.equal(r.device, 'cpu')
  t.ok(Math.abs(r.predictedMs - 25) < 1e-9, 'predicted t(1) on the CPU')
})

t.test('a tiled latency request goes where its whole batch finishes first: the GPU, though the CPU is idle', async (t) => {
  const { clock, dispatcher, decisions } = setup()
  // 24 tiles: CPU 6 batches of t(4) = 85 ms on one worker = 510 ms; GPU one batch t(24) = 54 ms
  const p = dispatcher.dispatchMany('m', Array(24).fill(IMAGE), {}, { policy: 'latency', deadline: 10_000 })
  clock.advance(1000)
  const rs: Dispatched[] = await p
  t.same(new Set(rs.map((r) => r.device)), new Set(['cuda:0']), 'every tile on the GPU')
  t.same(new Set(rs.map((r) => r.batchSize)), new Set([24]), 'in one batch')
  t.equal(decisions.length, 24)
  t.ok(rs.every((r) => Math.abs(r.predictedMs - 54) < 1e-9), 'predicted as the whole request: t(24)')
})

t.test('a tiled throughput request is split when that finishes it sooner', async (t) => {
  const { clock, dispatcher } = setup()
  const p = dispatcher.dispatchMany('m', Array(96).fill(IMAGE), {}, { policy: 'throughput', deadline: 60_000 })
  clock.advance(10_000)
  const rs = await p
  const on = (id: string): number => rs.filter((r) => r.device === id).length
  t.ok(on('cuda:0') > on('cpu') && on('cpu') > 0, `most tiles on the GPU, the overflow on the CPU (${on('cuda:0')} / ${on('cpu')})`)
})

t.test('admission counts tiles: a request that would overflow every queue is refused whole', async (t) => {
  const { dispatcher } = setup()
  await t.rejects(dispatcher.dispatchMany('m', Array(1001).fill(IMAGE), {}, { policy: 'throughput', deadline: 60_000 }), { code: 'SY_OVERLOADED', retryAfter: 1 })
  await t.rejects(dispatcher.dispatchMany('m', Array(24).fill(IMAGE), {}, { policy: 'latency', deadline: 10 }), { code: 'SY_DEADLINE_UNMEETABLE' })
})

t.test('a tiled request that fails answers only once every tile has settled', async (t) => {
  // one device, two workers, batches of one: tile 0 on worker 0, whose run throws; with no
  // other device to retry on it fails — while tile 1 still runs on worker 1
  const clock = new VirtualClock()
  const cpu = new SimDevice({ id: 'cpu', workers: 2, models: { m: { a: 5, b: 20, maxBatchSize: 1 } } }, clock, seededRandom(5)).scheduler
  const dispatcher = new Dispatcher({ devices: [cpu], get: () => cpu }, { decision () {}, rejected () {}, retry () {}, predictionError () {} }, clock)
  cpu.injectFault('throw')
  let answered: unknown = null
  const p = dispatcher.dispatchMany('m', [IMAGE, IMAGE], {}, { policy: 'latency', deadline: 10_000 }).catch((err: Error) => { answered = err; throw err })
  t.ok(clock.step(), 'tile 0 ends (failed)')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(answered, null, 'no answer while tile 1 runs')
  t.equal(cpu.workers[1]!.running?.size, 1)
  t.ok(clock.step(), 'tile 1 ends')
  await t.rejects(p, { code: 'SY_INFERENCE_FAILED' })
})

t.test('a client that goes away: its queued items are removed and counted, its running item still runs', async (t) => {
  // one worker, batches of one: of a 3-image request, image 0 runs and images 1 and 2 wait,
  // behind them another client's image
  const clock = new VirtualClock()
  const cpu = new SimDevice({ id: 'cpu', workers: 1, models: { m: { a: 5, b: 20, maxBatchSize: 1 } } }, clock, seededRandom(5)).scheduler
  const cancelled: string[] = []
  const dispatcher = new Dispatcher({ devices: [cpu], get: () => cpu }, { decision () {}, rejected () {}, retry () {}, predictionError () {}, cancelled: (m, reason) => cancelled.push(`${m}:${reason}`) }, clock)
  const client = new AbortController()
  let settled: unknown = null
  const gone = dispatcher.dispatchMany('m', [IMAGE, IMAGE, IMAGE], {}, { policy: 'latency', deadline: 10_000, signal: client.signal }).then(() => { settled = 'answered' }, (err: Error) => { settled = err })
  const other = dispatcher.dispatch('m', IMAGE, {}, { policy: 'latency', deadline: 10_000 })
  t.equal(cpu.lanes.get('m')!.queue.size, 3)
  client.abort()
  t.equal(cpu.lanes.get('m')!.queue.size, 1, 'its two queued images left the queue; the other client\'s stays')
  t.same(cancelled, ['m:client-disconnect', 'm:client-disconnect'])
  t.equal(cpu.workers[0]!.running?.size, 1, 'image 0 still runs')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(settled, null, 'the request settles only once its running image has')
  t.ok(clock.step(), 'image 0 ends')
  await gone
  t.equal((settled as Error).name, 'RequestCancelledError')
  clock.advance(100)
  t.equal((await other).device, 'cpu', 'the other client is served next')
  t.equal(cpu.lanes.get('m')!.inFlight, 0)
})

t.test('a client gone before its request is queued: nothing is queued', async (t) => {
  const { clock, dispatcher } = setup()
  const client = new AbortController()
  client.abort()
  await t.rejects(dispatcher.dispatch('m', IMAGE, {}, { policy: 'latency', deadline: 10_000, signal: client.signal }), { name: 'RequestCancelledError' })
  clock.advance(1000)
})

t.test('the offered load is counted on the pool of the variant a request asks for, once', async (t) => {
  // two devices running model m as different variants, each in its own pool; a third without a pool
  const int8 = new RequestQueue(); const fp32 = new RequestQueue()
  const device = (lanes: Array<[string, { variant: string, pool?: RequestQueue }]>): Scheduler => ({ lanes: new Map(lanes) }) as unknown as Scheduler
  const devices = [device([['k', { variant: 'default' }]]), device([['m', { variant: 'int8', pool: int8 }]]), device([['m', { variant: 'fp32', pool: fp32 }]])]
  const seen = (q: RequestQueue): number => Math.round(q.arrived.perMs(0) * OFFERED_TAU_MS) // items counted at t = 0
  noteOffered(devices, 'm', 'fp32', 2, 0)
  t.equal(seen(fp32), 2, 'the variant asked for')
  t.equal(seen(int8), 0, 'not the other variant\'s pool')
  noteOffered(devices, 'm', undefined, 3, 0)
  t.same([seen(int8), seen(fp32)], [3, 2], 'no variant asked: the first pool that could serve it, counted once')
  noteOffered(devices, 'k', undefined, 1, 0)
  noteOffered(devices, 'm', 'fp16', 1, 0)
  t.same([seen(int8), seen(fp32)], [3, 2], 'a lane without a pool, or a variant nobody runs: nothing counted')
})

t.test('a pooled item whose batch fails on another device than it was routed to is retried away from the one that failed it', async (t) => {
  // a GPU-like and a CPU-like device sharing the throughput pool: six items at once, all routed
  // to the GPU (the earliest finish), and the idle CPU pulls two of them (a batch ending at 14 ms)
  const run = (fault: 'exit' | 'throw'): Promise<Array<{ routed: string, ran: string | Error }>> => {
    const clock = new VirtualClock()
    const pools = new Map<string, RequestQueue>()
    const gpu = new SimDevice({ id: 'gpu', workers: 1, models: { m: { a: 8, b: 1, maxBatchSize: 16 } }, maxQueue: 1000 }, clock, seededRandom(1), { pools }).scheduler
    const cpu = new SimDevice({ id: 'cpu', workers: 1, models: { m: { a: 2, b: 6, maxBatchSize: 4 } }, maxQueue: 1000 }, clock, seededRandom(2), { pools }).scheduler
    const devices = [gpu, cpu]
    const routed: string[] = []; const retried: string[] = []
    const dispatcher = new Dispatcher({ devices, get: (id) => devices.find((d) => d.id === id) }, {
      decision: (device) => routed.push(device), rejected () {}, retry: (device) => retried.push(device), predictionError () {}
    }, clock)
    cpu.injectFault(fault) // the CPU's first batch: its worker exits, or the run throws
    const out = Array.from({ length: 6 }, (_, i) => dispatcher.dispatch('m', IMAGE, {}, { policy: 'throughput', deadline: 60_000 })
      .then((r) => ({ routed: routed[i]!, ran: r.device }), (err: Error) => ({ routed: routed[i]!, ran: err })))
    while (clock.step()) {}
    t.same(retried, [cpu.id, cpu.id], `${fault}: the retries are counted on the device that failed them`)
    return Promise.all(out)
  }
  for (const fault of ['exit', 'throw'] as const) {
    const answers = await run(fault)
    t.same(answers.map((a) => a.routed), ['gpu', 'gpu', 'gpu', 'gpu', 'gpu', 'gpu'], `${fault}: every item routed to the GPU`)
    // the CPU's batch failed; its two items go to the GPU, not back to the CPU (which, with its
    // worker gone, would refuse them and fail the request though the GPU is healthy)
    t.same(answers.map((a) => a.ran), ['gpu', 'gpu', 'gpu', 'gpu', 'gpu', 'gpu'], `${fault}: every item answered, by the GPU`)
  }
})

t.test('under the shared-queue rule a retry runs where it was placed, away from the device that failed it, though that device still takes from the queue', async (t) => {
  // two devices consuming one queue per model (Triton's rule); the first batch fails on `a`,
  // whose worker lives on (a run that throws) and is free again at once
  const clock = new VirtualClock()
  const sharedQueues = new Map([['m', new RequestQueue()]])
  const a = new SimDevice({ id: 'a', workers: 1, models: { m: { a: 2, b: 1, maxBatchSize: 4 } }, maxQueue: 1000 }, clock, seededRandom(1), { sharedQueues }).scheduler
  const b = new SimDevice({ id: 'b', workers: 1, models: { m: { a: 20, b: 10, maxBatchSize: 4 } }, maxQueue: 1000 }, clock, seededRandom(2), { sharedQueues }).scheduler
  const devices = [a, b]
  const retried: string[] = []
  const dispatcher = new Dispatcher({ devices, get: (id) => devices.find((d) => d.id === id) }, {
    decision () {}, rejected () {}, retry: (device) => retried.push(device), predictionError () {}
  }, clock, 'shared-queue')
  a.injectFault('throw')
  const out = Array.from({ length: 2 }, () => dispatcher.dispatch('m', IMAGE, {}, { policy: 'throughput', deadline: 60_000 }).then((r) => r.device, (err: Error) => err.message))
  while (clock.step()) {}
  t.same(retried, ['a', 'a'], 'the first batch failed on a')
  t.same(await Promise.all(out), ['b', 'b'], 'both retries ran on b, though a was free first')
})
