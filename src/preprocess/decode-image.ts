// Image bytes → the pixels a model's tensor is built from, on the main thread with sharp
// (libvips does the work on the libuv pool; the event loop only awaits it).
//
//  0. Signature: the first bytes name the format (sniffFormat). A format not in
//     images.formats is refused (415) before any libvips loader sees the bytes, so e.g. an
//     SVG is never parsed; bytes no accepted format starts with are refused (400) unread.
//  1. Header only: format allowed? dimensions and pixel count within limits? (no decode yet,
//     so a pixel bomb costs nothing)
//  2. Decode, apply EXIF orientation, flatten any alpha onto white (ALPHA_BACKGROUND: what a
//     viewer shows; sharp would otherwise premultiply, so transparent pixels came out black
//     and edges darkened), convert any colour space (grey, palette, CMYK, 16-bit) to 8-bit
//     sRGB. Animated and multi-page images: the first frame. (16-bit images are resized at
//     16 bits before the cast, and JPEG/WebP may be shrunk while loading: both are sharp's
//     pipeline, as MODEL.md specifies it.)
//  3. Resize as the model's spec says (MODEL.md): sharp's default kernel (lanczos3) —
//     the int8 classifier is sensitive to the resampler, so this is not a free choice.
//     center-crop on an extreme aspect ratio first cuts the middle of the long side to
//     MAX_CROP_ASPECT:1: resizing the shorter side of a 1×16384 image to 256 would make a
//     256×4194304 (3 GB) image of which the worker keeps the centre 224×224.
// Cropping, padding and normalisation happen in the worker (tensor-layout.ts).
import sharp, { type Metadata, type Sharp, type SharpOptions } from 'sharp'
import { ImageTooLarge, InvalidImage, UnsupportedImageFormat } from '../errors.js'
import type { ModelSpec } from '../models/model-spec.js'
import type { PreparedImage } from '../worker/protocol.js'

export interface ImageLimits {
  maxPixels: number
  maxDimension: number
  formats: readonly string[]
}

/** transparent pixels are composed onto this colour */
export const ALPHA_BACKGROUND = { r: 255, g: 255, b: 255 } as const

/** center-crop: the longest side kept, in multiples of the shorter, before resizing */
export const MAX_CROP_ASPECT = 16

export async function decodeImage (bytes: Buffer, model: Pick<ModelSpec, 'input' | 'preprocess'>, limits: ImageLimits): Promise<PreparedImage> {
  const { width, height } = await inspectImage(bytes, limits)
  const { data, info } = await resizeFor(decodePipeline(bytes, limits), width, height, model)
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
    .catch((err: Error) => { throw mapSharpError(err) })
  if (info.channels !== 3) throw new InvalidImage(`decoded to ${info.channels} channels, expected 3`)
  return { pixels: data, width: info.width, height: info.height, originalWidth: width, originalHeight: height }
}

/** An image decoded once at full resolution: HWC, 8-bit sRGB, 3 channels (step 2 only). */
export interface DecodedImage {
  pixels: Buffer
  width: number
  height: number
}

/**
 * Steps 0–1: the format and the limits, judged from the signature and the header only.
 * Returns the oriented (EXIF-applied) size.
 */
export async function inspectImage (bytes: Buffer, limits: ImageLimits): Promise<{ width: number, height: number }> {
  const sniffed = sniffFormat(bytes)
  if (sniffed === undefined) {
    // only formats the sniffer knows can be accepted without asking libvips
    if (limits.formats.every((f) => SNIFFED_FORMATS.has(f))) throw new InvalidImage(NOT_AN_IMAGE)
  } else if (!limits.formats.includes(sniffed)) {
    throw new UnsupportedImageFormat(sniffed, limits.formats.join(', '))
  }
  let meta: Metadata
  try {
    meta = await sharp(bytes, sharpOptions(limits)).metadata()
  } catch (err) {
    throw mapSharpError(err as Error)
  }
  const format = formatName(meta)
  if (!limits.formats.includes(format)) {
    throw new UnsupportedImageFormat(format, limits.formats.join(', '))
  }
  const { width, height } = meta.autoOrient ?? meta
  if (!width || !height) throw new InvalidImage('no dimensions in the image header')
  if (width > limits.maxDimension || height > limits.maxDimension) {
    throw new ImageTooLarge(`${width}×${height} exceeds the maximum dimension ${limits.maxDimension}`)
  }
  if (width * height > limits.maxPixels) {
    throw new ImageTooLarge(`${width}×${height} = ${width * height} pixels exceeds the limit of ${limits.maxPixels}`)
  }
  return { width, height }
}

/**
 * Step 2 at full resolution, for tiling (preprocess/tiles.ts): call after inspectImage, which
 * has held the image to images.maxPixels, so the buffer is at most 3 · maxPixels bytes.
 */
export async function decodeFull (bytes: Buffer, limits: ImageLimits): Promise<DecodedImage> {
  const { data, info } = await decodePipeline(bytes, limits)
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
    .catch((err: Error) => { throw mapSharpError(err) })
  if (info.channels !== 3) throw new InvalidImage(`decoded to ${info.channels} channels, expected 3`)
  return { pixels: data, width: info.width, height: info.height }
}

/**
 * Step 3 on pixels already decoded (decodeFull): the model's resize of the whole image, as
 * decodeImage would do it from the bytes. Not bit-identical to decodeImage for a JPEG or WebP
 * shrunk while loading (the shrink-on-load has no raw-pixel equivalent); the same otherwise.
 */
export async function prepareDecoded (img: DecodedImage, model: Pick<ModelSpec, 'input' | 'preprocess'>): Promise<PreparedImage> {
  const raw = sharp(img.pixels, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false })
  const { data, info } = await resizeFor(raw, img.width, img.height, model)
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
  return { pixels: data, width: info.width, height: info.height, originalWidth: img.width, originalHeight: img.height }
}

function sharpOptions (limits: ImageLimits): SharpOptions {
  return { limitInputPixels: limits.maxPixels, failOn: 'error', animated: false }
}

/** Step 2: orientation, alpha, colour space; no resize yet */
function decodePipeline (bytes: Buffer, limits: ImageLimits): Sharp {
  return sharp(bytes, sharpOptions(limits)).rotate().flatten({ background: ALPHA_BACKGROUND }).toColourspace('srgb').removeAlpha()
}

function resizeFor (img: Sharp, width: number, height: number, model: Pick<ModelSpec, 'input' | 'preprocess'>): Sharp {
  const { input, preprocess } = model
  const r = preprocess.resize
  switch (r.mode) {
    case 'center-crop': {
      const short = Math.min(width, height)
      const long = Math.max(width, height)
      if (long > short * MAX_CROP_ASPECT) {
        // keep the middle of the long side (oriented coordinates: rotate() comes first)
        const keep = short * MAX_CROP_ASPECT
        const offset = Math.floor((long - keep) / 2)
        img = img.extract(width >= height
          ? { left: offset, top: 0, width: keep, height }
          : { left: 0, top: offset, width, height: keep })
      }
      return img.resize({ width: r.shorterSide, height: r.shorterSide, fit: 'outside' })
    }
    case 'letterbox': {
      const ratio = Math.min(input.width / width, input.height / height)
      return img.resize({
        width: Math.max(1, Math.floor(width * ratio)),
        height: Math.max(1, Math.floor(height * ratio)),
        fit: 'fill'
      })
    }
    case 'stretch':
      return img.resize({ width: input.width, height: input.height, fit: 'fill' })
  }
}

/** sharp names AVIF "heif" (compression av1); images.formats tells them apart */
function formatName (meta: Metadata): string {
  if (meta.format === 'heif' && meta.compression === 'av1') return 'avif'
  return meta.format ?? 'unknown'
}

const NOT_AN_IMAGE = 'the bytes are not an image in a format this server reads'

/** every format sniffFormat can name */
export const SNIFFED_FORMATS: ReadonlySet<string> = new Set([
  'jpeg', 'png', 'gif', 'webp', 'tiff', 'avif', 'heif', 'svg', 'bmp', 'pdf', 'psd', 'ico', 'jxl', 'jp2k', 'fits', 'vips', 'exr', 'rad', 'ppm'
])

/**
 * The format the first bytes announce (names as in sharp and images.formats), or undefined.
 * A gzip stream counts as SVG (svgz: the only gzipped input libvips reads).
 */
export function sniffFormat (b: Buffer): string | undefined {
  const at = (offset: number, s: string): boolean => b.length >= offset + s.length && b.toString('latin1', offset, offset + s.length) === s
  const bytes = (offset: number, ...v: number[]): boolean => b.length >= offset + v.length && v.every((x, i) => b[offset + i] === x)
  if (bytes(0, 0xff, 0xd8, 0xff)) return 'jpeg'
  if (bytes(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png'
  if (at(0, 'GIF87a') || at(0, 'GIF89a')) return 'gif'
  if (at(0, 'RIFF') && at(8, 'WEBP')) return 'webp'
  if (at(0, 'II*\0') || at(0, 'MM\0*') || at(0, 'II+\0') || at(0, 'MM\0+')) return 'tiff'
  if (at(4, 'ftyp')) return isobmffFormat(b)
  if (bytes(0, 0x1f, 0x8b)) return 'svg'
  if (at(0, 'BM')) return 'bmp'
  if (at(0, '%PDF-')) return 'pdf'
  if (at(0, '8BPS')) return 'psd'
  if (bytes(0, 0, 0, 1, 0) || bytes(0, 0, 0, 2, 0)) return 'ico'
  if (bytes(0, 0xff, 0x0a) || bytes(0, 0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20)) return 'jxl'
  if (bytes(0, 0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20) || bytes(0, 0xff, 0x4f, 0xff, 0x51)) return 'jp2k'
  if (at(0, 'SIMPLE  =')) return 'fits'
  if (bytes(0, 0x08, 0xf2, 0xa6, 0xb6) || bytes(0, 0xb6, 0xa6, 0xf2, 0x08)) return 'vips'
  if (bytes(0, 0x76, 0x2f, 0x31, 0x01)) return 'exr'
  if (at(0, '#?RADIANCE') || at(0, '#?RGBE')) return 'rad'
  if (/^P[1-7F][ \t\r\n]/.test(b.toString('latin1', 0, 3))) return 'ppm'
  if (looksLikeSvg(b)) return 'svg'
  return undefined
}

/** ISO base media (HEIF family): AVIF when the major or a compatible brand says so */
function isobmffFormat (b: Buffer): string {
  const size = Math.min(b.length, Math.max(16, b.readUInt32BE(0)), 64)
  for (let i = 8; i + 4 <= size; i += 4) {
    const brand = b.toString('latin1', i, i + 4)
    if (brand === 'avif' || brand === 'avis') return 'avif'
  }
  return 'heif'
}

/** text (after an optional BOM) whose first kilobytes hold an <svg element */
function looksLikeSvg (b: Buffer): boolean {
  const head = b.toString('utf8', 0, Math.min(b.length, 4096)).replace(/^\uFEFF/, '').trimStart()
  return head.startsWith('<') && /<svg[\s>/]/i.test(head)
}

function mapSharpError (err: Error): Error {
  const msg = err.message
  if (/pixel limit/i.test(msg)) return new ImageTooLarge(msg)
  if (/unsupported image format/i.test(msg)) return new InvalidImage(NOT_AN_IMAGE)
  return new InvalidImage(msg.split('\n')[0]!)
}
