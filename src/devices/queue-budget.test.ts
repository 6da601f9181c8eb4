// Admission by memory (issue 17): accepted requests hold the bytes of their prepared images
// until they are answered; past the budget the router answers queue-full (503 SY_QUEUE_FULL)
// with a computed Retry-After, for pooled and bound work alike. A virtual clock: exact.
import t from 'tap'
import { Dispatcher } from '../router/dispatcher.js'
import { Overloaded, RequestCancelledError } from '../errors.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { VirtualClock } from './clock.js'
import { defaultQueueBytes, QueueBudget } from './queue-budget.js'
import { RequestQueue } from './request-queue.js'

const image = (bytes: number): { pixels: Uint8Array, width: number, height: number, originalWidth: number, originalHeight: number } => ({ pixels: new Uint8Array(bytes), width: 1, height: 1, originalWidth: 1, originalHeight: 1 })
const observer = { decision () {}, rejected () {}, retry () {}, predictionError () {} }

function setup (maxBytes: number, pooled: boolean): { clock: VirtualClock, dispatcher: Dispatcher, budget: QueueBudget } {
  const clock = new VirtualClock()
  const pools = pooled ? new Map([['m@default', new RequestQueue()]]) : undefined // keyed model@variant (lane-settings.ts)
  // one worker, t(n) = 10·n, batches of 2; item caps far away: only memory binds
  const dev = new SimDevice({ id: 'cpu', workers: 1, maxQueue: 10_000, batchDelayMs: { latency: 0, throughput: 0 }, models: { m: { a: 0, b: 10, maxBatchSize: 2 } } }, clock, seededRandom(1), pools ? { pools } : {}).scheduler
  const budget = new QueueBudget(maxBytes)
  const dispatcher = new Dispatcher({ devices: [dev], get: (id) => (id === 'cpu' ? dev : undefined) }, observer, clock, 'switchyard', budget)
  return { clock, dispatcher, budget }
}

for (const pooled of [true, false]) {
  t.test(`${pooled ? 'late-bound (the pool)' : 'bound'} throughput work: admitted while its bytes fit, refused past the budget, the bytes given back when answered`, async (t) => {
    const { clock, dispatcher, budget } = setup(1000, pooled)
    const policy = pooled ? 'throughput' as const : 'cost' as const // (the cost policy stays bound)
    const answers: Array<Promise<unknown>> = []
    for (let i = 0; i < 4; i++) answers.push(dispatcher.dispatch('m', image(250), {}, { policy, deadline: 60_000 }))
    t.equal(budget.bytes, 1000, 'four images of 250 bytes: the budget is spent')
    const refused = await dispatcher.dispatch('m', image(250), {}, { policy, deadline: 60_000 }).then(() => null, (e: unknown) => e)
    t.ok(refused instanceof Overloaded, 'the fifth: 429 SY_OVERLOADED (every queue full)')
    t.equal((refused as { statusCode: number }).statusCode, 429)
    t.ok(((refused as { retryAfter?: number }).retryAfter ?? 0) >= 1, 'with a Retry-After')
    clock.advance(1000)
    await Promise.all(answers)
    t.equal(budget.bytes, 0, 'every answered image gave its bytes back')
    const again = dispatcher.dispatch('m', image(250), {}, { policy, deadline: 60_000 })
    clock.advance(1000)
    t.equal((await again as { device: string }).device, 'cpu', 'room again')
  })
}

t.test('an item that leaves without running gives its bytes back: its client went away while it was queued', async (t) => {
  const { clock, dispatcher, budget } = setup(10_000, false)
  const first = dispatcher.dispatch('m', image(100), {}, { policy: 'cost', deadline: 60_000 })
  const second = dispatcher.dispatch('m', image(100), {}, { policy: 'cost', deadline: 60_000 })
  const gone = new AbortController()
  const third = dispatcher.dispatch('m', image(100), {}, { policy: 'cost', deadline: 60_000, signal: gone.signal }).catch((e: Error) => e)
  t.equal(budget.bytes, 300, 'two in the running batch, one queued')
  gone.abort()
  t.ok(await third instanceof RequestCancelledError, 'answered cancelled (nobody reads it)')
  t.equal(budget.bytes, 200, 'the cancelled one gave its bytes back at once')
  clock.advance(1000)
  await Promise.all([first, second])
  t.equal(budget.bytes, 0)
})

t.test('the default budget: an eighth of the machine\'s memory, at most 2 GiB', async (t) => {
  t.equal(defaultQueueBytes(8 * 1024 ** 3), 1024 ** 3)
  t.equal(defaultQueueBytes(64 * 1024 ** 3), 2 * 1024 ** 3)
})
