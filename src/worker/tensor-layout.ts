// HWC uint8 RGB pixels → the model's NCHW float32 input, in place in a reused buffer.
// Normalisation x = (p · scale − mean) / std is folded into a 256-entry table per channel,
// so the inner loop is one lookup per value. Geometry follows MODEL.md exactly:
//  - center-crop: the main thread resized the shorter side; cut W×H at floor((w−W)/2), floor((h−H)/2)
//  - letterbox:   the main thread resized to fit; paste at top-left (or centre), pad with `fill`
//  - stretch:     the main thread resized to W×H exactly
import type { ModelSpec } from '../models/model-spec.js'
import type { PreparedImage } from './protocol.js'

export class TensorLayout {
  readonly width: number
  readonly height: number
  readonly plane: number
  /** per output plane, the source channel (0 R, 1 G, 2 B) */
  private readonly order: readonly [number, number, number]
  private readonly lut: Float32Array[]
  private readonly padValue: Float32Array
  private readonly spec: ModelSpec['preprocess']

  constructor (input: ModelSpec['input'], pre: ModelSpec['preprocess']) {
    this.width = input.width
    this.height = input.height
    this.plane = input.width * input.height
    this.spec = pre
    this.order = input.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0]
    this.lut = [0, 1, 2].map((c) => {
      const t = new Float32Array(256)
      for (let p = 0; p < 256; p++) t[p] = (p * pre.scale - pre.mean[c]!) / pre.std[c]!
      return t
    })
    const fill = pre.resize.mode === 'letterbox' ? pre.resize.fill : 0
    this.padValue = Float32Array.from(this.order, (c) => this.lut[c]![fill]!)
  }

  /** where the resized image sits in the input (for mapping detections back) */
  offset (img: PreparedImage): { left: number, top: number } {
    const r = this.spec.resize
    if (r.mode === 'letterbox' && r.anchor === 'center') {
      return { left: Math.floor((this.width - img.width) / 2), top: Math.floor((this.height - img.height) / 2) }
    }
    return { left: 0, top: 0 }
  }

  /** Writes image `img` as item `index` of the batch held in `out`. */
  write (img: PreparedImage, out: Float32Array, index: number): void {
    const { width: W, height: H, plane } = this
    const base = index * 3 * plane
    const src = img.pixels
    const sw = img.width
    const mode = this.spec.resize.mode
    if (mode === 'letterbox') {
      for (let k = 0; k < 3; k++) out.fill(this.padValue[k]!, base + k * plane, base + (k + 1) * plane)
    }
    // the source rectangle copied and where it lands
    let sx = 0; let sy = 0; let dx = 0; let dy = 0
    let cw = Math.min(sw, W); let ch = Math.min(img.height, H)
    if (mode === 'center-crop') {
      sx = Math.max(0, Math.floor((sw - W) / 2))
      sy = Math.max(0, Math.floor((img.height - H) / 2))
    } else {
      const o = this.offset(img)
      dx = o.left; dy = o.top
      cw = Math.min(sw, W - dx); ch = Math.min(img.height, H - dy)
    }
    for (let k = 0; k < 3; k++) {
      const c = this.order[k]!
      const lut = this.lut[c]!
      const planeBase = base + k * plane
      for (let y = 0; y < ch; y++) {
        let s = ((sy + y) * sw + sx) * 3 + c
        let d = planeBase + (dy + y) * W + dx
        const end = d + cw
        while (d < end) {
          out[d++] = lut[src[s]!]!
          s += 3
        }
      }
    }
  }
}
