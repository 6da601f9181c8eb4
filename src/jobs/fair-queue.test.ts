import t from 'tap'
import { FairQueue } from './fair-queue.js'

t.test('keys take turns, one item each, whatever their backlog', async (t) => {
  const q = new FairQueue<string>()
  for (let i = 0; i < 1000; i++) q.push('big', `b${i}`)
  for (let i = 0; i < 3; i++) q.push('small', `s${i}`)
  t.same(q.take(4), ['b0', 's0', 'b1', 's1'])
  t.same(q.take(3), ['b2', 's2', 'b3'], 'the small key is served out after three turns')
  t.same(q.take(2), ['b4', 'b5'], 'then the big key has every turn')
  t.equal(q.size, 994)
})

t.test('turns continue across calls and new keys join the rotation at its end', async (t) => {
  const q = new FairQueue<string>()
  q.push('a', 'a0'); q.push('a', 'a1'); q.push('b', 'b0'); q.push('b', 'b1')
  t.same(q.take(1), ['a0'])
  q.push('c', 'c0')
  t.same(q.take(3), ['b0', 'c0', 'a1'])
  t.same(q.take(5), ['b1'])
  t.equal(q.size, 0)
  t.same(q.take(1), [])
})

t.test('heads are the oldest item of each key', async (t) => {
  const q = new FairQueue<number>()
  q.push('a', 1); q.push('b', 2); q.push('a', 3)
  t.same([...q.heads()], [1, 2])
  t.same([...q.items()].sort(), [1, 2, 3])
})

t.test('a limit per key: a key at its limit is passed over, the others go on taking turns', async (t) => {
  const q = new FairQueue<string>()
  for (let i = 0; i < 10; i++) q.push('big', `b${i}`)
  for (let i = 0; i < 10; i++) q.push('small', `s${i}`)
  t.same(q.take(8, (k) => (k === 'big' ? 1 : 8)), ['b0', 's0', 's1', 's2', 's3', 's4', 's5', 's6'], 'the big key may take one more, the small one eight')
  t.same(q.take(8, () => 0), [], 'no key may take any')
  t.same(q.take(3, (k) => (k === 'small' ? 0 : 5)), ['b1', 'b2', 'b3'])
  t.equal(q.sizeOf('big'), 6)
  t.equal(q.sizeOf('small'), 3)
  t.equal(q.sizeOf('none'), 0)
})
