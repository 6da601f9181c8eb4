// The share of a device's recent batch time spent on bulk batches (bulk-share.ts): two sums of
// predicted batch ms, decaying alike with e^(−Δ/τ). Pure arithmetic on the times it is handed.
import t from 'tap'
import { BulkShare } from './bulk-share.js'

t.test('bulk batch time over all batch time, the older batches weighing less', async (t) => {
  const s = new BulkShare(1000)
  t.equal(s.share, 1, 'no batch yet: nothing says the device lives on latency batches')
  s.add(30, true, 0)
  s.add(10, false, 0)
  t.equal(s.share, 0.75, '30 ms of bulk, 10 of a latency batch')
  s.add(40, false, 1000)
  const bulk = 30 * Math.exp(-1); const all = 40 * Math.exp(-1) + 40
  t.ok(Math.abs(s.share - bulk / all) < 1e-12, 'a τ later, a latency batch of 40 ms: the earlier ones count e⁻¹')
  s.add(0, true, 2000)
  t.ok(Math.abs(s.share - bulk / all) < 1e-12, 'a batch of no time changes nothing')
  for (let i = 0; i < 60; i++) s.add(10, false, 3000 + i * 1000)
  t.ok(s.share < 1e-20, 'a minute of latency batches alone: no bulk share left')
})
