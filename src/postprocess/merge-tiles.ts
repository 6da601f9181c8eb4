// Detections of every pass of a tiled request (the tiles and the whole-image pass) → one
// answer in full-image pixels.
//
// 1. Shift: a tile's boxes come back in tile pixels; add the tile's offset.
// 2. Cut: a box is "cut" when it reaches (within `edgeMargin` pixels) a side of its tile that
//    lies inside the image: the object may go on in the neighbouring tile. Boxes of the
//    whole-image pass are never cut.
// 3. Merge, per class, greedily by descending score (SAHI's greedy NMM, with the box union):
//    the best remaining box starts a group; every other box of its class that comes from a
//    pass not yet in the group joins it when
//      - neither it nor the group holds a cut box: IoU(group, box) > iouThreshold — the
//        same object seen whole twice (per-class NMS across tiles): the group's box is kept;
//      - it or the group holds a cut box: IoS(group, box) ≥ iosThreshold, IoS being the
//        intersection over the smaller box — pieces of one object cut at tile borders, or a
//        piece inside the whole-image pass's box: the group's box becomes the union of both.
//    A group whose box grew is compared again with the boxes left, so the pieces of an
//    object cut into 3 or 4 tiles join one by one. The group's score is its best score.
// Boxes of one pass never merge with each other (the model's own NMS already separated them),
// and only boxes that touch a tile border are ever unioned, so two neighbouring objects seen
// whole are kept apart as plain NMS would keep them.
import type { Detection } from '../worker/protocol.js'
import type { TileRect } from '../preprocess/tiles.js'
import { round } from '../util/format.js'
import { iou, type Box } from './nms.js'

export interface PassDetections {
  /** the tile this pass ran on; null for the whole-image pass (boxes already in image pixels) */
  tile: TileRect | null
  detections: Detection[]
}

export interface MergeOptions {
  imageWidth: number
  imageHeight: number
  /** per-class NMS threshold between boxes seen whole (the request's iou_threshold) */
  iouThreshold: number
  /** intersection over the smaller box from which pieces of one object are unioned */
  iosThreshold: number
  /** pixels from a tile's inner side within which a box counts as cut */
  edgeMargin: number
  maxDetections: number
}

interface Candidate extends Box {
  score: number
  index: number
  label: string
  pass: number
  cut: boolean
}

/** Intersection over the smaller of the two boxes (1 when one holds the other). */
export function ios (a: Box, b: Box): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1)
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1)
  if (w <= 0 || h <= 0) return 0
  const smaller = Math.min((a.x2 - a.x1) * (a.y2 - a.y1), (b.x2 - b.x1) * (b.y2 - b.y1))
  return smaller > 0 ? (w * h) / smaller : 0
}

/** Whether box `b` (image pixels) reaches a side of `tile` that is inside the image. */
export function isCut (b: Box, tile: TileRect, imageWidth: number, imageHeight: number, margin: number): boolean {
  return (tile.x > 0 && b.x1 - tile.x <= margin) ||
    (tile.y > 0 && b.y1 - tile.y <= margin) ||
    (tile.x + tile.width < imageWidth && tile.x + tile.width - b.x2 <= margin) ||
    (tile.y + tile.height < imageHeight && tile.y + tile.height - b.y2 <= margin)
}

export function mergeTiles (passes: readonly PassDetections[], o: MergeOptions): Detection[] {
  const all: Candidate[] = []
  passes.forEach((p, pass) => {
    const dx = p.tile?.x ?? 0
    const dy = p.tile?.y ?? 0
    for (const d of p.detections) {
      const b = { x1: d.box.x1 + dx, y1: d.box.y1 + dy, x2: d.box.x2 + dx, y2: d.box.y2 + dy }
      all.push({ ...b, score: d.score, index: d.index, label: d.label, pass, cut: p.tile !== null && isCut(b, p.tile, o.imageWidth, o.imageHeight, o.edgeMargin) })
    }
  })
  all.sort((a, b) => b.score - a.score)

  const used = new Uint8Array(all.length)
  const out: Detection[] = []
  for (let i = 0; i < all.length && out.length < o.maxDetections; i++) {
    if (used[i]) continue
    used[i] = 1
    const first = all[i]!
    const box: Box = { x1: first.x1, y1: first.y1, x2: first.x2, y2: first.y2 }
    const passes = new Set([first.pass])
    let cut = first.cut
    for (let grew = true; grew;) {
      grew = false
      for (let j = i + 1; j < all.length; j++) {
        const c = all[j]!
        if (used[j] || c.index !== first.index || passes.has(c.pass)) continue
        if (cut || c.cut) {
          if (ios(box, c) < o.iosThreshold) continue
          used[j] = 1
          passes.add(c.pass)
          cut = true
          if (c.x1 < box.x1 || c.y1 < box.y1 || c.x2 > box.x2 || c.y2 > box.y2) {
            box.x1 = Math.min(box.x1, c.x1); box.y1 = Math.min(box.y1, c.y1)
            box.x2 = Math.max(box.x2, c.x2); box.y2 = Math.max(box.y2, c.y2)
            grew = true
          }
        } else if (iou(box, c) > o.iouThreshold) {
          used[j] = 1
          passes.add(c.pass)
        }
      }
    }
    out.push({ label: first.label, index: first.index, score: first.score, box: { x1: round(box.x1), y1: round(box.y1), x2: round(box.x2), y2: round(box.y2) } })
  }
  return out
}
