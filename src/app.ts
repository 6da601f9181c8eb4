// Assembles a Switchyard server from a validated config: models → devices (workers,
// calibration) → router → HTTP. Nothing listens until listen(); close() shuts down in order:
// refuse new work, finish accepted work, stop the workers by message.
import { readdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import Fastify, { LogController, type FastifyInstance } from 'fastify'
import multipart from '@fastify/multipart'
import type { Config } from './config/schema.js'
import { realClock } from './devices/clock.js'
import { DeviceSet } from './devices/device-set.js'
import type { DeviceOptions } from './devices/device.js'
import { requireApiKeys } from './http/auth.js'
import { ShuttingDown, StartupError, withRetryAfter } from './errors.js'
import { clientErrorHandler, frameworkErrors, installErrorHandling } from './http/error-handler.js'
import { RAW_IMAGE_TYPES } from './http/read-image.js'
import { openapi } from './http/openapi.js'
import { ORCA_FORMAT_HEADER, ORCA_HEADER, orcaReport } from './http/orca.js'
import { startAgent } from './http/agent-check.js'
import { adminFaultRoutes } from './http/routes/admin-faults.js'
import { inferRoutes } from './http/routes/infer.js'
import { metricsRoute } from './http/routes/metrics.js'
import { playgroundRoutes } from './http/routes/playground.js'
import { statusRoutes } from './http/routes/status.js'
import { v2Routes } from './http/v2/routes.js'
import { repositoryRoutes } from './http/v2/repository-routes.js'
import { LiveRepository } from './models/live-repository.js'
import { GpuPowerSampler } from './metrics/gpu-power.js'
import { Metrics } from './metrics/metrics.js'
import type { ModelInfo } from './models/model-spec.js'
import { configuredVersions, loadModel } from './models/model-repository.js'
import { calibrationImages } from './models/calibration-images.js'
import { makeAllBatchable } from './models/batchable.js'
import { compareVariants } from './models/variant-agreement.js'
import { checkDeviceVariants, unsuitedVariants } from './models/variants.js'
import { round } from './util/format.js'
import { DecodeGate } from './preprocess/decode-gate.js'
import { Dispatcher } from './router/dispatcher.js'
import { ArrivalRecord } from './router/arrival-record.js'
import { ReplayThread } from './router/replay-thread.js'
import { RuleSelectLoop } from './router/rule-select-loop.js'
import type { Log } from './util/log.js'
import { defaultQueueBytes, QueueBudget } from './devices/queue-budget.js'
import { podSignals, type PodSignals } from './router/pod-signals.js'
import { createJobs, type Jobs } from './jobs/jobs.js'
import { jobRoutes } from './jobs/job-routes.js'

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

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
  /** the plain ONNX models of the models directory, loaded and reloaded at run time */
  repository: LiveRepository
  /** asynchronous jobs; null when config.jobs.enabled is false */
  jobs: Jobs | null
  /** what arrived, as the rule selection's replays read it (router/arrival-record.ts); null when routing.select is off */
  record: ArrivalRecord | null
  /** agent: the HAProxy agent-check port (config.agent.port; null: off) */
  listen: () => Promise<{ api: string, metrics: string | null, agent: number | null }>
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
    // while closing, Fastify only adds Connection: close; our onRequest hook below answers new
    // inference requests with SY_SHUTTING_DOWN and Retry-After (Fastify's own 503 has neither)
    return503OnClosing: false,
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
      models.push(await loadModel(resolve(root, config.models.repository), name, weights, config.modelRepository.perModel[name]?.versionPolicy ?? config.modelRepository.versionPolicy))
    } catch (err) {
      if (!config.models.optional.includes(name)) throw new StartupError((err as Error).message)
      app.log.warn({ model: name }, `optional model ${name} is not available: ${(err as Error).message}`)
      missing.set(name, (err as Error).message)
    }
  }
  // batching by default: a batch dimension fixed to 1 is freed where a checked rewrite allows
  try {
    await makeAllBatchable(models, config, config.models.calibrationImages === null ? null : resolve(root, config.models.calibrationImages), weights.cacheDir, app.log)
  } catch (err) {
    throw new StartupError((err as Error).message)
  }
  await compareAllVariants(config, models, root, app.log)
  try {
    checkDeviceVariants(config.devices, models, config.models.enabled)
  } catch (err) {
    throw new StartupError((err as Error).message)
  }
  for (const warning of unsuitedVariants(config.devices, models)) app.log.warn(warning)
  const devices = await DeviceSet.open(config, models, missing, app.log, opts.deviceOptions)

  let shuttingDown = false
  const servedModels = (): string[] => config.models.enabled.filter((m) => devices.schedulers.some((s) => s.lanes.has(m)))
  const pod = (): PodSignals => podSignals(devices.schedulers, servedModels(), realClock.now())
  const repository = new LiveRepository({
    dir: repositoryDir(config, root),
    exclude: configuredDirs(config, models, root),
    configured: config.models.enabled,
    configuredVersions: new Map(models.map((m) => [m.name, { version: m.version, versions: m.versions }])),
    config,
    devices,
    log: app.log
  })
  const metrics = new Metrics(() => devices.schedulers, () => new Map([...devices.readiness(), ...repository.readiness()]), pod)
  // measured GPU power replaces the configured watts where nvidia-smi answers (metrics/gpu-power.ts)
  const samplers: GpuPowerSampler[] = []
  for (const d of devices.devices) {
    const sampler = d.kind === 'cuda' ? new GpuPowerSampler({ index: d.config.deviceId, log: app.log }) : undefined
    if (sampler) { sampler.start(); samplers.push(sampler) }
    metrics.watch(d.scheduler, sampler)
  }
  metrics.zeroKnownSeries({
    devices: devices.schedulers.map((s) => ({ id: s.id, models: [...s.lanes.values()].map((l) => ({ name: l.model, variant: l.variant })) })),
    routes: new Map(models.map((m) => [m.name, m.name === config.routes[m.task] ? [`/${m.task}`, `/${m.task}/:model`] : [`/${m.task}/:model`]]))
  })
  // a version loaded later starts its series at zero too
  repository.on('loaded', (key: string, ids: string[]) => {
    metrics.zeroKnownSeries({
      devices: ids.map((id) => ({ id, models: [{ name: key, variant: 'default' }] })),
      routes: new Map([[key, ['/v2/models/:model/infer', '/v2/models/:model/versions/:version/infer']]])
    })
  })
  await repository.start()
  // one memory budget for what accepted requests hold: bodies waiting to be decoded, prepared images queued and running
  const queueBudget = new QueueBudget(config.routing.maxQueuedBytes > 0 ? config.routing.maxQueuedBytes : defaultQueueBytes())
  metrics.queueBudget = queueBudget
  const dispatcher = new Dispatcher(devices.scheduling, metrics, realClock, config.routing.strategy, queueBudget)
  const gate = new DecodeGate(config.decode.slots, config.decode.bulkSlots, { maxWaiting: config.decode.maxWaiting, budget: queueBudget, now: () => realClock.now() })
  // the rule chosen by replay (routing.select; src/router/rule-select-loop.ts): what arrived, noted by the request pipeline
  const record = config.routing.select.enabled ? new ArrivalRecord() : undefined

  app.addContentTypeParser(RAW_IMAGE_TYPES, { parseAs: 'buffer', bodyLimit: config.images.maxBodyBytes }, (_req, body, done) => done(null, body))
  await app.register(multipart, {
    limits: { fileSize: config.images.maxBodyBytes, files: 2, fields: 16, parts: 24, fieldSize: 64 * 1024 }
  })
  installErrorHandling(app, config.images.maxBodyBytes)

  app.addHook('onResponse', async (request, reply) => {
    const inf = request.inference
    if (!inf) return
    metrics.requests.inc({ route: request.routeOptions.url ?? '', model: inf.model, device: inf.device, variant: inf.variant, status: String(reply.statusCode) })
    request.log.info({ route: request.routeOptions.url, model: inf.model, variant: inf.variant, device: inf.device, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'inference')
  })

  app.addHook('onRequest', async (request) => {
    if (shuttingDown && request.method === 'POST') throw withRetryAfter(new ShuttingDown(), 1)
  })
  await app.register(openapi, { version: PACKAGE_VERSION }) // before the routes it documents
  await app.register(statusRoutes, { devices, repository, isShuttingDown: () => shuttingDown })
  await app.register(playgroundRoutes)
  const modelMap = new Map(models.map((m) => [m.name, m]))
  const v2 = { prefix: '/v2', config, models: modelMap, devices, dispatcher, gate, metrics, repository, isShuttingDown: () => shuttingDown, ...(record !== undefined ? { record } : {}) }
  // Open Inference Protocol (KServe v2) metadata and health: open, like /models and /readyz
  await app.register(v2Routes, { ...v2, surface: 'metadata' })
  // the repository extension: the index is open, load/unload need the admin key (admin-key.ts)
  await app.register(repositoryRoutes, { prefix: '/v2/repository', config, repository })
  // The inference context: every route registered in it needs an API key when keys are
  // configured (src/http/auth.ts). A new inference route gets auth by being registered here;
  // a route registered outside it is open.
  await app.register(async function inference (api) {
    requireApiKeys(api, config)
    // ORCA load report on answers that ask for one (http/orca.ts)
    api.addHook('onSend', async (request, reply, payload) => {
      const format = request.headers[ORCA_FORMAT_HEADER]
      if (format !== undefined && request.inference) {
        const report = orcaReport(format, pod(), request.inference.model || config.routes.classify)
        if (report !== null) void reply.header(ORCA_HEADER, report)
      }
      return payload
    })
    await api.register(inferRoutes, { config, models: modelMap, dispatcher, gate, metrics, devices, ...(record !== undefined ? { record } : {}) })
    await api.register(v2Routes, { ...v2, surface: 'infer' })
  })

  // fault injection at run time: only where the config allows faults (404 otherwise)
  if (config.faults.allow) await app.register(adminFaultRoutes, { config, devices })

  // asynchronous jobs (src/jobs/): their own auth check (a job belongs to the key that submitted it)
  let jobs: Jobs | null = null
  if (config.jobs.enabled) {
    try {
      jobs = await createJobs(config, { models, devices, dispatcher, gate, metrics, log: app.log })
    } catch (err) {
      await devices.stop()
      throw new StartupError(`jobs: ${(err as Error).message}`)
    }
    await app.register(jobRoutes, { config, models: modelMap, backend: jobs.backend, metrics })
  }

  let metricsApp: FastifyInstance | null = null
  if (config.metrics.port === null) {
    await app.register(metricsRoute, { metrics })
  } else {
    metricsApp = Fastify({ logger: false })
    await metricsApp.register(metricsRoute, { metrics })
  }

  // last of the steps that may fail: a server that does not start leaves no replay thread behind
  const ruleSelect = record !== undefined ? startRuleSelect(config, record, dispatcher, devices, queueBudget, metrics, app.log) : null

  let agent: Awaited<ReturnType<typeof startAgent>> | null = null
  return {
    app,
    metricsApp,
    devices,
    metrics,
    repository,
    jobs,
    record: record ?? null,
    get shuttingDown () { return shuttingDown },
    async listen () {
      const api = await app.listen({ host: config.server.host, port: config.server.port })
      const m = metricsApp ? await metricsApp.listen({ host: config.metrics.host, port: config.metrics.port ?? 0 }) : null
      if (config.agent.port !== null) {
        agent = await startAgent({
          host: config.agent.host,
          port: config.agent.port,
          referenceMs: config.agent.referenceMs,
          sharpness: config.agent.sharpness,
          backlogFloor: config.agent.backlogFloor,
          defaultModel: config.routes.classify,
          signals: pod,
          capacity: (model) => {
            let n = 0
            for (const s of devices.schedulers) {
              const l = s.lanes.get(model)
              if (l && s.healthy) n += l.maxQueue + s.liveWorkers * l.maxBatchSize
            }
            return n
          },
          isShuttingDown: () => shuttingDown
        })
      }
      return { api, metrics: m, agent: agent === null ? null : agent.port }
    },
    async close () {
      if (shuttingDown) return
      shuttingDown = true // /readyz answers 503; new inference requests get 503 SY_SHUTTING_DOWN
      if (config.server.shutdownDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.server.shutdownDelayMs))
      await repository.stop()
      await app.close() // stops accepting; answers 503 to new requests; waits for in-flight ones
      await ruleSelect?.close() // no more switches while the devices drain
      await jobs?.stopPulling() // job images taken finish and are stored; the rest stay queued
      await devices.drain()
      await devices.stop()
      for (const s of samplers) s.stop()
      await metricsApp?.close()
      await agent?.close()
      await jobs?.close()
    }
  }
}

/** The rule chosen by replay (routing.select): the loop on the real clock, its replays in a worker thread. */
function startRuleSelect (config: Config, record: ArrivalRecord, dispatcher: Dispatcher, devices: DeviceSet, budget: QueueBudget, metrics: Metrics, log: Log): { close: () => Promise<void> } {
  const sel = config.routing.select
  const thread = new ReplayThread()
  const loop = new RuleSelectLoop({
    dispatcher,
    devices: () => devices.schedulers,
    record,
    host: { slots: config.decode.slots, bulkSlots: config.decode.bulkSlots, maxWaiting: config.decode.maxWaiting, maxQueuedBytes: budget.maxBytes },
    slo: { latency: sel.latencySloMs, throughput: sel.throughputSloMs },
    everyMs: sel.everyMs,
    windowMs: sel.windowMs,
    confirm: sel.confirm,
    clock: realClock,
    choose: (snapshot) => thread.choose(snapshot),
    observer: metrics,
    log
  })
  loop.start()
  return { close: async () => { loop.close(); await thread.close() } }
}

/** The directory of plain ONNX models (modelRepository.dir, else models.localDir); null: none served. */
function repositoryDir (config: Config, root: string): string | null {
  if (!config.modelRepository.serve) return null
  const dir = config.modelRepository.dir ?? config.models.localDir
  return dir === null ? null : resolve(root, dir)
}

/** Names under the models directory that belong to configured models (model.json dirs, weights dirs): not plain models. */
function configuredDirs (config: Config, models: readonly ModelInfo[], root: string): Set<string> {
  const out = new Set<string>(config.models.enabled)
  const top = (file: string): string => file.split(/[\\/]/)[0]!
  for (const m of models) for (const v of m.variants) out.add(top(v.weights.file))
  // every model.json's weights, enabled or not: their directories are not plain models either
  const dir = resolve(root, config.models.repository)
  let names: string[] = []
  try { names = readdirSync(dir) } catch { /* no config repository: only the enabled models */ }
  for (const name of names) {
    out.add(name)
    for (const v of configuredVersions(dir, name)) { // every version's
      try {
        const spec = JSON.parse(readFileSync(resolve(v.dir, 'model.json'), 'utf8')) as { weights?: { file?: unknown }, variants?: Record<string, { weights?: { file?: unknown } }> }
        for (const w of [spec.weights, ...Object.values(spec.variants ?? {}).map((v) => v.weights)]) {
          if (typeof w?.file === 'string') out.add(top(w.file))
        }
      } catch { /* not a model directory */ }
    }
  }
  return out
}

/**
 * Compares the variants of every model that has several available (variant-agreement.ts) on
 * the calibration images, logs each comparison, and marks the ones beyond the drift limits
 * refused. The images are read only if some model needs them.
 */
async function compareAllVariants (config: Config, models: readonly ModelInfo[], root: string, log: FastifyInstance['log']): Promise<void> {
  const needed = models.filter((m) => m.task === 'classify' && m.variants.filter((v) => v.weightsPath !== null).length > 1)
  if (needed.length === 0) return
  let images
  try {
    images = await calibrationImages(config.models.calibrationImages === null ? null : resolve(root, config.models.calibrationImages))
  } catch (err) {
    throw new StartupError((err as Error).message)
  }
  for (const m of needed) {
    let agreement
    try {
      agreement = await compareVariants(m, images, config.images, config.models.variantDrift)
    } catch (err) {
      throw new StartupError((err as Error).message)
    }
    for (const [variant, a] of agreement) {
      const refused = m.variants.find((v) => v.name === variant)?.unavailable ?? null
      log[refused === null ? 'info' : 'warn']({
        model: m.name, variant, reference: a.reference, images: a.images,
        top1Agreement: round(a.top1Agreement, 4), maxScoreDifference: round(a.maxScoreDifference, 4), refused
      }, refused === null ? 'variant agreement' : `variant ${variant} of ${m.name} ${refused}`)
    }
  }
}
