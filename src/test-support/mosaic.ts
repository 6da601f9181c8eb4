// A large test image for tiled detection, built at test time from the shared photos at full
// resolution (nothing binary is committed), and the recall of the photos' own detections in
// a detector's answer for it. Shared by src/http/routes/tiled-detect.test.ts and bench/tiles.ts.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { iou } from '../postprocess/nms.js'
import type { Detection } from '../worker/protocol.js'
import { SHARED_IMAGES } from './server.js'

/** Rows of photos, left to right, each at its full size, on a grey (114) background. */
export const MOSAIC_ROWS = [['dog.jpg', 'eagle.jpg', 'horses.jpg'], ['kite.jpg', 'giraffe.jpg', 'person.jpg', 'scream.jpg']]

export interface Placed { photo: string, bytes: Buffer, left: number, top: number, width: number, height: number }
export interface Mosaic { jpeg: Buffer, width: number, height: number, placed: Placed[] }

export async function buildMosaic (rows = MOSAIC_ROWS): Promise<Mosaic> {
  const placed: Placed[] = []
  let top = 0
  let width = 0
  for (const row of rows) {
    let left = 0
    let rowHeight = 0
    for (const photo of row) {
      const bytes = readFileSync(join(SHARED_IMAGES, photo))
      const meta = await sharp(bytes).metadata()
      const { width: w, height: h } = meta.autoOrient ?? meta
      placed.push({ photo, bytes, left, top, width: w!, height: h! })
      left += w!
      rowHeight = Math.max(rowHeight, h!)
    }
    width = Math.max(width, left)
    top += rowHeight
  }
  const composites = await Promise.all(placed.map(async (p) => ({ input: await sharp(p.bytes).rotate().toBuffer(), left: p.left, top: p.top })))
  const jpeg = await sharp({ create: { width, height: top, channels: 3, background: { r: 114, g: 114, b: 114 } } })
    .composite(composites).jpeg({ quality: 95 }).toBuffer()
  return { jpeg, width, height: top, placed }
}

export interface Recall { found: number, total: number, recall: number, missed: Detection[] }

/**
 * Share of `reference` boxes found in `answer`: a reference is found by an answer box of the
 * same label with IoU ≥ minIou, each answer box finding at most one reference (the references
 * taken by descending score, each matched to its best free answer box).
 */
export function recall (reference: readonly Detection[], answer: readonly Detection[], minIou = 0.5): Recall {
  const free = new Set(answer.map((_, i) => i))
  const missed: Detection[] = []
  for (const r of [...reference].sort((a, b) => b.score - a.score)) {
    let best = -1; let bestIou = minIou
    for (const i of free) {
      const a = answer[i]!
      if (a.label !== r.label) continue
      const v = iou(a.box, r.box)
      if (v >= bestIou) { best = i; bestIou = v }
    }
    if (best >= 0) free.delete(best)
    else missed.push(r)
  }
  const total = reference.length
  return { found: total - missed.length, total, recall: total === 0 ? 1 : (total - missed.length) / total, missed }
}

/** A photo's detections moved to where the photo sits in the mosaic. */
export function shift (dets: readonly Detection[], p: Pick<Placed, 'left' | 'top'>): Detection[] {
  return dets.map((d) => ({ ...d, box: { x1: d.box.x1 + p.left, y1: d.box.y1 + p.top, x2: d.box.x2 + p.left, y2: d.box.y2 + p.top } }))
}
