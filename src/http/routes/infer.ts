// POST /classify[/:model] and POST /detect[/:model]: the request's path through the server.
//   read body → decode/resize (sharp, gated by class) → router → device queue and batcher
//   → worker (tensor, run, decode) → this response
import { performance } from 'node:perf_hooks'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config, Policy } from '../../config/schema.js'
import { realClock } from '../../devices/clock.js'
import type { DeviceSet } from '../../devices/device-set.js'
import { InvalidHeader, ModelNotFound, VariantNotFound } from '../../errors.js'
import type { Metrics } from '../../metrics/metrics.js'
import type { ModelInfo } from '../../models/model-spec.js'
import { MOST_ACCURATE, requestedVariant, resolveModelName } from '../../models/variants.js'
import type { DecodeGate } from '../../preprocess/decode-gate.js'
import { decodeFull, decodeImage, inspectImage, prepareDecoded, type DecodedImage } from '../../preprocess/decode-image.js'
import { cutTile, parseTilesQuery, planTiles, type TilePlan, type TilingRequest, type TilingSettings } from '../../preprocess/tiles.js'
import { mergeTiles } from '../../postprocess/merge-tiles.js'
import { reportMany } from '../../router/dispatch-many.js'
import type { ArrivalRecord } from '../../router/arrival-record.js'
import { decodeWith, RequestPipeline } from '../../router/request-pipeline.js'
import type { Dispatcher, DispatchOptions } from '../../router/dispatcher.js'
import { decoded, type Detection, type ItemParams, type PreparedImage } from '../../worker/protocol.js'
import { annotate } from '../answer-headers.js'
import { clientGone } from '../client-gone.js'
import { decodeSlot } from '../decode-slot.js'
import { CONTENT_TYPE, answerFormat, drawDetections, type AnswerFormat } from '../draw-detections.js'
import { readImage } from '../read-image.js'
import { ClassifyAnswer, DetectAnswer, ERROR_STATUSES, errorResponses } from '../schemas.js'
import { checkQueryNumbers, requestOptions } from '../request-options.js'
import { round } from '../../util/format.js'

export interface InferRouteOptions {
  config: Config
  models: ReadonlyMap<string, ModelInfo>
  dispatcher: Dispatcher
  gate: DecodeGate
  metrics: Metrics
  devices: DeviceSet
  /** where the pipeline notes each request for a replay of the traffic (routing.select); absent: nowhere */
  record?: ArrivalRecord
}

interface Query { top_k?: number, score_threshold?: number, iou_threshold?: number, format?: AnswerFormat, tiles?: string, tile_size?: number, tile_overlap?: number }
interface Params { model?: string }

const classifyQuery = {
  type: 'object',
  properties: { top_k: { type: 'integer', minimum: 1, maximum: 1000 } }
} as const
const detectQuery = {
  type: 'object',
  properties: {
    score_threshold: { type: 'number', minimum: 0, maximum: 1 },
    iou_threshold: { type: 'number', minimum: 0, maximum: 1 },
    format: { type: 'string', enum: ['json', 'png', 'jpeg'], description: 'png or jpeg: answer the image with the boxes drawn (as Accept: image/png or image/jpeg does); default json' },
    tiles: { type: 'string', maxLength: 8, description: 'auto, off or 1–32 (tiles along the longer side): cut a large image into overlapping tiles at the model input size (auto: larger, resized to it, when that grid would exceed tiling.maxTiles), plus a whole-image pass' },
    tile_size: { type: 'integer', minimum: 32, maximum: 4096, description: 'tile side in image pixels, as asked (default: the model input size, grown to fit tiling.maxTiles)' },
    tile_overlap: { type: 'number', minimum: 0, maximum: 0.75, description: 'overlap between neighbouring tiles (default 0.2)' }
  }
} as const
const params = { type: 'object', properties: { model: { type: 'string', maxLength: 128, description: 'a model name from GET /models' } }, required: ['model'] } as const
const binary = { type: 'string', format: 'binary' } as const

/** Route schemas: validation of query and params; the answers and every error for OpenAPI and serialisation. */
const routeSchemas = {
  classify: {
    summary: 'Classify an image (ImageNet labels)',
    tags: ['inference'],
    querystring: classifyQuery,
    response: { 200: ClassifyAnswer, ...errorResponses(ERROR_STATUSES) }
  },
  detect: {
    summary: 'Detect objects (COCO boxes); JSON, or the image with the boxes drawn',
    tags: ['inference'],
    querystring: detectQuery,
    response: {
      200: {
        description: 'The detections as JSON (default), or with ?format=png|jpeg or Accept: image/png|image/jpeg the original image with boxes and labels drawn',
        content: { 'application/json': { schema: DetectAnswer }, 'image/png': { schema: binary }, 'image/jpeg': { schema: binary } }
      },
      ...errorResponses(ERROR_STATUSES)
    }
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** what the access log and the request counter report for an inference request */
    inference: { model: string, device: string, variant: string }
  }
}

export async function inferRoutes (app: FastifyInstance, opts: InferRouteOptions): Promise<void> {
  const { config, models, dispatcher, gate, metrics, devices } = opts
  // admit → decode gate → decode → dispatch: the path the simulator runs too (sim/engine.ts)
  const pipeline = new RequestPipeline(dispatcher, gate, metrics, realClock, opts.record)

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
    const on = devices.schedulers.filter((d) => pinned === undefined || d.id === pinned)
    const loaded = new Set(on.flatMap((d) => { const v = d.lanes.get(model.name)?.variant; return v === undefined ? [] : [v] }))
    const healthy = new Set(on.filter((d) => d.healthy).flatMap((d) => { const v = d.lanes.get(model.name)?.variant; return v === undefined ? [] : [v] }))
    const variant = requestedVariant(model, asked, healthy.size > 0 ? healthy : loaded)
    if (variant !== undefined && !loaded.has(variant)) {
      throw new VariantNotFound(variant, model.name, `${pinned === undefined ? '' : ` on device ${pinned}`}: no device loads it (loaded: ${[...loaded].join(', ') || 'none'})`)
    }
    return variant
  }
  app.decorateRequest('inference', null as unknown as FastifyRequest['inference'])

  /**
   * The image with its boxes drawn: a second, full-size decode of the request's bytes, through
   * the same decode gate as the first (it is the same kind of work on the same pool).
   */
  async function drawn (reply: FastifyReply, bytes: Buffer, detections: Detection[], format: Exclude<AnswerFormat, 'json'>, policy: Policy, model: string, deadline: number): Promise<Buffer> {
    const release = await decodeSlot(gate, metrics, policy, model, bytes.length, deadline - performance.now())
    const start = performance.now()
    let image: Buffer
    try {
      image = await drawDetections(bytes, detections, format, config.images)
    } finally {
      release()
    }
    void reply
      .header('server-timing', `${reply.getHeader('server-timing') as string}, draw;dur=${(performance.now() - start).toFixed(2)}`)
      .header('x-switchyard-detections', String(detections.length))
      .type(CONTENT_TYPE[format])
    return image
  }

  interface TiledCall {
    request: FastifyRequest
    reply: FastifyReply
    started: number
    model: ModelInfo
    bytes: Buffer
    tiling: TilingRequest
    settings: TilingSettings
    routing: DispatchOptions
    itemParams: ItemParams
    /** its arrival in the arrival record (RequestPipeline.admit): the tiles are noted there */
    arrival: number
  }

  /**
   * A tiled /detect (preprocess/tiles.ts, postprocess/merge-tiles.ts), or null when the image
   * needs no tiles (the caller goes on as for any /detect). The decode slot is held while the
   * image is decoded once and cut; the tiles and the whole-image pass go out together.
   */
  async function detectTiled (c: TiledCall): Promise<(Record<string, unknown> & { detections: Detection[] }) | null> {
    const { model, routing } = c
    const name = model.name
    // under one decode slot: the header, the grid (422 before decoding), one decode, the cuts;
    // then the tiles and the whole-image pass placed together
    const answer = await pipeline.process<{ plan: TilePlan, decoded: DecodedImage, images: PreparedImage[] }>({
      model: name,
      opts: routing,
      params: c.itemParams,
      bodyBytes: c.bytes.length,
      decode: decodeWith(async () => {
        const { width, height } = await inspectImage(c.bytes, config.images)
        const plan = planTiles(width, height, model.input, c.tiling, c.settings) // 422 before decoding
        if (plan === null) return null
        const decoded = await decodeFull(c.bytes, config.images)
        const images = await Promise.all([prepareDecoded(decoded, model), ...plan.tiles.map((t) => cutTile(decoded, t, model))])
        return { plan, decoded, images }
      }),
      images: (d) => d.images,
      prepareAgain: (d, i) => i === 0 ? prepareDecoded(d.decoded, model) : cutTile(d.decoded, d.plan.tiles[i - 1]!, model),
      arrival: c.arrival
    })
    if (answer === null) return null
    const { plan, decoded } = answer.decoded
    const decodeMs = answer.decodeMs
    const tiles = plan.tiles
    const done = reportMany(answer.items)
    const mergeStart = performance.now()
    const spec = model.output.decode
    const detections = mergeTiles(done.items.map((it, i) => ({
      tile: i === 0 ? null : tiles[i - 1]!,
      detections: it.result.kind === 'detect' ? it.result.detections : []
    })), {
      imageWidth: decoded.width,
      imageHeight: decoded.height,
      iouThreshold: c.itemParams.iouThreshold ?? (spec.kind !== 'softmax' ? spec.iouThreshold : 0.45),
      iosThreshold: config.tiling.mergeIos,
      edgeMargin: config.tiling.edgeMargin,
      maxDetections: spec.kind !== 'softmax' ? spec.maxDetections : 300
    })
    const mergeMs = performance.now() - mergeStart

    // the device that ran most of the images speaks for the request in the single-device fields
    const device = Object.entries(done.devices).sort((a, b) => b[1] - a[1])[0]![0]
    c.request.inference.device = device
    const totalMs = performance.now() - c.started
    const queueMs = Math.max(...done.items.map((it) => it.queueMs))
    const predictedMs = Math.max(...done.items.map((it) => it.predictedMs))
    // device time: the sum over the batches, more than the wall time when batches ran side by side
    const inferenceMs = done.batches.reduce((s, b) => s + b.inferenceMs, 0)
    const postprocessMs = done.batches.reduce((s, b) => s + b.postprocessMs, 0) + mergeMs
    const batchSize = Math.max(...done.batches.map((b) => b.size))
    const labels = { device, model: name, policy: routing.policy }
    metrics.decode.observe(labels, decodeMs / 1000)
    metrics.queueWait.observe(labels, queueMs / 1000)
    metrics.inference.observe(labels, inferenceMs / 1000)
    metrics.request.observe(labels, totalMs / 1000)
    for (const [d, n] of Object.entries(done.devices)) metrics.tiles.inc({ device: d, model: name }, n)

    const grid = `${plan.xs.length}x${plan.ys.length}`
    const variant = [...new Set(Object.keys(done.devices).map((d) => devices.get(d)?.scheduler.lanes.get(name)?.variant ?? ''))].join(',')
    c.request.inference.variant = variant
    annotate(c.reply, { device, variant, batchSize, policy: routing.policy, predictedMs, decodeMs, queueMs, inferenceMs, postprocessMs, totalMs })
    void c.reply
      .header('x-switchyard-tiles', `count=${tiles.length}, grid=${grid}, whole=1`)
      .header('x-switchyard-tile-devices', Object.entries(done.devices).map(([d, n]) => `${d}=${n}`).join(', '))
    return {
      model: name,
      variant,
      device,
      batchSize,
      policy: routing.policy,
      width: decoded.width,
      height: decoded.height,
      detections,
      tiles: {
        count: tiles.length,
        grid: { columns: plan.xs.length, rows: plan.ys.length },
        tileSize: { width: plan.tileWidth, height: plan.tileHeight },
        overlap: plan.overlap,
        wholeImage: true,
        devices: done.devices,
        batches: done.batches.map((b) => ({ device: b.device, size: b.size, items: b.items, inferenceMs: round(b.inferenceMs) }))
      },
      timing: {
        decodeMs: round(decodeMs),
        queueMs: round(queueMs),
        inferenceMs: round(inferenceMs),
        postprocessMs: round(postprocessMs),
        totalMs: round(totalMs),
        predictedMs: round(predictedMs)
      }
    }
  }

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
      const tiling: TilingRequest | null = task === 'detect' ? { tiles: parseTilesQuery(q.tiles), tileSize: q.tile_size, overlap: q.tile_overlap } : null
      const bytes = await readImage(request)
      // the client going away takes its items still queued out of the device queues
      const routing: DispatchOptions = { policy: ro.policy, deadline, pinned: ro.pinned, variant, signal: clientGone(reply) }
      const arrival = pipeline.admit(model.name, routing) // refuse now rather than after decoding

      if (tiling !== null) {
        const settings = tilingSettings(config.tiling, model)
        if ((tiling.tiles ?? (tiling.tileSize !== undefined ? 'auto' : settings.default)) !== 'off') {
          const tiled = await detectTiled({ request, reply, started, model, bytes, tiling, settings, routing, itemParams, arrival })
          if (tiled !== null) {
            const format = answerFormat(request.query.format, request.headers.accept)
            void reply.header('vary', 'Accept')
            return format === 'json' ? tiled : drawn(reply, bytes, tiled.detections, format, ro.policy, model.name, deadline)
          }
        }
      }

      const answer = (await pipeline.process<PreparedImage>({
        model: model.name,
        opts: routing,
        params: itemParams,
        bodyBytes: bytes.length,
        decode: decodeWith(() => decodeImage(bytes, model, config.images)),
        images: (image) => image,
        prepareAgain: () => decodeImage(bytes, model, config.images)
      }))! // (a decoder that always decodes: never null)
      const done = answer.items[0]!
      const decodeMs = answer.decodeMs
      const ran = devices.get(done.device)?.scheduler.lanes.get(model.name)?.variant ?? ''
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
      const r = decoded(done.result)
      if (r.kind === 'classify') {
        return { model: model.name, variant: ran, device: done.device, batchSize: done.batchSize, policy: ro.policy, predictions: r.predictions, timing }
      }
      const format = answerFormat(q.format, request.headers.accept)
      void reply.header('vary', 'Accept')
      if (format === 'json') {
        return { model: model.name, variant: ran, device: done.device, batchSize: done.batchSize, policy: ro.policy, width: r.width, height: r.height, detections: r.detections, timing }
      }
      return drawn(reply, bytes, r.detections, format, ro.policy, model.name, deadline)
    }
    const schema = routeSchemas[task]
    // defaultModel: the model a path without :model asks for (the auth check reads it too)
    app.post(`/${task}`, { schema, config: { defaultModel: config.routes[task] } }, handler)
    app.post(`/${task}/:model`, { schema: { ...schema, params, summary: `${schema.summary}, with the named model` } }, handler)
  }
}

/** The tiling settings of one model: its tiling.perModel entry over the global ones. */
export function tilingSettings (t: Config['tiling'], model: Pick<ModelInfo, 'name'>): TilingSettings {
  const m = t.perModel[model.name] ?? {}
  return {
    default: m.default ?? t.default,
    overlap: m.overlap ?? t.overlap,
    maxTiles: m.maxTiles ?? t.maxTiles,
    autoScale: m.autoScale ?? t.autoScale,
    tileSize: m.tileSize
  }
}
