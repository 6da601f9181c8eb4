// POST /classify[/:model] and POST /detect[/:model]: the request's path through the server.
//   read body → decode/resize (sharp, gated by class) → router → device queue and batcher
//   → worker (tensor, run, decode) → this response
import { performance } from 'node:perf_hooks'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../../config/schema.js'
import { ModelNotFound, Overloaded } from '../../errors.js'
import type { Metrics } from '../../metrics/metrics.js'
import type { ModelInfo } from '../../models/model-spec.js'
import type { DecodeGate } from '../../preprocess/decode-gate.js'
import { decodeImage } from '../../preprocess/decode-image.js'
import type { Dispatcher } from '../../router/dispatcher.js'
import type { ItemParams } from '../../worker/protocol.js'
import { readImage } from '../read-image.js'
import { checkQueryNumbers, requestOptions } from '../request-options.js'
import { round } from '../../util/format.js'

export interface InferRouteOptions {
  config: Config
  models: ReadonlyMap<string, ModelInfo>
  dispatcher: Dispatcher
  gate: DecodeGate
  metrics: Metrics
}

interface Query { top_k?: number, score_threshold?: number, iou_threshold?: number }
interface Params { model?: string }

const classifyQuery = {
  type: 'object',
  properties: { top_k: { type: 'integer', minimum: 1, maximum: 1000 } }
} as const
const detectQuery = {
  type: 'object',
  properties: {
    score_threshold: { type: 'number', minimum: 0, maximum: 1 },
    iou_threshold: { type: 'number', minimum: 0, maximum: 1 }
  }
} as const
const params = { type: 'object', properties: { model: { type: 'string', maxLength: 128 } } } as const

declare module 'fastify' {
  interface FastifyRequest {
    /** what the access log and the request counter report for an inference request */
    inference: { model: string, device: string }
  }
}

export async function inferRoutes (app: FastifyInstance, opts: InferRouteOptions): Promise<void> {
  const { config, models, dispatcher, gate, metrics } = opts
  app.decorateRequest('inference', null as unknown as FastifyRequest['inference'])

  for (const task of ['classify', 'detect'] as const) {
    const handler = async (request: FastifyRequest<{ Querystring: Query, Params: Params }>, reply: FastifyReply) => {
      const started = performance.now()
      const name = request.params.model ?? config.routes[task]
      request.inference = { model: name, device: '' }
      const model = models.get(name)
      if (!model || model.task !== task) throw new ModelNotFound(task === 'classify' ? 'classification' : 'detection', name)
      checkQueryNumbers(request.query as Record<string, unknown>)
      const ro = requestOptions(request.headers, config.routing)
      const deadline = started + ro.deadlineMs
      const q = request.query
      const itemParams: ItemParams = task === 'classify'
        ? { topK: q.top_k }
        : { scoreThreshold: q.score_threshold, iouThreshold: q.iou_threshold }
      const bytes = await readImage(request)
      const routing = { policy: ro.policy, deadline, pinned: ro.pinned }
      dispatcher.admit(name, routing) // refuse now rather than after decoding

      const release = await gate.acquire(ro.policy)
      if (release === null) {
        metrics.rejected.inc({ device: '', model: name, policy: ro.policy, reason: 'decode-queue-full' })
        throw Object.assign(new Overloaded('too many images waiting to be decoded'), { retryAfter: 1 })
      }
      const decodeStart = performance.now()
      let image
      try {
        image = await decodeImage(bytes, model, config.images)
      } finally {
        release()
      }
      const decodeMs = performance.now() - decodeStart

      const done = await dispatcher.dispatch(name, image, itemParams, routing,
        () => decodeImage(bytes, model, config.images))
      request.inference.device = done.device
      const totalMs = performance.now() - started
      const labels = { device: done.device, model: name, policy: ro.policy }
      metrics.decode.observe(labels, decodeMs / 1000)
      metrics.queueWait.observe(labels, done.queueMs / 1000)
      metrics.inference.observe(labels, done.inferenceMs / 1000)
      metrics.request.observe(labels, totalMs / 1000)

      void reply
        .header('x-switchyard-device', done.device)
        .header('x-switchyard-batch-size', String(done.batchSize))
        .header('x-switchyard-policy', ro.policy)
        .header('x-switchyard-predicted-ms', done.predictedMs.toFixed(1))
        .header('x-switchyard-actual-ms', (totalMs - decodeMs).toFixed(1))
        .header('server-timing', `decode;dur=${decodeMs.toFixed(2)}, queue;dur=${done.queueMs.toFixed(2)}, inference;dur=${done.inferenceMs.toFixed(2)}, postprocess;dur=${done.postprocessMs.toFixed(2)}, total;dur=${totalMs.toFixed(2)}`)
      const timing = {
        decodeMs: round(decodeMs),
        queueMs: round(done.queueMs),
        inferenceMs: round(done.inferenceMs),
        postprocessMs: round(done.postprocessMs),
        totalMs: round(totalMs),
        predictedMs: round(done.predictedMs)
      }
      const r = done.result
      return r.kind === 'classify'
        ? { model: name, device: done.device, batchSize: done.batchSize, policy: ro.policy, predictions: r.predictions, timing }
        : { model: name, device: done.device, batchSize: done.batchSize, policy: ro.policy, width: r.width, height: r.height, detections: r.detections, timing }
    }
    const schema = { querystring: task === 'classify' ? classifyQuery : detectQuery, params }
    // defaultModel: the model a path without :model asks for (the auth check reads it too)
    app.post(`/${task}`, { schema, config: { defaultModel: config.routes[task] } }, handler)
    app.post(`/${task}/:model`, { schema }, handler)
  }
}
