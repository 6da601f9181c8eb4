// The server's loop that chooses the rule by replay (rule-select-loop.ts): when windows end,
// what each replays, how its verdicts reach the dispatcher (through the selector's hysteresis),
// and what happens when a replay is slow, fails or has nothing to replay. On a virtual clock with
// the replay injected: the thread that runs it in the server is tested in replay-thread.test.ts.
import t from 'tap'
import { VirtualClock } from '../devices/clock.js'
import type { ReplaySnapshot } from '../sim/learned-replay.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { ArrivalRecord } from './arrival-record.js'
import { RuleSelectLoop, type RuleSelectLoopOptions } from './rule-select-loop.js'
import type { Rule, WindowOutcome } from './rule-select.js'

interface Harness {
  clock: VirtualClock
  record: ArrivalRecord
  loop: RuleSelectLoop
  used: Rule[]
  seen: ReplaySnapshot[]
  outcomes: WindowOutcome[]
  inForce: Rule[]
  /** each replay's ms from its window's end to its verdict */
  took: number[]
  warnings: string[]
  /** the replays' answers, in order; a function: called with its snapshot */
  answers: Array<Rule | Error | Promise<Rule>>
}

function harness (confirm?: number): Harness {
  const clock = new VirtualClock(1000) // the loop starts at 1 s
  const record = new ArrivalRecord(64)
  const gpu = new SimDevice({ id: 'gpu', kind: 'cuda', workers: 1, models: { m: { a: 4, b: 1, maxBatchSize: 8 } } }, clock, seededRandom(1))
  const h: Harness = { clock, record, used: [], seen: [], outcomes: [], inForce: [], took: [], warnings: [], answers: [], loop: undefined as unknown as RuleSelectLoop }
  h.loop = new RuleSelectLoop({
    dispatcher: { useRule: (r) => h.used.push(r) },
    devices: () => [gpu.scheduler],
    record,
    host: { slots: 2, bulkSlots: 1, maxWaiting: 8, maxQueuedBytes: 1 << 20 },
    slo: { latency: 100, throughput: 2000 },
    everyMs: 5000,
    windowMs: 8000,
    ...(confirm !== undefined ? { confirm } : {}),
    clock,
    choose: async (snap) => {
      h.seen.push(snap)
      const a = h.answers.shift()
      if (a instanceof Error) throw a
      return await (a ?? 'switchyard')
    },
    observer: { windowEnded: (o) => h.outcomes.push(o), ruleInForce: (r) => h.inForce.push(r), replayTook: (ms) => h.took.push(ms) },
    log: { info: () => {}, warn: (_o, msg) => h.warnings.push(msg) }
  })
  return h
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A harness (confirm 1) whose first replay answers only when `answer` is called, its first window ended with one arrival. */
async function heldReplay (): Promise<{ h: Harness, answer: (r: Rule) => void }> {
  const h = harness(1)
  let answer!: (r: Rule) => void
  h.answers.push(new Promise<Rule>((resolve) => { answer = resolve }))
  h.loop.start()
  arrive(h, 2000)
  h.clock.advance(5000); await tick()
  return { h, answer }
}
const arrive = (h: Harness, atMs: number): void => { h.record.arrived(atMs, 'm', 'throughput', 30_000, 1, 'together') }

t.test('every everyMs a window ends: the arrivals since the start, then of the last windowMs; two verdicts in a row switch', async (t) => {
  const h = harness()
  h.loop.start()
  t.same(h.inForce, ['switchyard'], 'the rule at the start is reported')
  for (const at of [500, 2000, 5000, 7000, 9000, 12_000]) arrive(h, at)
  h.answers.push('shared-queue', 'shared-queue', 'switchyard')
  h.clock.advance(5000); await tick() // 6 s: [1 s, 6 s)
  t.same(h.seen.map((s) => [s.durationMs, s.workload.count]), [[5000, 2]], 'since the loop started (not the arrival at 0.5 s): 2 and 5 s')
  t.same(h.used, [], 'one verdict for the shared queue: kept')
  h.clock.advance(5000); await tick() // 11 s: [3 s, 11 s)
  t.same(h.seen.map((s) => [s.durationMs, s.workload.count]), [[5000, 2], [8000, 3]], 'then the last 8 s: 5, 7 and 9 s')
  t.same(h.used, ['shared-queue'], 'the second in a row: switched')
  t.same(h.inForce, ['switchyard', 'shared-queue'])
  t.equal(h.loop.rule, 'shared-queue')
  h.clock.advance(5000); await tick() // 16 s: [8 s, 16 s): 9 and 12 s
  t.same(h.used, ['shared-queue'], 'one verdict back: kept')
  t.same(h.outcomes, ['shared-queue', 'shared-queue', 'switchyard'])
  t.same(h.seen.map((s) => s.seed), [1, 2, 3], 'each window its own jitter seed')
  h.loop.close()
  h.clock.advance(20_000); await tick()
  t.equal(h.seen.length, 3, 'closed: no more windows')
})

t.test('a window with nothing to replay is counted empty; confirm 1 follows every verdict', async (t) => {
  const h = harness(1)
  h.loop.start()
  h.clock.advance(5000); await tick()
  t.same(h.outcomes, ['empty'])
  t.equal(h.seen.length, 0, 'no replay ran')
  arrive(h, 7000)
  h.answers.push('shared-queue')
  h.clock.advance(5000); await tick()
  t.same(h.used, ['shared-queue'], 'one verdict is enough')
})

t.test('one replay at a time: a window that ends while the last still runs is skipped (busy)', async (t) => {
  const { h, answer } = await heldReplay()
  h.clock.advance(5000); await tick()
  t.same(h.outcomes, ['busy'], 'the second window found the first replay running')
  t.equal(h.seen.length, 1)
  h.clock.advance(300)
  answer('shared-queue'); await tick()
  t.same(h.outcomes, ['busy', 'shared-queue'])
  t.same(h.took, [5300], 'the replay answered 5.3 s after its window ended')
  t.same(h.used, ['shared-queue'], 'the slow replay\'s verdict still counts')
})

t.test('a replay that fails: logged once, counted, the rule stays', async (t) => {
  const h = harness(1)
  h.loop.start()
  arrive(h, 2000); arrive(h, 8000)
  h.answers.push(new Error('boom'), new Error('boom again'), 'shared-queue')
  for (let i = 0; i < 2; i++) { h.clock.advance(5000); await tick() }
  t.same(h.outcomes, ['failed', 'failed'])
  t.equal(h.warnings.length, 1, 'logged once')
  t.same(h.used, [], 'the rule stays')
  h.clock.advance(5000); await tick()
  t.same(h.used, ['shared-queue'], 'the next replay that answers is followed')
  t.throws(() => new RuleSelectLoop({ ...({} as RuleSelectLoopOptions), everyMs: 0, windowMs: 1 }), RangeError)
})

t.test('a verdict that comes after close() changes nothing', async (t) => {
  const { h, answer } = await heldReplay()
  h.loop.close()
  answer('shared-queue'); await tick()
  t.same(h.used, [])
})
