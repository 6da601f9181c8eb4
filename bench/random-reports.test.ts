// The judged sets (JUDGED_REPORTS): what the README's aggregate and a screen's default replay.
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { metricOf } from '../src/sim/cross-judge.js'
import { judgeCell } from '../src/sim/judge.js'
import { reportWaiting } from '../src/sim/random-run.js'
import { JUDGED_REPORTS, readRandomReport } from './random-reports.js'

t.test('the judged sets load and hold every seed from 1 to 1800 exactly once, in order', async (t) => {
  const seeds: number[] = []
  for (const name of JUDGED_REPORTS) {
    const r = readRandomReport(name)
    t.ok(r.seeds.length > 0, `${name} has seeds`)
    t.same(r.seeds.map((s) => s.seed), r.options.seeds, `${name}: a result for every seed it was run with`)
    for (const s of r.seeds) seeds.push(s.seed)
  }
  t.same(seeds, Array.from({ length: 1800 }, (_, i) => i + 1))
})

t.test('every judged set was run with the same run length and grid, so their cells add up', async (t) => {
  const first = readRandomReport(JUDGED_REPORTS[0]).options
  for (const name of JUDGED_REPORTS) {
    const o = readRandomReport(name).options
    t.same({ durationS: o.durationS, maxRequests: o.maxRequests, minDurationS: o.minDurationS, loads: o.loads, bisect: o.bisect }, { durationS: first.durationS, maxRequests: first.maxRequests, minDurationS: first.minDurationS, loads: first.loads, bisect: first.bisect }, name)
    t.equal(o.latencyObjectiveMs, undefined, `${name}: the server's defaults (no latency objective)`)
    t.equal(reportWaiting(o), 'time', `${name}: the server's default decode waiting room (decode.maxWaiting null: bounded by time)`)
  }
})

t.test('every committed random report says of each cell what the judge says of its stored metrics', async (t) => {
  // A report's verdicts are written when its cells run; a rerun that rewrote some strategies'
  // metrics without judging the cell again would leave a stale verdict (random-wide's seed 31 at
  // 100 % kept a worst ratio of 1.80 against shared-queue from 2026-12-05 to 12-06, while its
  // stored speed-aware numbers put it at 2.12). Judged again here from what the json stores (4
  // decimals), whether a cell is lost and whether it is over 2× — what the targets count — and the
  // report's totals of both.
  const dir = fileURLToPath(new URL('./results/', import.meta.url))
  const names = readdirSync(dir).filter((f) => /^random.*\.json$/.test(f)).map((f) => f.slice(0, -'.json'.length))
  t.ok(names.length >= JUDGED_REPORTS.length, 'every judged set and the reports beside them')
  for (const name of names) {
    const r = readRandomReport(name)
    let lost = 0; let over = 0; const moved: string[] = []
    for (const s of r.seeds) {
      for (const c of s.cells) {
        const baselines = Object.entries(c.metrics).filter(([k]) => k !== 'switchyard').map(([strategy, m]) => ({ strategy, m: metricOf(m) }))
        const j = judgeCell(metricOf(c.metrics.switchyard!), baselines, s.slo)
        if ((j.verdict === 'loss') !== (c.judgement.verdict === 'loss') || (j.worstRatio > 2) !== (c.judgement.worstRatio > 2)) moved.push(`${s.seed} at ${c.load}`)
        if (j.verdict === 'loss') lost++
        if (j.worstRatio > 2) over++
      }
    }
    t.same(moved, [], `${name}: no stored verdict differs from the judge's`)
    t.same({ notBeaten: r.totals.cells - lost, over2x: over }, { notBeaten: r.totals.notBeaten, over2x: r.totals.over2x }, `${name}: its totals`)
  }
})
