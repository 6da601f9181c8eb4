// The puller's release at a batch's end: the ready images it hands over must make the worker's
// next batch together with what its queue already holds. The server's own Scheduler (a
// SimDevice's) on a virtual clock: one worker, batches of 8, t(n) = 750 + 10·n ms (a device
// with a large fixed cost per batch, like bench:jobs' slowest replica), a 5 ms batch delay.
import t from 'tap'
import { VirtualClock } from '../devices/clock.js'
import type { QueuedItem } from '../devices/request-queue.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { holding } from './puller.js'

const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }

function item (clock: VirtualClock): QueuedItem {
  return { image: IMAGE, params: {}, policy: 'throughput', deadline: clock.now() + 60_000, enqueuedAt: clock.now(), resolve: () => {}, reject: () => {} }
}

/**
 * A batch of 7 runs and one image waits in the queue behind it (it arrived after the batch
 * delay had sent the 7: a late decode, a pause). When the batch ends, the 'batch' handler hands
 * over 7 ready images with `submit`. Returns the sizes of the batches that ran.
 */
function afterSplit (submit: (device: SimDevice['scheduler'], enqueue: () => void) => void): number[] {
  const clock = new VirtualClock()
  const device = new SimDevice({ id: 'cpu', workers: 1, models: { m: { a: 750, b: 10, maxBatchSize: 8 } }, batchDelayMs: { latency: 0, throughput: 5 } }, clock, seededRandom(1)).scheduler
  const sizes: number[] = []
  let handedOver = false
  device.on('batch', (ev: { size: number }) => {
    sizes.push(ev.size)
    if (handedOver) return
    handedOver = true
    submit(device, () => { for (let i = 0; i < 7; i++) device.enqueue('m', item(clock)) })
  })
  for (let i = 0; i < 7; i++) device.enqueue('m', item(clock))
  clock.advance(6)
  device.enqueue('m', item(clock))
  clock.runUntil(10_000)
  return sizes
}

t.test('released images and the one left over start as one batch', async (t) => {
  t.same(afterSplit((device, enqueue) => holding([device], enqueue)), [7, 8], 'handed over with the device\'s planning held: 1 + 7 = a full batch')
})

t.test('without the hold the split goes on: the left-over image starts with whatever arrived first', async (t) => {
  // the first enqueue lets the device plan at once, and the left-over image's batch delay has long passed
  t.same(afterSplit((_device, enqueue) => enqueue()), [7, 2, 6], 'enqueued one by one: a batch of 2 (the left-over and the first), then the other 6')
})
