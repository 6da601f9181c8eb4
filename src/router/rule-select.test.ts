// Choosing the rule by replay: the selector's hysteresis, and the switch it drives
// (Dispatcher.useRule) both ways on real Schedulers (SimDevices) behind the real Dispatcher and
// Router, on a virtual clock without jitter: every time is exact.
import t from 'tap'
import { VirtualClock } from '../devices/clock.js'
import { RequestQueue } from '../devices/request-queue.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { Dispatcher, type Dispatched, type DispatchObserver } from './dispatcher.js'
import { RuleSelector } from './rule-select.js'

const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }
const quiet: DispatchObserver = { decision: () => {}, rejected: () => {}, retry: () => {}, predictionError: () => {} }

t.test('the rule changes only after `confirm` windows in a row chose the other one', async (t) => {
  const s = new RuleSelector()
  t.equal(s.current, 'switchyard', 'switchyard\'s rule first')
  t.equal(s.observe('shared-queue'), false, 'one window against it: kept')
  t.equal(s.observe('switchyard'), false)
  t.equal(s.observe('shared-queue'), false, 'the count starts again after a window for it')
  t.equal(s.observe('shared-queue'), true, 'two in a row: switched')
  t.equal(s.current, 'shared-queue')
  t.equal(s.observe('shared-queue'), false, 'a window for the rule in force changes nothing')
  t.equal(s.observe('switchyard'), false)
  t.equal(s.observe('switchyard'), true, 'and back, the same way')
  t.equal(s.current, 'switchyard')
  t.equal(s.switches, 2)

  const once = new RuleSelector({ start: 'shared-queue', confirm: 1 })
  t.equal(once.observe('switchyard'), true, 'confirm 1: every verdict is followed')
  t.throws(() => new RuleSelector({ confirm: 0 }), RangeError)
  t.throws(() => new RuleSelector({ confirm: 1.5 }), RangeError)
})

// GPU: t(n) = 4 + n, batches of 8. CPU: t(n) = 50·n, batches of 2. Both serve model m, whose
// throughput items wait in one pool under switchyard's rule.
function fleet (): { clock: VirtualClock, cpu: SimDevice, gpu: SimDevice, pool: RequestQueue, dispatcher: Dispatcher } {
  const clock = new VirtualClock()
  const pools = new Map([['m@default', new RequestQueue()]])
  const delay = { latency: 0, throughput: 0 }
  const cpu = new SimDevice({ id: 'cpu', workers: 1, batchDelayMs: delay, models: { m: { a: 0, b: 50, maxBatchSize: 2 } } }, clock, seededRandom(1), { pools })
  const gpu = new SimDevice({ id: 'gpu', kind: 'cuda', workers: 1, batchDelayMs: delay, models: { m: { a: 4, b: 1, maxBatchSize: 8 } } }, clock, seededRandom(2), { pools })
  const byId = new Map([['cpu', cpu.scheduler], ['gpu', gpu.scheduler]])
  const dispatcher = new Dispatcher({ devices: [cpu.scheduler, gpu.scheduler], get: (id) => byId.get(id) }, quiet, clock)
  return { clock, cpu, gpu, pool: pools.get('m@default')!, dispatcher }
}

t.test('to the shared queue and back (Dispatcher.useRule): what waits moves with the rule, and every item is answered once', async (t) => {
  const { clock, cpu, gpu, pool, dispatcher } = fleet()
  const out: Array<{ tag: string, at: number, device: string, batch: number }> = []
  const send = (tag: string, policy: 'latency' | 'throughput'): void => dispatcher.submit({ model: 'm', image: IMAGE, params: {}, opts: { policy, deadline: clock.now() + 60_000 } }, (err, r?: Dispatched) => {
    t.equal(err, null, `${tag} answered`)
    out.push({ tag, at: clock.now(), device: r!.device, batch: r!.batchSize })
  })
  for (let i = 0; i < 16; i++) send(`t${i}`, 'throughput')
  t.equal(pool.size, 15, 'switchyard: the GPU runs the first alone (until 5 ms); the CPU (50 ms) takes none of the 15 the GPU reaches sooner')

  dispatcher.useRule('shared-queue')
  t.equal(dispatcher.strategy, 'shared-queue')
  const shared = gpu.scheduler.lanes.get('m')!.queue
  t.equal(cpu.scheduler.lanes.get('m')!.queue, shared, 'both devices take from one queue')
  t.equal(pool.size, 0, 'the pool\'s items moved there')
  t.equal(shared.size, 13, 'and the free CPU took a batch of 2 from it at once (until 100 ms)')

  clock.advance(1)
  send('l0', 'latency')
  t.equal(shared.latency.length, 1, 'a latency item arriving now waits in the shared queue')

  clock.advance(1)
  dispatcher.useRule('switchyard')
  t.equal(dispatcher.strategy, 'switchyard')
  t.not(gpu.scheduler.lanes.get('m')!.queue, shared, 'each lane has its own queue again')
  t.equal(gpu.scheduler.lanes.get('m')!.pool, pool, 'and its pool')
  t.equal(shared.consumers.length, 0, 'nobody takes from the shared queue any more')
  t.equal(shared.size, 0, 'what waited there was placed again')
  t.equal(pool.size, 13, 'the throughput items in the pool')
  t.equal(gpu.scheduler.lanes.get('m')!.queue.latency.length, 1, 'the latency item on the device of its earliest finish: the GPU (free at 5 ms), not the CPU (at 100)')

  clock.advance(1000)
  t.equal(out.length, 17, 'nothing lost, nothing answered twice')
  t.same(out.map((o) => [o.tag, o.device, o.at, o.batch]), [
    ['t0', 'gpu', 5, 1],
    // the latency item first, with five riders from the pool: t(6) = 10 ≤ 2·t(1)
    ['l0', 'gpu', 15, 6], ...['t3', 't4', 't5', 't6', 't7'].map((x) => [x, 'gpu', 15, 6]),
    ...Array.from({ length: 8 }, (_, i) => [`t${i + 8}`, 'gpu', 27, 8]),
    // taken by the CPU while the shared queue's rule was in force (the first free worker)
    ['t1', 'cpu', 100, 2], ['t2', 'cpu', 100, 2]
  ], 'in time order')
})

t.test('a request pinned to a device (X-Switchyard-Device) runs there under the shared queue, and through the switch back', async (t) => {
  const { clock, gpu, dispatcher } = fleet()
  const out: Array<[string, string, number, number]> = []
  const send = (tag: string, policy: 'latency' | 'throughput', pinned?: string): void => dispatcher.submit({ model: 'm', image: IMAGE, params: {}, opts: { policy, deadline: clock.now() + 60_000, pinned } }, (err, r?: Dispatched) => {
    t.equal(err, null, `${tag} answered`)
    out.push([tag, r!.device, clock.now(), r!.batchSize])
  })
  send('t0', 'throughput')
  dispatcher.useRule('shared-queue')
  send('p1', 'latency', 'gpu')
  send('u1', 'latency')
  const lane = gpu.scheduler.lanes.get('m')!
  t.equal(lane.bound?.latency.length, 1, 'the pinned item waits for its GPU (busy until 5 ms) in the lane\'s own queue')
  t.equal(lane.queue.size, 0, 'the other was taken from the shared queue by the free CPU at once')
  clock.advance(1)
  send('p2', 'latency', 'gpu')
  clock.advance(1)
  dispatcher.useRule('switchyard')
  t.equal(lane.bound, undefined, 'back on switchyard\'s rule: no bound queue')
  t.equal(lane.queue.latency.length, 2, 'the pinned items wait in the lane\'s own queue, where they were')
  clock.advance(1000)
  t.same(out, [
    ['t0', 'gpu', 5, 1],
    ['p1', 'gpu', 11, 2], ['p2', 'gpu', 11, 2],
    ['u1', 'cpu', 50, 1]
  ], 'both pinned items on the GPU, in one batch (t(2) = 6 from 5 ms); the other on the CPU that was free first')
})
