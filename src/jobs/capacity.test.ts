// Free throughput capacity read from a real scheduler (SimDevice: the server's Scheduler with
// simulated executors) on a virtual clock.
import t from 'tap'
import { VirtualClock } from '../devices/clock.js'
import { RequestQueue, type QueuedItem } from '../devices/request-queue.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { drainRate, freeThroughputSlots, startableSlots } from './capacity.js'

const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }

function item (clock: VirtualClock, policy: 'latency' | 'throughput'): QueuedItem {
  return { image: IMAGE, params: {}, policy, deadline: clock.now() + 10_000, enqueuedAt: clock.now(), resolve: () => {}, reject: () => {} }
}

t.test('one batch per bulk-taking worker, minus throughput items already queued', async (t) => {
  const clock = new VirtualClock()
  const device = new SimDevice({ id: 'cpu', workers: 3, latencyWorkers: 1, models: { m: { a: 5, b: 10, maxBatchSize: 4 } }, batchDelayMs: { latency: 0, throughput: 5 } }, clock, seededRandom(1)).scheduler
  t.equal(freeThroughputSlots([device], 'm'), 8, 'two workers take bulk work (one is reserved for latency): 2 × 4')
  t.equal(freeThroughputSlots([device], 'other'), 0, 'a model the device does not serve')
  for (let i = 0; i < 4; i++) device.enqueue('m', item(clock, 'throughput'))
  t.equal(device.workers.filter((w) => w.running !== null).length, 1, 'a full batch started at once')
  t.equal(freeThroughputSlots([device], 'm'), 8, 'running work does not count: each worker is offered one batch ahead')
  for (let i = 0; i < 3; i++) device.enqueue('m', item(clock, 'throughput'))
  t.equal(device.workers.filter((w) => w.running !== null).length, 1, 'three queued wait the batch delay for the idle worker')
  t.equal(freeThroughputSlots([device], 'm'), 8, 'they are the idle worker\'s next batch, not one beyond it: they do not count')
  clock.advance(5)
  t.equal(device.workers.filter((w) => w.running !== null).length, 2, 'after the delay they run')
  t.equal(freeThroughputSlots([device], 'm'), 8, 'the same free slots while they run')
  for (let i = 0; i < 3; i++) device.enqueue('m', item(clock, 'throughput'))
  t.equal(freeThroughputSlots([device], 'm'), 5, 'three queued while every bulk worker is busy count against it')
  device.enqueue('m', item(clock, 'latency'))
  t.equal(freeThroughputSlots([device], 'm'), 5, 'latency-class work does not')
  clock.runUntil(10_000)
  t.equal(freeThroughputSlots([device], 'm'), 8, 'all free again')
  for (let i = 0; i < 20; i++) device.enqueue('m', item(clock, 'throughput'))
  t.equal(freeThroughputSlots([device], 'm'), 0, 'never negative')
})

t.test('late-binding pools: items an idle worker is about to take are its next batch; the rest count against the free slots', async (t) => {
  const clock = new VirtualClock()
  const pools = new Map([['m@default', new RequestQueue()]]) // keyed model@variant (lane-settings.ts)
  const delay = { latency: 0, throughput: 5 }
  const cpu = new SimDevice({ id: 'cpu', workers: 1, batchDelayMs: delay, models: { m: { a: 0, b: 50, maxBatchSize: 2 } } }, clock, seededRandom(1), { pools }).scheduler
  const gpu = new SimDevice({ id: 'gpu', kind: 'cuda', workers: 1, batchDelayMs: delay, models: { m: { a: 4, b: 1, maxBatchSize: 8 } } }, clock, seededRandom(2), { pools }).scheduler
  const pool = pools.get('m@default')!
  t.equal(freeThroughputSlots([cpu, gpu], 'm'), 10, 'a batch per worker: 2 + 8')
  for (let i = 0; i < 12; i++) pool.push(item(clock, 'throughput')) // not pumped: both workers still idle
  t.equal(freeThroughputSlots([cpu, gpu], 'm'), 8, 'twelve pooled: ten are the idle workers\' next batches, two wait beyond them')
  for (let i = 0; i < 3; i++) cpu.lanes.get('m')!.queue.push(item(clock, 'throughput'))
  t.equal(freeThroughputSlots([cpu, gpu], 'm'), 5, 'three more in the CPU\'s own queue: its worker starts two of them, the pool fills the GPU\'s eight, five wait')
  t.equal(startableSlots([cpu, gpu], 'm'), 0, 'nothing more may start now')
})

t.test('what may start now: a batch per idle bulk-taking worker, minus throughput items queued', async (t) => {
  const clock = new VirtualClock()
  const device = new SimDevice({ id: 'cpu', workers: 3, latencyWorkers: 1, models: { m: { a: 5, b: 10, maxBatchSize: 4 } }, batchDelayMs: { latency: 0, throughput: 5 } }, clock, seededRandom(1)).scheduler
  t.equal(startableSlots([device], 'm'), 8, 'two idle workers take bulk work: 2 × 4 (the reserved one does not)')
  for (let i = 0; i < 4; i++) device.enqueue('m', item(clock, 'throughput'))
  t.equal(startableSlots([device], 'm'), 4, 'one worker runs a batch: only the idle one may start more')
  for (let i = 0; i < 3; i++) device.enqueue('m', item(clock, 'throughput'))
  t.equal(startableSlots([device], 'm'), 1, 'three queued for it (waiting for the batch delay)')
  device.enqueue('m', item(clock, 'latency'))
  t.equal(startableSlots([device], 'm'), 1, 'latency-class work runs on the reserved worker: it does not count')
  clock.runUntil(10_000)
  t.equal(startableSlots([device], 'm'), 8, 'all idle again')
})

t.test('the rate decoding has to keep up with: full batches on every bulk-taking worker, by the cost model', async (t) => {
  const clock = new VirtualClock()
  const device = new SimDevice({ id: 'cpu', workers: 3, latencyWorkers: 1, models: { m: { a: 5, b: 10, maxBatchSize: 4 } }, batchDelayMs: { latency: 0, throughput: 5 } }, clock, seededRandom(1)).scheduler
  const lane = device.lanes.get('m')!
  t.ok(Math.abs(drainRate([device], 'm') - 2 * 4 / lane.cost.predict(4)) < 1e-12, 'two bulk workers × B / t(B) (the reserved one runs no bulk work)')
  t.ok(Math.abs(lane.cost.predict(4) - 45) < 5, `t(4) ≈ 5 + 10 × 4 (${lane.cost.predict(4).toFixed(1)})`)
  t.equal(drainRate([device], 'other'), 0, 'a model the device does not serve')
})
