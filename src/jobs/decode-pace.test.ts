import t from 'tap'
import { DECODE_MARGIN, decodeConcurrency } from './decode-pace.js'

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
