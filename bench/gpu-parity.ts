// The GPU check's verdicts (bench/gpu-check.ts), pure so that they are pinned by tests before a
// device is spent on them: does a device's answer match the reference's, and the card's file name.
import { iou } from '../src/postprocess/nms.js'
import { round } from '../src/util/format.js'

export const SCORE_TOLERANCE = 1e-2
export const BOX_TOLERANCE_PX = 1

export interface Prediction { index: number, label: string, score: number }
export interface Detection { index: number, label: string, score: number, box: { x1: number, y1: number, x2: number, y2: number } }

/** Top-1 equal and every reference top-k score within SCORE_TOLERANCE (a class missing from `got` counts as score 0). */
export function compareClassify (ref: Prediction[], got: Prediction[]): { top1Equal: boolean, maxScoreDiff: number, pass: boolean } {
  const maxScoreDiff = Math.max(...ref.map((p) => Math.abs(p.score - (got.find((q) => q.index === p.index)?.score ?? 0))))
  const top1Equal = ref[0]?.index === got[0]?.index
  return { top1Equal, maxScoreDiff: Number(maxScoreDiff.toExponential(2)), pass: top1Equal && maxScoreDiff <= SCORE_TOLERANCE }
}

/**
 * The same number of detections, each reference box matched by a box of the same class
 * (IoU ≥ 0.5, the best one) whose corners are within BOX_TOLERANCE_PX and score within SCORE_TOLERANCE.
 */
export function compareDetect (ref: Detection[], got: Detection[]): { count: string, maxBoxDiffPx: number, maxScoreDiff: number, unmatched: string[], pass: boolean } {
  let boxDiff = 0; let scoreDiff = 0; const unmatched: string[] = []
  for (const x of ref) {
    const m = got.filter((y) => y.index === x.index).sort((p, q) => iou(q.box, x.box) - iou(p.box, x.box))[0]
    if (!m || iou(m.box, x.box) < 0.5) { unmatched.push(`${x.label} ${x.score.toFixed(2)}`); continue }
    boxDiff = Math.max(boxDiff, Math.abs(m.box.x1 - x.box.x1), Math.abs(m.box.y1 - x.box.y1), Math.abs(m.box.x2 - x.box.x2), Math.abs(m.box.y2 - x.box.y2))
    scoreDiff = Math.max(scoreDiff, Math.abs(m.score - x.score))
  }
  return {
    count: `${got.length} vs cpu ${ref.length}`,
    maxBoxDiffPx: round(boxDiff, 2),
    maxScoreDiff: Number(scoreDiff.toExponential(2)),
    unmatched,
    pass: unmatched.length === 0 && got.length === ref.length && boxDiff <= BOX_TOLERANCE_PX && scoreDiff <= SCORE_TOLERANCE
  }
}

/** The card as it goes into file names: `NVIDIA H100 80GB HBM3` → `h100-80gb-hbm3` (letters, digits, '-'). */
export function cardSlug (name: string): string {
  return name.replace(/^nvidia\s+/i, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'gpu'
}
