// Where a detector's boxes go: from the model input (pixels, or 0–1 of its size; centre and size
// or corners) to the original image's pixels, undoing the letterbox (ratio and offset), clipped.
import type { Box, ScoredBox } from './nms.js'
import type { Detection } from './types.js'

export interface DetectGeometry {
  inputWidth: number
  inputHeight: number
  /** resize factor original → input, and where the resized image sits in the input */
  ratio: number
  left: number
  top: number
  originalWidth: number
  originalHeight: number
}

export interface BoxFormat { format: 'cxcywh' | 'xyxy', normalized: boolean }

/** The box (a, b, c, d) in `f` as original-image corners, clipped to the image. */
export function toOriginal (a: number, b: number, c: number, d: number, f: BoxFormat, g: DetectGeometry): Box {
  if (f.normalized) { a *= g.inputWidth; b *= g.inputHeight; c *= g.inputWidth; d *= g.inputHeight }
  let x1 = a; let y1 = b; let x2 = c; let y2 = d
  if (f.format === 'cxcywh') { x1 = a - c / 2; y1 = b - d / 2; x2 = a + c / 2; y2 = b + d / 2 }
  return {
    x1: clamp((x1 - g.left) / g.ratio, g.originalWidth),
    y1: clamp((y1 - g.top) / g.ratio, g.originalHeight),
    x2: clamp((x2 - g.left) / g.ratio, g.originalWidth),
    y2: clamp((y2 - g.top) / g.ratio, g.originalHeight)
  }
}

export function clamp (v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v
}

export function round2 (v: number): number {
  return Math.round(v * 100) / 100
}

/** A kept box as the answer gives it: label, class index, score, corners to 0.01 px. */
export function toDetection (labels: readonly string[]) {
  return (b: ScoredBox): Detection => ({
    label: labels[b.cls] ?? String(b.cls),
    index: b.cls,
    score: b.score,
    box: { x1: round2(b.x1), y1: round2(b.y1), x2: round2(b.x2), y2: round2(b.y2) }
  })
}
