// The pooled latency probe of bench:router: quantiles over every round's probes, the head/base
// p99 ratio with a bootstrap interval, and where the tail's time goes.
import t from 'tap'
import { pooledProbes, type Probe } from './pooled-probes.js'

/** n probes of `ms` each, the server's total `total` of it, all of it queueing. */
const probes = (n: number, ms: number, total = ms): Probe[] =>
  Array.from({ length: n }, () => ({ ms, parts: { decode: 0, queue: total, inference: 0, postprocess: 0, total } }))

t.test('quantiles are nearest-rank over every probe of the tree', async (t) => {
  const base = Array.from({ length: 100 }, (_, i) => ({ ms: i + 1, parts: { total: i + 1 } }))
  const { base: b } = pooledProbes(base, base)
  t.equal(b.n, 100)
  t.equal(b.p50, 50)
  t.equal(b.p90, 90)
  t.equal(b.p99, 99)
  t.equal(b.max, 100)
  t.equal(b.all.server, 50.5, 'a total with no parts named is all the rest of the server (the gate, routing)')
})

t.test('a tail the head has and the base does not: the ratio and its interval say so', async (t) => {
  const base = probes(200, 100)
  const head = [...probes(190, 100), ...probes(10, 300, 280)]
  const r = pooledProbes(base, head)
  t.equal(r.head.p99, 300)
  t.equal(r.p99Ratio, 3)
  t.ok(r.p99RatioCi[0] > 1, `the interval ${r.p99RatioCi.join('–')} excludes 1`)
  t.same(r.head.tail, { decode: 0, queue: 280, inference: 0, postprocess: 0, server: 0, outside: 20 }, 'the tail: 280 ms queueing, 20 outside the server')
  t.equal(r.base.tail.queue, 0, 'no probe above the base p95: an empty tail reads 0')
})

t.test('the same probes: ratio 1, an interval around it, the same answer every time', async (t) => {
  const ps = Array.from({ length: 300 }, (_, i) => ({ ms: 50 + (i * 37) % 101, parts: { total: 50 } }))
  const a = pooledProbes(ps, ps)
  t.equal(a.p99Ratio, 1)
  t.ok(a.p99RatioCi[0] <= 1 && a.p99RatioCi[1] >= 1)
  t.same(pooledProbes(ps, ps), a, 'a fixed seed')
})
