// Pullers waiting for work: woken per model, all at close, or by their own timeout.
import t from 'tap'
import { Waiters } from './waiters.js'

t.test('a wake reaches the waiters of its model only', async (t) => {
  const w = new Waiters()
  const woken: string[] = []
  const a = w.wait('a', 60_000).then(() => woken.push('a'))
  void w.wait('b', 60_000).then(() => woken.push('b'))
  t.equal(w.count('a'), 1)
  w.wake('a')
  await a
  t.same(woken, ['a'], 'b still waits')
  t.equal(w.count('a'), 0, 'a woken waiter is no longer listed')
  t.equal(w.count('b'), 1)
  w.wakeAll()
  await new Promise((resolve) => setImmediate(resolve))
  t.same(woken, ['a', 'b'], 'close wakes everyone')
  t.equal(w.count('b'), 0)
})

t.test('without a wake the wait ends by its timeout and leaves nothing behind', async (t) => {
  const w = new Waiters()
  await w.wait('a', 1)
  t.equal(w.count('a'), 0)
  w.wake('a') // nothing left to wake: no error
})
