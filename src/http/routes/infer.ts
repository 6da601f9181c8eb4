// POST /classify[/:model] and POST /detect[/:model]: the request's path through the server.
//   read body → decode/resize (sharp, gated by class) → router → device queue and batcher
//   → worker (tensor, run, decode) → this response
import { performance } from 'node:perf_hooks'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../../config/schema.js'
import type { DeviceSet } from '../../devices/device-set.js'
import { InvalidHeader, ModelNotFound, Overloaded, VariantNotFound, withRetryAfter } from '../../errors.js'
import type { Metrics } from '../../metrics/metrics.js'
import type { ModelInfo } from '../../models/model-spec.js'
import { MOST_ACCURATE, requestedVariant, resolveModelName } from '../../models/variants.js'
import type { DecodeGate } from '../../preprocess/decode-gate.js'
import { decodeImage } from '../../preprocess/decode-image.js'
import type { Dispatcher } from '../../router/dispatcher.js'
import type { ItemParams } from '../../worker/protocol.js'
import { annotate } from '../answer-headers.js'
import { readImage } from '../read-image.js'
import { checkQueryNumbers, requestOptions } from '../request-options.js'
import { round } from '../../util/format.js'

export interface InferRouteOptions {
  config: Config
  models: ReadonlyMap<string, ModelInfo>
  dispatcher: Dispatcher
  gate: DecodeGate
  metrics: Metrics
  devices: DeviceSet
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
    inference: { model: string, device: string, variant: string }
  }
}

export async function inferRoutes (app: FastifyInstance, opts: InferRouteOptions): Promise<void> {
  const { config, models, dispatcher, gate, metrics, devices } = opts

  /**
   * The variant a request runs on (undefined: whichever the chosen device loads): the alias in
   * the URL, or X-Switchyard-Variant; 404 when no device loads it (on the pinned device, if any).
   */
  const variantOf = (model: ModelInfo, aliasVariant: string | undefined, header: string | undefined, pinned: string | undefined): string | undefined => {
    if (aliasVariant !== undefined && header !== undefined && header !== aliasVariant) {
      throw new InvalidHeader('X-Switchyard-Variant', `the model name in the URL already means variant ${aliasVariant} of ${model.name}`)
    }
    const asked = aliasVariant ?? header
    if (asked === undefined) return undefined
    if (asked !== MOST_ACCURATE && !model.variants.some((v) => v.name === asked)) {
      throw new VariantNotFound(asked, model.name, ` (its variants: ${model.variants.map((v) => v.name).join(', ')})`)
    }
    const on = devices.devices.filter((d) => pinned === undefined || d.id === pinned)
    const loaded = new Set(on.flatMap((d) => { const v = d.lanes.get(model.name)?.variant; return v === undefined ? [] : [v] }))
    const healthy = new Set(on.filter((d) => d.healthy).flatMap((d) => { const v = d.lanes.get(model.name)?.variant; return v === undefined ? [] : [v] }))
    const variant = requestedVariant(model, asked, healthy.size > 0 ? healthy : loaded)
    if (variant !== undefined && !loaded.has(variant)) {
      throw new VariantNotFound(variant, model.name, `${pinned === undefined ? '' : ` on device ${pinned}`}: no device loads it (loaded: ${[...loaded].join(', ') || 'none'})`)
    }
    return variant
  }
  app.decorateRequest('inference', null as unknown as FastifyRequest['inference'])

  for (const task of ['classify', 'detect'] as const) {
    const handler = async (request: FastifyRequest<{ Querystring: Query, Params: Params }>, reply: FastifyReply) => {
      const started = performance.now()
      const name = request.params.model ?? config.routes[task]
      request.inference = { model: name, device: '', variant: '' }
      const resolved = resolveModelName(name, models)
      if (!resolved || resolved.model.task !== task) throw new ModelNotFound(task === 'classify' ? 'classification' : 'detection', name)
      const model = resolved.model
      request.inference.model = model.name
      checkQueryNumbers(request.query as Record<string, unknown>)
      const ro = requestOptions(request.headers, config.routing)
      const variant = variantOf(model, resolved.variant, ro.variant, ro.pinned)
      const deadline = started + ro.deadlineMs
      const q = request.query
      const itemParams: ItemParams = task === 'classify'
        ? { topK: q.top_k }
        : { scoreThreshold: q.score_threshold, iouThreshold: q.iou_threshold }
      const bytes = await readImage(request)
      const routing = { policy: ro.policy, deadline, pinned: ro.pinned, variant }
      dispatcher.admit(model.name, routing) // refuse now rather than after decoding

      // the decode gate has two classes: cost requests are batched work, like throughput
      const release = await gate.acquire(ro.policy === 'latency' ? 'latency' : 'throughput')
      if (release === null) {
        metrics.rejected('', model.name, ro.policy, 'decode-queue-full')
        throw withRetryAfter(new Overloaded('too many images waiting to be decoded'), 1)
      }
      const decodeStart = performance.now()
      let image
      try {
        image = await decodeImage(bytes, model, config.images)
      } finally {
        release()
      }
      const decodeMs = performance.now() - decodeStart

      const done = await dispatcher.dispatch(model.name, image, itemParams, routing,
        () => decodeImage(bytes, model, config.images))
      const ran = devices.get(done.device)?.lanes.get(model.name)?.variant ?? ''
      request.inference.device = done.device
      request.inference.variant = ran
      const totalMs = performance.now() - started
      const labels = { device: done.device, model: model.name, policy: ro.policy }
      metrics.decode.observe(labels, decodeMs / 1000)
      metrics.queueWait.observe(labels, done.queueMs / 1000)
      metrics.inference.observe(labels, done.inferenceMs / 1000)
      metrics.request.observe(labels, totalMs / 1000)

      annotate(reply, { ...done, policy: ro.policy, decodeMs, totalMs, variant: ran })
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
        ? { model: model.name, variant: ran, device: done.device, batchSize: done.batchSize, policy: ro.policy, predictions: r.predictions, timing }
        : { model: model.name, variant: ran, device: done.device, batchSize: done.batchSize, policy: ro.policy, width: r.width, height: r.height, detections: r.detections, timing }
    }
    const schema = { querystring: task === 'classify' ? classifyQuery : detectQuery, params }
    app.post(`/${task}`, { schema }, handler)
    app.post(`/${task}/:model`, { schema }, handler)
  }
}
