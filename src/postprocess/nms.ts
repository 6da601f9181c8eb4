// Greedy per-class non-maximum suppression, as upstream YOLOX's postprocess does it
// (torchvision batched_nms): within one class, a box is dropped when its IoU with a
// higher-scoring kept box exceeds the threshold.

export interface Box { x1: number, y1: number, x2: number, y2: number }
export interface ScoredBox extends Box { score: number, cls: number }

export function iou (a: Box, b: Box): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1)
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1)
  if (w <= 0 || h <= 0) return 0
  const inter = w * h
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
  return union > 0 ? inter / union : 0
}

/** Boxes must be sorted by descending score; returns the kept ones, same order. */
export function nmsPerClass (sorted: ScoredBox[], threshold: number, max: number): ScoredBox[] {
  const kept: ScoredBox[] = []
  for (const box of sorted) {
    let suppressed = false
    for (const k of kept) {
      if (k.cls === box.cls && iou(k, box) > threshold) { suppressed = true; break }
    }
    if (!suppressed) {
      kept.push(box)
      if (kept.length === max) break
    }
  }
  return kept
}
