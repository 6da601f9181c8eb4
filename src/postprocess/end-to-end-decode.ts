// End-to-end detectors (RT-DETR style) → boxes in original-image pixels. One item's output is
// [N, 4 + C]: one row per query, its box (format declared in model.json, default centre/size
// normalised to the input) then C class scores, probabilities or logits (sigmoid applied here).
// The model has already resolved duplicates: no NMS, only the threshold, the best class per
// query, descending score and the cap.
import type { Detection } from './types.js'
import type { ScoredBox } from './nms.js'
import { toDetection, toOriginal, type BoxFormat, type DetectGeometry } from './box-geometry.js'

export function decodeEndToEnd (
  out: Float32Array, dims: readonly number[], box: BoxFormat, scores: 'probabilities' | 'logits', g: DetectGeometry,
  labels: readonly string[], scoreThreshold: number, maxDetections: number
): Detection[] {
  const n = dims[0]!
  const row = dims[1]!
  const classes = row - 4
  const found: ScoredBox[] = []
  for (let j = 0; j < n; j++) {
    const o = j * row
    let best = -Infinity; let cls = 0
    for (let c = 0; c < classes; c++) {
      const v = out[o + 4 + c]!
      if (v > best) { best = v; cls = c }
    }
    const score = scores === 'logits' ? 1 / (1 + Math.exp(-best)) : best
    if (score < scoreThreshold) continue
    found.push({ ...toOriginal(out[o]!, out[o + 1]!, out[o + 2]!, out[o + 3]!, box, g), score, cls })
  }
  found.sort((a, b) => b.score - a.score)
  return found.slice(0, maxDetections).map(toDetection(labels))
}
