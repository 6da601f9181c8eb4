// Every strategy judged as switchyard is (cross-judge.ts): which strategies hold in a cell, and
// what a report's cells add up to.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { addCrossJudgement, crossJudge, emptyCrossJudgement, holders, lossOf, type StoredCell } from './cross-judge.js'
import type { RandomReport } from './random-run.js'

const slo = { latency: 100, throughput: 2000 }
const cell = (m: Record<string, [number | null, number | null, number]>): StoredCell =>
  ({ metrics: Object.fromEntries(Object.entries(m).map(([k, [latP99, thrP99, refused]]) => [k, { latP99, thrP99, refused }])) })

t.test('a strategy holds where no other beats it by the judge: p99s within tolerance, refusals within 0.5 points', async (t) => {
  // b's throughput p99 is 30 % better than a's (beyond 25 %); c refuses 1 point less than both
  t.same(holders(cell({ a: [60, 1000, 0.02], b: [60, 770, 0.02], c: [90, 3000, 0.01] }), slo), ['c'])
  // within every tolerance: all hold
  t.same(holders(cell({ a: [60, 1000, 0], b: [56, 820, 0.004] }), slo), ['a', 'b'])
  // below half the latency SLO and a quarter of the throughput SLO nothing is beaten on p99
  t.same(holders(cell({ a: [49, 499, 0], b: [10, 50, 0] }), slo), ['a', 'b'])
})

t.test('where one strategy has the best latency p99 and another the best throughput p99, none holds', async (t) => {
  const split = cell({ switchyard: [120, 1000, 0], fast: [80, 3000, 0], bulk: [200, 500, 0] })
  t.same(holders(split, slo), [])
  const j = crossJudge([{ slo, cells: [split], sustainable: { switchyard: 1, fast: 1, bulk: 1 } }])
  t.equal(j.noneHolds, 1)
  t.equal(j.bestOfSix, 0, 'against the baselines alone, neither fast nor bulk holds either')
  t.same(j.lost, { cells: 1, baselineHolds: 0, noBaselineHolds: 1, holdsBy: {} })
})

t.test('a lost cell where a baseline holds against the other baselines counts toward the best of six', async (t) => {
  // b beats switchyard and a on throughput p99 (700 against 1,000 and 1,500) and neither beats b
  const c = cell({ switchyard: [50, 1000, 0], a: [60, 1500, 0], b: [55, 700, 0] })
  const j = crossJudge([{ slo, cells: [c], sustainable: { switchyard: 0.9, a: 1, b: 0.8 } }])
  t.equal(j.cells, 1)
  t.same(j.notBeaten, { switchyard: 0, a: 0, b: 1 })
  t.equal(j.bestOfSix, 1)
  t.equal(j.bestPerScenario, 1)
  t.same(j.otherBest, { scenarios: 1, cells: 1, by: { b: 1 } })
  t.equal(j.noneHolds, 0)
  t.same(j.lost, { cells: 1, baselineHolds: 1, noBaselineHolds: 0, holdsBy: { b: 1 } })
  t.same(j.lostOn.throughput, { cells: 1, trades: 0 }, 'b is within tolerance of switchyard on latency p99 (55 against 50): not a trade')
  // sustainable: a is the best (1); switchyard at 0.9 is under 0.97 × 1, b too; a against 0.9 holds
  t.same(j.sustainable, { switchyard: 0, a: 1, b: 0 })
  const sum = addCrossJudgement(emptyCrossJudgement(), j)
  addCrossJudgement(sum, j)
  t.equal(sum.cells, 2); t.equal(sum.lost.holdsBy.b, 2); t.equal(sum.notBeaten.b, 2)
  t.same(sum.lostOn.throughput, { cells: 2, trades: 0 })
})

t.test('what a lost cell is lost on, and whether switchyard beats back every baseline that beats it (a trade)', async (t) => {
  // bulk's throughput p99 is better by more than 25 %, switchyard's latency p99 by more than 10 %: a trade
  t.same(lossOf(cell({ switchyard: [60, 1000, 0], bulk: [90, 700, 0] }), slo), { on: 'throughput', trade: true })
  // a second baseline beats it on throughput with latency within tolerance: no longer a trade
  t.same(lossOf(cell({ switchyard: [60, 1000, 0], bulk: [90, 700, 0], even: [64, 700, 0] }), slo), { on: 'throughput', trade: false })
  // beaten on latency by one and on throughput by another: several
  t.same(lossOf(cell({ switchyard: [60, 1000, 0], fast: [40, 1000, 0], bulk: [90, 700, 0] }), slo), { on: 'several', trade: false })
  // a baseline that refuses a point less beats it; refusing more, switchyard is not better on p99: never a trade
  t.same(lossOf(cell({ switchyard: [40, 600, 0.02], careful: [90, 1900, 0.01] }), slo), { on: 'refusals', trade: false })
  t.equal(lossOf(cell({ switchyard: [60, 1000, 0], b: [58, 900, 0] }), slo), null, 'not beaten: no loss')
  const j = crossJudge([{ slo, cells: [cell({ switchyard: [60, 1000, 0], bulk: [90, 700, 0] }), cell({ switchyard: [60, 1000, 0], fast: [40, 1000, 0] })], sustainable: { switchyard: 1, bulk: 1, fast: 1 } }])
  t.same(j.lostOn, { latency: { cells: 1, trades: 0 }, throughput: { cells: 1, trades: 1 }, refusals: { cells: 0, trades: 0 }, several: { cells: 0, trades: 0 } })
})

t.test('one behaviour per scenario: the strategy holding in most of its cells, switchyard where it ties', async (t) => {
  // two loads: switchyard holds at the first, b at the second; a nowhere
  const low = cell({ switchyard: [40, 300, 0], a: [60, 450, 0], b: [45, 320, 0] })
  const high = cell({ switchyard: [50, 1000, 0], a: [60, 1500, 0], b: [55, 700, 0] })
  const tied = crossJudge([{ slo, cells: [low, high], sustainable: { switchyard: 1, a: 1, b: 1 } }])
  t.equal(tied.bestPerScenario, 2, 'switchyard holds at the first load and b at both: b is the pick, in 2 cells')
  t.same(tied.otherBest, { scenarios: 1, cells: 1, by: { b: 1 } })
  const mine = crossJudge([{ slo, cells: [low, low], sustainable: { switchyard: 1, a: 1, b: 1 } }])
  t.equal(mine.bestPerScenario, 2)
  t.same(mine.otherBest, { scenarios: 0, cells: 0, by: {} }, 'a baseline as good as switchyard is no gain')
})

t.test("on a committed report, switchyard's count is the report's own 'not beaten' and its lost cells are the report's", async (t) => {
  const file = fileURLToPath(new URL('../../bench/results/random-unseen-15.json', import.meta.url))
  const r = JSON.parse(readFileSync(file, 'utf8')) as RandomReport
  const j = crossJudge(r.seeds)
  t.equal(j.cells, r.totals.cells)
  t.equal(j.notBeaten.switchyard, r.totals.notBeaten)
  t.equal(j.lost.cells, r.totals.cells - r.totals.notBeaten)
  t.equal(j.sustainable.switchyard, r.totals.sustainableOk)
  t.ok(j.bestOfSix >= j.notBeaten.switchyard!, 'the best of six is at least switchyard alone')
  t.ok(j.noneHolds <= j.lost.cells, 'where nothing holds, switchyard is lost too')
  t.equal(Object.values(j.lostOn).reduce((a, x) => a + x.cells, 0), j.lost.cells, 'every lost cell is lost on something')
})
