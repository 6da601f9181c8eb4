// The judged sets (JUDGED_REPORTS): what the README's aggregate and a screen's default replay.
import t from 'tap'
import { JUDGED_REPORTS, readRandomReport } from './random-reports.js'

t.test('the judged sets load and hold every seed from 1 to 1160 exactly once, in order', async (t) => {
  const seeds: number[] = []
  for (const name of JUDGED_REPORTS) {
    const r = readRandomReport(name)
    t.ok(r.seeds.length > 0, `${name} has seeds`)
    t.same(r.seeds.map((s) => s.seed), r.options.seeds, `${name}: a result for every seed it was run with`)
    for (const s of r.seeds) seeds.push(s.seed)
  }
  t.same(seeds, Array.from({ length: 1160 }, (_, i) => i + 1))
})

t.test('every judged set was run with the same run length and grid, so their cells add up', async (t) => {
  const first = readRandomReport(JUDGED_REPORTS[0]).options
  for (const name of JUDGED_REPORTS) {
    const o = readRandomReport(name).options
    t.same({ durationS: o.durationS, maxRequests: o.maxRequests, minDurationS: o.minDurationS, loads: o.loads, bisect: o.bisect }, { durationS: first.durationS, maxRequests: first.maxRequests, minDurationS: first.minDurationS, loads: first.loads, bisect: first.bisect }, name)
    t.equal(o.latencyObjectiveMs, undefined, `${name}: the server's defaults (no latency objective)`)
  }
})
