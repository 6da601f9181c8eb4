// One configured device instance (`cpu`, `cuda:0`, or a second CPU profile): its workers,
// a queue and a cost model per model, the batcher that feeds idle workers, and its health.
// Everything the router needs is observable synchronously from the main thread: queue depth
// by class, items in flight, what each busy worker is running and since when.
import { EventEmitter } from 'node:events'
import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import type { DeviceConfig } from '../config/schema.js'
import type { ModelInfo } from '../models/model-spec.js'
import { CostModel } from '../router/cost-model.js'
import type { ModelFailure, ModelReport, WorkerInit } from '../worker/protocol.js'
import { planBatch, type BatchSlot } from './batcher.js'
import { RequestQueue, type QueuedItem } from './request-queue.js'
import { BatchFailedError, WorkerHandle, WorkerStartError } from './worker-handle.js'

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

export class DeviceUnavailableError extends Error {
  override name = 'DeviceUnavailableError'
}

export interface Lane extends BatchSlot {
  cost: CostModel
  maxQueue: number
  inFlight: number
  report: ModelReport
  /** the model variant whose weights this lane runs */
  readonly variant: string
}

interface Running { model: string, size: number, startedAt: number, predictedMs: number }

export interface BatchEvent {
  device: string
  model: string
  size: number
  /** worker time for the batch: tensor layout + run + decode */
  serviceMs: number
  predictedMs: number
}

export interface DeviceOptions {
  calibrationRuns: number
  costWindow: number
  allowFaults?: boolean
  log?: { warn: (obj: object, msg: string) => void, info: (obj: object, msg: string) => void }
  /** consecutive failed batches before a worker is replaced (circuit breaker) */
  breakerThreshold?: number
  restartBackoffMs?: { initial: number, max: number }
}

/**
 * Events: 'batch' (BatchEvent) after every executed batch; 'health' (boolean) when it flips.
 */
export class Device extends EventEmitter {
  readonly id: string
  readonly kind: DeviceConfig['kind']
  readonly lanes = new Map<string, Lane>()
  /** the lanes as the batcher reads them, built once */
  private slots: Lane[] = []
  /** models whose session could not be created here, with the reason */
  readonly failures = new Map<string, string>()
  private readonly workers: Array<WorkerHandle | null> = []
  private readonly running = new Map<WorkerHandle, Running>()
  private readonly consecutiveErrors = new Map<WorkerHandle, number>()
  private timer: NodeJS.Timeout | null = null
  private timerAt = Infinity
  private closed = false
  private lastHealthy = false
  private init: WorkerInit | null = null
  /** model → the variant loaded here (the weights sent to the workers are that variant's) */
  private readonly variantOf = new Map<string, string>()

  constructor (readonly config: DeviceConfig, private readonly opts: DeviceOptions) {
    super()
    this.id = config.id
    this.kind = config.kind
  }

  get liveWorkers (): number {
    return this.workers.filter((w) => w?.alive === true).length
  }

  get healthy (): boolean {
    return !this.closed && this.liveWorkers > 0
  }

  /**
   * Per live worker, in order (reserved latency workers first): ms until it is free, by the
   * cost model (0 when idle).
   */
  residualsMs (now: number): number[] {
    const out: number[] = []
    for (const w of this.workers) {
      if (!w?.alive) continue
      const r = this.running.get(w)
      out.push(r ? Math.max(0, r.startedAt + r.predictedMs - now) : 0)
    }
    return out
  }

  /** workers 0 … latencyWorkers−1 take latency-class work only (at least one worker takes all) */
  get latencyWorkers (): number {
    return Math.min(this.config.latencyWorkers, this.config.workers - 1)
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
      const handle = new WorkerHandle()
      let started: { models: ModelReport[], failures: ModelFailure[] }
      try {
        started = await handle.start(i === 0 ? this.init : { ...this.init, calibrationRuns: 0 })
      } catch (err) {
        await this.stop()
        const e = err as Error
        throw new DeviceUnavailableError(e instanceof WorkerStartError && e.providerUnavailable
          ? `device ${this.id}: the ${this.kind.toUpperCase()} execution provider cannot be loaded: ${firstLine(e.message)}`
          : `device ${this.id}: ${firstLine(e.message)}`)
      }
      this.adopt(handle, i)
      if (i === 0) {
        this.createLanes(started.models)
        for (const f of started.failures) this.failures.set(f.name, f.message)
      }
    }
    this.updateHealth()
  }

  private createLanes (reports: ModelReport[]): void {
    for (const report of reports) {
      const per = this.config.perModel[report.name]
      const cost = new CostModel(this.opts.costWindow)
      for (const c of report.calibration) cost.observe(c.batchSize, c.ms)
      this.lanes.set(report.name, {
        model: report.name,
        queue: new RequestQueue(),
        maxBatchSize: report.maxBatchSize,
        delayMs: { ...this.config.batchDelayMs, ...per?.batchDelayMs },
        maxQueue: this.config.maxQueue,
        inFlight: 0,
        cost,
        report,
        variant: this.variantOf.get(report.name)!
      })
    }
    this.slots = [...this.lanes.values()]
  }

  private adopt (handle: WorkerHandle, index: number): void {
    this.workers[index] = handle
    handle.on('exit', (code: number) => {
      this.opts.log?.warn({ device: this.id, worker: index, code }, 'inference worker exited; replacing it')
      this.retire(handle, index)
    })
  }

  /** Takes a failed worker out of service and starts a replacement with backoff. */
  private retire (handle: WorkerHandle, index: number): void {
    if (this.workers[index] !== handle) return
    this.workers[index] = null
    this.running.delete(handle)
    this.consecutiveErrors.delete(handle)
    if (handle.alive) void handle.stop() // idle after its error: a stop message is safe
    this.updateHealth()
    if (this.liveWorkers === 0) this.failQueued('device has no live worker')
    void this.replace(index)
  }

  private async replace (index: number): Promise<void> {
    const backoff = this.opts.restartBackoffMs ?? { initial: 250, max: 30_000 }
    let delay = backoff.initial
    while (!this.closed && this.init) {
      await new Promise((resolve) => setTimeout(resolve, delay).unref())
      if (this.closed) return
      const handle = new WorkerHandle()
      try {
        await handle.start({ ...this.init, calibrationRuns: 0 })
        if (this.closed) { await handle.stop(); return }
        this.adopt(handle, index)
        this.opts.log?.info({ device: this.id, worker: index }, 'replacement worker ready')
        this.updateHealth()
        this.pump()
        return
      } catch (err) {
        this.opts.log?.warn({ device: this.id, worker: index, err: (err as Error).message, retryInMs: delay }, 'replacement worker failed to start')
        delay = Math.min(delay * 2, backoff.max)
      }
    }
  }

  /** Accepts an item (admission control happened in the router). */
  enqueue (model: string, item: QueuedItem): void {
    const lane = this.lanes.get(model)
    if (!lane || !this.healthy) {
      item.reject(new BatchFailedError(`device ${this.id} cannot take model ${model} now`, true))
      return
    }
    lane.queue.push(item)
    this.pump()
  }

  /** Test hook: the next batch on the first live worker fails this way. */
  injectFault (mode: 'exit' | 'throw'): void {
    this.workers.find((w) => w?.alive)?.injectFault(mode)
  }

  private pump (): void {
    if (this.closed) return
    const slots = this.slots
    // reserved latency workers first, so latency work lands on them when they are free
    for (let i = 0; i < this.workers.length; i++) {
      const worker = this.workers[i]
      if (!worker?.alive || this.running.has(worker)) continue
      const now = performance.now()
      const plan = planBatch(slots, now, i < this.latencyWorkers)
      if (plan.action === 'idle') continue
      if (plan.action === 'wait') { this.wakeAt(plan.until); continue }
      const lane = this.lanes.get(plan.model)!
      this.dispatch(worker, lane, lane.queue.take(plan.policy, plan.count), now)
    }
  }

  private wakeAt (at: number): void {
    if (this.timer && this.timerAt <= at) return
    if (this.timer) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => { this.timer = null; this.timerAt = Infinity; this.pump() }, Math.max(0, at - performance.now()))
  }

  private dispatch (worker: WorkerHandle, lane: Lane, items: QueuedItem[], now: number): void {
    const predictedMs = lane.cost.predict(items.length)
    this.running.set(worker, { model: lane.model, size: items.length, startedAt: now, predictedMs })
    lane.inFlight += items.length
    worker.run(lane.model, items.map((i) => ({ image: i.image, params: i.params }))).then((res) => {
      const done = performance.now()
      const serviceMs = res.prepMs + res.runMs + res.postMs
      lane.cost.observe(items.length, serviceMs)
      this.consecutiveErrors.delete(worker)
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!
        item.resolve({
          result: res.results[i]!,
          device: this.id,
          batchSize: items.length,
          queueMs: now - item.enqueuedAt,
          inferenceMs: done - now - res.postMs,
          postprocessMs: res.postMs
        })
      }
      this.emit('batch', { device: this.id, model: lane.model, size: items.length, serviceMs, predictedMs } satisfies BatchEvent)
    }, (err: Error) => {
      for (const item of items) item.reject(err)
      const failed = err instanceof BatchFailedError && err.workerDied
      const errors = (this.consecutiveErrors.get(worker) ?? 0) + 1
      this.consecutiveErrors.set(worker, errors)
      this.opts.log?.warn({ device: this.id, model: lane.model, batchSize: items.length, err: err.message }, 'batch failed')
      if (!failed && errors >= (this.opts.breakerThreshold ?? 3)) {
        const index = this.workers.indexOf(worker)
        if (index >= 0) this.retire(worker, index)
      }
    }).finally(() => {
      lane.inFlight -= items.length
      this.running.delete(worker)
      this.pump()
    })
  }

  private failQueued (reason: string): void {
    for (const lane of this.lanes.values()) {
      for (const item of lane.queue.drain()) item.reject(new BatchFailedError(`device ${this.id}: ${reason}`, true))
    }
  }

  private updateHealth (): void {
    const h = this.healthy
    if (h !== this.lastHealthy) {
      this.lastHealthy = h
      this.emit('health', h)
    }
  }

  /** Queued and running work finishes first; then the workers release their sessions. */
  async drain (): Promise<void> {
    while (this.healthy && [...this.lanes.values()].some((l) => l.queue.size > 0 || l.inFlight > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  async stop (): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.failQueued('device stopped')
    await Promise.all(this.workers.map((w) => w?.stop()))
    this.workers.fill(null)
    this.updateHealth()
  }
}

function firstLine (s: string): string {
  return s.split('\n')[0]!.replace(/\x1b\[[0-9;]*m/g, '').trim()
}
