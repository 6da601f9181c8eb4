// The Open Inference Protocol's model repository extension (Triton's), under /v2/repository:
//   POST /v2/repository/index                    every model with its versions and states (open)
//   POST /v2/repository/models/{name}/load       load or reload a plain model (admin key)
//   POST /v2/repository/models/{name}/unload     unload it: drained, then released (admin key)
// What they act on is the LiveRepository (models/live-repository.ts). Load answers once the
// versions its policy selects are warmed, calibrated and taking traffic, or 422
// SY_MODEL_LOAD_REFUSED with the reason (whatever served before keeps serving).
import type { FastifyInstance } from 'fastify'
import type { Config } from '../../config/schema.js'
import type { LiveRepository } from '../../models/live-repository.js'
import { requireAdminKey } from '../admin-key.js'

export interface RepositoryRouteOptions {
  config: Config
  repository: LiveRepository
}

const IndexEntry = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    state: { type: 'string', enum: ['LOADING', 'READY', 'UNLOADING', 'UNAVAILABLE'] },
    reason: { type: 'string' }
  }
} as const
const params = { type: 'object', properties: { name: { type: 'string', maxLength: 128 } }, required: ['name'] } as const
const ADMIN_HEADER = { type: 'object', properties: { 'x-switchyard-admin-key': { type: 'string', description: 'one of auth.adminKeys' } } } as const

export async function repositoryRoutes (app: FastifyInstance, opts: RepositoryRouteOptions): Promise<void> {
  const { repository } = opts
  // any body (tritonclient sends JSON, curl often none): read as bytes, parsed only for `ready`
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_req, body, done) => done(null, body))

  app.post('/index', {
    schema: {
      summary: 'The model repository: every model and version with its state (body {"ready": true}: ready ones only)',
      tags: ['repository'],
      response: { 200: { type: 'array', items: IndexEntry } }
    }
  }, async (request) => {
    const body = request.body
    let ready = false
    if (Buffer.isBuffer(body) && body.length > 0) {
      try { ready = (JSON.parse(body.toString('utf8')) as { ready?: unknown })?.ready === true } catch { /* not JSON: the full index */ }
    }
    return repository.index(ready)
  })

  await app.register(async function admin (scope) {
    requireAdminKey(scope, opts.config)
    const schema = (summary: string) => ({ summary, tags: ['repository'], params, headers: ADMIN_HEADER, response: { 200: { type: 'object', properties: {} } } })
    scope.post<{ Params: { name: string } }>('/models/:name/load', { schema: schema('Load or reload a plain ONNX model of the repository: the versions its policy selects, warmed and calibrated before they take traffic (admin key)') }, async (request) => {
      await repository.load(request.params.name)
      return {}
    })
    scope.post<{ Params: { name: string } }>('/models/:name/unload', { schema: schema('Unload a model: it takes no new requests, what is queued for it runs, then its sessions are released (admin key)') }, async (request) => {
      await repository.unload(request.params.name)
      return {}
    })
  })
}
