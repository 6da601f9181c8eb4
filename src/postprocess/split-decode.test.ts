// Detectors whose boxes and scores are separate outputs (model.json `output.roles`), on
// hand-made tensors: boxes [N, 4] with scores [N, C], or scores [N] with labels [N] (int64 as
// onnxruntime returns it); NMS for the yolov8 kind, none end-to-end; the shape check at load;
// and the same answers as the single-output layouts they split.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ModelConfigError } from '../errors.js'
import { readModelSpec } from '../models/model-repository.js'
import type { DetectorDecodeSpec } from '../models/model-spec.js'
import { REPO } from '../test-support/server.js'
import { checkSplitOutputs, decodeDetections, decodeSplitDetections, type DetectGeometry } from './detectors.js'

// a 100×100 input showing a 200×100 original letterboxed at the top: ratio 0.5, no offset
const G: DetectGeometry = { inputWidth: 100, inputHeight: 100, ratio: 0.5, left: 0, top: 0, originalWidth: 200, originalHeight: 100 }
const P = { scoreThreshold: 0.3, iouThreshold: 0.45, maxDetections: 10 }
const LABELS = ['cat', 'dog']
const PIXELS = { format: 'cxcywh' as const, normalized: false }
const yolov8: DetectorDecodeSpec = { kind: 'yolov8', box: PIXELS, scoreThreshold: 0.25, iouThreshold: 0.45, maxDetections: 300 }
const e2e = (scores: 'probabilities' | 'logits'): DetectorDecodeSpec => ({ kind: 'end-to-end', box: PIXELS, scores, scoreThreshold: 0.25, iouThreshold: 0.45, maxDetections: 300 })

// candidates: box [cx, cy, w, h] and class scores [cat, dog]
const BOXES = [[20, 20, 10, 10], [21, 21, 10, 10], [21, 21, 10, 10], [80, 50, 40, 200], [50, 50, 10, 10]]
const SCORES = [[0.9, 0.1], [0.8, 0.2], [0.1, 0.7], [0.05, 0.5], [0.2, 0.1]]
const split = { boxes: Float32Array.from(BOXES.flat()), scores: Float32Array.from(SCORES.flat()), labels: null, n: BOXES.length }

t.test('boxes [N, 4] + scores [N, C], yolov8 kind: best class, per-class NMS — as the [4 + C, N] layout decodes it', async (t) => {
  const dets = decodeSplitDetections(yolov8, split, G, LABELS, P)
  t.same(dets.map((d) => [d.label, d.score]), [['cat', Math.fround(0.9)], ['dog', Math.fround(0.7)], ['dog', Math.fround(0.5)]])
  t.same(dets[0]!.box, { x1: 30, y1: 30, x2: 50, y2: 50 })
  t.same(dets[2]!.box, { x1: 120, y1: 0, x2: 200, y2: 100 }, 'clipped to the original image')
  // the same candidates channels first, one output
  const rows = BOXES.map((b, j) => [...b, ...SCORES[j]!])
  const first = new Float32Array(6 * rows.length)
  rows.forEach((r, j) => r.forEach((v, k) => { first[k * rows.length + j] = v }))
  t.same(dets, decodeDetections(yolov8, first, [6, rows.length], G, LABELS, P), 'the same detections as the single output')
})

t.test('end-to-end kind: no NMS; logits get a sigmoid', async (t) => {
  const dets = decodeSplitDetections(e2e('probabilities'), split, G, LABELS, P)
  t.same(dets.map((d) => d.label), ['cat', 'cat', 'dog', 'dog'], 'the overlapping cat is kept: the model resolved duplicates')
  const logit = (p: number): number => Math.log(p / (1 - p))
  const logits = { ...split, scores: Float32Array.from(SCORES.flat().map(logit)) }
  t.same(decodeSplitDetections(e2e('logits'), logits, G, LABELS, P).map((d) => Math.round(d.score * 1000)), [900, 800, 700, 500])
  t.same(decodeSplitDetections(e2e('probabilities'), split, G, LABELS, { ...P, maxDetections: 2 }).length, 2, 'capped')
})

t.test('scores [N] + labels [N] (int64): the class is the label', async (t) => {
  const best = SCORES.map((s) => Math.max(...s))
  const labels = BigInt64Array.from(SCORES.map((s) => BigInt(s.indexOf(Math.max(...s)))))
  const withLabels = { boxes: split.boxes, scores: Float32Array.from(best), labels, n: BOXES.length }
  t.same(decodeSplitDetections(yolov8, withLabels, G, LABELS, P), decodeSplitDetections(yolov8, split, G, LABELS, P), 'as with a score per class')
  t.same(decodeSplitDetections(yolov8, { ...withLabels, labels: Int32Array.from([1, 1, 1, 1, 1]) }, G, LABELS, P).map((d) => d.label), ['dog', 'dog'], 'int32 labels too; one class: NMS among them all')
})

t.test('the shape check at load', async (t) => {
  const ok = (s: Parameters<typeof checkSplitOutputs>[1]): string | null => checkSplitOutputs(yolov8, s)
  t.equal(ok({ boxes: ['batch', 3549, 4], scores: ['batch', 3549, 80] }), null)
  t.equal(ok({ boxes: [1, 'n', 4], scores: [1, 'n'], labels: [1, 'n'] }), null, 'symbolic dimensions pass')
  t.match(ok({ boxes: [1, 3549, 5], scores: [1, 3549, 80] }), /boxes output must be \[B, N, 4\]; it is \[1, 3549, 5\]/)
  t.match(ok({ boxes: [1, 3549, 4], scores: [1, 3549] }), /scores output must be \[B, N, C\]/)
  t.match(ok({ boxes: [1, 3549, 4], scores: [1, 3549, 80], labels: [1, 3549] }), /with a labels output, the scores output must be \[B, N\]/)
  t.match(ok({ boxes: [1, 3549, 4], scores: [1, 100, 80] }), /same candidates N/)
  t.match(checkSplitOutputs({ kind: 'yolox', strides: [8], scoreThreshold: 0.1, iouThreshold: 0.4, maxDetections: 10 }, { boxes: [1, 2, 4], scores: [1, 2, 3] }), /yolov8 and end-to-end decoders only/)
})

t.test('model.json: roles only for the decoders that read them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-roles-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(join(REPO, 'models', 'yolox-nano'), join(dir, 'yolox-nano'), { recursive: true })
  const file = join(dir, 'yolox-nano', 'model.json')
  const spec = JSON.parse(readFileSync(file, 'utf8'))
  writeFileSync(file, JSON.stringify({ ...spec, output: { ...spec.output, roles: { boxes: 'boxes', scores: 'scores' } } }))
  await t.rejects(readModelSpec(dir, 'yolox-nano'), ModelConfigError)
  await t.rejects(readModelSpec(dir, 'yolox-nano'), /only the yolov8 and end-to-end decoders read \(decode.kind is yolox\)/)
  writeFileSync(file, JSON.stringify({ ...spec, output: { name: 'boxes', roles: { boxes: 'boxes', scores: 'scores', labels: 'labels' }, decode: { kind: 'yolov8', scoreThreshold: 0.25, iouThreshold: 0.45 } } }))
  const read = await readModelSpec(dir, 'yolox-nano')
  t.same(read.output.roles, { boxes: 'boxes', scores: 'scores', labels: 'labels' })
})
