// Batches latency work can share (issue 17): throughput items ride with a latency batch where
// the cost model says filling a batch is cheap (b < a), within the latency budget and the
// deadline; on a CPU (b ≫ a) nothing rides. Real Schedulers (a SimDevice's) on a virtual clock.
import t from 'tap'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { VirtualClock } from './clock.js'
import { RequestQueue, type CompletedItem, type QueuedItem } from './request-queue.js'
import { fillCount, riderCount } from './riders.js'
import type { Scheduler } from './scheduler.js'
import { predict } from '../router/router.js'

const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }
interface Outcome { at: number, policy: string, done?: CompletedItem, err?: Error }

function item (clock: VirtualClock, policy: 'latency' | 'throughput', out: Outcome[], deadlineMs = 60_000): QueuedItem {
  return {
    image: IMAGE, params: {}, policy, deadline: clock.now() + deadlineMs, enqueuedAt: clock.now(),
    resolve: (done) => out.push({ at: clock.now(), policy, done }),
    reject: (err) => out.push({ at: clock.now(), policy, err })
  }
}

const gpuCost = { a: 8, b: 2, predict: (n: number) => 8 + 2 * n }
const cpuCost = { a: 2, b: 24, predict: (n: number) => 2 + 24 * n }

t.test('how many ride: t(n + r) ≤ (1 + budget)·t(n), within the deadline, the batch and what waits', async (t) => {
  t.equal(riderCount(gpuCost, 1, 32, 1, 1000, 100), 5, 't(1) = 10: up to 20 ms, t(6) = 20')
  t.equal(riderCount(gpuCost, 1, 32, 0.5, 1000, 100), 2, 'budget 0.5: up to 15 ms, t(3) = 14')
  t.equal(riderCount(gpuCost, 2, 32, 1, 1000, 100), 6, 'a latency batch of 2: t(2) = 12, up to 24 ms, t(8) = 24')
  t.equal(riderCount(gpuCost, 1, 32, 1, 16, 100), 3, 'the deadline in 16 ms: t(4) = 16')
  t.equal(riderCount(gpuCost, 1, 32, 1, 1000, 2), 2, 'only two wait')
  t.equal(riderCount(gpuCost, 1, 4, 1, 1000, 100), 3, 'the batch limit')
  t.equal(riderCount(gpuCost, 1, 32, 0, 1000, 100), 0, 'budget 0: off')
  t.equal(riderCount(cpuCost, 1, 8, 1, 1000, 100), 0, 'a CPU: b ≥ a, nothing rides (each rider would cost the latency item a whole image)')
  t.equal(riderCount({ a: 5, b: 0, predict: () => 5 }, 1, 8, 1, 1000, 100), 7, 'a free marginal image: the batch fills')
})

t.test('under a backlog, riders fill from its excess: t(n + f) ≤ (1 + backlogBudget)·t(n), within the deadline', async (t) => {
  // gpuCost: t(1) = 10; backlogBudget 2: up to 30 ms, t(11) = 30
  t.equal(fillCount(gpuCost, 1, 32, 2, 1000, 100, 100), 10, 'a deep backlog: up to three times its time alone')
  t.equal(fillCount(gpuCost, 1, 32, 2, 1000, 32, 100), 0, 'a backlog of one full batch (B = 32): the device keeps up, nothing more rides')
  t.equal(fillCount(gpuCost, 1, 32, 2, 1000, 36.5, 100), 4, 'riders only from beyond the next full batch: ⌊36.5 − 32⌋')
  t.equal(fillCount(gpuCost, 1, 32, 2, 1000, 100, 3), 3, 'only three can be taken now')
  t.equal(fillCount(gpuCost, 1, 32, 2, 20, 100, 100), 5, 'the deadline in 20 ms: t(6) = 20')
  t.equal(fillCount(gpuCost, 1, 32, 100, 1000, 100, 100), 31, 'a large budget: the batch fills')
  t.equal(fillCount(gpuCost, 1, 32, 0, 1000, 100, 100), 0, 'backlogBudget 0: off')
  t.equal(fillCount(cpuCost, 1, 8, 2, 1000, 100, 100), 0, 'a CPU: b ≥ a, nothing rides')
})

t.test('deep (the latency gate open) and at least 4 full batches behind: the fill is bounded by the deadline alone', async (t) => {
  // gpuCost: t(1) = 10, B = 32; DEEP_BACKLOG_BATCHES = 4: a backlog of 128 or more
  t.equal(fillCount(gpuCost, 1, 32, 2, 1000, 200, 200, true), 31, 'the batch fills to its limit')
  t.equal(fillCount(gpuCost, 1, 32, 2, 1000, 200, 200, false), 10, 'the gate shut: the backlog budget, t(11) = 30')
  t.equal(fillCount(gpuCost, 1, 32, 2, 1000, 100, 100, true), 10, 'three batches behind: the backlog budget')
  t.equal(fillCount(gpuCost, 1, 32, 2, 40, 200, 200, true), 15, 'the deadline in 40 ms: t(16) = 40')
  t.equal(fillCount(gpuCost, 1, 32, 0, 1000, 200, 200, true), 0, 'backlogBudget 0: off, deep or not')
  t.equal(fillCount(cpuCost, 1, 8, 2, 1000, 200, 200, true), 0, 'a CPU: nothing rides, deep or not')
})

function device (models: Record<string, { a: number, b: number, maxBatchSize: number }>, riders?: number, latencyObjectiveMs?: number): { clock: VirtualClock, dev: Scheduler, pool: RequestQueue } {
  const clock = new VirtualClock()
  const pools = new Map([['m@default', new RequestQueue()]]) // keyed model@variant (lane-settings.ts)
  const dev = new SimDevice({ id: 'gpu', kind: 'cuda', workers: 1, batchDelayMs: { latency: 0, throughput: 50 }, models, ...(riders !== undefined ? { ridersBudget: riders } : {}), ...(latencyObjectiveMs !== undefined ? { latencyObjectiveMs } : {}) }, clock, seededRandom(1), { pools }).scheduler
  return { clock, dev, pool: pools.get('m@default')! }
}

t.test('on a GPU, throughput items waiting in the queue and the pool ride with a latency item', async (t) => {
  const { clock, dev, pool } = device({ m: { a: 8, b: 2, maxBatchSize: 32 } })
  const out: Outcome[] = []
  // 3 bound throughput items and 10 in the pool wait for their batch delay (50 ms)
  for (let i = 0; i < 3; i++) dev.enqueue('m', item(clock, 'throughput', out))
  for (let i = 0; i < 10; i++) pool.push(item(clock, 'throughput', out))
  dev.enqueue('m', item(clock, 'latency', out))
  clock.advance(20)
  t.equal(out.length, 6, 'the latency item and 5 riders answered together')
  t.same(out.map((o) => o.at), [20, 20, 20, 20, 20, 20], 'at t(6) = 20 ms: twice its 10 ms alone (budget 1)')
  t.same(out.map((o) => o.done?.batchSize), [6, 6, 6, 6, 6, 6])
  t.equal(out.filter((o) => o.policy === 'latency').length, 1)
  t.equal(pool.size, 8, 'the device\'s own 3 rode first, then 2 from the pool')
  t.equal(pool.ridden.perMs(0), 2 / 1000, 'the pool counts the 2 that rode from it (rider-rate.ts; the router\'s reported finish reads it)')
})

t.test('budget 0 (devices[].riders.budget): the latency item runs alone', async (t) => {
  const { clock, dev } = device({ m: { a: 8, b: 2, maxBatchSize: 32 } }, 0)
  const out: Outcome[] = []
  for (let i = 0; i < 3; i++) dev.enqueue('m', item(clock, 'throughput', out))
  dev.enqueue('m', item(clock, 'latency', out))
  clock.advance(10)
  t.same(out.map((o) => [o.at, o.policy, o.done?.batchSize]), [[10, 'latency', 1]])
})

t.test('on a CPU the cost model says no: the latency item runs alone', async (t) => {
  const { clock, dev } = device({ m: { a: 2, b: 24, maxBatchSize: 8 } })
  const out: Outcome[] = []
  for (let i = 0; i < 3; i++) dev.enqueue('m', item(clock, 'throughput', out))
  dev.enqueue('m', item(clock, 'latency', out))
  clock.advance(26)
  t.same(out.map((o) => [o.at, o.policy, o.done?.batchSize]), [[26, 'latency', 1]])
})

t.test('riders never make a latency item miss its deadline', async (t) => {
  const { clock, dev } = device({ m: { a: 8, b: 2, maxBatchSize: 32 } })
  const out: Outcome[] = []
  for (let i = 0; i < 10; i++) dev.enqueue('m', item(clock, 'throughput', out))
  dev.enqueue('m', item(clock, 'latency', out, 14))
  clock.advance(14)
  t.same(out.map((o) => [o.at, o.done?.batchSize]), [[14, 3], [14, 3], [14, 3]], 'deadline in 14 ms: t(3) = 14, two riders, not five')
})

t.test('a device behind its backlog fills its latency batches from the excess; a device keeping up does not', async (t) => {
  for (const [waiting, batch, at] of [[20, 6, 20], [45, 11, 30]] as const) {
    const { clock, dev, pool } = device({ m: { a: 8, b: 2, maxBatchSize: 32 } })
    const out: Outcome[] = []
    for (let i = 0; i < waiting; i++) pool.push(item(clock, 'throughput', out))
    dev.enqueue('m', item(clock, 'latency', out))
    clock.advance(at)
    const first = out.filter((o) => o.at === at)
    t.equal(first.length, batch, `${waiting} waiting: the latency item's batch answers ${batch} at ${at} ms`)
    t.ok(first.every((o) => o.done?.batchSize === batch))
    t.equal(first.filter((o) => o.policy === 'latency').length, 1)
  }
})

t.test('told the latency objective, a deeply backlogged device fills a latency batch to its limit once its latency items are within 0.7 of it', async (t) => {
  const cases = [
    { name: 'no objective', objective: undefined, warm: 20, batch: 11, at: 30 },
    { name: 'objective 100 ms, too few latency items seen (19 < 20): shut', objective: 100, warm: 19, batch: 11, at: 30 },
    { name: 'objective 100 ms, 20 items answered in 10 ms (≤ 70): open', objective: 100, warm: 20, batch: 32, at: 72 },
    { name: 'objective 12 ms, 20 items answered in 10 ms (> 8.4): shut', objective: 12, warm: 20, batch: 11, at: 30 }
  ]
  for (const c of cases) {
    const { clock, dev, pool } = device({ m: { a: 8, b: 2, maxBatchSize: 32 } }, undefined, c.objective)
    const out: Outcome[] = []
    // latency items one at a time, each alone in 10 ms: what the gate sees
    for (let i = 0; i < c.warm; i++) { dev.enqueue('m', item(clock, 'latency', out)); clock.advance(10) }
    t.equal(out.length, c.warm, `${c.name}: the warm-up answered`)
    out.length = 0
    // 200 throughput items wait (6 full batches): the next latency batch takes riders
    for (let i = 0; i < 200; i++) pool.push(item(clock, 'throughput', out))
    dev.enqueue('m', item(clock, 'latency', out))
    clock.advance(c.at)
    const first = out.filter((o) => o.at === clock.now())
    t.equal(first.length, c.batch, `${c.name}: the latency batch answers ${c.batch} items at ${c.at} ms`)
    t.equal(first.filter((o) => o.policy === 'latency').length, 1, `${c.name}: one of them the latency item`)
  }
})

t.test('the router predicts the filled batch from the same gate: a latency item\'s riders cost t(32) − t(1) with it open, t(11) − t(1) shut', async (t) => {
  for (const [objective, ridersMs] of [[100, 62], [12, 20]] as const) {
    const { clock, dev, pool } = device({ m: { a: 8, b: 2, maxBatchSize: 32 } }, undefined, objective)
    const out: Outcome[] = []
    for (let i = 0; i < 20; i++) { dev.enqueue('m', item(clock, 'latency', out)); clock.advance(10) }
    for (let i = 0; i < 200; i++) pool.push(item(clock, 'throughput', out))
    t.equal(dev.ridersDeep, objective === 100, `objective ${objective} ms: the gate ${objective === 100 ? 'open' : 'shut'}`)
    const p = predict(dev, dev.lanes.get('m')!, 'latency', clock.now())
    t.equal(p.ridersMs, ridersMs, `objective ${objective} ms: the predicted riders add ${ridersMs} ms`)
  }
})

t.test('the device keeps the share of its recent batch time that bulk batches took (bulk-share.ts), for the router', async (t) => {
  const { clock, dev } = device({ m: { a: 8, b: 2, maxBatchSize: 32 } })
  const out: Outcome[] = []
  const cost = dev.lanes.get('m')!.cost
  t.equal(dev.bulkShare, 1, 'no batch yet')
  dev.enqueue('m', item(clock, 'latency', out)) // nothing waits to ride: a batch of 1
  t.equal(dev.bulkShare, 0, 'one latency batch: no bulk batch yet')
  clock.advance(1000)
  for (let i = 0; i < 32; i++) dev.enqueue('m', item(clock, 'throughput', out)) // a full batch: at once
  const share = cost.predict(32) / (cost.predict(32) + cost.predict(1) * Math.exp(-1))
  t.ok(Math.abs(dev.bulkShare - share) < 1e-9, `a full bulk batch a second later: ${dev.bulkShare.toFixed(3)}, the latency batch counting e⁻¹`)
})
