// The image bytes of an inference request: the raw body (Content-Type: image/* or
// application/octet-stream) or the one file part of a multipart/form-data body.
import type { FastifyRequest } from 'fastify'
import { EmptyBody, MissingFile, TooManyFiles } from '../errors.js'

export const RAW_IMAGE_TYPES = /^(image\/[a-z0-9.+-]+|application\/octet-stream)(\s*;.*)?$/i

export async function readImage (request: FastifyRequest): Promise<Buffer> {
  if (request.isMultipart()) return readMultipartFile(request)
  const body = request.body
  if (!Buffer.isBuffer(body) || body.length === 0) throw new EmptyBody()
  return body
}

async function readMultipartFile (request: FastifyRequest): Promise<Buffer> {
  let file: Buffer | null = null
  for await (const part of request.parts()) {
    if (part.type !== 'file') continue // text fields are ignored
    if (file !== null) {
      await part.toBuffer() // drain it, then refuse
      throw new TooManyFiles()
    }
    file = await part.toBuffer()
  }
  if (file === null) throw new MissingFile()
  if (file.length === 0) throw new EmptyBody()
  return file
}
