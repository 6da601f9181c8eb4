// Overload, briefly (the 60 s version with figures is bench/overload.ts): with small bounds,
// a burst far above capacity gets every request answered — 200, or 429/503 with Retry-After
// and a JSON error — and the server serves normally afterwards. Correctness only, no timings.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { SHARED_IMAGES, startServer } from '../test-support/server.js'

const dog = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))

t.test('a burst far above capacity: all answered, excess shed with Retry-After', async (t) => {
  const { app } = await startServer(t, {
    decode: { slots: 2, bulkSlots: 1, maxWaiting: 4 },
    devices: [{ id: 'cpu', kind: 'cpu', required: true, maxBatchSize: 4, maxQueue: 4 }]
  })
  const burst = Array.from({ length: 120 }, (_, i) => app.inject({
    method: 'POST',
    url: i % 2 ? '/detect' : '/classify',
    payload: dog,
    headers: { 'content-type': 'image/jpeg', 'x-switchyard-policy': i % 3 ? 'throughput' : 'latency' }
  }))
  const res = await Promise.all(burst)
  const statuses = res.map((r) => r.statusCode)
  t.ok(statuses.every((s) => s === 200 || s === 429 || s === 503), `only 200/429/503 (${[...new Set(statuses)].join(', ')})`)
  t.ok(statuses.includes(200), 'some were served')
  t.ok(statuses.includes(429), 'the excess was shed')
  for (const r of res.filter((x) => x.statusCode !== 200)) {
    t.ok(Number(r.headers['retry-after']) >= 1, `${r.statusCode} carries Retry-After`)
    t.match(r.json(), { statusCode: r.statusCode, error: /^SY_(OVERLOADED|DEADLINE_UNMEETABLE|NO_HEALTHY_DEVICE)$/, message: String })
  }
  const metrics = (await app.inject('/metrics')).body
  t.match(metrics, /switchyard_rejected_requests_total\{[^}]*reason="(decode-queue-full|queue-full|deadline)"\} [1-9]/, 'rejections are counted by reason')
  const after = await app.inject({ method: 'POST', url: '/classify', payload: dog, headers: { 'content-type': 'image/jpeg' } })
  t.equal(after.statusCode, 200, 'and the server serves normally afterwards')
})

t.test('decode.maxWaiting null: a burst within its deadlines waits for decode slots instead of being shed at a count', async (t) => {
  const { app } = await startServer(t, {
    decode: { slots: 2, bulkSlots: 1, maxWaiting: null },
    devices: [{ id: 'cpu', kind: 'cpu', required: true, maxBatchSize: 4 }]
  })
  // 40 at once on one bulk decode slot: with a count of 4 (above) most would be refused; here each
  // waits a few hundred ms at most against the throughput class's deadline of seconds
  const burst = Array.from({ length: 40 }, () => app.inject({
    method: 'POST', url: '/classify', payload: dog, headers: { 'content-type': 'image/jpeg', 'x-switchyard-policy': 'throughput' }
  }))
  const statuses = (await Promise.all(burst)).map((r) => r.statusCode)
  t.same([...new Set(statuses)], [200], 'every one answered 200')
  const metrics = (await app.inject('/metrics')).body
  t.notMatch(metrics, /switchyard_rejected_requests_total\{[^}]*reason="decode-queue-full"\} [1-9]/, 'none refused at the decode gate')
})
