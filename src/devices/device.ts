// One configured device instance (`cpu`, `cuda:0`, or a second CPU profile): the mechanism,
// holding its policy — a Scheduler (scheduler.ts), `device.scheduler`. It starts the worker
// threads (or processes) that run onnxruntime sessions, has the first one calibrate every
// model, creates a lane per model from what the workers report, starts the replacements the
// scheduler asks for (its ExecutorFactory), loads models at run time and keeps the injected
// faults that outlive a worker. What runs when is the scheduler's business: whatever only
// schedules (the router, the dispatcher, the metrics) is handed the scheduler, not the Device.
import { statSync } from 'node:fs'
import { availableParallelism, totalmem } from 'node:os'
import { deviceIsolation, deviceBatchShapes, type DeviceConfig } from '../config/schema.js'
import { DeviceUnavailableError, WorkerStartError } from '../errors.js'
import type { ModelInfo } from '../models/model-spec.js'
import type { ModelFailure, ModelReport, TensorModel, WorkerInit } from '../worker/protocol.js'
import { realClock, type Clock } from './clock.js'
import type { Executor } from './executor.js'
import { faultProblem, toFault, type Fault, type FaultMode } from './faults.js'
import { ProcessHandle } from './process-handle.js'
import { laneSettings } from './lane-settings.js'
import type { RequestQueue } from './request-queue.js'
import type { Log } from '../util/log.js'
import { DEFAULT_START_TIMEOUT_MS, Scheduler } from './scheduler.js'
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

/** Intra-op threads each of a device's sessions runs with: the config's, or autoIntraOpThreads where it says 0. */
export function intraOpThreadsOf (config: Pick<DeviceConfig, 'kind' | 'intraOpThreads' | 'workers'>, cores: number): number {
  return config.intraOpThreads || autoIntraOpThreads(config.kind, cores, config.workers)
}

export interface DeviceOptions {
  calibrationRuns: number
  costWindow: number
  /** accept fault injection (devices/faults.ts): config faults.allow */
  allowFaults?: boolean
  /** faults this device starts with (config faults.inject) */
  faults?: Fault[]
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

export class Device {
  /** the config's id; the scheduler's too */
  readonly id: string
  /** the policy half: lanes, worker slots, the batcher, health, the breaker (scheduler.ts) */
  readonly scheduler: Scheduler
  readonly kind: DeviceConfig['kind']
  /** models whose session could not be created here, with the reason */
  readonly failures = new Map<string, string>()
  private init: WorkerInit | null = null
  /** model → the variant loaded here (the weights sent to the workers are that variant's) */
  private readonly variantOf = new Map<string, string>()
  /** thread (worker_threads) or process (a child process per worker) */
  readonly isolation: 'thread' | 'process'
  /** injected faults that outlive a worker: the slow-down, replacement starts still to fail */
  private slowMs = 0
  private failStarts = 0
  /** model (lane key) → bytes of its weights file: what a session is estimated to hold */
  private readonly weightBytes = new Map<string, number>()
  private readonly clock: Clock

  constructor (readonly config: DeviceConfig, private readonly opts: DeviceOptions) {
    this.id = config.id
    this.clock = opts.clock ?? realClock
    this.scheduler = new Scheduler({
      id: config.id,
      workers: config.workers,
      latencyWorkers: config.latencyWorkers,
      clock: this.clock,
      config,
      // replacements the scheduler asks for: a worker started as at startup (warmed, not calibrated)
      factory: {
        spawn: (_index, done) => {
          const failStart = this.failStarts > 0
          if (failStart) this.failStarts--
          this.startWorker(0, undefined, failStart).then((h) => done(null, h), (err: Error) => done(err))
        }
      },
      costWindow: opts.costWindow,
      ...(opts.breakerThreshold !== undefined ? { breakerThreshold: opts.breakerThreshold } : {}),
      ...(opts.restartBackoffMs !== undefined ? { restartBackoffMs: opts.restartBackoffMs } : {}),
      ...(opts.log !== undefined ? { log: opts.log } : {}),
      watchdog: config.watchdog,
      startTimeoutMs: config.startTimeoutMs,
      ...(config.riders !== undefined ? { riders: config.riders } : {})
    })
    this.kind = config.kind
    this.isolation = deviceIsolation(config)
  }

  /**
   * Fault injection (devices/faults.ts). 'slow' applies to every worker, replacements
   * included, until cleared; 'fail-start' to the next replacement starts; the others to the
   * next batch of the first live worker (Scheduler.injectFault). Throws when faults are not
   * allowed here or the fault cannot be (a 'crash' in a worker thread).
   */
  injectFault (fault: FaultMode | Fault): void {
    const f = toFault(fault)
    if (this.opts.allowFaults !== true) throw new Error(`device ${this.id} does not accept faults (faults.allow is off)`)
    const problem = faultProblem(f, this.isolation)
    if (problem !== null) throw new Error(`device ${this.id}: ${problem}`)
    if (f.mode === 'slow') {
      this.slowMs = f.delayMs ?? 0
      for (const w of this.scheduler.workers) w.executor?.injectFault?.(f)
    } else if (f.mode === 'fail-start') {
      this.failStarts += f.count ?? 1
    } else {
      this.scheduler.injectFault(f)
    }
  }

  /** Clears the faults that last: the slow-down and replacement starts still to fail. */
  clearFaults (): void {
    this.failStarts = 0
    if (this.slowMs === 0) return
    this.slowMs = 0
    for (const w of this.scheduler.workers) w.executor?.injectFault?.({ mode: 'slow', delayMs: 0 })
  }

  /** The faults that last, as they stand (GET and DELETE /admin/faults answer them). */
  get faults (): { slowMs: number, failStarts: number } {
    return { slowMs: this.slowMs, failStarts: this.failStarts }
  }

  /** Refuses what is queued, lets running batches finish, stops every worker (Scheduler.stop): start()'s counterpart. */
  stop (): Promise<void> {
    return this.scheduler.stop()
  }

  /** Starts the workers; the first one calibrates every model. Throws DeviceUnavailableError. */
  async start (models: ModelInfo[]): Promise<void> {
    const mine = this.config.models ? models.filter((m) => this.config.models!.includes(m.name)) : models
    for (const m of mine) {
      this.variantOf.set(m.name, m.variant)
      this.weightBytes.set(m.name, fileBytes(m.weightsPath))
    }
    this.init = {
      device: { kind: this.kind, deviceId: this.config.deviceId, intraOpThreads: intraOpThreadsOf(this.config, availableParallelism()), calibratedShapes: deviceBatchShapes(this.config) === 'calibrated' },
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
    // a configured slow-down holds from the first batch, calibration included (a slow replica's costs)
    for (const f of this.opts.faults ?? []) if (f.mode === 'slow' || f.mode === 'fail-start') this.injectFault(f)
    for (let i = 0; i < this.config.workers; i++) {
      let handle: Executor
      try {
        // lanes come from the first worker, the one that calibrates (the others report none)
        handle = await this.startWorker(i === 0 ? this.opts.calibrationRuns : 0, i > 0 ? undefined : (started) => {
          this.createLanes(started.models)
          for (const f of started.failures) this.failures.set(f.name, f.message)
        })
      } catch (err) {
        await this.scheduler.stop()
        const e = err as Error
        throw new DeviceUnavailableError(e instanceof WorkerStartError && e.providerUnavailable
          ? `device ${this.id}: the ${this.kind.toUpperCase()} execution provider cannot be loaded: ${firstLine(e.message)}`
          : `device ${this.id}: ${firstLine(e.message)}`)
      }
      this.scheduler.adopt(i, handle)
    }
    for (const f of this.opts.faults ?? []) if (f.mode !== 'slow' && f.mode !== 'fail-start') this.injectFault(f)
  }

  private async startWorker (calibrationRuns: number, onReady?: (r: { models: ModelReport[], failures: ModelFailure[] }) => void, failStart = false): Promise<Executor> {
    if (this.init === null) throw new DeviceUnavailableError(`device ${this.id} was not started`)
    const handle = this.isolation === 'process' ? new ProcessHandle() : new WorkerHandle()
    const faults = this.opts.allowFaults === true ? { faults: { slowMs: this.slowMs, failStart } } : {}
    const started = await this.withinStartTimeout(handle, handle.start({ ...this.init, calibrationRuns, ...faults }))
    for (const m of started.models) {
      if (m.shapes) this.opts.log?.info({ device: this.id, model: m.name, shapes: m.shapes }, `device ${this.id}: worker ran ${m.name}'s batch shapes ${m.shapes.map((x) => `${x.batchSize}: ${Math.round(x.firstMs)} ms`).join(', ')} (first runs; batches are padded to these sizes)`)
    }
    onReady?.(started)
    return handle
  }

  /**
   * A worker that has not started within startTimeoutMs counts as failed (a device whose first
   * workers never come up is left out at startup; a replacement's backoff goes on). The late
   * worker is ended: killed where it can be (a process), else stopped by message once it starts.
   */
  private withinStartTimeout<T> (handle: Executor, starting: Promise<T>): Promise<T> {
    const limitMs = this.config.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS
    return new Promise<T>((resolve, reject) => {
      let timedOut = false
      const timer = this.clock.setTimer(this.clock.now() + limitMs, () => {
        timedOut = true
        if (handle.kill) handle.kill()
        reject(new WorkerStartError(`worker did not start within ${limitMs} ms (devices[].startTimeoutMs)`, false))
      })
      starting.then((v) => {
        if (!timedOut) { this.clock.clearTimer(timer); resolve(v) } else void handle.stop()
      }, (err: unknown) => {
        if (!timedOut) { this.clock.clearTimer(timer); reject(err) }
      })
    })
  }

  /**
   * What the device may hold, estimated as the weights files of its models once per worker
   * (`devices[].memoryBytes`; default: the machine's memory on a CPU, unknown — no check — on CUDA).
   */
  get memoryBudget (): number | null {
    return this.config.memoryBytes ?? (this.kind === 'cpu' ? totalmem() : null)
  }

  get memoryEstimate (): number {
    let sum = 0
    for (const b of this.weightBytes.values()) sum += b
    return sum * this.config.workers
  }

  /**
   * Adds a plain ONNX model (the model repository) to every live worker — one warms and
   * calibrates it, then its lane opens on that worker while the others load it
   * (Scheduler.openLane) — so it takes traffic once calibrated. The same key again replaces the
   * session (a reload) and keeps its queue. Throws (the reason) when it does not fit the memory
   * budget or the first worker cannot load it; then nothing of it is loaded (a reload: the old
   * session keeps serving).
   */
  async loadTensorModel (model: TensorModel, bytes: number): Promise<ModelReport> {
    if (this.init === null) throw new DeviceUnavailableError(`device ${this.id} was not started`)
    const budget = this.memoryBudget
    const need = (this.memoryEstimate - (this.weightBytes.get(model.name) ?? 0) * this.config.workers) + bytes * this.config.workers
    if (budget !== null && need > budget) {
      throw new Error(`it does not fit device ${this.id}'s memory: ${mib(need)} MiB estimated (weights × ${this.config.workers} workers) with the models loaded, the budget is ${mib(budget)} MiB (devices[].memoryBytes)`)
    }
    const runs = this.opts.calibrationRuns
    const load = (executor: Executor, calibrate: boolean): Promise<ModelReport> => executor.loadModel !== undefined
      ? executor.loadModel(model, calibrate ? runs : 0)
      : Promise.reject(new Error('this worker cannot load models'))
    let report: ModelReport
    try {
      ({ report } = await this.scheduler.openLane(model.name, (r) => laneSettings(this.config, r, { perModelKey: model.name.split('@')[0]! }), load))
    } catch (err) {
      throw new Error(firstLine((err as Error).message))
    }
    // replacement workers load it at start (warmed, not calibrated)
    this.init = { ...this.init, tensorModels: [...(this.init.tensorModels ?? []).filter((m) => m.name !== model.name), model] }
    this.weightBytes.set(model.name, bytes)
    return report
  }

  /** Takes a plain model out of service: no new work, what is queued for it runs, then its sessions are released. */
  async unloadTensorModel (name: string): Promise<void> {
    await this.scheduler.removeLane(name)
    if (this.init !== null) this.init = { ...this.init, tensorModels: (this.init.tensorModels ?? []).filter((m) => m.name !== name) }
    this.weightBytes.delete(name)
    for (const w of this.scheduler.workers) await w.executor?.unloadModel?.(name).catch(() => {})
  }

  private createLanes (reports: ModelReport[]): void {
    for (const report of reports) {
      this.scheduler.addLane(report.name, laneSettings(this.config, report, { variant: this.variantOf.get(report.name)!, sharedQueues: this.opts.sharedQueues, pools: this.opts.pools }))
    }
  }
}

function fileBytes (path: string): number {
  try { return statSync(path).size } catch { return 0 }
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1)

function firstLine (s: string): string {
  return s.split('\n')[0]!.replace(/\x1b\[[0-9;]*m/g, '').trim()
}
