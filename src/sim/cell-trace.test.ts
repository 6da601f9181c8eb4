// One run taken apart (cell-trace.ts): batches folded by device, model and kind; answers in
// windows per device; the engine's events (RunOptions.trace) account for every image and answer.
import t from 'tap'
import { cellTrace } from './cell-trace.js'
import { runScenario } from './engine.js'
import { randomScenario } from './random-scenario.js'
import { capacity } from './scenario.js'
import { generate } from './workload.js'

const ev = (device: string, size: number, latency: number, serviceMs: number, reserved = false) => ({ device, model: 'm', size, serviceMs, predictedMs: serviceMs, latency, reserved })

t.test('batches: a batch with a latency item is a latency batch (its riders counted in it), one without a bulk batch, a reserved worker\'s its own kind', async (t) => {
  const c = cellTrace()
  c.trace.batch!(ev('gpu', 8, 1, 20), 20)
  c.trace.batch!(ev('gpu', 6, 2, 18), 40)
  c.trace.batch!(ev('gpu', 32, 0, 60), 100)
  c.trace.batch!(ev('cpu', 1, 1, 30, true), 30)
  t.same(c.batches(), [
    { device: 'cpu', model: 'm', kind: 'reserved', batches: 1, items: 1, latencyItems: 1, busyMs: 30 },
    { device: 'gpu', model: 'm', kind: 'bulk', batches: 1, items: 32, latencyItems: 0, busyMs: 60 },
    { device: 'gpu', model: 'm', kind: 'latency', batches: 2, items: 14, latencyItems: 3, busyMs: 38 }
  ])
  t.same(c.log('gpu', 30, 100).map((e) => [e.endMs, e.size]), [[40, 6]], 'the log: ended in [from, to)')
})

t.test('answers: one class, in windows by when they were answered, per device', async (t) => {
  const c = cellTrace()
  c.trace.answer!('gpu', 'm', 'latency', 10, 20, 100)
  c.trace.answer!('gpu', 'm', 'latency', 30, 40, 900)
  c.trace.answer!('cpu', 'm', 'latency', 50, 50, 500)
  c.trace.answer!('gpu', 'm', 'throughput', 5, 500, 100)
  c.trace.answer!('gpu', 'm', 'latency', 10, 10, 1200)
  t.same(c.windows('latency', 1000), [
    { fromMs: 0, device: 'cpu', answers: 1, meanMs: 50, maxMs: 50, meanPredictedMs: 50 },
    { fromMs: 0, device: 'gpu', answers: 2, meanMs: 30, maxMs: 40, meanPredictedMs: 20 },
    { fromMs: 1000, device: 'gpu', answers: 1, meanMs: 10, maxMs: 10, meanPredictedMs: 10 }
  ])
  t.same(c.windows('latency', 1000, 1000).length, 1, 'from 1 s on')
})

t.test('a traced run: its batches hold every image the devices ran, its answers every request answered', async (t) => {
  const s = randomScenario(13, { durationS: 5, minDurationS: 5, maxRequests: 1e9 })
  const C = capacity(s)
  const c = cellTrace()
  const r = runScenario(s, { strategy: 'switchyard', ratePerS: 0.6 * C, durationMs: 5000, trace: c.trace }, generate(s.arrivals, s.traffic, 0.6 * C, 5000, s.seed))
  const rows = c.batches()
  t.equal(rows.reduce((a, b) => a + b.items, 0), r.devices.reduce((a, d) => a + d.images, 0), 'images')
  t.ok(rows.some((b) => b.kind === 'latency' && b.items > b.latencyItems), 'latency batches carry riders on this scenario\'s GPUs')
  const answered = Object.values(r.byPolicy).reduce((a, p) => a + p.served, 0)
  const windows = [...c.windows('latency', 1000), ...c.windows('throughput', 1000)]
  t.equal(windows.reduce((a, w) => a + w.answers, 0), answered, 'answers')
})
