import t from 'tap'
import { DECODE_MARGIN, decodeCap, decodeConcurrency, jobDecodeSlots, LatencyWatch } from './decode-pace.js'

t.test('a CPU replica that runs fewer images than one decode stream yields decodes one at a time', async (t) => {
  // 10 images/s, 20 ms a decode: 0.2 × margin of a decode stream
  t.equal(decodeConcurrency(10 / 1000, 20, 2), 1)
  t.equal(decodeConcurrency(40 / 1000, 20, 4), 2, '40/s × 20 ms × 1.5 = 1.2: two')
})

t.test('fast devices get as many decodes as keep them fed, never more than the bulk slots', async (t) => {
  // a GPU at 400 images/s, 20 ms a decode: 12 wanted, the gate allows 2
  t.equal(decodeConcurrency(400 / 1000, 20, 2), 2)
  t.equal(decodeConcurrency(400 / 1000, 20, 64), Math.ceil(DECODE_MARGIN * 0.4 * 20))
  t.equal(decodeConcurrency(Infinity, 20, 3), 3, 'a cost model without samples: the gate decides')
})

t.test('until a decode is measured (or with no device to run the images), one at a time', async (t) => {
  t.equal(decodeConcurrency(0.5, 0, 4), 1)
  t.equal(decodeConcurrency(0, 20, 4), 1)
  t.equal(decodeConcurrency(0.5, Number.NaN, 4), 1)
  t.equal(decodeConcurrency(0.5, 20, 0), 1, 'at least one')
})

t.test('while latency-class requests come, job decodes get the cores CPU inference leaves, at least one', async (t) => {
  // this project's 2-core machine: a CPU device of two workers, one thread each
  t.equal(decodeCap(2, 2), 1)
  t.equal(decodeCap(16, 8), 8, '16 cores, CPU inference on half')
  t.equal(decodeCap(16, 0), 16, 'no CPU device (a GPU host): the cores do not cap it below the gate')
  t.equal(decodeCap(4, 6), 1, 'inference oversubscribes the cores: still one')
})

t.test('a replica serves latency-class requests while the gate\'s count of them moved within the window', async (t) => {
  const w = new LatencyWatch(1000)
  t.equal(w.observe(0, 0), false, 'none yet')
  t.equal(w.observe(1, 10), true, 'one came')
  t.equal(w.observe(1, 1009), true, 'within the window')
  t.equal(w.observe(1, 1010), false, 'a second without one')
  t.equal(w.observe(3, 5000), true, 'more came')
  t.equal(w.observe(3, 5999), true)
  t.equal(w.observe(3, 6000), false)
})

t.test('a replica serving latency-class requests decodes job images within the cap; without them, as its devices ask', async (t) => {
  // r1 of the jobs benchmark: devices that would take two decode streams (40/s × 20 ms × 1.5), two bulk slots, cap 1
  t.equal(jobDecodeSlots(40 / 1000, 20, 2, 1, false), 2, 'no latency-class traffic: two')
  t.equal(jobDecodeSlots(40 / 1000, 20, 2, 1, true), 1, 'latency-class traffic: the cores CPU inference leaves')
  t.equal(jobDecodeSlots(400 / 1000, 20, 12, 16, true), 12, 'a GPU host: the cap is above the gate, nothing changes')
  t.equal(jobDecodeSlots(10 / 1000, 20, 2, 1, true), 1, 'a device one stream keeps fed: one either way')
})
