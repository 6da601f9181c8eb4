// YOLOX raw head output → boxes in original-image pixels (MODEL.md "Output and decoding").
// Rows are [tx, ty, tw, th, obj, cls_0..cls_C-1] for the grid cells of each stride in order,
// row-major; obj and cls are already sigmoid probabilities.
import type { Detection } from './types.js'
import { nmsPerClass, type ScoredBox } from './nms.js'

export interface YoloxGeometry {
  inputWidth: number
  inputHeight: number
  strides: readonly number[]
  /** resize factor original → input, and where the resized image sits in the input */
  ratio: number
  left: number
  top: number
  originalWidth: number
  originalHeight: number
}

export function decodeYolox (
  out: Float32Array, rowLen: number, g: YoloxGeometry, labels: readonly string[],
  scoreThreshold: number, iouThreshold: number, maxDetections: number
): Detection[] {
  const classes = rowLen - 5
  const candidates: ScoredBox[] = []
  let row = 0
  for (const s of g.strides) {
    const gw = Math.floor(g.inputWidth / s)
    const gh = Math.floor(g.inputHeight / s)
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++, row++) {
        const o = row * rowLen
        const obj = out[o + 4]!
        if (obj < scoreThreshold) continue // score = obj · cls ≤ obj
        let best = 0; let cls = 0
        for (let c = 0; c < classes; c++) {
          const v = out[o + 5 + c]!
          if (v > best) { best = v; cls = c }
        }
        const score = obj * best
        if (score < scoreThreshold) continue
        const cx = (out[o]! + gx) * s - g.left
        const cy = (out[o + 1]! + gy) * s - g.top
        const w = Math.exp(out[o + 2]!) * s
        const h = Math.exp(out[o + 3]!) * s
        candidates.push({
          x1: clamp((cx - w / 2) / g.ratio, g.originalWidth),
          y1: clamp((cy - h / 2) / g.ratio, g.originalHeight),
          x2: clamp((cx + w / 2) / g.ratio, g.originalWidth),
          y2: clamp((cy + h / 2) / g.ratio, g.originalHeight),
          score,
          cls
        })
      }
    }
  }
  candidates.sort((a, b) => b.score - a.score)
  return nmsPerClass(candidates, iouThreshold, maxDetections).map((b) => ({
    label: labels[b.cls] ?? String(b.cls),
    index: b.cls,
    score: b.score,
    box: { x1: round2(b.x1), y1: round2(b.y1), x2: round2(b.x2), y2: round2(b.y2) }
  }))
}

function clamp (v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v
}

function round2 (v: number): number {
  return Math.round(v * 100) / 100
}
