// Another draw of a scenario: only what is drawn at run time changes.
import t from 'tap'
import { redraw, DRAW_STRIDE } from './redraw.js'
import { randomScenario } from './random-scenario.js'
import { capacity } from './scenario.js'
import { generate } from './workload.js'
import { runScenario } from './engine.js'
import { runSeed } from './random-run.js'

const s = randomScenario(3, { durationS: 5 })

t.test('draw 0 is the scenario as written', async (t) => {
  t.equal(redraw(s, 0), s)
})

t.test('another draw keeps the fleet, traffic, arrivals process, events and SLOs; only the seed moves', async (t) => {
  const d = redraw(s, 2)
  t.equal(d.seed, s.seed + 2 * DRAW_STRIDE)
  t.same({ ...d, seed: s.seed }, s)
  t.not(d.seed, redraw(s, 1).seed)
})

t.test('another draw gives other arrivals at the same rate; the same draw the same ones', async (t) => {
  const rate = 0.5 * capacity(s)
  const a = generate(s.arrivals, s.traffic, rate, 5000, redraw(s, 1).seed)
  const b = generate(s.arrivals, s.traffic, rate, 5000, redraw(s, 1).seed)
  const c = generate(s.arrivals, s.traffic, rate, 5000, redraw(s, 2).seed)
  t.same(Array.from(a.at), Array.from(b.at))
  t.notSame(Array.from(a.at), Array.from(c.at))
  // Poisson counts over 5 s at this rate: within 25 % of each other, far outside chance to fail
  t.ok(Math.abs(a.count - c.count) < 0.25 * rate * 5, `${a.count} and ${c.count} requests`)
})

t.test('a run on a draw is deterministic', async (t) => {
  const d = redraw(s, 1)
  const o = { strategy: 'switchyard' as const, ratePerS: 0.5 * capacity(d), durationMs: 5000 }
  const x = runScenario(d, o); const y = runScenario(d, o)
  t.same(x.byPolicy, y.byPolicy)
})

t.test('a draw is a non-negative integer', async (t) => {
  t.throws(() => redraw(s, -1), RangeError)
  t.throws(() => redraw(s, 1.5), RangeError)
})

t.test('a generated seed judged on another draw (runSeed draw): the same scenario, its runs on the draw\'s seed', async (t) => {
  const o = { durationS: 3, minDurationS: 3, maxRequests: 1e9, loads: [0.5], bisect: 0 }
  const own = runSeed(3, o); const other = runSeed(3, { ...o, draw: 1 })
  t.equal(own.scenario.seed, 3)
  t.equal(other.scenario.seed, 3 + DRAW_STRIDE)
  t.same({ ...other.scenario, seed: 3 }, own.scenario, 'fleet, traffic, events and SLOs as the seed generates them')
  t.equal(other.result.description, own.result.description)
  t.not(other.runs.get('switchyard')![0]!.offered, own.runs.get('switchyard')![0]!.offered, 'other arrivals')
})
