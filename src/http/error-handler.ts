// One error format for every answer that is not a success: `{ statusCode, error, message }`
// where `error` is a stable SY_* code from errors.ts. Fastify's and @fastify/multipart's own
// errors are mapped onto ours; 429 and 503 carry Retry-After. A 500 means a bug and is logged
// as one. Two kinds of error never reach a route's error handler and need Fastify options in
// app.ts to get the same body: `frameworkErrors` (bad URL encoding, a path parameter longer
// than the router's maxParamLength) and `clientErrorHandler` (requests Node's HTTP parser
// refuses). Both are exported below.
//
// Under /v2 (the Open Inference Protocol) the same errors are answered in the protocol's
// shape, `{ error: message }`, with the SY_* code in an X-Switchyard-Error header: one mapping,
// two spellings, chosen by the request's path.
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  BadRequest, HeadersTooLarge, Internal, InvalidMultipart, InvalidQuery, ModelNotFound, PayloadTooLarge,
  RequestTimeout, RouteNotFound, TooManyFiles, TooManyParts, UnsupportedMediaType,
  type RetryAfter
} from '../errors.js'
import { isImageContentType } from './read-image.js'
import { clip } from '../util/format.js'

interface Mapped { statusCode: number, code: string, message: string, retryAfter?: number | undefined }
type AnyError = FastifyError & RetryAfter & { validationContext?: string }

export function installErrorHandling (app: FastifyInstance, maxBodyBytes: number): void {
  app.setNotFoundHandler((request, reply) => {
    send(reply, asMapped(new RouteNotFound(request.method, clip(request.url.split('?')[0]!))), request)
  })

  app.setErrorHandler((err: AnyError, request, reply) => {
    const m = map(err, request, maxBodyBytes)
    if (m.statusCode >= 500 && m.statusCode !== 503 && m.statusCode !== 504) request.log.error({ err }, 'unhandled error')
    send(reply, m, request)
  })
}

/** Fastify's `frameworkErrors` option: errors raised before a route is found. */
export function frameworkErrors (maxBodyBytes: number) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    send(reply, map(err, request, maxBodyBytes), request)
  }
}

/** Fastify's `clientErrorHandler` option: a request Node's HTTP parser could not read. */
export function clientErrorHandler (err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const e = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? new RequestTimeout()
    : err.code === 'HPE_HEADER_OVERFLOW' ? new HeadersTooLarge() : new BadRequest('the HTTP request could not be parsed')
  const status = e.statusCode ?? 400
  const body = JSON.stringify({ statusCode: status, error: e.code, message: e.message })
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/** true for the Open Inference Protocol's paths (/v2, /v2/…) */
export function isProtocolPath (url: string): boolean {
  return /^\/v2(?:[/?#]|$)/.test(url)
}

function send (reply: FastifyReply, m: Mapped, request: FastifyRequest): void {
  if (m.retryAfter !== undefined) void reply.header('retry-after', String(m.retryAfter))
  if (isProtocolPath(request.url)) {
    void reply.code(m.statusCode).header('x-switchyard-error', m.code).type('application/json; charset=utf-8').send({ error: m.message })
    return
  }
  void reply.code(m.statusCode).send({ statusCode: m.statusCode, error: m.code, message: m.message })
}

function map (err: AnyError, request: FastifyRequest, maxBodyBytes: number): Mapped {
  const contentType = request.headers['content-type']
  if (err.validation) {
    const v = err.validation[0]
    if (err.validationContext === 'params') return asMapped(modelNotFound(request))
    const field = v?.instancePath ? v.instancePath.replace(/^\//, '') : (v?.params as { missingProperty?: string } | undefined)?.missingProperty ?? ''
    return asMapped(new InvalidQuery(`${field ? `${field} ` : ''}${v?.message ?? err.message}`))
  }
  const code = typeof err.code === 'string' ? err.code : ''
  // Fastify parsed (JSON, text) or failed to parse a body of a type this API never accepts
  // (the protocol's routes take any type: their parser is a catch-all)
  if (code.startsWith('FST_ERR_CTP_') && contentType !== undefined && !isImageContentType(contentType) && !isProtocolPath(request.url)) {
    return asMapped(new UnsupportedMediaType(clip(contentType)))
  }
  switch (code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return asMapped(new UnsupportedMediaType(clip(contentType ?? '(none)')))
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return asMapped(new PayloadTooLarge(maxBodyBytes))
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return asMapped(new TooManyParts())
    case 'FST_FILES_LIMIT':
      return asMapped(new TooManyFiles())
    case 'FST_PROTO_VIOLATION':
    case 'FST_INVALID_JSON_FIELD_ERROR':
    case 'FST_MP_PREMATURE_CLOSE':
      return asMapped(new InvalidMultipart(err.message))
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return asMapped(modelNotFound(request))
    case 'FST_ERR_BAD_URL':
      return asMapped(new BadRequest('the URL is not valid (bad percent-encoding?)'))
    case 'ECONNRESET':
      return asMapped(new RequestTimeout())
  }
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 600 && code.startsWith('SY_')) {
    return { statusCode: status, code, message: err.message, retryAfter: err.retryAfter }
  }
  if (/aborted/i.test(err.message)) return asMapped(new RequestTimeout()) // the client went away mid-body
  if (status >= 400 && status < 500) {
    // someone else's 4xx (Fastify, a plugin): the status family it names, with our code
    switch (status) {
      case 404: return asMapped(new RouteNotFound(request.method, clip(request.url.split('?')[0]!)))
      case 408: return asMapped(new RequestTimeout())
      case 413: return asMapped(new PayloadTooLarge(maxBodyBytes))
      case 415: return asMapped(new UnsupportedMediaType(clip(contentType ?? '(none)')))
      default: return asMapped(new BadRequest(err.message))
    }
  }
  return asMapped(new Internal())
}

/** a path parameter that cannot name a model (too long for the router or the schema) */
function modelNotFound (request: FastifyRequest): FastifyError {
  const [, task = '', name = '', v2Name = ''] = request.url.split('?')[0]!.split('/')
  if (isProtocolPath(request.url)) return new ModelNotFound('served', clip(safeDecode(v2Name)))
  const kind = task === 'classify' ? 'classification' : task === 'detect' ? 'detection' : task
  return new ModelNotFound(kind, clip(safeDecode(name)))
}

function safeDecode (s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

function asMapped (e: FastifyError & RetryAfter): Mapped {
  return { statusCode: e.statusCode ?? 500, code: e.code, message: e.message, retryAfter: e.retryAfter }
}
