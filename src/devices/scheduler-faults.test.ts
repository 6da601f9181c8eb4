// Nothing accepted hangs: the scheduler's answers to executors that misbehave — a run that
// throws synchronously, a batch that never returns (the watchdog), a deadline that passes
// while the only worker hangs (the sweep), a replacement that never finishes starting (the
// start timeout). Simulated devices on a virtual clock, with small fake executors for the
// faults: every time below is exact, on any machine and under any load.
import { EventEmitter } from 'node:events'
import t from 'tap'
import { BatchFailedError } from '../errors.js'
import { Dispatcher, type Dispatched } from '../router/dispatcher.js'
import { SimDevice, type SimDeviceSpec } from '../sim/sim-device.js'
import { SimulatedExecutor, seededRandom } from '../sim/simulated-executor.js'
import { VirtualClock } from './clock.js'
import type { BatchCallback, Executor } from './executor.js'
import type { QueuedItem } from './request-queue.js'
import type { Scheduler, SchedulerOptions } from './scheduler.js'

const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }
const COSTS = new Map([['m', { a: 5, b: 10 }]])

/** A SimDevice whose watchdog, start timeout and replacement starts (`factory`; default: simulated executors) the test chooses. */
function testDevice (spec: SimDeviceSpec, clock: VirtualClock, opts: Pick<SchedulerOptions, 'watchdog' | 'startTimeoutMs' | 'factory'> = {}): SimDevice {
  return new SimDevice(spec, clock, seededRandom(1), { scheduler: opts })
}

/** An executor whose runs throw, or never return; it records what the scheduler did to it. */
class FaultyExecutor extends EventEmitter implements Executor {
  readonly runs: BatchCallback[] = []
  stopped = 0
  killed = 0
  kill?: () => void

  constructor (private readonly mode: 'throw' | 'hang', killable = false) {
    super()
    if (killable) this.kill = () => { this.killed++; this.emit('exit', 137) }
  }

  run (_model: string, _items: readonly QueuedItem[], done: BatchCallback): void {
    if (this.mode === 'throw') throw new DataCloneLikeError('Transfer list contains a detached ArrayBuffer')
    this.runs.push(done)
  }

  async stop (): Promise<void> { this.stopped++ }
}
class DataCloneLikeError extends Error {}

interface Answer { at: number, device?: string, err?: Error }

function devices (clock: VirtualClock, a: Scheduler): { dispatcher: Dispatcher, other: Scheduler, retries: string[], cancelled: string[] } {
  const other = new SimDevice({ id: 'other', workers: 1, models: { m: { a: 0, b: 20, maxBatchSize: 1 } } }, clock, seededRandom(2)).scheduler
  const list = [a, other]
  const retries: string[] = []
  const cancelled: string[] = []
  const dispatcher = new Dispatcher({ devices: list, get: (id) => list.find((d) => d.id === id) }, {
    decision () {}, rejected () {}, predictionError () {}, retry: (d) => retries.push(d), cancelled: (m, reason) => cancelled.push(`${m}:${reason}`)
  }, clock)
  return { dispatcher, other, retries, cancelled }
}

function submit (clock: VirtualClock, dispatcher: Dispatcher, out: Answer[], deadlineMs = 60_000, pinned: string | undefined = 'a'): void {
  dispatcher.submit({ model: 'm', image: IMAGE, params: {}, opts: { policy: 'latency', deadline: clock.now() + deadlineMs, pinned } },
    (err, r?: Dispatched) => out.push(err !== null ? { at: clock.now(), err } : { at: clock.now(), device: r!.device }))
}

const spec = (workers = 1): SimDeviceSpec => ({ id: 'a', workers, models: { m: { a: 5, b: 10, maxBatchSize: 4 } } })

t.test('a run that throws synchronously fails its batch, frees the slot, and is retried elsewhere (bug: the worker stayed busy for good)', async (t) => {
  const clock = new VirtualClock()
  const a = testDevice(spec(), clock).scheduler
  const { dispatcher, retries } = devices(clock, a)
  const faulty = new FaultyExecutor('throw')
  a.adopt(0, faulty)
  const out: Answer[] = []
  submit(clock, dispatcher, out)
  t.equal(a.workers[0]!.running, null, 'the slot is free again')
  t.equal(a.lanes.get('m')!.inFlight, 0, 'nothing counted in flight')
  clock.advance(100)
  t.same(out, [{ at: 20, device: 'other' }], 'answered by the other device: t(1) = 20 ms')
  t.same(retries, ['a'])

  // the breaker still counts: two more throws retire the worker, a replacement serves
  submit(clock, dispatcher, out)
  submit(clock, dispatcher, out)
  t.notOk(a.workers[0]!.alive, 'three failed batches in a row retired the worker')
  clock.advance(2000)
  t.ok(a.workers[0]!.alive && a.workers[0]!.executor !== faulty, 'a replacement took the slot')
  submit(clock, dispatcher, out)
  clock.advance(100)
  t.same(out.map((o) => o.device), ['other', 'other', 'other', 'a'], 'every request answered; the last on the replacement')
  await a.drain() // resolves: nothing stays in flight
})

t.test('a batch that never returns: the watchdog fails it, its items run elsewhere, the worker is killed and replaced', async (t) => {
  const clock = new VirtualClock()
  const a = testDevice(spec(), clock, { watchdog: { factor: 4, floorMs: 1000 } }).scheduler
  const { dispatcher, retries } = devices(clock, a)
  const hung = new FaultyExecutor('hang', true)
  a.adopt(0, hung)
  const health: boolean[] = []
  a.on('health', (h: boolean) => health.push(h))
  const out: Answer[] = []
  submit(clock, dispatcher, out)
  clock.advance(999)
  t.same(out, [], 'still running just before the limit: max(1000, 4 × t(1) = 60) ms')
  clock.advance(1)
  t.equal(hung.killed, 1, 'the hung executor was killed (process mode)')
  t.notOk(a.workers[0]!.alive, 'its slot is dead')
  t.equal(a.lanes.get('m')!.inFlight, 0)
  t.same(retries, ['a'], 'the batch failed as one whose worker died')
  clock.advance(20)
  t.same(out, [{ at: 1020, device: 'other' }], 'and its request was answered by the other device')
  hung.runs[0]!(null, { results: [{ kind: 'classify', predictions: [] }], serviceMs: 1, postMs: 0 })
  t.equal(out.length, 1, 'a late result from the killed executor is ignored: never answered twice')
  clock.advance(1250)
  t.ok(a.workers[0]!.alive, 'a replacement started: 250 ms backoff + 1 s start')
  t.same(health, [false, true])
  submit(clock, dispatcher, out)
  clock.advance(100)
  t.same(out.at(-1), { at: 2285, device: 'a' }, 'and serves')
})

t.test('a thread cannot be killed: the hung executor is abandoned (told to stop) and replaced all the same', async (t) => {
  const clock = new VirtualClock()
  const a = testDevice(spec(2), clock, { watchdog: { factor: 4, floorMs: 1000 } }).scheduler
  const { dispatcher } = devices(clock, a)
  const hung = new FaultyExecutor('hang')
  a.adopt(0, hung)
  const out: Answer[] = []
  submit(clock, dispatcher, out)
  t.equal(a.workers[0]!.running?.size, 1, 'the first request is on the hanging worker')
  clock.advance(1000)
  t.equal(hung.stopped, 1, 'stop requested (it takes effect if the run ever returns)')
  t.notOk(a.workers[0]!.alive)
  t.ok(a.healthy, 'the device serves on with its other worker')
  clock.advance(100)
  t.same(out, [{ at: 1020, device: 'other' }])
  hung.runs[0]!(new BatchFailedError('worker exited with code 1', true))
  t.equal(out.length, 1, 'a late failure is ignored too')
  clock.advance(2000)
  t.ok(a.workers[0]!.alive && a.workers[0]!.executor !== hung, 'replaced')
})

t.test('the deadline passes while the only worker hangs: the sweep answers 504 at the deadline, not after the watchdog', async (t) => {
  const clock = new VirtualClock()
  const a = testDevice(spec(), clock, { watchdog: { factor: 4, floorMs: 60_000 } }).scheduler
  const { dispatcher, cancelled } = devices(clock, a)
  a.adopt(0, new FaultyExecutor('hang'))
  const out: Answer[] = []
  submit(clock, dispatcher, out) // runs, hangs
  submit(clock, dispatcher, out, 500) // queued behind it
  t.equal(a.lanes.get('m')!.queue.size, 1)
  clock.advance(499)
  t.same(out, [])
  clock.advance(1)
  t.equal(out.length, 1, 'answered at its deadline')
  t.match(out[0], { at: 500, err: { code: 'SY_DEADLINE_EXCEEDED', statusCode: 504 } })
  t.match(out[0]!.err!.message, /waited 500 ms in the queue of device a/)
  t.equal(a.lanes.get('m')!.queue.size, 0, 'and is no longer queued')
  t.same(cancelled, ['m:deadline'], 'counted (switchyard_requests_cancelled_total{reason="deadline"})')
})

t.test('an item whose deadline passed when its batch is formed is answered 504 instead of run', async (t) => {
  // straight into the device queue (the router would refuse the second item at admission: it
  // cannot finish by its deadline); a slow batch ends at the second item's very deadline
  const clock = new VirtualClock()
  const a = testDevice(spec(), clock).scheduler
  const out: Array<[number, string]> = []
  const item = (deadline: number): QueuedItem => ({
    image: IMAGE, params: {}, policy: 'latency', deadline, enqueuedAt: clock.now(),
    resolve: (c) => out.push([clock.now(), c.device]),
    reject: (e) => out.push([clock.now(), (e as { code?: string }).code ?? e.message])
  })
  a.enqueue('m', item(1000)) // t(1) = 15 ms
  a.enqueue('m', item(15))
  a.enqueue('m', item(1000))
  clock.advance(100)
  t.same(out, [[15, 'a'], [15, 'SY_DEADLINE_EXCEEDED'], [30, 'a']],
    'the batch formed at 15 ms left the expired item out and ran the next one')
})

t.test('a replacement that never finishes starting times out; the backoff goes on; a late one is stopped', async (t) => {
  const clock = new VirtualClock()
  const spawns: Array<{ at: number, done: (err: Error | null, e?: Executor) => void }> = []
  const sim = testDevice(spec(), clock, { startTimeoutMs: 5000, factory: { spawn: (_i, done) => { spawns.push({ at: clock.now(), done }) } } })
  const a = sim.scheduler
  sim.executors.started[0]!.kill()
  t.notOk(a.healthy)
  clock.advance(6000)
  t.same(spawns.map((s) => s.at), [250, 5750], 'the first start timed out at 5250 ms; the next came after 500 ms more backoff')
  const late = new FaultyExecutor('hang')
  spawns[0]!.done(null, late)
  t.equal(late.stopped, 1, 'the first start, arriving late, was stopped')
  t.notOk(a.healthy, 'and not adopted')
  const good = new SimulatedExecutor(clock, COSTS, sim.condition, seededRandom(3))
  spawns[1]!.done(null, good)
  t.ok(a.healthy && a.workers[0]!.executor === good, 'the second start took the slot')
  clock.advance(60_000)
  t.equal(spawns.length, 2, 'no more starts')
})

t.test('a factory that throws counts as a failed start too', async (t) => {
  const clock = new VirtualClock()
  let calls = 0
  const sim = testDevice(spec(), clock, { factory: { spawn: () => { calls++; throw new Error('spawn EAGAIN') } } })
  sim.executors.started[0]!.kill()
  clock.advance(250 + 500 + 1000)
  t.equal(calls, 3, 'retried with backoff: 250, 750, 1750 ms')
})
