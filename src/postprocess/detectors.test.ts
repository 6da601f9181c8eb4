// The detector decoders on hand-made tensors: the YOLOv8 layout [4 + C, N] and the end-to-end
// (RT-DETR) layout [N, 4 + C], their box formats, thresholds, NMS or none, and the shape check
// made at load.
import t from 'tap'
import type { DetectorDecodeSpec } from '../models/model-spec.js'
import { checkDetectorOutput, decodeDetections, type DetectGeometry } from './detectors.js'

// a 100×100 input showing a 200×100 original letterboxed at the top: ratio 0.5, no offset
const G: DetectGeometry = { inputWidth: 100, inputHeight: 100, ratio: 0.5, left: 0, top: 0, originalWidth: 200, originalHeight: 100 }
const P = { scoreThreshold: 0.3, iouThreshold: 0.45, maxDetections: 10 }
const LABELS = ['cat', 'dog']

/** channels-first [4 + C, N] from rows [x, y, w, h, c0, c1] per candidate */
function channelsFirst (rows: number[][]): Float32Array {
  const n = rows.length; const ch = rows[0]!.length
  const out = new Float32Array(ch * n)
  rows.forEach((r, j) => r.forEach((v, k) => { out[k * n + j] = v }))
  return out
}

const yolov8 = (box: { format: 'cxcywh' | 'xyxy', normalized: boolean } = { format: 'cxcywh', normalized: false }): DetectorDecodeSpec =>
  ({ kind: 'yolov8', box, scoreThreshold: 0.25, iouThreshold: 0.45, maxDetections: 300 })

t.test('yolov8: channels first, best class score, per-class NMS, boxes to original pixels', async (t) => {
  const rows = [
    [20, 20, 10, 10, 0.9, 0.1], // cat at (15..25)/0.5 → (30..50, 30..50)
    [21, 21, 10, 10, 0.8, 0.2], // the same cat, lower: suppressed (IoU 0.68)
    [21, 21, 10, 10, 0.1, 0.7], // a dog on the same spot: another class, kept
    [80, 50, 40, 200, 0.05, 0.5], // a tall dog: clipped to the image
    [50, 50, 10, 10, 0.2, 0.1] // under the threshold
  ]
  const dets = decodeDetections(yolov8(), channelsFirst(rows), [6, rows.length], G, LABELS, P)
  t.same(dets.map((d) => [d.label, d.score]), [['cat', Math.fround(0.9)], ['dog', Math.fround(0.7)], ['dog', Math.fround(0.5)]])
  t.same(dets[0]!.box, { x1: 30, y1: 30, x2: 50, y2: 50 })
  t.same(dets[2]!.box, { x1: 120, y1: 0, x2: 200, y2: 100 }, 'clipped to the original image')
  t.equal(decodeDetections(yolov8(), channelsFirst(rows), [6, rows.length], G, LABELS, { ...P, iouThreshold: 0.9 }).length, 4, 'a looser NMS keeps the overlapping cat')
})

t.test('yolov8: corners and normalised coordinates as model.json declares them', async (t) => {
  const corners = decodeDetections(yolov8({ format: 'xyxy', normalized: false }), channelsFirst([[15, 15, 25, 25, 0.9, 0]]), [6, 1], G, LABELS, P)
  t.same(corners[0]!.box, { x1: 30, y1: 30, x2: 50, y2: 50 })
  const norm = decodeDetections(yolov8({ format: 'cxcywh', normalized: true }), channelsFirst([[0.2, 0.2, 0.1, 0.1, 0.9, 0]]), [6, 1], G, LABELS, P)
  t.same(norm[0]!.box, { x1: 30, y1: 30, x2: 50, y2: 50 })
})

const e2e = (scores: 'probabilities' | 'logits'): DetectorDecodeSpec =>
  ({ kind: 'end-to-end', box: { format: 'cxcywh', normalized: true }, scores, scoreThreshold: 0.5, iouThreshold: 0.45, maxDetections: 2 })

t.test('end-to-end (RT-DETR): one row per query, normalised centre boxes, no NMS, capped', async (t) => {
  const out = Float32Array.from([
    0.2, 0.2, 0.1, 0.1, 0.9, 0.1, // cat
    0.21, 0.21, 0.1, 0.1, 0.85, 0.1, // a second cat on top of it: kept (the model resolved it)
    0.5, 0.5, 0.2, 0.2, 0.1, 0.6, // a dog, third by score: past the cap of 2
    0.9, 0.9, 0.1, 0.1, 0.2, 0.3 // under the threshold
  ])
  const dets = decodeDetections(e2e('probabilities'), out, [4, 6], G, LABELS, { ...P, scoreThreshold: 0.5, maxDetections: 2 })
  t.same(dets.map((d) => d.label), ['cat', 'cat'], 'no NMS: both overlapping queries stay; the cap drops the dog')
  t.same(dets[0]!.box, { x1: 30, y1: 30, x2: 50, y2: 50 })
  const all = decodeDetections(e2e('probabilities'), out, [4, 6], G, LABELS, { ...P, scoreThreshold: 0.5, maxDetections: 10 })
  t.same(all.map((d) => d.label), ['cat', 'cat', 'dog'])
  t.same(all[2]!.box, { x1: 80, y1: 80, x2: 120, y2: 100 }, 'input (40..60) → original (80..120), clipped at 100')
})

t.test('end-to-end: logits get a sigmoid before the threshold', async (t) => {
  const out = Float32Array.from([0.5, 0.5, 0.2, 0.2, 2, -3, 0.5, 0.5, 0.2, 0.2, -1, -2])
  const dets = decodeDetections(e2e('logits'), out, [2, 6], G, LABELS, { ...P, scoreThreshold: 0.5, maxDetections: 10 })
  t.equal(dets.length, 1, 'sigmoid(-1) = 0.27 is under 0.5')
  t.ok(Math.abs(dets[0]!.score - 1 / (1 + Math.exp(-2))) < 1e-9)
})

t.test('the output shape is checked against the layout at load', async (t) => {
  t.equal(checkDetectorOutput(yolov8(), ['batch', 84, 3549]), null)
  t.equal(checkDetectorOutput(e2e('logits'), ['batch', 300, 84]), null)
  t.equal(checkDetectorOutput({ kind: 'yolox', strides: [8], scoreThreshold: 0.25, iouThreshold: 0.45, maxDetections: 300 }, [1, 3549, 85]), null)
  t.match(checkDetectorOutput(yolov8(), [1, 3549]), /yolov8 reads \[B, 4 \+ C, N\]; the output's shape is \[1, 3549\]/)
  t.match(checkDetectorOutput(e2e('logits'), [1, 300, 4]), /end-to-end reads \[B, N, 4 \+ C\]/)
})
