// Pixels → tensor, exactly as MODEL.md says: crop/pad geometry, channel order, normalisation.
import t from 'tap'
import { TensorLayout } from './tensor-layout.js'

/** w×h RGB image whose pixel (x, y) is (x, y, 7) */
function ramp (w: number, h: number): { pixels: Uint8Array, width: number, height: number, originalWidth: number, originalHeight: number } {
  const pixels = new Uint8Array(w * h * 3)
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) pixels.set([x, y, 7], (y * w + x) * 3)
  return { pixels, width: w, height: h, originalWidth: w, originalHeight: h }
}

t.test('center-crop: floor offsets, RGB planes, (p/255 − mean)/std', async (t) => {
  const layout = new TensorLayout({ name: 'x', width: 4, height: 2, channelOrder: 'RGB' },
    { resize: { mode: 'center-crop', shorterSide: 2 }, scale: 1 / 255, mean: [0.5, 0, 0], std: [0.5, 1, 2] })
  const out = new Float32Array(2 * 3 * 8).fill(NaN)
  layout.write(ramp(7, 3), out, 1) // crop 4×2 at left = floor(3/2) = 1, top = floor(1/2) = 0
  const item = out.subarray(24)
  t.ok(Math.abs(item[0]! - (1 / 255 - 0.5) / 0.5) < 1e-6, 'R plane starts at x = 1')
  t.ok(Math.abs(item[3]! - (4 / 255 - 0.5) / 0.5) < 1e-6, 'and ends at x = 4')
  t.ok(Math.abs(item[8 + 4]! - 1 / 255) < 1e-6, 'G plane second row is y = 1')
  t.ok(Math.abs(item[16]! - 7 / 255 / 2) < 1e-6, 'B plane')
  t.ok(out.subarray(0, 24).every(Number.isNaN), 'item 0 of the batch untouched')
})

t.test('letterbox top-left: BGR planes, raw 0–255, pad 114', async (t) => {
  const layout = new TensorLayout({ name: 'x', width: 4, height: 4, channelOrder: 'BGR' },
    { resize: { mode: 'letterbox', fill: 114, anchor: 'top-left' }, scale: 1, mean: [0, 0, 0], std: [1, 1, 1] })
  const out = new Float32Array(3 * 16)
  layout.write(ramp(4, 2), out, 0)
  t.same([...out.subarray(0, 8)], [7, 7, 7, 7, 7, 7, 7, 7], 'plane 0 is blue')
  t.same([...out.subarray(8, 16)], [114, 114, 114, 114, 114, 114, 114, 114], 'rows below the image are padding')
  t.same([...out.subarray(32 + 4, 32 + 8)], [0, 1, 2, 3], 'plane 2 is red: x of row 1')
  t.same([...out.subarray(16, 20)], [0, 0, 0, 0], 'plane 1 is green: row 0 is y = 0')
  t.same([...out.subarray(20, 24)], [1, 1, 1, 1], 'row 1 is y = 1')
  t.same(layout.offset(ramp(4, 2)), { left: 0, top: 0 })
})

t.test('letterbox centred', async (t) => {
  const layout = new TensorLayout({ name: 'x', width: 4, height: 4, channelOrder: 'RGB' },
    { resize: { mode: 'letterbox', fill: 0, anchor: 'center' }, scale: 1, mean: [0, 0, 0], std: [1, 1, 1] })
  const out = new Float32Array(3 * 16)
  layout.write(ramp(2, 2), out, 0)
  t.same(layout.offset(ramp(2, 2)), { left: 1, top: 1 })
  t.same([...out.subarray(4, 8)], [0, 0, 1, 0], 'row 1: the image starts at x = 1')
})
