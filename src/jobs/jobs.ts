// Assembly of asynchronous jobs: the backend (the in-memory queue, or NATS JetStream when
// jobs.nats.url is set), one Puller per model this replica serves, the metrics' view of the
// queue, and the completion callbacks. app.ts registers jobRoutes with `backend` and stops
// the pullers before it drains the devices.
import { availableParallelism, hostname } from 'node:os'
import type { Config } from '../config/schema.js'
import { intraOpThreadsOf } from '../devices/device.js'
import type { DeviceSet } from '../devices/device-set.js'
import type { Metrics } from '../metrics/metrics.js'
import type { ModelInfo } from '../models/model-spec.js'
import type { DecodeGate } from '../preprocess/decode-gate.js'
import { decodeImage } from '../preprocess/decode-image.js'
import { DecodeProcess } from '../preprocess/decode-process.js'
import type { Dispatcher } from '../router/dispatcher.js'
import type { Log } from '../util/log.js'
import { drainRate, freeThroughputSlots, startableSlots } from './capacity.js'
import { sendCallback } from './completion-callback.js'
import { decodeCap } from './decode-pace.js'
import type { JobBackend } from './job-types.js'
import { MemoryBackend } from './memory-backend.js'
import { NatsBackend } from './nats-backend.js'
import { Puller } from './puller.js'

/** background decodes at once at most: the decoder process's libuv threads (UV_THREADPOOL_SIZE's default) */
const BACKGROUND_DECODES = 4

export interface Jobs {
  backend: JobBackend
  replica: string
  /** stops taking images; resolves once those taken have their results stored */
  stopPulling: () => Promise<void>
  close: () => Promise<void>
}

export interface JobDeps {
  models: readonly ModelInfo[]
  devices: DeviceSet
  dispatcher: Dispatcher
  gate: DecodeGate
  metrics: Metrics
  log: Log
}

export async function createJobs (config: Config, deps: JobDeps): Promise<Jobs> {
  const settings = config.jobs
  const replica = settings.replica ?? `${hostname()}:${process.pid}`
  const served = deps.models.filter((m) => deps.devices.schedulers.some((d) => d.lanes.has(m.name)))
  const backend: JobBackend = settings.nats.url === null
    ? new MemoryBackend({ retentionMs: settings.retentionMs })
    : await NatsBackend.connect({ ...settings.nats, url: settings.nats.url, retentionMs: settings.retentionMs, models: served.map((m) => m.name), log: deps.log })
  // job images are background work: decoded at a lower CPU priority than requests (decode-process.ts)
  const decoder = settings.pull && served.length > 0 && settings.decodeNice !== null ? new DecodeProcess(settings.decodeNice, deps.log) : null
  const decode: typeof decodeImage = decoder === null ? decodeImage : (bytes, model, limits) => decoder.decode(bytes, model, limits)
  // job images decoded at once at most: the gate's throughput-class slots, or the decoder's threads
  const maxDecodeSlots = decoder !== null ? Math.max(config.decode.bulkSlots, BACKGROUND_DECODES) : config.decode.bulkSlots
  // while latency-class requests come, 'auto' decodes on the cores CPU inference leaves (decode-pace.ts)
  const cores = availableParallelism()
  let cpuInferenceThreads = 0
  for (const d of config.devices) if (d.kind === 'cpu') cpuInferenceThreads += d.workers * intraOpThreadsOf(d, cores)
  const pullers = settings.pull
    ? served.map((model) => new Puller({
      backend,
      model,
      free: () => freeThroughputSlots(deps.devices.schedulers, model.name),
      startable: () => startableSlots(deps.devices.schedulers, model.name),
      decodeSlots: settings.decodeSlots === 'auto' ? 'auto' : Math.min(settings.decodeSlots, maxDecodeSlots),
      decode,
      background: () => decoder?.separate === true,
      maxDecodeSlots,
      latencyDecodeCap: decodeCap(cores, cpuInferenceThreads),
      drainRate: () => drainRate(deps.devices.schedulers, model.name),
      devices: deps.devices.schedulers,
      dispatcher: deps.dispatcher,
      gate: deps.gate,
      metrics: deps.metrics,
      images: config.images,
      replica,
      itemDeadlineMs: settings.itemDeadlineMs,
      maxDeliver: settings.nats.maxDeliver,
      onFinished: (job) => { void sendCallback(job, settings.callbacks, deps.log) },
      log: deps.log
    }))
    : []
  // every series exists from the first scrape, at 0, for each model this replica serves
  for (const m of served) {
    deps.metrics.jobsSubmitted.inc({ model: m.name }, 0)
    deps.metrics.jobRedeliveries.inc({ model: m.name }, 0)
    for (const outcome of ['ok', 'failed']) deps.metrics.jobImagesDone.inc({ model: m.name, outcome }, 0)
  }
  deps.metrics.jobs = {
    stats: async () => {
      const s = await backend.stats()
      for (const m of served) if (!s.queued.has(m.name)) s.queued.set(m.name, 0)
      return s
    },
    running: () => new Map(served.map((m) => [m.name, pullers.find((p) => p.model === m.name)?.running ?? 0])),
    decodeSlots: () => new Map(pullers.map((p) => [p.model, p.decodeSlots]))
  }
  for (const p of pullers) p.start()
  let stopped: Promise<void> | null = null
  const stopPulling = (): Promise<void> => (stopped ??= Promise.all(pullers.map((p) => p.stop())).then(() => undefined))
  return {
    backend,
    replica,
    stopPulling,
    async close () {
      await stopPulling()
      await decoder?.close()
      await backend.close()
    }
  }
}
