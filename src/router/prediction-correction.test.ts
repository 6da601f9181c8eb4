// The pool's reported prediction (X-Switchyard-Predicted-Ms) against what happens: the batch
// delay counted from the pool head's arrival, and the learned actual / predicted correction.
// Real Schedulers (SimDevice) behind the real Dispatcher and Router on a virtual clock, costs
// without jitter: every time is exact.
import t from 'tap'
import { VirtualClock } from '../devices/clock.js'
import { RequestQueue } from '../devices/request-queue.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { Dispatcher, type Dispatched, type DispatchObserver } from './dispatcher.js'
import { PredictionCorrection } from './prediction-correction.js'
import { Router } from './router.js'

const IMAGE = { pixels: new Uint8Array(0), width: 0, height: 0, originalWidth: 0, originalHeight: 0 }
const quiet: DispatchObserver = { decision: () => {}, rejected: () => {}, retry: () => {}, predictionError: () => {} }

function gpu (clock: VirtualClock, model: { a: number, b: number, maxBatchSize: number }, throughputDelayMs: number): { dev: SimDevice, pool: RequestQueue } {
  const pools = new Map([['m@default', new RequestQueue()]])
  const dev = new SimDevice({ id: 'gpu', kind: 'cuda', workers: 1, batchDelayMs: { latency: 0, throughput: throughputDelayMs }, models: { m: model } }, clock, seededRandom(1), { pools })
  return { dev, pool: pools.get('m@default')! }
}

t.test('the batch delay runs from the pool head\'s arrival, not from the new item\'s', async (t) => {
  // t(n) = 4 + n, batches of 8, throughput delay 4 ms; one item pooled at 0, the next at 3
  const clock = new VirtualClock()
  const { dev } = gpu(clock, { a: 4, b: 1, maxBatchSize: 8 }, 4)
  const dispatcher = new Dispatcher({ devices: [dev.scheduler], get: () => dev.scheduler }, quiet, clock)
  const done: Array<{ at: number, r: Dispatched }> = []
  const send = (): void => dispatcher.submit({ model: 'm', image: IMAGE, params: {}, opts: { policy: 'throughput', deadline: clock.now() + 60_000 } }, (err, r) => { if (err === null) done.push({ at: clock.now(), r: r! }) })
  send()
  clock.advance(3)
  send()
  clock.advance(1000)
  t.equal(done.length, 2)
  t.same(done.map((d) => d.at), [10, 10], 'one batch of two, due at 4 (the head waited the delay), done at 4 + t(2) = 10')
  const second = done[1]!.r
  t.equal(second.predictedMs, 7, 'predicted 1 ms of delay left + t(2) = 7 ms: exact (counted from now, 4 + 6 = 10 ms: 43 % off)')
})

t.test('a pooled prediction learns from its answers: latency work that jumps ahead, which the model does not foresee', async (t) => {
  // t(n) = 1 + 10n (CPU-like: nothing rides with a latency batch). Every 100 ms: a latency item
  // at c (runs c..c+11), a pooled throughput item at c+1 (the model: the worker free at c+11,
  // then t(1): finish 21 ms after it), a latency item at c+5 that jumps ahead of it (c+11..c+22):
  // the throughput item actually ends at c+33, 32 ms after it came — 52 % later than modelled.
  const clock = new VirtualClock()
  const { dev } = gpu(clock, { a: 1, b: 10, maxBatchSize: 4 }, 0)
  const ratios: number[] = []
  const observer: DispatchObserver = { ...quiet, prediction: (_d, _m, policy, predictedMs, actualMs) => { if (policy === 'throughput') ratios.push(predictedMs / actualMs) } }
  const dispatcher = new Dispatcher({ devices: [dev.scheduler], get: () => dev.scheduler }, observer, clock)
  const reported: number[] = []; const errors: Error[] = []
  const send = (policy: 'latency' | 'throughput', deadlineMs: number): void => dispatcher.submit({ model: 'm', image: IMAGE, params: {}, opts: { policy, deadline: clock.now() + deadlineMs } }, (err, r) => {
    if (err !== null) errors.push(err)
    else if (policy === 'throughput') reported.push(r!.predictedMs)
  })
  for (let c = 0; c < 1000; c += 100) {
    clock.runUntil(c); send('latency', 1000)
    // a deadline of 25 ms: the model (21) admits it, though 32 is reported — admission keeps the model
    clock.runUntil(c + 1); send('throughput', 25)
    clock.runUntil(c + 5); send('latency', 1000)
  }
  clock.advance(1000)
  t.same(errors, [], 'nothing refused')
  t.equal(reported.length, 10, 'every throughput item admitted by the model\'s 21 ms against its 25 ms deadline')
  t.ok(Math.abs(reported[0]! - 21) < 1e-9, `the first: the model alone, 21 ms (${reported[0]})`)
  t.ok(Math.abs(ratios[0]! - 1) > 0.2, `the model is off by more than 20 % (${ratios[0]!.toFixed(2)}× the actual)`)
  for (let i = 1; i < ratios.length; i++) t.ok(Math.abs(ratios[i]! - 1) < 1e-9, `answer ${i + 1}: ${reported[i]!.toFixed(1)} ms predicted for 32 ms`)
})

t.test('the correction: the mean of actual / predicted, warmed up by a plain mean, bounded, per pool', async (t) => {
  const c = new PredictionCorrection(0.5)
  const a = {}; const b = {}
  t.equal(c.factor(a), 1, 'nothing learned: the model as is')
  c.learn(a, 10, 20); c.learn(a, 10, 10)
  t.equal(c.factor(a), 1.5, 'the plain mean of 2 and 1 while n < 1/α')
  c.learn(a, 10, 30)
  t.equal(c.factor(a), 2.25, 'then α = 0.5: 1.5 + 0.5·(3 − 1.5)')
  t.equal(c.factor(b), 1, 'another pool learns apart')
  c.learn(b, 1, 1000)
  t.equal(c.factor(b), 4, 'never more than ×4 off the model')
  c.learn(b, 0, 5); c.learn(b, Infinity, 5)
  t.equal(c.factor(b), 4, 'a prediction of 0 or ∞ teaches nothing')
  const r = new Router('switchyard')
  t.equal(r.correction.factor(a), 1, 'each router learns its own')
})
