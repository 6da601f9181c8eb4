// One configured device instance (`cpu`, `cuda:0`, or a second CPU profile): the mechanism
// around a Scheduler (scheduler.ts). It starts the worker threads that run onnxruntime
// sessions, has the first one calibrate every model, creates a lane per model from what the
// workers report, and replaces workers that die. What runs when is the scheduler's business.
import { availableParallelism } from 'node:os'
import type { DeviceConfig } from '../config/schema.js'
import { DeviceUnavailableError, WorkerStartError } from '../errors.js'
import type { ModelInfo } from '../models/model-spec.js'
import type { ModelFailure, ModelReport, WorkerInit } from '../worker/protocol.js'
import { realClock, type Clock } from './clock.js'
import type { Executor } from './executor.js'
import { RequestQueue } from './request-queue.js'
import type { Log } from '../util/log.js'
import { Scheduler } from './scheduler.js'
import { WorkerHandle } from './worker-handle.js'

export type { BatchEvent, Lane } from './scheduler.js'

/**
 * Intra-op threads per session when the config says 0. On a CPU device, image decoding (libuv
 * pool) shares the cores with inference, so the workers get half of them between them; a GPU
 * session needs few CPU threads (2, for any operator that falls back to the CPU). On 2 cores
 * with 2 workers that is 1 thread: 1.44× the detections per second of onnxruntime's default of
 * every core per session (bench/results/threads.md).
 */
export function autoIntraOpThreads (kind: DeviceConfig['kind'], cores: number, workers: number): number {
  return kind === 'cuda' ? 2 : Math.max(1, Math.floor(cores / 2 / workers))
}

export interface DeviceOptions {
  calibrationRuns: number
  costWindow: number
  allowFaults?: boolean
  log?: Log
  /** consecutive failed batches before a worker is replaced (circuit breaker) */
  breakerThreshold?: number
  restartBackoffMs?: { initial: number, max: number }
  clock?: Clock
  /** per model, a queue shared by every device (the shared-queue routing strategy) */
  sharedQueues?: ReadonlyMap<string, RequestQueue>
  /** per (model, variant) — key `model@variant`, filled as devices start — the throughput pool every device running it pulls from (late binding) */
  pools?: Map<string, RequestQueue>
}

export class Device extends Scheduler {
  readonly kind: DeviceConfig['kind']
  /** models whose session could not be created here, with the reason */
  readonly failures = new Map<string, string>()
  private init: WorkerInit | null = null
  /** model → the variant loaded here (the weights sent to the workers are that variant's) */
  private readonly variantOf = new Map<string, string>()

  constructor (readonly config: DeviceConfig, private readonly opts: DeviceOptions) {
    super({
      id: config.id,
      workers: config.workers,
      latencyWorkers: config.latencyWorkers,
      clock: opts.clock ?? realClock,
      costWindow: opts.costWindow,
      ...(opts.breakerThreshold !== undefined ? { breakerThreshold: opts.breakerThreshold } : {}),
      ...(opts.restartBackoffMs !== undefined ? { restartBackoffMs: opts.restartBackoffMs } : {}),
      ...(opts.log !== undefined ? { log: opts.log } : {}),
      watchdog: config.watchdog,
      startTimeoutMs: config.startTimeoutMs
    })
    this.kind = config.kind
    this.factory = { spawn: (_index, done) => { this.startWorker(0).then((h) => done(null, h), (err: Error) => done(err)) } }
  }

  /** Starts the workers; the first one calibrates every model. Throws DeviceUnavailableError. */
  async start (models: ModelInfo[]): Promise<void> {
    const mine = this.config.models ? models.filter((m) => this.config.models!.includes(m.name)) : models
    for (const m of mine) this.variantOf.set(m.name, m.variant)
    this.init = {
      device: { kind: this.kind, deviceId: this.config.deviceId, intraOpThreads: this.config.intraOpThreads || autoIntraOpThreads(this.kind, availableParallelism(), this.config.workers) },
      models: mine.map((m) => ({
        name: m.name,
        weightsPath: m.weightsPath,
        input: m.input,
        preprocess: m.preprocess,
        output: m.output,
        labels: m.labelList,
        maxBatchSize: this.config.perModel[m.name]?.maxBatchSize ?? this.config.maxBatchSize
      })),
      calibrationRuns: this.opts.calibrationRuns,
      allowFaults: this.opts.allowFaults === true
    }
    for (let i = 0; i < this.config.workers; i++) {
      let handle: WorkerHandle
      try {
        // lanes come from the first worker, the one that calibrates (the others report none)
        handle = await this.startWorker(i === 0 ? this.opts.calibrationRuns : 0, i > 0 ? undefined : (started) => {
          this.createLanes(started.models)
          for (const f of started.failures) this.failures.set(f.name, f.message)
        })
      } catch (err) {
        await this.stop()
        const e = err as Error
        throw new DeviceUnavailableError(e instanceof WorkerStartError && e.providerUnavailable
          ? `device ${this.id}: the ${this.kind.toUpperCase()} execution provider cannot be loaded: ${firstLine(e.message)}`
          : `device ${this.id}: ${firstLine(e.message)}`)
      }
      this.adopt(i, handle)
    }
  }

  private async startWorker (calibrationRuns: number, onReady?: (r: { models: ModelReport[], failures: ModelFailure[] }) => void): Promise<WorkerHandle & Executor> {
    if (this.init === null) throw new DeviceUnavailableError(`device ${this.id} was not started`)
    const handle = new WorkerHandle()
    const started = await handle.start({ ...this.init, calibrationRuns })
    onReady?.(started)
    return handle
  }

  private createLanes (reports: ModelReport[]): void {
    for (const report of reports) {
      const per = this.config.perModel[report.name]
      const queue = this.opts.sharedQueues?.get(report.name)
      const poolKey = `${report.name}@${this.variantOf.get(report.name)!}`
      let pool = this.opts.pools?.get(poolKey)
      if (this.opts.pools !== undefined && pool === undefined) { pool = new RequestQueue(); this.opts.pools.set(poolKey, pool) }
      this.addLane(report.name, {
        maxBatchSize: report.maxBatchSize,
        delayMs: { ...this.config.batchDelayMs, ...per?.batchDelayMs },
        maxQueue: this.config.maxQueue,
        report,
        variant: this.variantOf.get(report.name)!,
        ...(queue !== undefined ? { queue } : {}),
        ...(pool !== undefined ? { pool } : {})
      })
    }
  }
}

function firstLine (s: string): string {
  return s.split('\n')[0]!.replace(/\x1b\[[0-9;]*m/g, '').trim()
}
