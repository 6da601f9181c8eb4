// One error format for every answer that is not a success: `{ statusCode, error, message }`
// where `error` is a stable code from errors.ts. Fastify's and @fastify/multipart's own errors
// are mapped onto ours; 429 and 503 carry Retry-After. A 500 means a bug and is logged as one.
import type { FastifyError, FastifyInstance } from 'fastify'
import { InvalidQuery, PayloadTooLarge, RouteNotFound, UnsupportedMediaType, RequestTimeout, InvalidImage, TooManyFiles } from '../errors.js'

interface Mapped { statusCode: number, code: string, message: string, retryAfter?: number | undefined }

export function installErrorHandling (app: FastifyInstance, maxBodyBytes: number): void {
  app.setNotFoundHandler((request, reply) => {
    const e = new RouteNotFound(request.method, request.url.split('?')[0])
    void reply.code(404).send({ statusCode: 404, error: e.code, message: e.message })
  })

  app.setErrorHandler((err: FastifyError & { retryAfter?: number }, request, reply) => {
    const m = map(err, request.headers['content-type'], maxBodyBytes)
    if (m.statusCode >= 500 && m.statusCode !== 503) request.log.error({ err }, 'unhandled error')
    if (m.retryAfter !== undefined) void reply.header('retry-after', String(m.retryAfter))
    void reply.code(m.statusCode).send({ statusCode: m.statusCode, error: m.code, message: m.message })
  })
}

function map (err: FastifyError & { retryAfter?: number }, contentType: string | undefined, maxBodyBytes: number): Mapped {
  if (err.validation) {
    const v = err.validation[0]
    const field = v?.instancePath ? v.instancePath.replace(/^\//, '') : (v?.params as { missingProperty?: string } | undefined)?.missingProperty ?? ''
    return asMapped(new InvalidQuery(`${field ? `${field} ` : ''}${v?.message ?? err.message}`))
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return asMapped(new UnsupportedMediaType(contentType ?? '(none)'))
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return asMapped(new PayloadTooLarge(maxBodyBytes))
    case 'FST_FILES_LIMIT':
      return asMapped(new TooManyFiles())
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_PROTO_VIOLATION':
      return { statusCode: 400, code: 'SY_BAD_REQUEST', message: err.message }
    case 'FST_ERR_CTP_INVALID_PLUGIN':
      break
  }
  if (err.code === 'ECONNRESET' || /aborted|Unexpected end of (form|multipart)/i.test(err.message)) {
    return asMapped(err.code === 'ECONNRESET' ? new RequestTimeout() : new InvalidImage(`malformed multipart body: ${err.message}`))
  }
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 600 && typeof err.code === 'string' && err.code.startsWith('SY_')) {
    return { statusCode: status, code: err.code, message: err.message, retryAfter: err.retryAfter }
  }
  if (status >= 400 && status < 500) return { statusCode: status, code: err.code ?? 'SY_BAD_REQUEST', message: err.message }
  return { statusCode: 500, code: 'SY_INTERNAL', message: 'Internal server error' }
}

function asMapped (e: FastifyError & { retryAfter?: number }): Mapped {
  return { statusCode: e.statusCode ?? 500, code: e.code, message: e.message, retryAfter: e.retryAfter }
}
