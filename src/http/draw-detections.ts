// POST /detect answered as an image: the original photo (EXIF orientation applied, as the
// boxes are) with each detection drawn as a box and a "label score" tag — an SVG overlay
// composited by sharp. Only this path decodes the request's bytes a second time, at full size.
// Which form an answer takes: ?format=json|png|jpeg, else the Accept header (JSON first, so
// `*/*`, a browser's Accept or none at all get JSON).
import Negotiator from 'negotiator'
import sharp from 'sharp'
import { ALPHA_BACKGROUND, type ImageLimits } from '../preprocess/decode-image.js'
import type { Detection } from '../worker/protocol.js'

export type AnswerFormat = 'json' | 'png' | 'jpeg'

const MEDIA: ReadonlyArray<[string, AnswerFormat]> = [['application/json', 'json'], ['image/png', 'png'], ['image/jpeg', 'jpeg']]

export function answerFormat (query: AnswerFormat | undefined, accept: string | undefined): AnswerFormat {
  if (query !== undefined) return query
  if (accept === undefined) return 'json'
  const best = new Negotiator({ headers: { accept } }).mediaType(MEDIA.map(([m]) => m))
  return MEDIA.find(([m]) => m === best)?.[1] ?? 'json'
}

export const CONTENT_TYPE: Record<Exclude<AnswerFormat, 'json'>, string> = { png: 'image/png', jpeg: 'image/jpeg' }

/** a colour per class index, distinct for neighbouring indices (golden-angle hues) */
export function classColour (index: number): { r: number, g: number, b: number } {
  const h = (index * 137.508) % 360
  // HSL → RGB at s = 0.9, l = 0.5: saturated, readable on photos, black text on its tag
  const c = 0.9
  const x = c * (1 - Math.abs(((h / 60) % 2) - 1))
  const [r, g, b] = h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x]
  const m = 0.5 - c / 2
  return { r: Math.round((r + m) * 255), g: Math.round((g + m) * 255), b: Math.round((b + m) * 255) }
}

/** stroke width in pixels for an image of this size: visible on a thumbnail and on a 4K photo */
export function strokeWidth (width: number, height: number): number {
  return Math.max(2, Math.round(Math.min(width, height) / 160))
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&apos;' }
function escapeXml (s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!)
}

/** The overlay: one <rect> per box and a filled tag with "label 0.93" above it (inside the image). */
export function overlaySvg (width: number, height: number, detections: readonly Detection[]): string {
  const stroke = strokeWidth(width, height)
  const font = Math.max(11, stroke * 6)
  const parts: string[] = []
  // drawn lowest score first, so the best boxes and tags end on top
  for (const d of [...detections].sort((a, b) => a.score - b.score)) {
    const { r, g, b } = classColour(d.index)
    const colour = `rgb(${r},${g},${b})`
    const x1 = Math.max(0, Math.min(width, d.box.x1))
    const y1 = Math.max(0, Math.min(height, d.box.y1))
    const w = Math.max(0, Math.min(width, d.box.x2) - x1)
    const h = Math.max(0, Math.min(height, d.box.y2) - y1)
    const text = `${d.label} ${d.score.toFixed(2)}`
    const tagW = Math.ceil(text.length * font * 0.6) + 2 * stroke
    const tagH = Math.ceil(font * 1.3)
    const tagY = y1 >= tagH ? y1 - tagH : y1
    parts.push(
      `<rect x="${x1 + stroke / 2}" y="${y1 + stroke / 2}" width="${Math.max(0, w - stroke)}" height="${Math.max(0, h - stroke)}" fill="none" stroke="${colour}" stroke-width="${stroke}"/>`,
      `<rect x="${x1}" y="${tagY}" width="${tagW}" height="${tagH}" fill="${colour}"/>`,
      `<text x="${x1 + stroke}" y="${tagY + tagH - Math.round(font * 0.3)}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="${font}" fill="#000">${escapeXml(text)}</text>`
    )
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`
}

/**
 * The request's image, orientation-corrected and in 8-bit sRGB (as the model saw it), with the
 * detections drawn. `bytes` already passed decode-image.ts's checks (format, header limits).
 */
export async function drawDetections (bytes: Buffer, detections: readonly Detection[], format: Exclude<AnswerFormat, 'json'>, limits: Pick<ImageLimits, 'maxPixels'>): Promise<Buffer> {
  const base = sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'error', animated: false })
    .rotate().flatten({ background: ALPHA_BACKGROUND }).toColourspace('srgb').removeAlpha()
  // the overlay must match the oriented image's size: take it from the decoded pixels
  const { data, info } = await base.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
  const overlay = Buffer.from(overlaySvg(info.width, info.height, detections))
  const out = sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .composite([{ input: overlay, top: 0, left: 0 }])
  return format === 'png' ? out.png().toBuffer() : out.jpeg({ quality: 90 }).toBuffer()
}
