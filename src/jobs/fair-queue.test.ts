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
