// The device scheduler on a virtual clock with simulated executors (src/sim): every time below
// is exact, on any machine and under any load.
import t from 'tap'
import { BatchFailedError, DeviceRefusedError } from '../errors.js'
import { Dispatcher, type Dispatched } from '../router/dispatcher.js'
import { SimDevice, type SimDeviceSpec } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { VirtualClock } from './clock.js'
import type { CompletedItem, QueuedItem } from './request-queue.js'
import { RequestQueue } from './request-queue.js'
import type { Scheduler } from './scheduler.js'

const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }

/** `device`: the scheduler under test; `sim`: the simulated hardware it drives (slow-downs, killed executors) */
function setup (spec: Partial<SimDeviceSpec> = {}): { clock: VirtualClock, device: Scheduler, sim: SimDevice } {
  const clock = new VirtualClock()
  const sim = new SimDevice({ id: 'cpu', workers: 1, models: { m: { a: 5, b: 10, maxBatchSize: 4 } }, batchDelayMs: { latency: 0, throughput: 5 }, ...spec }, clock, seededRandom(1))
  return { clock, device: sim.scheduler, sim }
}

interface Outcome { at: number, done?: CompletedItem, err?: Error }

function submit (clock: VirtualClock, device: Scheduler, policy: 'latency' | 'throughput', out: Outcome[]): void {
  const item: QueuedItem = {
    image: IMAGE, params: {}, policy, deadline: clock.now() + 10_000, enqueuedAt: clock.now(),
    resolve: (done) => out.push({ at: clock.now(), done }),
    reject: (err) => out.push({ at: clock.now(), err })
  }
  device.enqueue('m', item)
}

t.test('a full batch goes at once; a partial one after the batch delay', async (t) => {
  const { clock, device } = setup()
  const out: Outcome[] = []
  for (let i = 0; i < 5; i++) submit(clock, device, 'throughput', out)
  t.equal(device.workers[0]!.running?.size, 4, 'four items (the batch limit) run at once')
  clock.runUntil(45)
  t.same(out.map((o) => [o.at, o.done?.batchSize]), [[45, 4], [45, 4], [45, 4], [45, 4]], 't(4) = 5 + 4·10 = 45 ms')
  clock.runUntil(1000)
  t.same(out.slice(4).map((o) => [o.at, o.done?.batchSize, o.done?.queueMs]), [[60, 1, 45]], 'the fifth waited for the worker (45 ms ≥ delay), then ran alone: 45 + 15')
})

t.test('latency work goes first and never waits for a batch', async (t) => {
  const { clock, device } = setup({ workers: 2, latencyWorkers: 1 })
  const out: Outcome[] = []
  submit(clock, device, 'throughput', out)
  submit(clock, device, 'latency', out)
  t.equal(device.workers[0]!.running?.size, 1, 'the reserved worker runs the latency item at once')
  t.equal(device.workers[1]!.running, null, 'the bulk item waits its 5 ms batch delay')
  clock.runUntil(100)
  t.same(out.map((o) => [o.at, o.done?.batchSize]), [[15, 1], [20, 1]])
})

t.test('a batch event says how many latency items the batch held and whether a reserved worker ran it', async (t) => {
  const { clock, device } = setup({ workers: 2, latencyWorkers: 1 })
  const events: Array<{ size: number, latency: number, reserved: boolean }> = []
  device.on('batch', (e: { size: number, latency: number, reserved: boolean }) => events.push({ size: e.size, latency: e.latency, reserved: e.reserved }))
  const out: Outcome[] = []
  submit(clock, device, 'throughput', out)
  submit(clock, device, 'latency', out)
  clock.runUntil(100)
  t.same(events, [{ size: 1, latency: 1, reserved: true }, { size: 1, latency: 0, reserved: false }], 'the latency item on the reserved worker, the bulk one on the general worker')
})

t.test('the cost model is refitted from what batches really take', async (t) => {
  const { clock, device, sim } = setup()
  const lane = device.lanes.get('m')!
  t.ok(Math.abs(lane.cost.predict(1) - 15) < 1e-9, 'seeded by the calibration')
  sim.setSlowdown(2)
  const out: Outcome[] = []
  for (let k = 0; k < 200; k++) { for (let i = 0; i < (k % 4) + 1; i++) submit(clock, device, 'throughput', out); clock.advance(200) }
  t.ok(Math.abs(lane.cost.a - 10) < 1e-6 && Math.abs(lane.cost.b - 20) < 1e-6, `after the slow-down: t(n) = ${lane.cost.a} + ${lane.cost.b}·n`)
  t.equal(out.length, 500)
})

t.test('only the reserved worker alive: it takes throughput work instead of stalling (bug)', async (t) => {
  // On the old device the reserved worker was picked by array position, so with the general
  // worker dead a bulk item sat in the queue until a replacement started (up to 30 s of backoff)
  // while /readyz said healthy.
  const { clock, device, sim } = setup({ workers: 2, latencyWorkers: 1 })
  sim.executors.started[1]!.kill()
  t.notOk(device.workers[1]!.alive, 'the general worker is dead (replacement pending)')
  t.ok(device.healthy)
  const out: Outcome[] = []
  submit(clock, device, 'throughput', out)
  clock.runUntil(100)
  t.same(out.map((o) => [o.at, o.done?.device]), [[20, 'cpu']], 'served by the reserved worker after its batch delay: 5 + 15 ms')
  clock.runUntil(2000)
  t.ok(device.workers[1]!.alive, 'the replacement arrived (250 ms backoff + 1 s start)')
  t.notOk(device.workers[0]!.takesThroughput, 'and the reserved worker went back to latency work only')
})

t.test('circuit breaker: three failed batches in a row retire the worker, a replacement serves again', async (t) => {
  const { clock, device } = setup()
  const health: boolean[] = []
  device.on('health', (h: boolean) => health.push(h))
  const out: Outcome[] = []
  for (let i = 0; i < 3; i++) {
    device.injectFault('throw')
    submit(clock, device, 'latency', out)
    clock.advance(100)
  }
  t.ok(out.every((o) => o.err instanceof BatchFailedError && !o.err.workerDied), 'three batches failed, no worker died')
  t.notOk(device.healthy, 'the third retired the only worker: the device is unhealthy')
  submit(clock, device, 'latency', out)
  t.ok(out[3]!.err instanceof DeviceRefusedError, 'an item offered now is refused — a refusal, not a failed batch (bug: it was BatchFailedError with workerDied)')
  clock.advance(2000)
  t.ok(device.healthy, 'a replacement started after the backoff')
  t.same(health, [false, true])
  submit(clock, device, 'latency', out)
  clock.advance(100)
  t.ok(out[4]!.done, 'and serves')
})

t.test('two failed batches then a good one reset the count', async (t) => {
  const { clock, device } = setup()
  const out: Outcome[] = []
  for (const fault of [true, true, false, true, true]) {
    if (fault) device.injectFault('throw')
    submit(clock, device, 'latency', out)
    clock.advance(100)
  }
  t.ok(device.healthy, 'never three in a row: the worker stays')
  t.equal(out.filter((o) => o.err).length, 4)
})

t.test('a worker killed mid-batch loses no request: the dispatcher retries elsewhere', async (t) => {
  // deterministic rewrite of the old real-model test, whose fault could land on a device the
  // requests never chose: here every request is placed on `bulk` first (pinned), and the first
  // batch on bulk dies with its worker
  const clock = new VirtualClock()
  const random = seededRandom(7)
  const bulk = new SimDevice({ id: 'bulk', workers: 2, models: { m: { a: 5, b: 10, maxBatchSize: 4 } } }, clock, random).scheduler
  const other = new SimDevice({ id: 'other', workers: 1, models: { m: { a: 0, b: 20, maxBatchSize: 1 } } }, clock, random).scheduler
  const devices = [bulk, other]
  const tally = { retries: [] as string[], rejected: [] as string[] }
  const dispatcher = new Dispatcher({ devices, get: (id) => devices.find((d) => d.id === id) }, {
    decision () {}, predictionError () {},
    retry: (device) => tally.retries.push(device),
    rejected: (_d, _m, _p, reason) => tally.rejected.push(reason)
  }, clock)
  bulk.injectFault('exit')
  const results: Array<Dispatched | Error> = []
  for (let i = 0; i < 12; i++) dispatcher.submit({ model: 'm', image: IMAGE, params: {}, opts: { policy: 'throughput', deadline: 60_000, pinned: 'bulk' } }, (err, r) => results.push(err ?? r!))
  clock.advance(10_000)
  t.equal(results.length, 12, 'every request answered')
  t.ok(results.every((r) => !(r instanceof Error)), 'none failed')
  const on = (id: string): number => results.filter((r) => !(r instanceof Error) && r.device === id).length
  t.equal(on('other'), 4, 'the four items of the dead batch were retried on the other device')
  t.equal(on('bulk'), 8, 'the rest ran on bulk\'s other worker')
  t.same(tally.retries, ['bulk', 'bulk', 'bulk', 'bulk'])
  t.same(tally.rejected, [])
})

t.test('shared queue (Triton baseline): whichever worker is free first takes the next batch', async (t) => {
  const clock = new VirtualClock()
  const random = seededRandom(3)
  const queues = new Map([['m', new RequestQueue()]])
  const fast = new SimDevice({ id: 'fast', workers: 1, models: { m: { a: 1, b: 1, maxBatchSize: 2 } } }, clock, random, { sharedQueues: queues }).scheduler
  const slow = new SimDevice({ id: 'slow', workers: 1, models: { m: { a: 0, b: 50, maxBatchSize: 2 } } }, clock, random, { sharedQueues: queues }).scheduler
  const out: Outcome[] = []
  for (let i = 0; i < 6; i++) submit(clock, fast, 'throughput', out)
  clock.advance(1000)
  const by = (id: string): number => out.filter((o) => o.done?.device === id).length
  t.equal(out.length, 6)
  t.equal(by('slow'), 2, 'the slow device took a batch as soon as it was free, as Triton does')
  t.equal(by('fast'), 4)
  t.equal(queues.get('m')!.size, 0)
  void slow
})
