// The batch shapes a worker runs: calibration's sizes, and the size a batch is padded to with
// devices[].batchShapes 'calibrated' (every one of them a calibrated size, never past max batch).
import t from 'tap'
import { calibratedSizes, paddedSize } from './batch-shapes.js'

t.test('calibration times 1, 2, 4, … and the max batch itself', async (t) => {
  t.same(calibratedSizes(1), [1])
  t.same(calibratedSizes(8), [1, 2, 4, 8])
  t.same(calibratedSizes(12), [1, 2, 4, 8, 12])
  t.same(calibratedSizes(32), [1, 2, 4, 8, 16, 32])
})

t.test('with calibrated shapes a batch runs at the next calibrated size; without, at its own', async (t) => {
  for (const max of [1, 8, 12, 32]) {
    const sizes = calibratedSizes(max)
    for (let n = 1; n <= max; n++) {
      const m = paddedSize(n, max, true)
      if (!(m >= n && sizes.includes(m) && sizes.every((s) => s < n || s >= m))) t.fail(`max ${max}, n ${n}: padded to ${m}`)
      if (paddedSize(n, max, false) !== n) t.fail(`max ${max}, n ${n}: unpadded`)
    }
  }
  t.equal(paddedSize(3, 8, true), 4)
  t.equal(paddedSize(9, 12, true), 12)
  t.equal(paddedSize(17, 32, true), 32)
  t.equal(paddedSize(3, 8, false), 3)
})
