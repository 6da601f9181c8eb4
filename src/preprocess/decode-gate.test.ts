// Decode slots: bulk requests hold at most bulkSlots; latency requests jump the queue.
import t from 'tap'
import { QueueBudget } from '../devices/queue-budget.js'
import { DecodeGate } from './decode-gate.js'

t.test('throughput requests cannot take every slot', async (t) => {
  const gate = new DecodeGate(3, 2)
  const r1 = await gate.acquire('throughput')
  const r2 = await gate.acquire('throughput')
  let third = false
  const p3 = gate.acquire('throughput').then((r) => { third = true; return r })
  await new Promise((resolve) => setImmediate(resolve))
  t.notOk(third, 'a third bulk request waits while two hold slots')
  const latency = await gate.acquire('latency')
  t.ok(latency, 'a latency request still gets the free slot at once')
  r1!()
  t.ok(await p3, 'the waiting bulk request runs when a bulk slot frees')
  r2!(); latency!()
})

t.test('latency waiters go before bulk waiters', async (t) => {
  const gate = new DecodeGate(1, 1)
  const held = await gate.acquire('latency')
  const order: string[] = []
  const bulk = gate.acquire('throughput').then((r) => { order.push('bulk'); r!() })
  const lat = gate.acquire('latency').then((r) => { order.push('latency'); r!() })
  held!()
  await Promise.all([bulk, lat])
  t.same(order, ['latency', 'bulk'])
})

t.test('refuses past the waiting bound, and release is idempotent', async (t) => {
  const gate = new DecodeGate(1, 1, { maxWaiting: 1 })
  const held = await gate.acquire('latency')
  const waiting = gate.acquire('latency')
  t.equal(await gate.acquire('latency'), null, 'a second waiter is refused')
  held!(); held!()
  const r = await waiting
  t.ok(r)
  t.equal(gate.waiting, 0)
  r!()
})

t.test('the callback form grants synchronously when a slot is free and refuses past maxWaiting', async (t) => {
  const gate = new DecodeGate(1, 1, { maxWaiting: 1 })
  let first: (() => void) | null = null
  t.ok(gate.enter('throughput', (r) => { first = r }), 'accepted')
  t.ok(first, 'granted at once: the slot was free')
  let second: (() => void) | null = null
  t.ok(gate.enter('throughput', (r) => { second = r }), 'queued')
  t.equal(second, null, 'waits while the slot is held')
  t.notOk(gate.enter('latency', () => t.fail('never granted')), 'refused: maxWaiting reached')
  first!()
  t.ok(second, 'granted when the slot is released, in the release call')
  second!()
})

t.test('the waiting room counts bytes against the memory budget (queue-budget.ts): held while waiting, given back when a slot is granted', async (t) => {
  const budget = new QueueBudget(1000)
  const gate = new DecodeGate(1, 1, { maxWaiting: 100, budget })
  const releases: Array<() => void> = []
  t.ok(gate.enter('throughput', (r) => releases.push(r), 600), 'a free slot: decoding at once, nothing held')
  t.equal(budget.bytes, 0)
  t.ok(gate.enter('throughput', (r) => releases.push(r), 600), 'waits, holding 600 bytes')
  t.equal(budget.bytes, 600)
  t.notOk(gate.enter('latency', () => t.fail('never granted'), 600), 'refused: 1200 bytes would pass the budget, though only one waits')
  t.ok(gate.enter('latency', (r) => releases.push(r), 400), '400 more fit')
  t.equal(budget.bytes, 1000)
  releases.shift()!()
  t.equal(budget.bytes, 600, 'the latency waiter got the slot and its bytes back')
  releases.shift()!()
  t.equal(budget.bytes, 0)
})

t.test('it counts the latency-class requests that entered, granted or waiting (the job puller reads it: decode-pace.ts)', async (t) => {
  const gate = new DecodeGate(1, 1, { maxWaiting: 100 })
  const releases: Array<() => void> = []
  gate.enter('throughput', (r) => releases.push(r))
  t.equal(gate.latencyEntered, 0, 'bulk work does not count')
  gate.enter('latency', (r) => releases.push(r))
  t.equal(gate.latencyEntered, 1, 'a latency request waiting for the slot counts')
  releases.shift()!()
  t.equal(releases.length, 1, 'it got the slot')
  gate.enter('cost', (r) => releases.push(r))
  t.equal(gate.latencyEntered, 1, 'cost-policy work is batched work: not counted')
  releases.shift()!()
  releases.shift()!()
})

t.test('with no count (maxWaiting null) a request waits while its predicted wait fits the time its deadline leaves: (ahead + 1) / k × the mean hold', async (t) => {
  let now = 0
  const gate = new DecodeGate(2, 1, { maxWaiting: null, now: () => now })
  const held: Array<() => void> = []
  t.ok(gate.enter('throughput', (r) => held.push(r), 0, 0), 'a free slot: no wait, whatever the limit')
  t.equal(gate.predictedWaitMs('throughput'), 0, 'no hold measured yet: no wait predicted')
  now = 10
  held.shift()!() // one hold of 10 ms measured
  t.ok(gate.enter('throughput', (r) => held.push(r)), 'the bulk slot again')
  t.equal(gate.predictedWaitMs('throughput'), 10, 'bulk: (0 + 1) / 1 slot × 10 ms')
  for (let i = 0; i < 3; i++) t.ok(gate.enter('throughput', (r) => held.push(r), 0, 1000), `bulk waiter ${i + 1} of 3: within 1 s`)
  t.equal(gate.predictedWaitMs('throughput'), 40, 'three ahead: (3 + 1) / 1 × 10 ms')
  t.notOk(gate.enter('throughput', () => t.fail('never granted'), 0, 39), 'refused: a 40 ms wait past a 39 ms limit')
  t.ok(gate.enter('throughput', (r) => held.push(r), 0, 40), 'accepted at 40 ms')
  t.equal(gate.predictedWaitMs('latency'), 0, 'a latency request takes the free second slot: no wait')
  t.ok(gate.enter('latency', (r) => held.push(r), 0, 0))
  t.equal(gate.predictedWaitMs('latency'), 5, 'latency waits only behind latency: (0 + 1) / 2 slots × 10 ms')
  t.equal(gate.waiting, 4, 'nothing counted against a count')
})

t.test('with no count, a waiter is checked again at its turn: one whose deadline would pass before a mean hold ends is refused through `expired`, its bytes given back, and the slot goes to the next (drop at dequeue)', async (t) => {
  let now = 0
  const budget = new QueueBudget(1000)
  const gate = new DecodeGate(1, 1, { maxWaiting: null, budget, now: () => now })
  const held: Array<() => void> = []
  const expired: string[] = []
  gate.enter('throughput', (r) => held.push(r))
  now = 10
  held.shift()!() // a mean hold of 10 ms
  gate.enter('throughput', (r) => held.push(r)) // holds the slot from 10 ms
  t.ok(gate.enter('throughput', () => t.fail('never granted'), 100, 25, () => expired.push('a')), 'a: predicted 10 ms, due by 35 ms')
  t.ok(gate.enter('throughput', (r) => { expired.push('b granted'); held.push(r) }, 100, 60, () => expired.push('b')), 'b: predicted 20 ms, due by 70 ms')
  t.equal(budget.bytes, 200, 'both hold their bytes while waiting')
  // latency work that came later goes first, so the predictions ran short
  t.ok(gate.enter('latency', (r) => held.push(r), 0, 1000))
  now = 20
  held.shift()!() // the latency request takes the slot
  t.same(expired, [])
  now = 30
  held.shift()!() // a's turn at 30 ms: 30 + 10 > 35, refused; b's: due by 70, granted
  t.same(expired, ['a', 'b granted'], 'a refused at its turn, b granted the slot')
  t.equal(budget.bytes, 0, 'both gave their bytes back')
  held.shift()!()
  const counted = new DecodeGate(1, 1, { maxWaiting: 4, now: () => now })
  counted.enter('throughput', (r) => held.push(r))
  let granted = false
  counted.enter('throughput', (r) => { granted = true; r() }, 0, 1, () => t.fail('a count never drops at dequeue'))
  now = 100
  held.shift()!()
  t.ok(granted, 'with a count, the waiter is granted however late')
})
