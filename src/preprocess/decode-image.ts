// Image bytes → the pixels a model's tensor is built from, on the main thread with sharp
// (libvips does the work on the libuv pool; the event loop only awaits it).
//
//  1. Header only: format allowed? dimensions and pixel count within limits? (no decode yet,
//     so a pixel bomb costs nothing)
//  2. Decode, apply EXIF orientation, convert any colour space (grey, palette, CMYK, 16-bit)
//     to 8-bit sRGB, drop alpha.
//  3. Resize as the model's spec says (MODEL.md): sharp's default kernel (lanczos3) —
//     the int8 classifier is sensitive to the resampler, so this is not a free choice.
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

export async function decodeImage (bytes: Buffer, model: Pick<ModelSpec, 'input' | 'preprocess'>, limits: ImageLimits): Promise<PreparedImage> {
  const options: SharpOptions = { limitInputPixels: limits.maxPixels, failOn: 'error', animated: false }
  let meta: Metadata
  try {
    meta = await sharp(bytes, options).metadata()
  } catch (err) {
    throw mapSharpError(err as Error)
  }
  const format = meta.format ?? 'unknown'
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
  const { data, info } = await resizeFor(sharp(bytes, options).rotate().toColourspace('srgb').removeAlpha(), width, height, model)
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
    .catch((err: Error) => { throw mapSharpError(err) })
  if (info.channels !== 3) throw new InvalidImage(`decoded to ${info.channels} channels, expected 3`)
  return { pixels: data, width: info.width, height: info.height, originalWidth: width, originalHeight: height }
}

function resizeFor (img: Sharp, width: number, height: number, model: Pick<ModelSpec, 'input' | 'preprocess'>): Sharp {
  const { input, preprocess } = model
  const r = preprocess.resize
  switch (r.mode) {
    case 'center-crop':
      return img.resize({ width: r.shorterSide, height: r.shorterSide, fit: 'outside' })
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

function mapSharpError (err: Error): Error {
  const msg = err.message
  if (/pixel limit/i.test(msg)) return new ImageTooLarge(msg)
  if (/unsupported image format/i.test(msg)) return new InvalidImage('the bytes are not an image in a format this server reads')
  return new InvalidImage(msg.split('\n')[0]!)
}
