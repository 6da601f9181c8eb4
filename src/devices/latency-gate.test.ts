// The latency gate (latency-gate.ts): open while the p95 of a device's last 200 latency items is
// within 0.7 of the objective, shut before 20 are seen.
import t from 'tap'
import { GATE_FRACTION, GATE_MIN_SAMPLES, GATE_WINDOW, LatencyGate } from './latency-gate.js'

t.test('the threshold is 0.7 of the objective', async (t) => {
  t.equal(GATE_FRACTION, 0.7)
  t.equal(new LatencyGate(100).thresholdMs, 70)
})

t.test('shut until enough latency items are seen, then open while they are within the threshold', async (t) => {
  const g = new LatencyGate(100)
  for (let i = 0; i < GATE_MIN_SAMPLES - 1; i++) g.observe(10)
  t.notOk(g.open, `${GATE_MIN_SAMPLES - 1} seen: nothing known of the tail yet`)
  g.observe(10)
  t.ok(g.open, `${GATE_MIN_SAMPLES} within: open`)
  g.observe(70)
  t.ok(g.open, 'an item at the threshold counts as within')
})

t.test('the p95: open with at most n − 1 − ⌊0.95·(n − 1)⌋ items above the threshold, shut with one more', async (t) => {
  const g = new LatencyGate(100)
  for (let i = 0; i < GATE_WINDOW; i++) g.observe(10)
  // n = 200: 199 − ⌊189.05⌋ = 10 may be above
  for (let i = 0; i < 10; i++) g.observe(71)
  t.ok(g.open, '10 of the last 200 above: the p95 is within')
  g.observe(71)
  t.notOk(g.open, '11 above: the p95 is not')
})

t.test('the window slides: items older than the last 200 are forgotten', async (t) => {
  const g = new LatencyGate(100)
  for (let i = 0; i < 50; i++) g.observe(500)
  t.notOk(g.open, 'a slow spell: shut')
  for (let i = 0; i < GATE_WINDOW - 20; i++) g.observe(10)
  t.notOk(g.open, '20 of the slow spell still in the window: shut')
  for (let i = 0; i < 40; i++) g.observe(10)
  t.ok(g.open, 'once it has left the window: open again')
})
