import t from 'tap'
import { DECODE_MARGIN, decodeCap, decodeConcurrency, waitForFill } from './decode-pace.js'

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

t.test('job decodes get the cores CPU inference leaves, within the bulk slots, at least one', async (t) => {
  // this project's 2-core machine: a CPU device of two workers, one thread each (the default)
  t.equal(decodeCap(2, 2, 2), 1)
  // 16 cores, CPU inference on 8 (the default half): the gate's 2 bulk slots decide
  t.equal(decodeCap(16, 8, 2), 2)
  t.equal(decodeCap(16, 8, 12), 8, 'more bulk slots: the 8 cores left')
  t.equal(decodeCap(16, 0, 12), 12, 'no CPU device (a GPU host): only the gate caps')
  t.equal(decodeCap(4, 6, 4), 1, 'inference oversubscribes the cores: still one')
})

t.test('a short batch waits for the image being decoded where the device\'s fixed cost per batch repays it', async (t) => {
  // a device with t(n) = 250 + b·n: 3 ready, the next decoded in ~35 ms < 250 / 3
  t.equal(waitForFill(3, 2, 8, 35, 250), true)
  // w < a / n exactly: n + 1 in w + a + b(n+1) beats n in a + bn
  t.equal(waitForFill(7, 1, 8, 35, 250), true, '35 < 250 / 7')
  t.equal(waitForFill(8, 1, 8, 35, 250), false, 'the batch is full')
  t.equal(waitForFill(3, 0, 8, 35, 250), false, 'nothing being decoded')
  t.equal(waitForFill(0, 2, 8, 35, 250), false, 'nothing ready: nothing to hold')
  t.equal(waitForFill(3, 2, 8, 35, 60), false, 'a CPU-like device: 35 > 60 / 3, start now')
  t.equal(waitForFill(1, 2, 8, 0, 250), false, 'no decode measured yet')
})
