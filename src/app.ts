// Assembles a Switchyard server from a validated config: models → devices (workers,
// calibration) → router → HTTP. Nothing listens until listen(); close() shuts down in order:
// refuse new work, finish accepted work, stop the workers by message.
import { resolve } from 'node:path'
import Fastify, { LogController, type FastifyInstance } from 'fastify'
import multipart from '@fastify/multipart'
import type { Config } from './config/schema.js'
import { DeviceSet, StartupError } from './devices/device-set.js'
import type { DeviceOptions } from './devices/device.js'
import { requireApiKeys } from './http/auth.js'
import { ShuttingDown } from './errors.js'
import { clientErrorHandler, frameworkErrors, installErrorHandling } from './http/error-handler.js'
import { RAW_IMAGE_TYPES } from './http/read-image.js'
import { inferRoutes } from './http/routes/infer.js'
import { metricsRoute } from './http/routes/metrics.js'
import { statusRoutes } from './http/routes/status.js'
import { Metrics } from './metrics/metrics.js'
import type { ModelInfo } from './models/model-spec.js'
import { loadModel } from './models/model-repository.js'
import { DecodeGate } from './preprocess/decode-gate.js'
import { Dispatcher } from './router/dispatcher.js'

export interface BuildOptions {
  /** directory that relative paths in the config are resolved from (default: cwd) */
  root?: string
  /** pino destination for tests; default stdout */
  logStream?: NodeJS.WritableStream
  /** device options for tests (fault injection, breaker, backoff) */
  deviceOptions?: Partial<DeviceOptions>
}

export interface Switchyard {
  app: FastifyInstance
  /** set when config.metrics.port is not null */
  metricsApp: FastifyInstance | null
  devices: DeviceSet
  metrics: Metrics
  listen: () => Promise<{ api: string, metrics: string | null }>
  close: () => Promise<void>
  readonly shuttingDown: boolean
}

export async function buildServer (config: Config, opts: BuildOptions = {}): Promise<Switchyard> {
  const root = opts.root ?? process.cwd()
  const logger = {
    level: config.server.logLevel,
    redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]'], censor: '[redacted]' },
    ...(opts.logStream ? { stream: opts.logStream } : {})
  }
  const app = Fastify({
    logger,
    bodyLimit: config.images.maxBodyBytes,
    requestTimeout: config.server.requestTimeoutMs,
    // Slow clients: Node checks these timeouts only every connectionsCheckingInterval (default
    // 30 s), and on Node 20 a requestTimeout set after the server is created (as Fastify does)
    // does not cut off a trickled body while headersTimeout exceeds it (default 60 s).
    http: {
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.round(config.server.requestTimeoutMs / 4) || 1000)),
      headersTimeout: config.server.requestTimeoutMs > 0 ? Math.min(60_000, config.server.requestTimeoutMs) : 60_000
    },
    // one access-log line per inference request is written by the onResponse hook below
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // errors before a route is found, and requests Node cannot parse, get our JSON body too
    frameworkErrors: frameworkErrors(config.images.maxBodyBytes),
    clientErrorHandler,
    forceCloseConnections: 'idle'
  })

  // models, then devices
  const models: ModelInfo[] = []
  const missing = new Map<string, string>()
  const weights = {
    localDir: config.models.localDir === null ? null : resolve(root, config.models.localDir),
    cacheDir: resolve(root, config.models.cacheDir),
    download: config.models.download,
    log: (msg: string) => app.log.info(msg)
  }
  for (const name of config.models.enabled) {
    try {
      models.push(await loadModel(resolve(root, config.models.repository), name, weights))
    } catch (err) {
      if (!config.models.optional.includes(name)) throw new StartupError((err as Error).message)
      app.log.warn({ model: name }, `optional model ${name} is not available: ${(err as Error).message}`)
      missing.set(name, (err as Error).message)
    }
  }
  const devices = await DeviceSet.open(config, models, missing, app.log, opts.deviceOptions)

  let shuttingDown = false
  const metrics = new Metrics(() => devices.devices, () => devices.readiness())
  for (const d of devices.devices) metrics.watch(d)
  const dispatcher = new Dispatcher(devices, metrics)
  const gate = new DecodeGate(config.decode.slots, config.decode.bulkSlots, config.decode.maxWaiting)

  app.addContentTypeParser(RAW_IMAGE_TYPES, { parseAs: 'buffer', bodyLimit: config.images.maxBodyBytes }, (_req, body, done) => done(null, body))
  await app.register(multipart, {
    limits: { fileSize: config.images.maxBodyBytes, files: 2, fields: 16, parts: 24, fieldSize: 64 * 1024 }
  })
  installErrorHandling(app, config.images.maxBodyBytes)

  app.addHook('onResponse', async (request, reply) => {
    const inf = request.inference
    if (!inf) return
    metrics.requests.inc({ route: request.routeOptions.url ?? '', model: inf.model, device: inf.device, status: String(reply.statusCode) })
    request.log.info({ route: request.routeOptions.url, model: inf.model, device: inf.device, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'inference')
  })

  app.addHook('onRequest', async (request) => {
    if (shuttingDown && request.method === 'POST') throw Object.assign(new ShuttingDown(), { retryAfter: 1 })
  })
  await app.register(statusRoutes, { devices, isShuttingDown: () => shuttingDown })
  // The inference context: every route registered in it needs an API key when keys are
  // configured (src/http/auth.ts). A new inference route gets auth by being registered here;
  // a route registered outside it is open.
  await app.register(async function inference (api) {
    requireApiKeys(api, config)
    await api.register(inferRoutes, { config, models: new Map(models.map((m) => [m.name, m])), dispatcher, gate, metrics })
  })

  let metricsApp: FastifyInstance | null = null
  if (config.metrics.port === null) {
    await app.register(metricsRoute, { metrics })
  } else {
    metricsApp = Fastify({ logger: false })
    await metricsApp.register(metricsRoute, { metrics })
  }

  return {
    app,
    metricsApp,
    devices,
    metrics,
    get shuttingDown () { return shuttingDown },
    async listen () {
      const api = await app.listen({ host: config.server.host, port: config.server.port })
      const m = metricsApp ? await metricsApp.listen({ host: config.metrics.host, port: config.metrics.port ?? 0 }) : null
      return { api, metrics: m }
    },
    async close () {
      if (shuttingDown) return
      shuttingDown = true // /readyz answers 503; new inference requests get 503 SY_SHUTTING_DOWN
      if (config.server.shutdownDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.server.shutdownDelayMs))
      await app.close() // stops accepting; answers 503 to new requests; waits for in-flight ones
      await devices.drain()
      await devices.stop()
      await metricsApp?.close()
    }
  }
}
