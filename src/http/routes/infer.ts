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
import { decodeFull, decodeImage, inspectImage, prepareDecoded, type DecodedImage } from '../../preprocess/decode-image.js'
import { cutTile, parseTilesQuery, planTiles, type TilePlan, type TilingRequest, type TilingSettings } from '../../preprocess/tiles.js'
import { mergeTiles } from '../../postprocess/merge-tiles.js'
import { dispatchMany } from '../../router/dispatch-many.js'
import type { Dispatcher, DispatchOptions } from '../../router/dispatcher.js'
import type { ItemParams, PreparedImage } from '../../worker/protocol.js'
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

interface Query { top_k?: number, score_threshold?: number, iou_threshold?: number, tiles?: string, tile_size?: number, tile_overlap?: number }
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
    tiles: { type: 'string', maxLength: 8 },
    tile_size: { type: 'integer', minimum: 32, maximum: 4096 },
    tile_overlap: { type: 'number', minimum: 0, maximum: 0.75 }
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
  }

  /**
   * A tiled /detect (preprocess/tiles.ts, postprocess/merge-tiles.ts), or null when the image
   * needs no tiles (the caller goes on as for any /detect). The decode slot is held while the
   * image is decoded once and cut; the tiles and the whole-image pass go out together.
   */
  async function detectTiled (c: TiledCall): Promise<Record<string, unknown> | null> {
    const { model, routing } = c
    const name = model.name
    const release = await gate.acquire(routing.policy)
    if (release === null) {
      metrics.rejected.inc({ device: '', model: name, policy: routing.policy, reason: 'decode-queue-full' })
      throw Object.assign(new Overloaded('too many images waiting to be decoded'), { retryAfter: 1 })
    }
    const decodeStart = performance.now()
    let plan: TilePlan | null
    let decoded: DecodedImage
    let images: PreparedImage[]
    try {
      const { width, height } = await inspectImage(c.bytes, config.images)
      plan = planTiles(width, height, model.input, c.tiling, c.settings) // 422 before decoding
      if (plan === null) return null
      decoded = await decodeFull(c.bytes, config.images)
      const p = plan
      images = await Promise.all([prepareDecoded(decoded, model), ...p.tiles.map((t) => cutTile(decoded, t, model))])
    } finally {
      release()
    }
    const decodeMs = performance.now() - decodeStart
    const tiles = plan.tiles

    const done = await dispatchMany(dispatcher, name, images, c.itemParams, routing,
      (i) => i === 0 ? prepareDecoded(decoded, model) : cutTile(decoded, tiles[i - 1]!, model))
    const mergeStart = performance.now()
    const spec = model.output.decode
    const detections = mergeTiles(done.items.map((it, i) => ({
      tile: i === 0 ? null : tiles[i - 1]!,
      detections: it.result.kind === 'detect' ? it.result.detections : []
    })), {
      imageWidth: decoded.width,
      imageHeight: decoded.height,
      iouThreshold: c.itemParams.iouThreshold ?? (spec.kind === 'yolox' ? spec.iouThreshold : 0.45),
      iosThreshold: config.tiling.mergeIos,
      edgeMargin: config.tiling.edgeMargin,
      maxDetections: spec.kind === 'yolox' ? spec.maxDetections : 300
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
    void c.reply
      .header('x-switchyard-device', device)
      .header('x-switchyard-batch-size', String(batchSize))
      .header('x-switchyard-policy', routing.policy)
      .header('x-switchyard-predicted-ms', predictedMs.toFixed(1))
      .header('x-switchyard-actual-ms', (totalMs - decodeMs).toFixed(1))
      .header('x-switchyard-tiles', `count=${tiles.length}, grid=${grid}, whole=1`)
      .header('x-switchyard-tile-devices', Object.entries(done.devices).map(([d, n]) => `${d}=${n}`).join(', '))
      .header('server-timing', `decode;dur=${decodeMs.toFixed(2)}, queue;dur=${queueMs.toFixed(2)}, inference;dur=${inferenceMs.toFixed(2)}, postprocess;dur=${postprocessMs.toFixed(2)}, total;dur=${totalMs.toFixed(2)}`)
    return {
      model: name,
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
      const tiling: TilingRequest | null = task === 'detect' ? { tiles: parseTilesQuery(q.tiles), tileSize: q.tile_size, overlap: q.tile_overlap } : null
      const bytes = await readImage(request)
      const routing = { policy: ro.policy, deadline, pinned: ro.pinned }
      dispatcher.admit(name, routing) // refuse now rather than after decoding

      if (tiling !== null) {
        const settings = tilingSettings(config.tiling, model)
        if ((tiling.tiles ?? (tiling.tileSize !== undefined ? 'auto' : settings.default)) !== 'off') {
          const tiled = await detectTiled({ request, reply, started, model, bytes, tiling, settings, routing, itemParams })
          if (tiled !== null) return tiled
        }
      }

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
    app.post(`/${task}`, { schema }, handler)
    app.post(`/${task}/:model`, { schema }, handler)
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
