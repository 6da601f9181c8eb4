// Detectors whose export gives boxes and scores as separate outputs (RT-DETR, YOLO-NAS and some
// YOLO exports), named per role in model.json's `output.roles`. One item's outputs, the
// candidates first:
//   boxes   [N, 4]   the box of each candidate (format declared in model.json)
//   scores  [N, C]   its class scores — or [N], the score of its class, with
//   labels  [N]      its class index (integers: int64 / int32, or floats)
// The `yolov8` kind applies per-class NMS (a YOLO export split in two); `end-to-end` none (the
// model resolved duplicates: threshold, best class, descending score and the cap only).
import type { Detection } from './types.js'
import { nmsPerClass, type ScoredBox } from './nms.js'
import { toDetection, toOriginal, type BoxFormat, type DetectGeometry } from './box-geometry.js'

export interface SplitOutputs {
  boxes: Float32Array
  scores: Float32Array
  /** class index per candidate; null: `scores` has a column per class */
  labels: ArrayLike<number | bigint> | null
  /** candidates */
  n: number
}

export interface SplitDecode {
  box: BoxFormat
  scores: 'probabilities' | 'logits'
  /** null: no NMS (end-to-end) */
  iouThreshold: number | null
  scoreThreshold: number
  maxDetections: number
}

export function decodeSplit (o: SplitOutputs, d: SplitDecode, g: DetectGeometry, labels: readonly string[]): Detection[] {
  const { boxes, scores, n } = o
  const classes = o.labels === null ? scores.length / n : 1
  const found: ScoredBox[] = []
  for (let j = 0; j < n; j++) {
    let best = -Infinity; let cls = 0
    if (o.labels === null) {
      const at = j * classes
      for (let c = 0; c < classes; c++) {
        const v = scores[at + c]!
        if (v > best) { best = v; cls = c }
      }
    } else {
      best = scores[j]!
      cls = Number(o.labels[j]!)
    }
    const score = d.scores === 'logits' ? 1 / (1 + Math.exp(-best)) : best
    if (score < d.scoreThreshold || cls < 0) continue
    found.push({ ...toOriginal(boxes[4 * j]!, boxes[4 * j + 1]!, boxes[4 * j + 2]!, boxes[4 * j + 3]!, d.box, g), score, cls })
  }
  found.sort((a, b) => b.score - a.score)
  const kept = d.iouThreshold === null ? found.slice(0, d.maxDetections) : nmsPerClass(found, d.iouThreshold, d.maxDetections)
  return kept.map(toDetection(labels))
}

/**
 * Why outputs of these shapes (batch first, as the session declares them) cannot be read as
 * split detector outputs, or null. A dimension the session leaves symbolic passes.
 */
export function checkSplitShapes (shapes: { boxes: ReadonlyArray<number | string>, scores: ReadonlyArray<number | string>, labels?: ReadonlyArray<number | string> }): string | null {
  const fixed = (d: number | string | undefined): d is number => typeof d === 'number' && d >= 0
  const same = (a: number | string | undefined, b: number | string | undefined): boolean => !fixed(a) || !fixed(b) || a === b
  const { boxes, scores, labels } = shapes
  const show = (s: ReadonlyArray<number | string>): string => `[${s.join(', ')}]`
  if (boxes.length !== 3 || (fixed(boxes[2]) && boxes[2] !== 4)) return `the boxes output must be [B, N, 4]; it is ${show(boxes)}`
  if (labels === undefined) {
    if (scores.length !== 3) return `the scores output must be [B, N, C] (or [B, N] with a labels output); it is ${show(scores)}`
  } else {
    if (scores.length !== 2) return `with a labels output, the scores output must be [B, N]; it is ${show(scores)}`
    if (labels.length !== 2 || !same(labels[1], boxes[1])) return `the labels output must be [B, N] as the boxes; it is ${show(labels)}`
  }
  if (!same(scores[1], boxes[1])) return `the boxes ${show(boxes)} and scores ${show(scores)} outputs must have the same candidates N`
  return null
}
