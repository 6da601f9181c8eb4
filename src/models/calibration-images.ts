// The images the variants of a model are compared on at startup (variant-agreement.ts):
// the files of `models.calibrationImages` (jpg, jpeg, png, webp; sorted by name) when set,
// otherwise a built-in set of synthetic images — no photos ship with the repository. The
// synthetic set is deterministic (a function of the pixel coordinates only): colour
// gradients, stripes, a checkerboard and discs at several scales, enough to exercise every
// layer but not a measure of accuracy on real photos. Point the setting at a few
// representative photos of your traffic for a drift threshold that means something.
import { readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import sharp from 'sharp'

export interface CalibrationImage { name: string, bytes: Buffer }

const EXTENSIONS = /\.(jpe?g|png|webp)$/i
export const SYNTHETIC_COUNT = 8

export async function calibrationImages (dir: string | null): Promise<CalibrationImage[]> {
  if (dir === null) return syntheticImages()
  const files = (await readdir(resolve(dir))).filter((f) => EXTENSIONS.test(f)).sort()
  if (files.length === 0) throw new Error(`models.calibrationImages: no jpg, png or webp images in ${resolve(dir)}`)
  return Promise.all(files.map(async (f) => ({ name: f, bytes: await readFile(join(dir, f)) })))
}

export async function syntheticImages (): Promise<CalibrationImage[]> {
  const out: CalibrationImage[] = []
  for (let k = 0; k < SYNTHETIC_COUNT; k++) {
    const width = 320; const height = 240
    const px = Buffer.alloc(width * height * 3)
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 3
        const [r, g, b] = pattern(k, x, y, width, height)
        px[i] = r; px[i + 1] = g; px[i + 2] = b
      }
    }
    out.push({ name: `synthetic-${k}.png`, bytes: await sharp(px, { raw: { width, height, channels: 3 } }).png().toBuffer() })
  }
  return out
}

function pattern (k: number, x: number, y: number, w: number, h: number): [number, number, number] {
  const u = x / w; const v = y / h
  const period = 4 + 6 * k
  switch (k % 4) {
    case 0: return [Math.round(255 * u), Math.round(255 * v), Math.round(255 * (1 - u) * (k / SYNTHETIC_COUNT))]
    case 1: return Math.floor(x / period) % 2 === 0 ? [220, 40 + 20 * k, 30] : [20, 30, 200 - 10 * k]
    case 2: return (Math.floor(x / period) + Math.floor(y / period)) % 2 === 0 ? [250, 250, 250] : [10, 10 + 10 * k, 10]
    default: {
      const d = Math.hypot(x - w / 2, y - h / 2)
      return d < h / (2 + k / 4) ? [60 + 20 * k, 140, 60] : [135, 206, 235 - 5 * k]
    }
  }
}
