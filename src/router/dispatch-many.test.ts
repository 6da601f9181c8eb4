// dispatchMany: several images of one request, answered in the order given however their
// batches finish, with a report of what ran where, in which batches. The first test runs the
// real Dispatcher on a device whose batches finish in reverse; the report's counting is then
// pinned on a fake dispatcher. Placement itself, and that a failed request answers only once
// all its images settled, are pinned on simulated devices in dispatcher.test.ts.
import { EventEmitter } from 'node:events'
import t from 'tap'
import { VirtualClock } from '../devices/clock.js'
import type { BatchCallback, Executor } from '../devices/executor.js'
import type { QueuedItem } from '../devices/request-queue.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { Dispatcher, type Dispatched } from './dispatcher.js'
import { dispatchMany } from './dispatch-many.js'
import type { PreparedImage } from '../core/items.js'

const img = (n: number): PreparedImage => ({ pixels: new Uint8Array([n]), width: 1, height: 1, originalWidth: 1, originalHeight: 1 })
const opts = { policy: 'latency' as const, deadline: Infinity }

/** Answers every item with its own image's tag (width), `ms` after the batch started. */
class EchoExecutor extends EventEmitter implements Executor {
  constructor (private readonly clock: VirtualClock, private readonly ms: number, private readonly finished: number[]) { super() }
  run (_model: string, items: readonly QueuedItem[], done: BatchCallback): void {
    this.clock.setTimer(this.clock.now() + this.ms, () => {
      for (const it of items) this.finished.push(it.image.pixels[0]!)
      done(null, { results: items.map((it) => ({ kind: 'detect', width: it.image.pixels[0]!, height: 1, detections: [] })), serviceMs: this.ms, postMs: 0 })
    })
  }

  async stop (): Promise<void> {}
}

t.test('answered in reverse, reported in the order given', async (t) => {
  // five workers, batches of one: image i runs on worker i, which takes 50 − 10·i ms
  const clock = new VirtualClock()
  const cpu = new SimDevice({ id: 'cpu', workers: 5, models: { m: { a: 5, b: 5, maxBatchSize: 1 } } }, clock, seededRandom(1)).scheduler
  const finished: number[] = []
  for (let i = 0; i < 5; i++) cpu.adopt(i, new EchoExecutor(clock, 50 - 10 * i, finished))
  const dispatcher = new Dispatcher({ devices: [cpu], get: () => cpu }, { decision () {}, rejected () {}, retry () {}, predictionError () {} }, clock)
  const p = dispatchMany(dispatcher, 'm', [0, 1, 2, 3, 4].map(img), {}, opts, async (i) => img(i))
  clock.advance(100)
  const r = await p
  t.same(finished, [4, 3, 2, 1, 0], 'the batches finished in reverse')
  t.same(r.items.map((x) => x.result.kind === 'detect' && x.result.width), [0, 1, 2, 3, 4], 'the answers are in the order given')
  t.same(r.items.map((x) => x.inferenceMs), [50, 40, 30, 20, 10], 'each with its own batch\'s times')
  t.same(r.devices, { cpu: 5 })
  t.equal(r.batches.length, 5)
})

function done (device: string, batchSize: number, inferenceMs: number, tag: number): Dispatched {
  return { result: { kind: 'detect', width: tag, height: 1, detections: [] }, device, batchSize, queueMs: 0, inferenceMs, postprocessMs: 1, predictedMs: 5 }
}

/** a fake whose dispatchMany answers image n with plan[n] */
function fake (plan: Dispatched[]): Dispatcher {
  return { dispatchMany: async (_m: string, images: PreparedImage[]) => images.map((image) => plan[image.pixels[0]!]!) } as unknown as Dispatcher
}

t.test('counts images per device and per batch', async (t) => {
  const dispatcher = fake([done('cpu', 1, 10, 0), done('cpu', 2, 20, 1), done('cpu', 2, 20, 2), done('gpu', 2, 20, 3), done('gpu', 2, 20, 4)])
  const r = await dispatchMany(dispatcher, 'm', [0, 1, 2, 3, 4].map(img), {}, opts, async (i) => img(i))
  t.same(r.devices, { cpu: 3, gpu: 2 })
  t.same(r.batches.map((b) => [b.device, b.size, b.items]), [['cpu', 1, 1], ['cpu', 2, 2], ['gpu', 2, 2]])
})
