// decodeSlot: the decode gate for the routes outside the request pipeline (a drawn answer's second
// decode, job images): with no count on the waiting room, the caller's deadline bounds the wait.
import t from 'tap'
import type { Metrics } from '../metrics/metrics.js'
import { DecodeGate } from '../preprocess/decode-gate.js'
import { decodeSlot } from './decode-slot.js'

t.test('no count: a wait past what the deadline leaves is a 429 counted decode-queue-full; within it, a slot', async (t) => {
  let now = 0
  const gate = new DecodeGate(1, 1, { maxWaiting: null, now: () => now })
  const refused: string[] = []
  const metrics = { rejected (_d: string, _m: string, _p: string, reason: string) { refused.push(reason) } } as unknown as Metrics
  const first = await decodeSlot(gate, metrics, 'throughput', 'm', 0, 0)
  now = 20
  first() // one hold of 20 ms measured
  const held = await decodeSlot(gate, metrics, 'throughput', 'm', 0, 0)
  await t.rejects(decodeSlot(gate, metrics, 'throughput', 'm', 0, 10), { statusCode: 429, code: 'SY_OVERLOADED', retryAfter: 1 }, 'a 20 ms wait where 10 ms are left')
  t.same(refused, ['decode-queue-full'])
  const waiting = decodeSlot(gate, metrics, 'throughput', 'm', 0, 30)
  held()
  ;(await waiting)()
  t.same(refused, ['decode-queue-full'], 'within 30 ms it waited and got the slot')
})
