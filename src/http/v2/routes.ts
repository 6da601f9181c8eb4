// The Open Inference Protocol (KServe v2) over REST, beside /classify and /detect:
//   GET  /v2                                     server metadata
//   GET  /v2/health/live, /v2/health/ready       liveness, readiness (as /healthz, /readyz)
//   GET  /v2/models/{name}[/versions/{v}]        model metadata (model-io.ts; tensor-io.ts)
//   GET  /v2/models/{name}[/versions/{v}]/ready  200 when loaded on a healthy device, else 503
//   POST /v2/models/{name}[/versions/{v}]/infer  inference, JSON or binary (wire.ts)
// A configured model has version 1; a plain ONNX model of the repository (live-repository.ts)
// the versions served, each its own lane `<name>@<version>`, and its own tensors (tensor-io.ts).
// An infer request takes the path of POST /classify and /detect through the server: routing
// headers (requestOptions), then the request pipeline (router/request-pipeline.ts): admission
// before any decoding, decode slots (the gate, one per encoded image: a tensor input has
// nothing to decode), then every item of the request through Dispatcher.submitMany — admitted, queued and settled together, as
// the tiles of a tiled /detect are — with the same metrics, answer headers and API keys (auth.ts
// lists the infer URLs). Errors are the same SY_* errors, answered as `{ error }` under /v2
// (error-handler.ts).
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../../config/schema.js'
import { realClock } from '../../devices/clock.js'
import type { DeviceSet } from '../../devices/device-set.js'
import { InvalidInferRequest, ModelNotFound, ModelVersionNotFound } from '../../errors.js'
import { clientGone } from '../client-gone.js'
import type { Metrics } from '../../metrics/metrics.js'
import type { ModelInfo } from '../../models/model-spec.js'
import type { DecodeGate } from '../../preprocess/decode-gate.js'
import { decodeImage } from '../../preprocess/decode-image.js'
import type { DispatchOptions, Dispatched, Dispatcher } from '../../router/dispatcher.js'
import type { ArrivalRecord } from '../../router/arrival-record.js'
import { decodeWith, RequestPipeline, type EachItem } from '../../router/request-pipeline.js'
import { decoded, type PreparedImage } from '../../worker/protocol.js'
import { annotate } from '../answer-headers.js'
import { requestOptions } from '../request-options.js'
import { assembleOutputs, checkNames, maxJsonValues, modelMetadata, planInfer, type Plan } from './model-io.js'
import { encodeInferResponse, parseInferRequest } from './wire.js'
import type { LiveRepository } from '../../models/live-repository.js'
import { assembleTensors, planTensors, tensorJsonValues, tensorMetadata } from './tensor-io.js'

export interface V2RouteOptions {
  config: Config
  models: ReadonlyMap<string, ModelInfo>
  devices: DeviceSet
  dispatcher: Dispatcher
  gate: DecodeGate
  metrics: Metrics
  isShuttingDown: () => boolean
  /** which routes this registration adds: metadata and health (open), or infer (behind API keys) */
  surface: 'metadata' | 'infer'
  /** the plain ONNX models loaded at run time, with their versions */
  repository: LiveRepository
  /** where the pipeline notes each request for a replay of the traffic (routing.select); absent: nowhere */
  record?: ArrivalRecord
}

interface Params { model: string, version?: string }
const params = {
  type: 'object',
  properties: { model: { type: 'string', maxLength: 128 }, version: { type: 'string', maxLength: 32 } }
} as const

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version

/**
 * Register twice with `{ prefix: '/v2' }`: `surface: 'metadata'` (server and model metadata,
 * health: open) outside the inference context, `surface: 'infer'` inside it (API keys apply).
 */
export async function v2Routes (app: FastifyInstance, opts: V2RouteOptions): Promise<void> {
  const { config, models, devices, dispatcher, gate, metrics, repository } = opts
  // admit → decode gate → decode → dispatch, as /classify and /detect (router/request-pipeline.ts)
  const pipeline = new RequestPipeline(dispatcher, gate, metrics, realClock, opts.record)
  for (const m of models.values()) checkNames(m)
  if (opts.surface === 'infer') app.decorateRequest('inference', null as unknown as FastifyRequest['inference'])
  // Any Content-Type (tritonclient sends none; JSON or application/octet-stream otherwise): the
  // body is read as bytes, at most images.maxBodyBytes, and parsed by wire.ts, which knows
  // where the JSON header ends.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.images.maxBodyBytes }, (_req, body, done) => done(null, body))

  /** a plain model of the repository: its served version (the newest, or the one asked for) */
  const plainModel = (p: Params): { key: string, version: number } | undefined => models.has(p.model) ? undefined : repository.resolve(p.model, p.version)
  const lookup = (p: Params): ModelInfo => {
    const model = models.get(p.model)
    if (!model) throw new ModelNotFound('served', p.model)
    if (p.version !== undefined && p.version !== String(model.version)) throw new ModelVersionNotFound(p.model, p.version, String(model.version))
    return model
  }
  const ready = (): boolean => !opts.isShuttingDown() && [...devices.readiness().values()].every(Boolean)

  if (opts.surface === 'metadata') app.get('/', async () => ({ name: 'switchyard', version: VERSION, extensions: ['binary_tensor_data'] }))
  if (opts.surface === 'metadata') app.get('/health/live', async () => ({ live: true }))
  if (opts.surface === 'metadata') app.get('/health/ready', async (_request, reply) => {
    const r = ready()
    return reply.code(r ? 200 : 503).send({ ready: r })
  })

  const metadata = async (request: FastifyRequest<{ Params: Params }>) => {
    const plain = plainModel(request.params)
    if (plain) {
      const tensors = repository.report(plain.key)?.tensors
      if (!tensors) throw new ModelNotFound('served', request.params.model)
      return tensorMetadata(request.params.model, repository.served(request.params.model), tensors)
    }
    const model = lookup(request.params)
    const report = devices.schedulers.find((d) => d.lanes.has(model.name))?.lanes.get(model.name)?.report
    return modelMetadata(model, report)
  }
  const modelReady = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const plain = plainModel(request.params)
    if (plain) {
      const r = !opts.isShuttingDown() && devices.schedulers.some((d) => d.healthy && d.lanes.has(plain.key))
      return reply.code(r ? 200 : 503).send({ name: request.params.model, ready: r })
    }
    const model = lookup(request.params)
    const r = !opts.isShuttingDown() && devices.readiness().get(model.name) === true
    return reply.code(r ? 200 : 503).send({ name: model.name, ready: r })
  }

  const infer = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const started = performance.now()
    // an unknown name is not a metric label: clients could mint label values without end
    request.inference = { model: models.has(request.params.model) ? request.params.model : '', device: '', variant: '' }
    const plain = plainModel(request.params)
    if (plain) return inferPlain(request, reply, plain.key, started)
    const model = lookup(request.params)
    const name = model.name
    const ro = requestOptions(request.headers, config.routing)
    const routing: DispatchOptions = { policy: ro.policy, deadline: started + ro.deadlineMs, pinned: ro.pinned, signal: clientGone(reply) }
    const body = request.body
    if (!Buffer.isBuffer(body) || body.length === 0) throw new InvalidInferRequest('the body carries no JSON inference request')
    const req = parseInferRequest(body, request.headers['inference-header-content-length'], maxJsonValues(model))
    const plan = planInfer(model, req)
    const k = plan.items.count

    // admitted counting every item (refused now rather than after decoding), every item
    // prepared (decoded under a slot of its own, or a tensor row copied), then all of them placed
    // as one request, as the tiles of a /detect are: admitted together, queued together, settled
    // together (nothing runs on after the answer) — RequestPipeline.runEach, the path the
    // simulator runs a multi-item request on
    const answer = await pipeline.processEach({
      model: name,
      opts: routing,
      params: plan.params,
      items: Array.from({ length: k }, (_, i) => prepareItem(model, plan, i)),
      prepareAgain: (i) => prepareAgain(model, plan, i)
    })
    const done = answer.items.map((d, i) => ({ done: d, decodeMs: answer.decodeMs[i]! }))

    const totalMs = performance.now() - started
    const devicesUsed = [...new Set(done.map((d) => d.done.device))].join(',')
    request.inference.device = devicesUsed
    const variants = [...new Set(done.map((d) => devices.get(d.done.device)?.scheduler.lanes.get(name)?.variant ?? ''))].join(',')
    request.inference.variant = variants
    for (const { done: d, decodeMs } of done) {
      const labels = { device: d.device, model: name, policy: ro.policy }
      if (plan.items.kind === 'image') metrics.decode.observe(labels, decodeMs / 1000)
      metrics.queueWait.observe(labels, d.queueMs / 1000)
      metrics.inference.observe(labels, d.inferenceMs / 1000)
    }
    metrics.request.observe({ device: done[0]!.done.device, model: name, policy: ro.policy }, totalMs / 1000)
    // items run side by side: the slowest of each stage is what the request waited for
    const most = (f: (x: { done: Dispatched, decodeMs: number }) => number): number => Math.max(...done.map(f))
    annotate(reply, {
      device: devicesUsed,
      variant: variants,
      batchSize: done.map((d) => d.done.batchSize).join(','),
      policy: ro.policy,
      predictedMs: most((d) => d.done.predictedMs),
      decodeMs: most((d) => d.decodeMs),
      queueMs: most((d) => d.done.queueMs),
      inferenceMs: most((d) => d.done.inferenceMs),
      postprocessMs: most((d) => d.done.postprocessMs),
      totalMs
    })

    const outputs = assembleOutputs(model, plan, done.map((d) => decoded(d.done.result)))
    const encoded = encodeInferResponse({ model_name: name, model_version: String(model.version), ...(req.id !== undefined ? { id: req.id } : {}) }, outputs)
    if (encoded.headerLength === null) return reply.type('application/json').send(encoded.body)
    return reply.header('inference-header-content-length', String(encoded.headerLength)).type('application/octet-stream').send(encoded.body)
  }

  /** A plain model's request: its own tensors, each item routed to a lane `key` (model@version). */
  async function inferPlain (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply, key: string, started: number) {
    request.inference.model = key
    const tensors = repository.report(key)?.tensors
    const ro = requestOptions(request.headers, config.routing)
    const routing: DispatchOptions = { policy: ro.policy, deadline: started + ro.deadlineMs, pinned: ro.pinned }
    const body = request.body
    if (!Buffer.isBuffer(body) || body.length === 0) throw new InvalidInferRequest('the body carries no JSON inference request')
    const arrival = pipeline.admit(key, routing) // refuses a version no healthy device serves (503) before parsing; recorded (arrival-record.ts)
    const req = parseInferRequest(body, request.headers['inference-header-content-length'], tensorJsonValues(tensors!))
    const plan = planTensors(request.params.model, tensors!, req)
    pipeline.resized(arrival, plan.items.length, 'each') // its rows, known once parsed
    const settled = await Promise.allSettled(plan.items.map((bytes) => {
      const image = (): PreparedImage => ({ pixels: bytes.slice(), width: 0, height: 0, originalWidth: 0, originalHeight: 0, tensor: true })
      return dispatcher.dispatch(key, image(), {}, routing, async () => image())
    }))
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed) throw failed.reason
    const done = (settled as Array<PromiseFulfilledResult<Dispatched>>).map((s) => s.value)
    const totalMs = performance.now() - started
    const devicesUsed = [...new Set(done.map((d) => d.device))].join(',')
    request.inference.device = devicesUsed
    request.inference.variant = 'default'
    for (const d of done) {
      const labels = { device: d.device, model: key, policy: ro.policy }
      metrics.queueWait.observe(labels, d.queueMs / 1000)
      metrics.inference.observe(labels, d.inferenceMs / 1000)
    }
    metrics.request.observe({ device: done[0]!.device, model: key, policy: ro.policy }, totalMs / 1000)
    const most = (f: (x: Dispatched) => number): number => Math.max(...done.map(f))
    annotate(reply, {
      device: devicesUsed,
      variant: 'default',
      batchSize: done.map((d) => d.batchSize).join(','),
      policy: ro.policy,
      predictedMs: most((d) => d.predictedMs),
      decodeMs: 0,
      queueMs: most((d) => d.queueMs),
      inferenceMs: most((d) => d.inferenceMs),
      postprocessMs: most((d) => d.postprocessMs),
      totalMs
    })
    const results = done.map((d) => {
      if (d.result.kind !== 'tensors') throw new Error(`lane ${key} answered without tensors`)
      return d.result
    })
    const version = key.slice(key.lastIndexOf('@') + 1)
    const encoded = encodeInferResponse({ model_name: request.params.model, model_version: version, ...(req.id !== undefined ? { id: req.id } : {}) }, assembleTensors(plan, results))
    if (encoded.headerLength === null) return reply.type('application/json').send(encoded.body)
    return reply.header('inference-header-content-length', String(encoded.headerLength)).type('application/octet-stream').send(encoded.body)
  }

  /** One item: an encoded image, decoded under a decode slot of its own, or a tensor row, copied without one. */
  function prepareItem (model: ModelInfo, plan: Plan, i: number): EachItem {
    const items = plan.items
    if (items.kind === 'tensor') return { gated: false, decode: (done) => done(null, tensorRow(model, items.values, i)) }
    const bytes = items.images[i]!
    if (bytes.length === 0) return { gated: false, decode: (done) => done(new InvalidInferRequest(`encoded_image element ${i} is empty`)) }
    return { gated: true, bodyBytes: bytes.length, decode: decodeWith(() => decodeImage(bytes, model, config.images)) }
  }

  /** The item prepared anew, for a retry that finds its pixels moved to a dead worker. */
  function prepareAgain (model: ModelInfo, plan: Plan, i: number): Promise<PreparedImage> {
    const items = plan.items
    return items.kind === 'tensor' ? Promise.resolve(tensorRow(model, items.values, i)) : decodeImage(items.images[i]!, model, config.images)
  }

  const schema = { params }
  for (const base of ['/models/:model', '/models/:model/versions/:version']) {
    if (opts.surface === 'metadata') {
      app.get(base, { schema }, metadata)
      app.get(`${base}/ready`, { schema }, modelReady)
    } else {
      app.post(`${base}/infer`, { schema }, infer)
    }
  }
}

/** A fresh buffer per item: the worker handle moves it to the worker (no copy there). */
function tensorRow (model: ModelInfo, values: Float32Array, i: number): PreparedImage {
  const size = 3 * model.input.width * model.input.height
  return {
    pixels: new Uint8Array(values.slice(i * size, (i + 1) * size).buffer),
    width: model.input.width,
    height: model.input.height,
    originalWidth: model.input.width,
    originalHeight: model.input.height,
    tensor: true
  }
}
