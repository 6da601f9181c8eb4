// Output decoding: softmax top-k, per-class NMS, YOLOX grid decoding.
import t from 'tap'
import { iou, nmsPerClass } from './nms.js'
import { softmaxTopK } from './softmax-top-k.js'
import { decodeYolox } from './yolox-decode.js'

t.test('softmax top-k', async (t) => {
  const logits = Float32Array.from([1, 3, 2, 3.5, -1])
  const top = softmaxTopK(logits, ['a', 'b', 'c', 'd', 'e'], 3)
  t.same(top.map((p) => p.label), ['d', 'b', 'c'])
  const z = [...logits].reduce((s, v) => s + Math.exp(v), 0)
  t.ok(Math.abs(top[0]!.score - Math.exp(3.5) / z) < 1e-9, 'scores are softmax probabilities')
  t.equal(softmaxTopK(logits, [], 10).length, 5, 'k larger than the classes')
  t.equal(softmaxTopK(logits, [], 1)[0]!.label, '3', 'a missing label falls back to the index')
})

t.test('NMS suppresses within a class only', async (t) => {
  const boxes = [
    { x1: 0, y1: 0, x2: 10, y2: 10, score: 0.9, cls: 0 },
    { x1: 1, y1: 1, x2: 11, y2: 11, score: 0.8, cls: 0 }, // IoU 0.68 with the first
    { x1: 1, y1: 1, x2: 11, y2: 11, score: 0.7, cls: 1 }, // same box, other class
    { x1: 20, y1: 20, x2: 30, y2: 30, score: 0.6, cls: 0 }
  ]
  t.ok(Math.abs(iou(boxes[0]!, boxes[1]!) - 81 / 119) < 1e-9)
  t.same(nmsPerClass(boxes, 0.45, 100).map((b) => b.score), [0.9, 0.7, 0.6])
  t.same(nmsPerClass(boxes, 0.7, 100).map((b) => b.score), [0.9, 0.8, 0.7, 0.6], 'a higher threshold keeps the overlap')
  t.same(nmsPerClass(boxes, 0.45, 2).map((b) => b.score), [0.9, 0.7], 'capped')
})

t.test('YOLOX decoding: grid offsets, strides, ratio, clipping', async (t) => {
  // a 16×16 input with strides 8 and 16: 2·2 + 1·1 = 5 rows of [tx, ty, tw, th, obj, c0, c1]
  const rows = 5; const len = 7
  const out = new Float32Array(rows * len)
  // row 3 = stride 8, cell (gx 1, gy 1): centre (1.5·8, 1.5·8) = (12, 12), size e^0·8 = 8
  out.set([0.5, 0.5, 0, 0, 0.9, 0.1, 0.8], 3 * len)
  // row 4 = stride 16, cell (0, 0): centre (8, 8), size e^ln2·16 = 32 → clipped
  out.set([0.5, 0.5, Math.log(2), Math.log(2), 0.5, 0.6, 0.2], 4 * len)
  // row 0: below the threshold
  out.set([0, 0, 0, 0, 0.2, 1, 1], 0)
  const dets = decodeYolox(out, len, { inputWidth: 16, inputHeight: 16, strides: [8, 16], ratio: 0.5, left: 0, top: 0, originalWidth: 32, originalHeight: 30 }, ['cat', 'dog'], 0.25, 0.45, 10)
  t.equal(dets.length, 2)
  t.match(dets[0], { label: 'dog', index: 1, box: { x1: 16, y1: 16, x2: 32, y2: 30 } })
  t.ok(Math.abs(dets[0]!.score - 0.72) < 1e-6, 'score = obj · best class')
  t.match(dets[1], { label: 'cat', index: 0, box: { x1: 0, y1: 0, x2: 32, y2: 30 } }, 'boxes in original pixels, clipped to the image')
})
