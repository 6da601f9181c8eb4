// Dynamic batching rules (see batcher.ts): latency work first and at once, throughput work in
// full batches or after the batch delay.
import t from 'tap'
import { planBatch, type BatchSlot } from './batcher.js'
import { RequestQueue, type QueuedItem } from './request-queue.js'

function item (policy: 'latency' | 'throughput', enqueuedAt: number, deadline = enqueuedAt + 1000): QueuedItem {
  return {
    image: { pixels: new Uint8Array(0), width: 1, height: 1, originalWidth: 1, originalHeight: 1 },
    params: {},
    policy,
    deadline,
    enqueuedAt,
    resolve: () => {},
    reject: () => {}
  }
}

function slot (model: string, max = 4, delay = { latency: 0, throughput: 10 }): BatchSlot {
  return { model, queue: new RequestQueue(), maxBatchSize: max, delayMs: delay }
}

t.test('an empty device is idle', async (t) => {
  t.same(planBatch([slot('m')], 0), { action: 'idle' })
})

t.test('a latency item is sent at once, alone', async (t) => {
  const s = slot('m')
  s.queue.push(item('latency', 100))
  t.same(planBatch([s], 100), { action: 'dispatch', model: 'm', policy: 'latency', count: 1, slot: s })
})

t.test('an item without a deadline (Infinity) is sent all the same (bug: it waited for ever)', async (t) => {
  const s = slot('m')
  s.queue.push(item('latency', 100, Infinity))
  t.same(planBatch([s], 100), { action: 'dispatch', model: 'm', policy: 'latency', count: 1, slot: s })
})

t.test('latency items never wait for a batch, and throughput items do not ride along', async (t) => {
  const s = slot('m')
  for (let i = 0; i < 3; i++) s.queue.push(item('throughput', 100))
  s.queue.push(item('latency', 101))
  s.queue.push(item('latency', 102))
  t.same(planBatch([s], 102), { action: 'dispatch', model: 'm', policy: 'latency', count: 2, slot: s })
})

t.test('a partial throughput batch waits for the batch delay, then goes', async (t) => {
  const s = slot('m')
  s.queue.push(item('throughput', 100))
  s.queue.push(item('throughput', 103))
  t.same(planBatch([s], 105), { action: 'wait', until: 110 }, 'waits until the oldest has waited 10 ms')
  t.same(planBatch([s], 110), { action: 'dispatch', model: 'm', policy: 'throughput', count: 2, slot: s })
})

t.test('a full throughput batch goes at once, capped at max batch', async (t) => {
  const s = slot('m', 4)
  for (let i = 0; i < 6; i++) s.queue.push(item('throughput', 100))
  t.same(planBatch([s], 100), { action: 'dispatch', model: 'm', policy: 'throughput', count: 4, slot: s })
})

t.test('latency work on one model goes before ready throughput work on another', async (t) => {
  const bulk = slot('bulk', 2)
  bulk.queue.push(item('throughput', 0)); bulk.queue.push(item('throughput', 0))
  const probe = slot('probe')
  probe.queue.push(item('latency', 50))
  t.match(planBatch([bulk, probe], 50), { action: 'dispatch', model: 'probe', policy: 'latency' })
})

t.test('earliest deadline first within a class and across models', async (t) => {
  const a = slot('a'); const b = slot('b')
  a.queue.push(item('latency', 0, 500))
  b.queue.push(item('latency', 10, 100))
  t.match(planBatch([a, b], 10), { model: 'b' })
  const q = new RequestQueue()
  q.push(item('throughput', 0, 300)); q.push(item('throughput', 1, 100)); q.push(item('throughput', 2, 200))
  t.same(q.take('throughput', 3).map((i) => i.deadline), [100, 200, 300])
})

t.test('a latency batch delay holds the worker for latency company only', async (t) => {
  const s = slot('m', 4, { latency: 2, throughput: 0 })
  s.queue.push(item('throughput', 0))
  s.queue.push(item('latency', 10))
  t.same(planBatch([s], 11), { action: 'wait', until: 12 }, 'the ready bulk item does not jump in')
  t.match(planBatch([s], 12), { policy: 'latency', count: 1 })
})

t.test('a worker reserved for latency work takes latency items only', async (t) => {
  const s = slot('m', 4, { latency: 0, throughput: 0 })
  for (let i = 0; i < 4; i++) s.queue.push(item('throughput', 0))
  t.same(planBatch([s], 10, true), { action: 'idle' }, 'a full bulk batch is left for the other workers')
  s.queue.push(item('latency', 5))
  t.same(planBatch([s], 10, true), { action: 'dispatch', model: 'm', policy: 'latency', count: 1, slot: s })
})

t.test('a partial batch is ready at the very time the batcher said to wake (no rounding gap)', async (t) => {
  // 129.542102466193 − 124.54210246619301 = 4.999999999999986 < 5 in floating point: judged by
  // the difference, the batch would not be ready when the wake-up timer it asked for fires, and
  // the timer would be set again for the same instant, for ever on a virtual clock
  const enqueuedAt = 124.54210246619301
  const s = slot('m', 4, { latency: 0, throughput: 5 })
  s.queue.push(item('throughput', enqueuedAt))
  const plan = planBatch([s], enqueuedAt + 1)
  t.same(plan, { action: 'wait', until: enqueuedAt + 5 })
  t.same(planBatch([s], enqueuedAt + 5), { action: 'dispatch', model: 'm', policy: 'throughput', count: 1, slot: s })
})
