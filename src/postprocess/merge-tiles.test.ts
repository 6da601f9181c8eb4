// Merging the detections of a tiled request: synthetic boxes on a 1000×500 image cut into
// two 600×500 tiles overlapping in x ∈ [400, 600], plus the whole-image pass.
import t from 'tap'
import type { Detection } from '../worker/protocol.js'
import { ios, isCut, mergeTiles, type MergeOptions, type PassDetections } from './merge-tiles.js'

const W = 1000
const H = 500
const left = { x: 0, y: 0, width: 600, height: 500 }
const right = { x: 400, y: 0, width: 600, height: 500 }
const opts: MergeOptions = { imageWidth: W, imageHeight: H, iouThreshold: 0.45, iosThreshold: 0.5, edgeMargin: 4, maxDetections: 100 }

function det (x1: number, y1: number, x2: number, y2: number, score = 0.9, index = 0, label = 'person'): Detection {
  return { label, index, score, box: { x1, y1, x2, y2 } }
}

t.test('ios is the intersection over the smaller box', async (t) => {
  t.equal(ios({ x1: 0, y1: 0, x2: 10, y2: 10 }, { x1: 2, y1: 2, x2: 4, y2: 4 }), 1, 'a box inside another')
  t.equal(ios({ x1: 0, y1: 0, x2: 10, y2: 10 }, { x1: 5, y1: 0, x2: 25, y2: 10 }), 0.5)
  t.equal(ios({ x1: 0, y1: 0, x2: 10, y2: 10 }, { x1: 10, y1: 0, x2: 20, y2: 10 }), 0, 'touching boxes do not intersect')
})

t.test('a box is cut when it reaches an inner side of its tile, never the image border', async (t) => {
  t.ok(isCut({ x1: 500, y1: 10, x2: 598, y2: 100 }, left, W, H, 4), 'within the margin of the inner right side')
  t.notOk(isCut({ x1: 500, y1: 10, x2: 590, y2: 100 }, left, W, H, 4), 'further than the margin')
  t.notOk(isCut({ x1: 0, y1: 0, x2: 100, y2: 500 }, left, W, H, 4), 'the image border does not cut')
  t.ok(isCut({ x1: 401, y1: 10, x2: 450, y2: 100 }, right, W, H, 4), 'the inner left side of the right tile')
})

t.test('boxes are shifted from tile to image pixels', async (t) => {
  const out = mergeTiles([{ tile: right, detections: [det(100, 50, 200, 150)] }], opts)
  t.same(out.map((d) => d.box), [{ x1: 500, y1: 50, x2: 600, y2: 150 }])
})

t.test('one object seen whole by both tiles is answered once (per-class NMS across tiles)', async (t) => {
  const passes: PassDetections[] = [
    { tile: left, detections: [det(450, 100, 550, 300, 0.8)] },
    { tile: right, detections: [det(52, 102, 152, 302, 0.9)] } // 452..552 in image pixels
  ]
  const out = mergeTiles(passes, opts)
  t.equal(out.length, 1)
  t.equal(out[0]!.score, 0.9, 'the higher score is kept')
  t.same(out[0]!.box, { x1: 452, y1: 102, x2: 552, y2: 302 }, 'with its box')
})

t.test('different classes on the same spot are both kept', async (t) => {
  const passes: PassDetections[] = [
    { tile: left, detections: [det(450, 100, 550, 300, 0.8, 0, 'person')] },
    { tile: right, detections: [det(50, 100, 150, 300, 0.9, 16, 'dog')] }
  ]
  t.equal(mergeTiles(passes, opts).length, 2)
})

t.test('two pieces of one object cut at the tile border become one box, their union', async (t) => {
  // a car spanning x 300..700: the left tile sees 300..600 (cut at 600), the right 400..700 (cut at 400)
  const passes: PassDetections[] = [
    { tile: left, detections: [det(300, 200, 600, 300, 0.7, 2, 'car')] },
    { tile: right, detections: [det(0, 205, 300, 298, 0.6, 2, 'car')] }
  ]
  const out = mergeTiles(passes, opts)
  t.equal(out.length, 1)
  t.same(out[0], { label: 'car', index: 2, score: 0.7, box: { x1: 300, y1: 200, x2: 700, y2: 300 } })
})

t.test('pieces that overlap little join through the whole-image pass', async (t) => {
  // a bus spanning 100..900: the pieces 100..600 and 400..900 overlap by 200 of 500 (IoS 0.4)
  const pieces: PassDetections[] = [
    { tile: left, detections: [det(100, 100, 600, 400, 0.8, 5, 'bus')] },
    { tile: right, detections: [det(0, 100, 500, 400, 0.7, 5, 'bus')] }
  ]
  t.equal(mergeTiles(pieces, opts).length, 2, 'without the whole-image pass they stay apart')
  const out = mergeTiles([...pieces, { tile: null, detections: [det(110, 105, 890, 395, 0.6, 5, 'bus')] }], opts)
  t.equal(out.length, 1, 'the whole-image box holds both pieces')
  t.same(out[0]!.box, { x1: 100, y1: 100, x2: 900, y2: 400 })
  t.equal(out[0]!.score, 0.8)
})

t.test('two objects in one tile never merge, however they overlap', async (t) => {
  const out = mergeTiles([{ tile: left, detections: [det(500, 100, 600, 300, 0.9), det(520, 120, 600, 320, 0.8)] }], opts)
  t.equal(out.length, 2)
})

t.test('neighbours seen whole are kept apart, as plain NMS keeps them', async (t) => {
  const passes: PassDetections[] = [
    { tile: left, detections: [det(420, 100, 480, 300, 0.9)] },
    { tile: right, detections: [det(70, 100, 130, 300, 0.8)] } // 470..530: IoU 10/110
  ]
  t.equal(mergeTiles(passes, opts).length, 2)
})

t.test('a small object inside a large whole-image box is not swallowed unless it is cut', async (t) => {
  const whole = { tile: null, detections: [det(0, 0, 900, 500, 0.95)] }
  t.equal(mergeTiles([whole, { tile: left, detections: [det(100, 100, 150, 200, 0.9)] }], opts).length, 2, 'whole in its tile: kept')
  t.equal(mergeTiles([whole, { tile: left, detections: [det(550, 100, 600, 200, 0.9)] }], opts).length, 1, 'cut at the border: a piece of the large box')
})

t.test('the answer keeps the best scores first and at most maxDetections', async (t) => {
  const dets = Array.from({ length: 10 }, (_, i) => det(i * 50, 0, i * 50 + 40, 40, (50 + i) / 100))
  const out = mergeTiles([{ tile: null, detections: dets }], { ...opts, maxDetections: 3 })
  t.same(out.map((d) => d.score), [0.59, 0.58, 0.57])
})
