// decodeSlot: the decode gate for the routes outside the request pipeline (a drawn answer's second
// decode, job images): with no count on the waiting room, the caller's deadline bounds the wait.
import t from 'tap'
import type { Metrics } from '../metrics/metrics.js'
import { DecodeGate } from '../preprocess/decode-gate.js'
import { decodeSlot } from './decode-slot.js'

/** A one-slot gate with no count, on a clock at 20 ms, one hold of 20 ms measured; what it refused, by reason. */
async function gateAfterOneHold (): Promise<{ gate: DecodeGate, metrics: Metrics, refused: string[], clock: { now: number } }> {
  const clock = { now: 0 }
  const gate = new DecodeGate(1, 1, { maxWaiting: null, now: () => clock.now })
  const refused: string[] = []
  const metrics = { rejected (_d: string, _m: string, _p: string, reason: string) { refused.push(reason) } } as unknown as Metrics
  const first = await decodeSlot(gate, metrics, 'throughput', 'm', 0, 0)
  clock.now = 20
  first()
  return { gate, metrics, refused, clock }
}

t.test('no count: a wait past what the deadline leaves is a 429 counted decode-queue-full; within it, a slot', async (t) => {
  const { gate, metrics, refused } = await gateAfterOneHold()
  const held = await decodeSlot(gate, metrics, 'throughput', 'm', 0, 0)
  await t.rejects(decodeSlot(gate, metrics, 'throughput', 'm', 0, 10), { statusCode: 429, code: 'SY_OVERLOADED', retryAfter: 1 }, 'a 20 ms wait where 10 ms are left')
  t.same(refused, ['decode-queue-full'])
  const waiting = decodeSlot(gate, metrics, 'throughput', 'm', 0, 30)
  held()
  ;(await waiting)()
  t.same(refused, ['decode-queue-full'], 'within 30 ms it waited and got the slot')
})

t.test('no count: a waiter whose turn comes after its deadline would let it decode is a 429 then, not a slot (drop at dequeue)', async (t) => {
  const { gate, metrics, refused, clock } = await gateAfterOneHold() // a mean hold of 20 ms
  const held = await decodeSlot(gate, metrics, 'throughput', 'm', 0, 0)
  const late = decodeSlot(gate, metrics, 'throughput', 'm', 0, 25) // predicted 20 ms: waits, due by 45
  clock.now = 30 // the slot is held 10 ms longer than the mean: its turn at 30, 30 + 20 > 45
  held()
  await t.rejects(late, { statusCode: 429, code: 'SY_OVERLOADED', retryAfter: 1 }, 'refused at its turn')
  t.same(refused, ['decode-queue-full'])
})
