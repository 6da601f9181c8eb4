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
