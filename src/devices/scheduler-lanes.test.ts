// Lanes that come and go at run time (the model repository), on a virtual clock with simulated
// executors: removeLane() drains, a worker held by a model load gets no batches.
import t from 'tap'
import { DeviceRefusedError } from '../errors.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { VirtualClock } from './clock.js'
import type { CompletedItem, QueuedItem } from './request-queue.js'

const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }
interface Outcome { at: number, done?: CompletedItem, err?: Error }

function setup (workers = 1): { clock: VirtualClock, device: SimDevice } {
  const clock = new VirtualClock()
  const models = { m: { a: 5, b: 10, maxBatchSize: 4 }, other: { a: 5, b: 10, maxBatchSize: 4 } }
  return { clock, device: new SimDevice({ id: 'cpu', workers, models, batchDelayMs: { latency: 0, throughput: 1000 } }, clock, seededRandom(1)) }
}

function submit (clock: VirtualClock, device: SimDevice, model: string, policy: 'latency' | 'throughput', out: Outcome[]): void {
  const item: QueuedItem = {
    image: IMAGE, params: {}, policy, deadline: clock.now() + 10_000, enqueuedAt: clock.now(),
    resolve: (done) => out.push({ at: clock.now(), done }),
    reject: (err) => out.push({ at: clock.now(), err })
  }
  device.enqueue(model, item)
}

t.test('removeLane: the lane leaves at once, what is queued runs without its batch delay, then it resolves', async (t) => {
  const { clock, device } = setup()
  const out: Outcome[] = []
  for (let i = 0; i < 3; i++) submit(clock, device, 'm', 'throughput', out)
  t.equal(device.workers[0]!.running, null, 'a partial batch waits up to 1000 ms to fill')
  let drained = false
  const removed = device.removeLane('m').then(() => { drained = true })
  t.notOk(device.lanes.has('m'), 'the router no longer sees it')
  t.equal(device.workers[0]!.running?.size, 3, 'nothing more will join: the three run now')
  submit(clock, device, 'm', 'throughput', out)
  t.ok(out[0]?.err instanceof DeviceRefusedError, 'a new item is refused (the dispatcher places it elsewhere)')
  clock.runUntil(34)
  await new Promise((resolve) => setImmediate(resolve))
  t.notOk(drained, 'not drained while its batch runs')
  clock.runUntil(35)
  await removed
  t.ok(drained, 'resolved when the last of it finished')
  t.same(out.slice(1).map((o) => [o.at, o.done?.batchSize]), [[35, 3], [35, 3], [35, 3]], 't(3) = 5 + 3·10')
  submit(clock, device, 'other', 'latency', out)
  clock.runUntil(200)
  t.equal(out.at(-1)?.done?.device, 'cpu', 'the other lanes serve on')
})

t.test('removeLane of an idle lane resolves at once; of an unknown one too', async (t) => {
  const { device } = setup()
  await device.removeLane('m')
  await device.removeLane('nothing')
  t.notOk(device.lanes.has('m'))
})

t.test('a held worker (loading a model) gets no batches; the others take them', async (t) => {
  const { clock, device } = setup(2)
  const out: Outcome[] = []
  device.workers[0]!.held = true
  submit(clock, device, 'm', 'latency', out)
  t.equal(device.workers[0]!.running, null, 'the held worker runs nothing')
  t.equal(device.workers[1]!.running?.size, 1, 'the other one takes it')
  submit(clock, device, 'm', 'latency', out)
  t.equal(device.workers[0]!.running, null, 'even while the other is busy')
  device.workers[0]!.held = false
  device.pump()
  t.equal(device.workers[0]!.running?.size, 1, 'released: it takes the waiting item')
  clock.runUntil(100)
  t.equal(out.length, 2)
})
