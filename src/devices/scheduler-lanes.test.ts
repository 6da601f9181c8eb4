// Lanes that come and go at run time (the model repository), on a virtual clock with simulated
// executors: removeLane() drains, a worker held by a model load gets no batches.
import t from 'tap'
import { DeviceRefusedError } from '../errors.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { VirtualClock } from './clock.js'
import type { CompletedItem, QueuedItem } from './request-queue.js'
import type { Scheduler } from './scheduler.js'

const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }
interface Outcome { at: number, done?: CompletedItem, err?: Error }

function setup (workers = 1): { clock: VirtualClock, device: Scheduler } {
  const clock = new VirtualClock()
  const models = { m: { a: 5, b: 10, maxBatchSize: 4 }, other: { a: 5, b: 10, maxBatchSize: 4 } }
  return { clock, device: new SimDevice({ id: 'cpu', workers, models, batchDelayMs: { latency: 0, throughput: 1000 } }, clock, seededRandom(1)).scheduler }
}

function submit (clock: VirtualClock, device: Scheduler, model: string, policy: 'latency' | 'throughput', out: Outcome[]): void {
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

// openLane (the model repository's load): one worker loads and calibrates the model while the
// other serves; the lane opens on that worker, whose next plan is the new lane's while the
// other worker loads it in turn. Loads take virtual time (calibration 500 ms, a plain load 300 ms).
function loading (workers: number, latencyWorkers: number): { clock: VirtualClock, device: Scheduler, loads: Array<{ worker: number, calibrate: boolean, at: number }>, open: () => Promise<{ others: Promise<void> }> } {
  const clock = new VirtualClock()
  // the simulated executors know the new model's costs; its lane starts absent
  const models = { other: { a: 5, b: 10, maxBatchSize: 4 }, new: { a: 5, b: 10, maxBatchSize: 4 } }
  const device = new SimDevice({ id: 'cpu', workers, latencyWorkers, models, batchDelayMs: { latency: 0, throughput: 0 } }, clock, seededRandom(1)).scheduler
  void device.removeLane('new')
  const loads: Array<{ worker: number, calibrate: boolean, at: number }> = []
  const report = { name: 'new', inputShape: [], outputShape: [], dynamicBatch: true, maxBatchSize: 4, calibration: [{ batchSize: 1, ms: 15 }, { batchSize: 4, ms: 45 }] }
  const open = async (): Promise<{ others: Promise<void> }> => device.openLane('new', (r) => ({ maxBatchSize: r.maxBatchSize, delayMs: { latency: 0, throughput: 0 }, maxQueue: 64, report: r }), (executor, calibrate) => {
    loads.push({ worker: device.workers.findIndex((w) => w.executor === executor), calibrate, at: clock.now() })
    return new Promise((resolve) => clock.setTimer(clock.now() + (calibrate ? 500 : 300), () => resolve(report)))
  })
  return { clock, device, loads, open }
}
const settle = async (): Promise<void> => { for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve)) }

t.test('openLane: the new model\'s first request runs on the worker that calibrated it, before the other models\' queued work', async (t) => {
  const { clock, device, loads, open } = loading(2, 0)
  const out: Outcome[] = []
  const opening = open()
  t.same(loads, [{ worker: 0, calibrate: true, at: 0 }], 'an idle worker loads and calibrates it')
  t.equal(device.workers[0]!.held, true, 'held meanwhile')
  t.notOk(device.lanes.has('new'), 'no lane before it is calibrated')
  clock.runUntil(480)
  device.together(() => { for (let i = 0; i < 12; i++) submit(clock, device, 'other', 'latency', out) }) // a backlog of the other model
  t.equal(device.workers[1]!.running?.size, 4, 'the other worker serves the other model meanwhile')
  clock.runUntil(500)
  await settle()
  const { others } = await opening
  t.ok(device.lanes.has('new'), 'the lane opens once calibrated')
  t.same(loads.slice(1), [{ worker: 1, calibrate: false, at: 500 }], 'then the other worker loads it (no calibration)')
  t.equal(device.workers[0]!.running?.lane.model, 'other', 'with nothing of the new model queued, the calibrating worker serves on')
  t.equal(device.workers[0]!.running?.size, 1, 'one item at a time while it opens the lane (a batch of 4 would take 45 ms)')
  const busyUntil = device.workers[0]!.busyUntil
  t.equal(busyUntil, 515)
  submit(clock, device, 'new', 'latency', out) // its first request, behind 7 queued items of the other model
  t.equal(device.lanes.get('other')!.queue.size, 7, 'seven of the other model still queued, with earlier deadlines')
  clock.runUntil(busyUntil)
  t.equal(device.workers[0]!.running?.lane.model, 'new', 'the calibrating worker takes the new model\'s request next, before the other model\'s queue')
  clock.runUntil(busyUntil + 15)
  t.same(out.filter((o) => o.at === busyUntil + 15).map((o) => o.done?.batchSize), [1], 'answered after one batch of its own, t(1) = 15 ms')
  t.equal(device.workers[0]!.running?.lane.model, 'other', 'then the other model\'s queue')
  clock.runUntil(800)
  await settle()
  await others
  device.together(() => { for (let i = 0; i < 4; i++) submit(clock, device, 'other', 'latency', out) })
  t.equal(device.workers[0]!.running?.size, 4, 'full batches again once the other worker has loaded it')
  t.equal(device.workers[1]!.held, false, 'the other worker serves again once it has loaded it')
  t.equal(device.workers[0]!.opens ?? null, null, 'and the new lane no longer goes first')
  clock.runUntil(2000)
  t.equal(out.filter((o) => o.err !== undefined).length, 0, 'nothing refused or failed')
  t.equal(out.length, 17)
})

t.test('openLane: while the general worker is held by a load, the reserved latency worker takes bulk work', async (t) => {
  const { clock, device, loads, open } = loading(2, 1)
  const out: Outcome[] = []
  const opening = open()
  t.same(loads, [{ worker: 0, calibrate: true, at: 0 }], 'the reserved worker (idle, first) calibrates; the general one serves')
  submit(clock, device, 'other', 'throughput', out)
  t.equal(device.workers[1]!.running?.lane.model, 'other', 'the general worker takes bulk work meanwhile')
  clock.runUntil(500)
  await settle()
  await opening
  t.equal(device.workers[1]!.held, true, 'now the general worker loads the model')
  t.equal(device.workers[0]!.takesThroughput, true, 'so the reserved one takes bulk work')
  device.together(() => {
    submit(clock, device, 'other', 'throughput', out)
    submit(clock, device, 'new', 'throughput', out)
  })
  t.equal(device.workers[0]!.running?.lane.model, 'new', 'the new model\'s bulk request first, on the worker that calibrated it')
  clock.runUntil(515)
  t.equal(device.workers[0]!.running?.lane.model, 'other', 'then the other model\'s, without waiting for the load (ends at 800)')
  clock.runUntil(530)
  t.same(out.map((o) => [o.at, o.done?.batchSize]), [[15, 1], [515, 1], [530, 1]])
  clock.runUntil(800)
  await settle()
  t.equal(device.workers[0]!.takesThroughput, false, 'once the general worker is back, the reserved one is latency-only again')
})

t.test('openLane: a worker running a batch is not chosen while another is idle', async (t) => {
  const { clock, device, loads, open } = loading(2, 0)
  const out: Outcome[] = []
  submit(clock, device, 'other', 'latency', out)
  t.equal(device.workers[0]!.running?.lane.model, 'other')
  void open()
  t.same(loads, [{ worker: 1, calibrate: true, at: 0 }], 'the idle worker loads it: its load does not wait behind a batch')
  clock.runUntil(2000)
  await settle()
})
