// YOLOv8 / YOLO11 layout → boxes in original-image pixels. One item's output is [4 + C, N]
// (channels first, as Ultralytics exports it): rows 0–3 the box of each of the N candidates
// (its format declared in model.json, default centre/size in input pixels), rows 4… the C class
// scores (probabilities; no objectness). score = max class score; per-class NMS.
import type { Detection } from './types.js'
import { nmsPerClass, type ScoredBox } from './nms.js'
import { toDetection, toOriginal, type BoxFormat, type DetectGeometry } from './box-geometry.js'

export function decodeYolov8 (
  out: Float32Array, dims: readonly number[], box: BoxFormat, g: DetectGeometry, labels: readonly string[],
  scoreThreshold: number, iouThreshold: number, maxDetections: number
): Detection[] {
  const channels = dims[0]!
  const n = dims[1]!
  const classes = channels - 4
  const candidates: ScoredBox[] = []
  for (let j = 0; j < n; j++) {
    let best = -Infinity; let cls = 0
    for (let c = 0; c < classes; c++) {
      const v = out[(4 + c) * n + j]!
      if (v > best) { best = v; cls = c }
    }
    if (best < scoreThreshold) continue
    const b = toOriginal(out[j]!, out[n + j]!, out[2 * n + j]!, out[3 * n + j]!, box, g)
    candidates.push({ ...b, score: best, cls })
  }
  candidates.sort((a, b) => b.score - a.score)
  return nmsPerClass(candidates, iouThreshold, maxDetections).map(toDetection(labels))
}
