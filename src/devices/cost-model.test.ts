// The cost model: t(n) = a + b·n fitted by least squares over a sliding window.
import t from 'tap'
import { CostModel } from './cost-model.js'

t.test('recovers a and b from exact observations', async (t) => {
  const m = new CostModel(16)
  for (const n of [1, 2, 4, 8]) m.observe(n, 3 + 0.5 * n) // a GPU-like device: large a, small b
  t.ok(Math.abs(m.a - 3) < 1e-9, `a = ${m.a}`)
  t.ok(Math.abs(m.b - 0.5) < 1e-9, `b = ${m.b}`)
  t.ok(Math.abs(m.predict(16) - 11) < 1e-9)
  t.ok(Math.abs(m.throughput(8) - 8 / 7) < 1e-9, 'items per ms at n = 8')
})

t.test('forgets what slid out of the window', async (t) => {
  const m = new CostModel(4)
  for (const n of [1, 2, 3, 4]) m.observe(n, 10 * n)
  t.ok(Math.abs(m.b - 10) < 1e-9)
  for (const n of [1, 2, 3, 4]) m.observe(n, 2 + n) // the device got faster
  t.ok(Math.abs(m.a - 2) < 1e-9 && Math.abs(m.b - 1) < 1e-9, `refitted to a=${m.a}, b=${m.b}`)
})

t.test('one batch size only: keeps the slope, moves the intercept', async (t) => {
  const m = new CostModel(4)
  m.observe(1, 3); m.observe(4, 9)
  for (let i = 0; i < 3; i++) m.observe(1, 5) // the window still holds the n = 4 batch
  const slope = m.b
  t.ok(slope > 0)
  m.observe(1, 5) // now every batch in the window is n = 1: no slope can be fitted
  t.equal(m.b, slope, 'slope kept from the last window with two sizes')
  t.ok(Math.abs(m.predict(1) - 5) < 1e-9, 'intercept moved so that t(1) is the observed mean')
})

t.test('a single first observation splits the cost', async (t) => {
  const m = new CostModel(8)
  m.observe(1, 12)
  t.equal(m.predict(1), 12)
  t.ok(m.a > 0 && m.b > 0)
})

t.test('never negative', async (t) => {
  const m = new CostModel(8)
  m.observe(1, 10); m.observe(8, 2) // noise that would fit a negative slope
  t.ok(m.b >= 0 && m.a >= 0, `a=${m.a} b=${m.b}`)
})

t.test('a negative intercept is fitted at a = 0, not clamped: the line through the origin, no higher than the batches took', async (t) => {
  const m = new CostModel(8)
  // two fast single-image batches beside one slow batch of 8: the free line is t = −13.1 + 14.1·n
  m.observe(1, 1); m.observe(1, 1); m.observe(8, 100)
  t.equal(m.a, 0)
  t.ok(Math.abs(m.b - 802 / 66) < 1e-9, `b = Σn·t / Σn² = 802/66 (${m.b}); clamping a would keep 14.1`)
  t.ok(m.predict(8) <= 100, `t(8) = ${m.predict(8).toFixed(1)} ms, the batch took 100`)
})

t.test('one batch size under a kept slope too steep for it: the line through the origin, t(n̄) the observed mean', async (t) => {
  const m = new CostModel(2)
  m.observe(1, 1); m.observe(8, 100) // two sizes: fitted at a = 0, b = 801/65 ≈ 12.3
  m.observe(1, 1); m.observe(1, 1) // the window now holds n = 1 only, at 1 ms
  t.equal(m.a, 0)
  t.ok(Math.abs(m.b - 1) < 1e-9, `b = t̄ / n̄ = 1 (${m.b}); keeping the slope and clamping a would predict t(1) = 12.3 ms`)
  t.ok(Math.abs(m.predict(1) - 1) < 1e-9, `t(1) = ${m.predict(1)} ms, the batches took 1`)
})

t.test('drift: a device that slows down 3× is predicted 3× slower within a few batches, not once the window turns over', async (t) => {
  const m = new CostModel(128)
  for (let i = 0; i < 64; i++) m.observe(8, 10 + 2 * 8)
  t.ok(Math.abs(m.predict(8) - 26) < 1e-6)
  for (let i = 0; i < 6; i++) m.observe(8, 3 * 26)
  t.ok(m.predict(8) > 0.8 * 78, `after 6 slow batches t(8) = ${m.predict(8).toFixed(1)} ms (actual 78; the window's fit alone says ${(26 * 64 + 78 * 6) / 70 | 0})`)
  t.ok(m.driftFactor > 1.2)
  // recovered: back to 26 ms; drift falls back inside its dead band as the window absorbs it
  for (let i = 0; i < 8; i++) m.observe(8, 26)
  t.ok(m.predict(8) < 1.25 * 26, `recovered: t(8) = ${m.predict(8).toFixed(1)} ms`)
})

t.test('drift: batch-time jitter of ±15 % stays inside the dead band (the fit alone predicts)', async (t) => {
  const m = new CostModel(32)
  const jitter = [1.15, 0.85, 1.1, 0.9, 1.15, 0.85, 1.05, 0.95]
  for (let i = 0; i < 200; i++) {
    const n = 1 + (i % 8)
    m.observe(n, (4 + 3 * n) * jitter[i % jitter.length]!)
    t.equal(m.driftFactor, 1, `batch ${i}`)
  }
})

t.test('spread: the ± fraction of a uniform jitter with the residuals\' mean |actual − fit| / fit', async (t) => {
  const c = new CostModel(64)
  t.equal(c.spread, 0, 'nothing seen: no spread')
  for (let n = 1; n <= 8; n++) { c.observe(n, 5 + 2 * n) }
  t.ok(c.spread < 1e-9, 'exact observations: none')
  const d = new CostModel(64)
  // each size once 10 % over and once 10 % under: the fit is exact, every residual 10 %
  for (let n = 1; n <= 8; n++) { d.observe(n, (5 + 2 * n) * 1.1); d.observe(n, (5 + 2 * n) * 0.9) }
  t.ok(Math.abs(d.spread - 0.2) < 1e-9, `±10 % residuals read as a uniform ±20 % jitter (${d.spread})`)
})
