// The image bytes of an inference request: the raw body (Content-Type: image/* or
// application/octet-stream) or the one file part of a multipart/form-data body, whatever its
// field name. Any other Content-Type is 415, even where Fastify has a parser for it (JSON, text).
import type { FastifyRequest } from 'fastify'
import { EmptyBody, InvalidMultipart, MissingFile, TooManyFiles, UnsupportedMediaType } from '../errors.js'

export const RAW_IMAGE_TYPES = /^(image\/[a-z0-9.+-]+|application\/octet-stream)(\s*;.*)?$/i
const MULTIPART_FORM = /^multipart\/form-data(\s*;.*)?$/i

/** true for the Content-Types an inference request may carry */
export function isImageContentType (contentType: string | undefined): boolean {
  return contentType !== undefined && (RAW_IMAGE_TYPES.test(contentType) || MULTIPART_FORM.test(contentType))
}

export async function readImage (request: FastifyRequest): Promise<Buffer> {
  if (request.isMultipart()) return readMultipartFile(request)
  const contentType = request.headers['content-type']
  const body = request.body
  // no Content-Type reaches here only with no body (Fastify answers 415 when there is one)
  if (contentType !== undefined && !RAW_IMAGE_TYPES.test(contentType)) throw new UnsupportedMediaType(contentType)
  if (!Buffer.isBuffer(body) || body.length === 0) throw new EmptyBody()
  return body
}

async function readMultipartFile (request: FastifyRequest): Promise<Buffer> {
  let file: Buffer | null = null
  try {
    for await (const part of request.parts()) {
      if (part.type !== 'file') continue // text fields are ignored
      if (file !== null) {
        await part.toBuffer() // drain it, then refuse
        throw new TooManyFiles()
      }
      file = await part.toBuffer()
    }
  } catch (err) {
    throw multipartError(err as Error & { code?: string })
  }
  if (file === null) throw new MissingFile()
  if (file.length === 0) throw new EmptyBody()
  return file
}

/**
 * Errors that carry a code (ours, @fastify/multipart's limits) go on to the error handler;
 * the parser's own (busboy: no boundary, truncated body, bad part headers) are the client's
 * malformed body.
 */
function multipartError (err: Error & { code?: string }): Error {
  if (typeof err.code === 'string' && (err.code.startsWith('SY_') || err.code.startsWith('FST_') || err.code === 'ECONNRESET')) return err
  if (/aborted/i.test(err.message)) return err
  return new InvalidMultipart(err.message)
}
