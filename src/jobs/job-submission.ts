// What POST /jobs accepts, read and checked in full before anything is queued:
//   - one image as the raw body (image/*, application/octet-stream)
//   - a batch as multipart/form-data: every file part is one image (text field `callback`
//     optional)
//   - application/json { "urls": [...], "callback"?: "..." }: the server fetches each URL at
//     submission — only from jobs.urls.allowedHosts, no redirects, each within images.maxBodyBytes —
//     so an unreachable or non-image URL is the submitter's 4xx now, not a failed result later.
// Every image's header is checked (format, size) as the HTTP path checks it; limits: images per
// job (jobs.maxImages), bytes per job (jobs.maxBytes).
import type { FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.js'
import { EmptyBody, InvalidJob, JobTooLarge, JobTooManyImages, PayloadTooLarge, UnsupportedMediaType, UrlFetchFailed } from '../errors.js'
import { RAW_IMAGE_TYPES } from '../http/read-image.js'
import { inspectImage } from '../preprocess/decode-image.js'
import { checkAllowedUrl } from './allowed-hosts.js'

export interface Submission {
  images: Buffer[]
  names: string[]
  callback: string | null
}

export async function readSubmission (request: FastifyRequest, config: Config): Promise<Submission> {
  const sub = await readBody(request, config)
  if (sub.images.length === 0) throw new EmptyBody()
  if (sub.callback !== null) checkAllowedUrl(sub.callback, config.jobs.callbacks.allowedHosts, 'callback')
  for (let i = 0; i < sub.images.length; i++) {
    try {
      await inspectImage(sub.images[i]!, config.images)
    } catch (err) {
      const e = err as Error
      e.message = `image ${i} (${sub.names[i]}): ${e.message}`
      throw e
    }
  }
  return sub
}

async function readBody (request: FastifyRequest, config: Config): Promise<Submission> {
  const { maxImages, maxBytes } = config.jobs
  const query = request.query as { callback?: string }
  const callback = typeof query.callback === 'string' && query.callback !== '' ? query.callback : null
  if (request.isMultipart()) {
    const images: Buffer[] = []
    const names: string[] = []
    let total = 0
    let cb = callback
    for await (const part of request.parts({ limits: { files: maxImages + 1, fileSize: config.images.maxBodyBytes, fields: 4, parts: maxImages + 5 } })) {
      if (part.type === 'field') {
        if (part.fieldname === 'callback' && typeof part.value === 'string') cb = part.value
        continue
      }
      const data = await part.toBuffer()
      if (part.file.truncated) throw new PayloadTooLarge(config.images.maxBodyBytes)
      if (images.length >= maxImages) throw new JobTooManyImages(maxImages)
      total += data.length
      if (total > maxBytes) throw new JobTooLarge(maxBytes)
      if (data.length === 0) throw new InvalidJob(`file part ${images.length} (${part.filename}) is empty`)
      images.push(data)
      names.push(part.filename ?? `part-${images.length - 1}`)
    }
    return { images, names, callback: cb }
  }
  const type = request.headers['content-type'] ?? ''
  if (/^application\/json\b/i.test(type)) {
    const body = request.body as { urls?: unknown, callback?: unknown } | null
    if (body === null || typeof body !== 'object' || !Array.isArray(body.urls) || body.urls.some((u) => typeof u !== 'string')) {
      throw new InvalidJob('a JSON job is { "urls": ["https://…", …], "callback"?: "https://…" }')
    }
    const urls = body.urls as string[]
    if (urls.length > maxImages) throw new JobTooManyImages(maxImages)
    if (body.callback !== undefined && typeof body.callback !== 'string') throw new InvalidJob('callback is a URL string')
    const cb = (body.callback as string | undefined) ?? callback
    if (cb !== null) checkAllowedUrl(cb, config.jobs.callbacks.allowedHosts, 'callback')
    const checked = urls.map((u) => checkAllowedUrl(u, config.jobs.urls.allowedHosts, 'image URL')) // all before any fetch
    const images = await fetchAll(checked, config)
    return { images, names: urls, callback: cb }
  }
  if (!RAW_IMAGE_TYPES.test(type)) throw new UnsupportedMediaType(type === '' ? '(none)' : type)
  const body = request.body
  if (!Buffer.isBuffer(body) || body.length === 0) throw new EmptyBody()
  if (body.length > maxBytes) throw new JobTooLarge(maxBytes)
  return { images: [body], names: ['body'], callback }
}

/** Fetches the URLs a few at a time; the first failure refuses the whole job. */
async function fetchAll (urls: URL[], config: Config): Promise<Buffer[]> {
  const out: Buffer[] = new Array(urls.length)
  let total = 0
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < urls.length) {
      const i = next++
      const b = await fetchImage(urls[i]!, config)
      total += b.length
      if (total > config.jobs.maxBytes) throw new JobTooLarge(config.jobs.maxBytes)
      out[i] = b
    }
  }
  await Promise.all(Array.from({ length: Math.min(4, urls.length) }, worker))
  return out
}

async function fetchImage (url: URL, config: Config): Promise<Buffer> {
  const limit = config.images.maxBodyBytes
  let res: Response
  try {
    res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(config.jobs.urls.timeoutMs) })
  } catch (err) {
    throw new UrlFetchFailed(url.href, (err as Error).message)
  }
  if (res.status >= 300 && res.status < 400) { void res.body?.cancel(); throw new UrlFetchFailed(url.href, `redirects are not followed (HTTP ${res.status})`) }
  if (!res.ok) { void res.body?.cancel(); throw new UrlFetchFailed(url.href, `HTTP ${res.status}`) }
  const length = Number(res.headers.get('content-length') ?? NaN)
  if (length > limit) { void res.body?.cancel(); throw new PayloadTooLarge(limit) }
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of (res.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length
      if (size > limit) throw new PayloadTooLarge(limit)
      chunks.push(Buffer.from(chunk))
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'SY_PAYLOAD_TOO_LARGE') throw err
    throw new UrlFetchFailed(url.href, (err as Error).message)
  }
  return Buffer.concat(chunks)
}
