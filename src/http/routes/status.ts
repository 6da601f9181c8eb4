// GET /healthz (the process answers), GET /readyz (every configured model loaded and warmed
// on at least one healthy device, and not shutting down), GET /models (what is loaded where,
// with input specs, batch support and the live cost model per device).
import type { FastifyInstance } from 'fastify'
import type { DeviceSet } from '../../devices/device-set.js'
import type { Lane } from '../../devices/device.js'
import { laneKey, type LiveRepository } from '../../models/live-repository.js'
import { priceOf } from '../../router/price.js'
import { round } from '../../util/format.js'
import { Health, ModelsReport, Readiness, errorResponses } from '../schemas.js'

export interface StatusRouteOptions {
  devices: DeviceSet
  repository: LiveRepository
  isShuttingDown: () => boolean
}

/**
 * What /models shows of one device's lane, for a configured model and a plain one alike: its
 * queue, batch limit and cost model. Under the shared-queue rule the lane takes from the model's
 * queue, which every device serving it shares: that one is `shared`, and the lane's own counts
 * are what is pinned to it (Lane.bound), as `switchyard_queue_depth` counts them.
 */
function laneView (lane: Lane) {
  const own = lane.bound ?? lane.queue
  return {
    maxBatchSize: lane.maxBatchSize,
    queue: {
      latency: own.latency.length,
      throughput: own.throughput.length,
      ...(lane.pool !== undefined ? { pool: lane.pool.throughput.length } : {}),
      ...(lane.bound !== undefined ? { shared: { latency: lane.queue.latency.length, throughput: lane.queue.throughput.length } } : {}),
      max: lane.maxQueue
    },
    inFlight: lane.inFlight,
    cost: { aMs: round(lane.cost.a, 3), bMs: round(lane.cost.b, 3), samples: lane.cost.samples },
    calibration: lane.report.calibration.map((c) => ({ batchSize: c.batchSize, ms: round(c.ms, 3) }))
  }
}

export async function statusRoutes (app: FastifyInstance, opts: StatusRouteOptions): Promise<void> {
  const { devices } = opts

  const internal = errorResponses([500])
  app.get('/healthz', { schema: { summary: 'The process answers', tags: ['status'], response: { 200: Health, ...internal } } }, async () => ({ status: 'ok' }))

  app.get('/readyz', {
    schema: {
      summary: 'Ready: every configured model loaded and warmed on a healthy device, and not shutting down',
      tags: ['status'],
      response: { 200: Readiness, 503: Readiness }
    }
  }, async (_request, reply) => {
    const models = Object.fromEntries(devices.readiness())
    const ready = !opts.isShuttingDown() && Object.values(models).every(Boolean)
    const body = {
      status: ready ? 'ready' : 'not ready',
      shuttingDown: opts.isShuttingDown(),
      models,
      devices: Object.fromEntries(devices.schedulers.map((d) => [d.id, d.healthy ? 'healthy' : 'unhealthy']))
    }
    return reply.code(ready ? 200 : 503).send(body)
  })

  const { repository } = opts
  const repositoryReport = () => {
    const ready = repository.readiness()
    return [...repository.entries.values()].map((e) => ({
      name: e.name,
      ready: ready.get(e.name) === true,
      versions: [...e.versions.values()].sort((a, b) => a.version - b.version).map((v) => {
        const key = laneKey(e.name, v.version)
        const report = v.state === 'READY' ? repository.report(key) : undefined
        return {
          version: String(v.version),
          state: v.state,
          reason: v.reason,
          inputs: report?.tensors?.inputs ?? [],
          outputs: report?.tensors?.outputs ?? [],
          dynamicBatch: report?.dynamicBatch ?? null,
          devices: devices.schedulers.flatMap((d) => {
            const lane = d.lanes.get(key)
            return lane ? [{ id: d.id, ...laneView(lane) }] : []
          })
        }
      })
    }))
  }

  app.get('/models', {
    schema: { summary: 'Models, their inputs, the devices serving them, queues and fitted cost models', tags: ['status'], response: { 200: ModelsReport, ...internal } }
  }, async () => {
    const ready = devices.readiness()
    return {
      models: devices.models.map((m) => {
        const on = devices.schedulers.filter((d) => d.lanes.has(m.name))
        const report = on[0]?.lanes.get(m.name)?.report
        return {
          name: m.name,
          task: m.task,
          description: m.description,
          version: String(m.version),
          ready: ready.get(m.name) === true,
          labels: m.labelList.length,
          input: {
            name: m.input.name,
            shape: report?.inputShape ?? null,
            width: m.input.width,
            height: m.input.height,
            channelOrder: m.input.channelOrder,
            dynamicBatch: report?.dynamicBatch ?? null
          },
          // agreement: against the most accurate available variant, on the calibration images
          variants: m.variants.map((v) => ({
            name: v.name,
            kinds: v.kinds,
            accuracyRank: v.accuracyRank,
            served: on.some((d) => d.lanes.get(m.name)!.variant === v.name),
            unavailable: v.unavailable,
            agreement: v.agreement
          })),
          devices: on.map((d) => {
            const lane = d.lanes.get(m.name)!
            return {
              id: d.id,
              kind: d.config.kind,
              variant: lane.variant,
              healthy: d.healthy,
              price: priceOf(d.config),
              workers: d.liveWorkers,
              batchDelayMs: lane.delayMs,
              ...laneView(lane)
            }
          })
        }
      }),
      unavailable: Object.fromEntries(devices.unavailableModels),
      repository: repositoryReport(),
      skippedDevices: Object.fromEntries(devices.skippedDevices)
    }
  })
}
