// The embedded queue: fair turns between keys, one result per image, hand-back, retention.
import t from 'tap'
import type { JobMeta } from './job-types.js'
import { MemoryBackend } from './memory-backend.js'

function meta (id: string, key: string, images: number): JobMeta {
  return { id, key, model: 'm', task: 'classify', policy: 'throughput', params: {}, images, names: Array.from({ length: images }, (_, i) => `${i}`), createdAt: 0, callback: null }
}
const bytes = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => Buffer.from([i]))

t.test('a job of a key with few images is served alongside a key with many', async (t) => {
  let now = 0
  const b = new MemoryBackend({ retentionMs: 1000, now: () => now })
  t.teardown(() => b.close())
  await b.submit(meta('big', 'a', 100), bytes(100))
  await b.submit(meta('small', 'b', 3), bytes(3))
  const taken = await b.take('m', 6)
  t.same(taken.map((d) => `${d.jobId}/${d.index}`), ['big/0', 'small/0', 'big/1', 'small/1', 'big/2', 'small/2'])
  t.equal(await b.outstanding('a'), 100)
  now = 50
  t.same((await b.stats()).oldestMs, 50)
  for (const d of taken) await d.complete({ index: d.index, ok: true, replica: 'r', at: now })
  t.equal(await b.outstanding('a'), 97)
  const small = await b.get('small')
  t.equal(small!.finishedAt, 50, 'the small job finished')
})

t.test('one result per image; the last one finishes the job once', async (t) => {
  const b = new MemoryBackend({ retentionMs: 1000 })
  t.teardown(() => b.close())
  await b.submit(meta('j', 'a', 2), bytes(2))
  const [d0, d1] = await b.take('m', 5)
  t.same(await d0!.bytes(), Buffer.from([0]))
  const first = await d0!.complete({ index: 0, ok: true, replica: 'r', at: 1 })
  t.same(first, { stored: true, finished: null })
  const last = await d1!.complete({ index: 1, ok: false, replica: 'r', at: 2, error: { statusCode: 400, error: 'SY_INVALID_IMAGE', message: 'x' } })
  t.equal(last.stored, true)
  t.equal(last.finished?.results.length, 2)
  await t.rejects(d0!.complete({ index: 0, ok: true, replica: 'r', at: 3 }), /settled twice/, 'a delivery settles once')
})

t.test('an image handed back is delivered again, counted', async (t) => {
  const b = new MemoryBackend({ retentionMs: 1000 })
  t.teardown(() => b.close())
  await b.submit(meta('j', 'a', 1), bytes(1))
  const [d] = await b.take('m', 1)
  t.equal(d!.deliveries, 1)
  d!.retryLater(0)
  await b.waitForWork('m', 60_000) // woken by the hand-back, not by the timeout
  const [again] = await b.take('m', 1)
  t.equal(again!.deliveries, 2)
  t.equal(again!.index, 0)
})

t.test('finished jobs are forgotten after the retention', async (t) => {
  let now = 0
  const b = new MemoryBackend({ retentionMs: 1000, now: () => now })
  t.teardown(() => b.close())
  await b.submit(meta('done', 'a', 1), bytes(1))
  await b.submit(meta('open', 'a', 1), bytes(1))
  const [d] = await b.take('m', 1)
  await d!.complete({ index: 0, ok: true, replica: 'r', at: 0 })
  now = 999
  b.sweep()
  t.not(await b.get('done'), null, 'kept until the retention has passed')
  now = 1000
  b.sweep()
  t.equal(await b.get('done'), null, 'then forgotten')
  t.not(await b.get('open'), null, 'an unfinished job is kept')
})

t.test('waitForWork waits for a submission even while images are queued (the caller may hold enough of those keys)', async (t) => {
  const b = new MemoryBackend({ retentionMs: 1000 })
  t.teardown(() => b.close())
  await b.submit(meta('big', 'a', 5), bytes(5))
  let woken = false
  const waiting = b.waitForWork('m', 60_000).then(() => { woken = true })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(woken, false, 'not at once: the queue holds only key a\'s images')
  t.same((await b.take('m', 4, (k) => (k === 'a' ? 0 : 4))).length, 0, 'take() with key a at its limit finds nothing')
  await b.submit(meta('small', 'b', 1), bytes(1))
  await waiting
  t.equal(woken, true, 'a submission wakes it')
  t.equal(b.backlog('m', 'a'), 5)
  t.same((await b.take('m', 4, (k) => (k === 'a' ? 0 : 4))).map((d) => d.key), ['b'])
})
