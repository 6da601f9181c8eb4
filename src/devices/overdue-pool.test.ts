// An overdue pool (overdue-pool.ts): a one-worker GPU kept busy by one model's latency batches
// runs another model's starved pool one full batch at a time, ahead of a latency batch, where a
// slow CPU serves the pools beside it; a GPU serving them alone leaves the pool to the batcher's
// class order. Real Schedulers (SimDevices') on a virtual clock: every time is exact.
import t from 'tap'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { VirtualClock } from './clock.js'
import { OVERDUE_MS, OVERDUE_RATIO, overdue } from './overdue-pool.js'
import { RequestQueue, type QueuedItem } from './request-queue.js'
import type { BatchEvent } from './scheduler.js'

const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }

interface Setup {
  /** m1's and m2's cost, t(n) = a + b·n, and batch limits */
  m1?: { a: number, b: number, maxBatchSize: number }
  m2?: { a: number, b: number, maxBatchSize: number }
  /** m2 throughput items in m2's pool at 0 ms */
  m2Items: number
  /** m1 throughput items in m1's pool at 0 ms */
  m1Items?: number
  /** m1 latency items arriving every 10 ms from 0 to 990 ms, this many each time */
  latencyEach?: number
  /** the GPU serves the pools alone (default: a slow CPU serves them too, t(1) = 101 ms: it never reaches an item before the GPU would) */
  alone?: boolean
}

/** Runs the feed on one GPU worker; answers: m2's throughput items' answer times, and every batch the GPU ran, in order. */
function run (s: Setup): { m2Done: number[], batches: Array<{ model: string, size: number, latency: number }> } {
  const clock = new VirtualClock()
  const pools = new Map([['m1@default', new RequestQueue()], ['m2@default', new RequestQueue()]])
  const gpu = new SimDevice({
    id: 'gpu',
    kind: 'cuda',
    workers: 1,
    batchDelayMs: { latency: 0, throughput: 0 },
    models: { m1: s.m1 ?? { a: 10, b: 1, maxBatchSize: 8 }, m2: s.m2 ?? { a: 10, b: 1, maxBatchSize: 8 } }
  }, clock, seededRandom(1), { pools }).scheduler
  if (s.alone !== true) {
    const slow = { a: 1, b: 100, maxBatchSize: 8 }
    // eslint-disable-next-line no-new -- the device joins the pools' consumers; nothing else is asked of it
    new SimDevice({ id: 'cpu', kind: 'cpu', workers: 1, batchDelayMs: { latency: 0, throughput: 0 }, models: { m1: slow, m2: slow } }, clock, seededRandom(2), { pools })
  }
  const m2Done: number[] = []
  const batches: Array<{ model: string, size: number, latency: number }> = []
  gpu.on('batch', (e: BatchEvent) => { batches.push({ model: e.model, size: e.size, latency: e.latency }) })
  const item = (policy: 'latency' | 'throughput', done?: number[]): QueuedItem => ({
    image: IMAGE,
    params: {},
    policy,
    deadline: clock.now() + (policy === 'latency' ? 1000 : 60_000),
    enqueuedAt: clock.now(),
    resolve: () => done?.push(clock.now()),
    reject: () => {}
  })
  for (let i = 0; i < s.m2Items; i++) pools.get('m2@default')!.push(item('throughput', m2Done))
  for (let i = 0; i < (s.m1Items ?? 0); i++) pools.get('m1@default')!.push(item('throughput'))
  for (let at = 0; at < 1000; at += 10) {
    clock.setTimer(at, () => { for (let k = 0; k < (s.latencyEach ?? 1); k++) gpu.enqueue('m1', item('latency')) })
  }
  clock.advance(5000)
  return { m2Done, batches }
}

t.test('overdue: the head has waited OVERDUE_MS, and OVERDUE_RATIO × the youngest head of the other pools', async (t) => {
  t.equal(OVERDUE_MS, 500)
  t.equal(OVERDUE_RATIO, 3)
  t.ok(overdue(500, 0), 'another pool empty: 500 ms is overdue')
  t.notOk(overdue(499, 0), 'not before 500 ms')
  t.ok(overdue(900, 300), '3 × 300 = 900')
  t.notOk(overdue(900, 301), 'behind with another pool as old as a third of it: not starved beside it')
  t.notOk(overdue(10_000, Infinity), 'a device serving no other pool has none overdue')
})

t.test('a pool that one model\'s latency batches starve runs one full batch ahead of a latency batch once its head has waited 500 ms', async (t) => {
  // m1's latency items every 10 ms keep the one worker on latency batches (t(1) = 11 ms): m2's
  // eight pooled items have no latency batch of their own to ride
  const { m2Done } = run({ m2Items: 8 })
  t.equal(m2Done.length, 8)
  t.ok(m2Done.every((at) => at >= OVERDUE_MS && at <= OVERDUE_MS + 11 + 18), `answered at ${m2Done[0]} ms: in the batch (t(8) = 18 ms) that starts when the first latency batch after 500 ms would have`)
})

t.test('never two in a row: the latency batch that gave way runs next', async (t) => {
  const { m2Done, batches } = run({ m2Items: 24 })
  t.equal(m2Done.length, 24)
  const first = batches.findIndex((b) => b.latency === 0)
  t.ok(batches.slice(0, first).every((b) => b.model === 'm1' && b.latency > 0), 'before it, latency batches only')
  const order = batches.slice(first, first + 6).map((b) => b.latency > 0 ? 'latency' : `${b.model} bulk ${b.size}`)
  t.same(order, ['m2 bulk 8', 'latency', 'm2 bulk 8', 'latency', 'm2 bulk 8', 'latency'])
  t.ok(m2Done.every((at) => at < 1000), 'all of them while the latency feed still runs')
})

t.test('nothing is overdue beside a pool as old, on a lane where a batch is not cheap to fill, or while more latency items wait than one batch takes', async (t) => {
  const starved = (m2Done: number[]): boolean => m2Done.length === 8 && Math.min(...m2Done) >= 1000
  // m1's pool, as old, is drained by m1's riders (at most 7 a batch) far slower than it ages
  t.ok(starved(run({ m2Items: 8, m1Items: 2000 }).m2Done), 'another pool as old: behind with it, m2 waits for the feed to end')
  t.ok(starved(run({ m2Items: 8, m2: { a: 1, b: 10, maxBatchSize: 8 } }).m2Done), 'b ≥ a (a CPU\'s lane): a bulk batch is as long as the latency work it delays')
  // two latency items every 10 ms, one a batch: a latency backlog from the start
  t.ok(starved(run({ m2Items: 8, m1: { a: 10, b: 1, maxBatchSize: 1 }, latencyEach: 2 }).m2Done), 'a latency backlog: nothing jumps it')
  t.notOk(starved(run({ m2Items: 8 }).m2Done), 'the same feed with none of these: m2 runs at 500 ms')
})

t.test('a pool the device serves alone is never overdue: it waits on the latency class, as under every rule', async (t) => {
  // no other device could take the pool, so running it ahead only moves the wait onto the
  // latency items (a lone GPU's latency p99, bench/results/late-binding.md, "The overdue pool on a lone device")
  const { m2Done, batches } = run({ m2Items: 8, alone: true })
  t.equal(m2Done.length, 8)
  t.ok(Math.min(...m2Done) >= 1000, `answered at ${Math.min(...m2Done)} ms: once the latency feed ends`)
  t.ok(batches.findIndex((b) => b.latency === 0) > batches.findLastIndex((b) => b.latency > 0), 'm2\'s bulk batches run after the last latency batch')
})
