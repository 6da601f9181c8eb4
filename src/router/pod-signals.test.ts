// Pod-level signals: what one replica tells the balancer in front of it. Exact, on a virtual
// clock with the server's own Scheduler (a SimDevice's): the sums over devices and models, the
// router's own predicted finish on the device it would pick, the cost per image, free slots,
// and what a replica with no healthy device reports.
import t from 'tap'
import { VirtualClock } from '../devices/clock.js'
import { RequestQueue, type QueuedItem } from '../devices/request-queue.js'
import type { Scheduler } from '../devices/scheduler.js'
import { freeThroughputSlots } from '../jobs/capacity.js'
import { SimDevice, type SimDeviceSpec } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { podSignals, UNAVAILABLE_MS } from './pod-signals.js'
import { route } from './router.js'

const cpu: SimDeviceSpec = { id: 'cpu', kind: 'cpu', workers: 2, maxQueue: 4, batchDelayMs: { latency: 0, throughput: 5 }, models: { m: { a: 2, b: 10, maxBatchSize: 4 }, n: { a: 1, b: 3, maxBatchSize: 4 } } }
const gpu: SimDeviceSpec = { id: 'gpu', kind: 'cuda', workers: 1, batchDelayMs: { latency: 0, throughput: 4 }, models: { m: { a: 4, b: 0.5, maxBatchSize: 16 } } }

/** equal but for the least-squares fit's rounding */
function close (a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b))
}

function item (clock: VirtualClock, policy: 'latency' | 'throughput'): QueuedItem {
  return { image: { pixels: new Uint8Array(0), width: 0, height: 0, originalWidth: 0, originalHeight: 0 }, params: {}, policy, deadline: 1e9, enqueuedAt: clock.now(), resolve: () => {}, reject: () => {} }
}

t.test('an idle pod: nothing queued or running, every worker free, the router\'s own finish', async (t) => {
  const clock = new VirtualClock(0)
  const devices = [new SimDevice(cpu, clock, seededRandom(1)).scheduler, new SimDevice(gpu, clock, seededRandom(2)).scheduler]
  const s = podSignals(devices, ['m', 'n'], clock.now())
  t.same([s.queued, s.running, s.liveWorkers, s.freeBatchSlots, s.utilisation], [0, 0, 3, 3, 0])
  for (const policy of ['latency', 'throughput', 'cost'] as const) {
    const r = route(devices, { model: 'm', policy, deadlineMs: Infinity }, 0)
    t.ok(r.ok)
    t.equal(s.finishMs.get('m')![policy], r.predictedMs, `${policy}: the router's prediction`)
  }
  t.ok(close(s.finishMs.get('m')!.latency, 4.5), 'latency: the GPU, t(1) = 4 + 0.5')
  t.equal(s.waitMs.get('m')!.latency, 0, 'nothing ahead: no wait')
  // cost: the CPU is cheaper per image ($0.17/h × 12 ms vs $2.99/h × (4 + 0.5) ms … per image)
  const cpuPerMs = 0.17 / 3_600_000; const gpuPerMs = 2.99 / 3_600_000
  t.ok(close(s.costPerImage.get('m')!, Math.min(cpuPerMs * 12, gpuPerMs * 4.5)), 'cost per image of the device the cost policy picks (the CPU)')
  t.ok(close(s.finishMs.get('n')!.latency, 4), 'a model only the CPU serves: its t(1)')
})

t.test('time per image, the replica\'s speed per class: t(1) alone for latency, one over its capacity for bulk', async (t) => {
  const clock = new VirtualClock(0)
  const devices = [new SimDevice(cpu, clock, seededRandom(1)).scheduler, new SimDevice(gpu, clock, seededRandom(2)).scheduler]
  const s = podSignals(devices, ['m', 'n'], clock.now())
  t.ok(close(s.imageMs.get('m')!.latency, 4.5), 'latency: t(1) on the device the router picks (the GPU)')
  // capacity: the CPU's two workers on batches of 4 (t(4) = 2 + 40 ms), the GPU's one on 16 (4 + 8 ms)
  const perMs = 2 * 4 / 42 + 16 / 12
  t.ok(close(s.imageMs.get('m')!.throughput, 1 / perMs), 'throughput: every bulk-taking worker on full batches')
  t.equal(s.imageMs.get('m')!.cost, s.imageMs.get('m')!.throughput, 'cost: the same capacity')
  t.ok(close(s.imageMs.get('n')!.throughput, 1 / (2 * 4 / 13)), 'a model only the CPU serves: its capacity alone')
  // a queue changes the finish, not the speed
  for (let i = 0; i < 3; i++) devices[0]!.enqueue('m', item(clock, 'throughput'))
  const busy = podSignals(devices, ['m', 'n'], clock.now())
  t.same(busy.imageMs.get('m'), s.imageMs.get('m'), 'the same while work queues')
})

t.test('under load: queued and running summed over devices and models, waits grow', async (t) => {
  const clock = new VirtualClock(0)
  const devices = [new SimDevice(cpu, clock, seededRandom(1)).scheduler, new SimDevice(gpu, clock, seededRandom(2)).scheduler]
  const [c, g] = devices as [Scheduler, Scheduler]
  const idle = podSignals(devices, ['m'], 0).finishMs.get('m')!.latency
  // two latency items start at once on the CPU's two workers; one more queues behind them
  for (let i = 0; i < 3; i++) c.enqueue('m', item(clock, 'latency'))
  c.enqueue('n', item(clock, 'throughput')) // waits for a free worker
  g.enqueue('m', item(clock, 'latency'))
  const s = podSignals(devices, ['m', 'n'], clock.now())
  t.equal(s.running, 3, 'two on the CPU, one on the GPU')
  t.equal(s.queued, 2, 'one of m and one of n queued on the CPU')
  t.equal(s.freeBatchSlots, 0)
  t.equal(s.utilisation, 1)
  t.ok(s.finishMs.get('m')!.latency > idle, 'the predicted finish grows with the work ahead')
  t.ok(s.waitMs.get('m')!.latency > 0, 'and so does the wait')
  clock.advance(1000)
  const after = podSignals(devices, ['m', 'n'], clock.now())
  t.same([after.queued, after.running, after.freeBatchSlots], [0, 0, 3], 'drained')
  t.equal(after.finishMs.get('m')!.latency, idle)
})

t.test('every lane full: still the earliest finish; no healthy device: the sentinel', async (t) => {
  const clock = new VirtualClock(0)
  const sim = new SimDevice({ ...cpu, workers: 1 }, clock, seededRandom(3))
  const only = sim.scheduler
  for (let i = 0; i < 5; i++) only.enqueue('m', item(clock, 'throughput')) // 1 running (after its delay) + 4 queued = maxQueue
  const full = podSignals([only], ['m'], clock.now())
  t.ok(full.finishMs.get('m')!.latency < UNAVAILABLE_MS && full.finishMs.get('m')!.latency > 0, 'queue-full: the prediction, not the sentinel')
  sim.setDown(true)
  clock.advance(100)
  const down = podSignals([only], ['m'], clock.now())
  t.equal(down.finishMs.get('m')!.latency, UNAVAILABLE_MS)
  t.equal(down.liveWorkers, 0)
  t.equal(down.utilisation, 1, 'no live worker reads as fully busy')
})

t.test('throughput items waiting in a late-binding pool count as queued, once for the pool, and take free slots', async (t) => {
  const clock = new VirtualClock(0)
  const pool = new RequestQueue()
  const pools = new Map([['m@default', pool]]) // keyed model@variant (devices/lane-settings.ts)
  const devices = [new SimDevice(cpu, clock, seededRandom(1), { pools }).scheduler, new SimDevice(gpu, clock, seededRandom(2), { pools }).scheduler]
  const before = freeThroughputSlots(devices, 'm')
  // put where the pool keeps them, without running them (the clock never moves here)
  for (let i = 0; i < 3; i++) pool.push(item(clock, 'throughput'))
  t.equal(podSignals(devices, ['m', 'n'], clock.now()).queued, 3, 'three items in the pool both devices pull from: three queued, not six')
  t.equal(freeThroughputSlots(devices, 'm'), before, 'every worker is idle: they are its next batch, not the one beyond it (jobs/capacity.ts)')
  for (let i = 0; i < before; i++) pool.push(item(clock, 'throughput'))
  t.equal(freeThroughputSlots(devices, 'm'), before - 3, 'those beyond a batch per idle worker fill free slots a job puller would otherwise take')
})

t.test('under the shared-queue rule the shared queue counts once too, and what is pinned to a device on top', async (t) => {
  const clock = new VirtualClock(0)
  const devices = [new SimDevice(cpu, clock, seededRandom(1)).scheduler, new SimDevice(gpu, clock, seededRandom(2)).scheduler]
  const shared = new Map([['m', new RequestQueue()], ['n', new RequestQueue()]])
  for (const d of devices) d.useShared(shared)
  // put where the queues keep them, without running them (the clock never moves, nothing pumps)
  for (let i = 0; i < 3; i++) shared.get('m')!.push(item(clock, 'throughput'))
  const pinned = item(clock, 'throughput')
  pinned.pinned = true
  devices[1]!.lanes.get('m')!.bound!.push(pinned)
  t.equal(podSignals(devices, ['m', 'n'], clock.now()).queued, 4, 'three in the queue both devices take from and one pinned to the GPU: four, not seven (the autoscaler\'s input)')
})
