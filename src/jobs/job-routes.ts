// POST /jobs[/:model] → 202 { id, statusUrl }; GET /jobs/:id → state, progress, results.
// Auth: with API keys configured, both need a key (as the inference routes: Bearer or
// X-API-Key); a job belongs to the key that submitted it, and another key gets 404 for it,
// as for a job that does not exist. Every check — model, policy, parameters, the images
// themselves, the per-job and per-key limits, the callback host — runs before the job is queued.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.js'
import { Forbidden, InvalidHeader, InvalidQuery, JobNotFound, JobQuotaExceeded, JobsUnavailable, ModelNotFound, Unauthorized, withRetryAfter } from '../errors.js'
import { KeyRing, presentedKey } from '../http/auth.js'
import type { Metrics } from '../metrics/metrics.js'
import type { ModelInfo } from '../models/model-spec.js'
import { resolveModelName } from '../models/variants.js'
import type { ItemParams } from '../worker/protocol.js'
import { jobSummary } from './completion-callback.js'
import type { JobBackend, JobMeta, JobPolicy } from './job-types.js'
import { readSubmission } from './job-submission.js'

export interface JobRouteOptions {
  config: Config
  models: ReadonlyMap<string, ModelInfo>
  backend: JobBackend
  metrics: Metrics
}

interface Query { top_k?: string, score_threshold?: string, iou_threshold?: string, callback?: string }

export async function jobRoutes (app: FastifyInstance, opts: JobRouteOptions): Promise<void> {
  const { config, models, backend, metrics } = opts
  const ring = new KeyRing(config.auth.apiKeys)

  /** the key's name ('' with auth off) and the models it may use (null: all) */
  const principal = (request: FastifyRequest, reply: FastifyReply): { name: string, models: ReadonlySet<string> | null } => {
    if (ring.size === 0) return { name: '', models: null }
    const key = presentedKey(request)
    const who = key === null ? null : ring.identify(key)
    if (who === null) {
      void reply.header('www-authenticate', `Bearer realm="switchyard"${key === null ? '' : ', error="invalid_token"'}`)
      throw new Unauthorized()
    }
    request.log = request.log.child({ apiKey: who.name })
    return who
  }

  const submit = async (request: FastifyRequest<{ Params: { model?: string }, Querystring: Query }>, reply: FastifyReply) => {
    const who = principal(request, reply)
    const name = request.params.model ?? config.routes.classify
    const resolved = resolveModelName(name, models)
    if (resolved === undefined) throw new ModelNotFound('classification or detection', name)
    const model = resolved.model
    if (who.models !== null && !who.models.has(model.name)) throw new Forbidden(model.name)
    const policy = jobPolicy(request.headers['x-switchyard-policy'])
    const params = itemParams(model.task, request.query)
    const sub = await readSubmission(request, config)
    const outstanding = await queueCall(() => backend.outstanding(who.name))
    if (outstanding + sub.images.length > config.jobs.maxOutstandingPerKey) {
      throw withRetryAfter(new JobQuotaExceeded(outstanding, sub.images.length, config.jobs.maxOutstandingPerKey), 10)
    }
    const meta: JobMeta = {
      id: randomUUID(),
      key: who.name,
      model: model.name,
      task: model.task,
      policy,
      params,
      images: sub.images.length,
      names: sub.names,
      createdAt: Date.now(),
      callback: sub.callback
    }
    await queueCall(() => backend.submit(meta, sub.images))
    metrics.jobsSubmitted.inc({ model: model.name }, sub.images.length)
    request.log.info({ job: meta.id, model: model.name, images: meta.images }, 'job queued')
    const statusUrl = `/jobs/${meta.id}`
    void reply.code(202).header('location', statusUrl)
    return { id: meta.id, state: 'queued', model: model.name, images: meta.images, statusUrl }
  }
  const security: Array<Record<string, string[]>> = [{ bearer: [] }, { apiKey: [] }]
  const query = {
    type: 'object',
    properties: {
      top_k: { type: 'string', description: 'classify: 1–1000' },
      score_threshold: { type: 'string', description: 'detect: 0–1' },
      iou_threshold: { type: 'string', description: 'detect: 0–1' },
      callback: { type: 'string', description: 'URL POSTed the job summary when it is done (jobs.callbacks.allowedHosts only)' }
    }
  }
  const description = 'Queues images as one job and answers 202 {id, state, model, images, statusUrl} (Location: statusUrl). Body: one image (image/*, application/octet-stream), a batch (multipart/form-data, every file part an image), or application/json {"urls": [...], "callback"?: "..."} fetched from jobs.urls.allowedHosts only. X-Switchyard-Policy: throughput (default) or cost. Everything is checked before anything is queued.'
  app.post('/jobs', { schema: { tags: ['jobs'], summary: 'Submit a job (the default classifier)', description, querystring: query, security } }, submit)
  app.post('/jobs/:model', { schema: { tags: ['jobs'], summary: 'Submit a job to a model', description, querystring: query, params: { type: 'object', properties: { model: { type: 'string' } }, required: ['model'] }, security } }, submit)

  app.get('/jobs/:id', { schema: { tags: ['jobs'], summary: 'A job: state, progress, and one result per image (only for the key that submitted it)', params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] }, security } }, async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const who = principal(request, reply)
    const id = request.params.id
    const job = /^[0-9a-f-]{36}$/.test(id) ? await queueCall(() => backend.get(id)) : null
    if (job === null || job.meta.key !== who.name) throw new JobNotFound(id.slice(0, 64))
    return {
      ...jobSummary(job),
      task: job.meta.task,
      policy: job.meta.policy,
      progress: job.meta.images === 0 ? 1 : job.results.length / job.meta.images,
      createdAt: new Date(job.meta.createdAt).toISOString(),
      finishedAt: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
      results: job.results.map((r) => ({ index: r.index, name: job.meta.names[r.index], ok: r.ok, replica: r.replica, device: r.device, storedAt: new Date(r.at).toISOString(), ...r.output, ...(r.error ? { error: r.error } : {}) }))
    }
  })
}

/** The queue (NATS) unreachable is a 503 with Retry-After, not a 500. */
async function queueCall<T> (fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (typeof (err as { statusCode?: number }).statusCode === 'number') throw err
    throw withRetryAfter(new JobsUnavailable((err as Error).message), 5)
  }
}

function jobPolicy (header: string | string[] | undefined): JobPolicy {
  if (header === undefined) return 'throughput'
  const p = (Array.isArray(header) ? header[0]! : header).trim().toLowerCase()
  if (p === 'throughput' || p === 'cost') return p
  throw new InvalidHeader('X-Switchyard-Policy', `a job runs as "throughput" (default) or "cost", got "${p.slice(0, 32)}"`)
}

function itemParams (task: ModelInfo['task'], q: Query): ItemParams {
  const num = (name: keyof Query, min: number, max: number, integer: boolean): number | undefined => {
    const raw = q[name]
    if (raw === undefined) return undefined
    const n = Number(raw)
    if (raw === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) throw new InvalidQuery(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`)
    return n
  }
  if (task === 'classify') {
    const topK = num('top_k', 1, 1000, true)
    return topK === undefined ? {} : { topK }
  }
  const scoreThreshold = num('score_threshold', 0, 1, false)
  const iouThreshold = num('iou_threshold', 0, 1, false)
  return { ...(scoreThreshold === undefined ? {} : { scoreThreshold }), ...(iouThreshold === undefined ? {} : { iouThreshold }) }
}
