// SIMULATED HARDWARE — a stand-in for a worker thread, for the simulator and for tests.
// Its batch times come from a device profile, t(n) = (a + b·n) · slowdown · (1 + jitter·u),
// u uniform in [−1, 1] from a seeded generator, and elapse on a VirtualClock. It implements
// the same Executor interface the server's worker threads do, so the scheduler it serves is
// the server's own, unchanged. It computes no answers: every item gets the same placeholder.
import { EventEmitter } from 'node:events'
import type { VirtualClock } from '../devices/clock.js'
import type { BatchCallback, Executor, ExecutorFactory } from '../devices/executor.js'
import { toFault, type Fault, type FaultMode } from '../devices/faults.js'
import type { QueuedItem } from '../devices/request-queue.js'
import { BatchFailedError } from '../errors.js'
import type { ItemResult } from '../postprocess/types.js'

export interface SimCost {
  /** fixed ms per batch */
  a: number
  /** ms per item */
  b: number
  /** relative spread of batch times, 0 … 1 (uniform ± this fraction) */
  jitter?: number
}

/** A simulated device's condition, changed by scenario events while it runs. */
export interface SimCondition {
  /** batch times are multiplied by this (1: nominal) */
  slowdown: number
  /** true: running batches die with their worker and replacements fail to start */
  down: boolean
}

const PLACEHOLDER: ItemResult = { kind: 'classify', predictions: [] }
const RESULTS: ItemResult[] = []

/** Seeded uniform [0, 1) generator (mulberry32): the same seed gives the same run. */
export function seededRandom (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6D2B79F5) >>> 0
    let r = Math.imul(s ^ (s >>> 15), 1 | s)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}

export class SimulatedExecutor extends EventEmitter implements Executor {
  private pending: { done: BatchCallback, timer: object } | null = null
  private fault: 'exit' | 'throw' | null = null
  private ended = false

  constructor (
    private readonly clock: VirtualClock,
    private readonly costs: ReadonlyMap<string, SimCost>,
    private readonly condition: SimCondition,
    private readonly random: () => number
  ) {
    super()
  }

  /** ms the next batch of n takes on this model (draws from the generator) */
  batchMs (model: string, n: number): number {
    const c = this.costs.get(model)
    if (!c) throw new Error(`simulated executor has no cost for model ${model}`)
    const jitter = c.jitter ?? 0
    return (c.a + c.b * n) * this.condition.slowdown * (1 + jitter * (2 * this.random() - 1))
  }

  run (model: string, items: readonly QueuedItem[], done: BatchCallback): void {
    const n = items.length
    if (this.ended) { this.clock.setTimer(this.clock.now(), () => done(new BatchFailedError('worker is not running', true))); return }
    const ms = this.batchMs(model, n)
    const fault = this.fault
    this.fault = null
    const timer = this.clock.setTimer(this.clock.now() + ms, () => {
      this.pending = null
      if (fault === 'exit' || this.condition.down) { this.die(done); return }
      if (fault === 'throw') { done(new BatchFailedError('injected fault: run failed', false)); return }
      while (RESULTS.length < n) RESULTS.push(PLACEHOLDER)
      done(null, { results: RESULTS, serviceMs: ms, postMs: 0 })
    })
    this.pending = { done, timer }
  }

  /** The worker dies now: its running batch fails, it says 'exit'. */
  kill (): void {
    if (this.ended) return
    const p = this.pending
    this.pending = null
    if (p) { this.clock.clearTimer(p.timer); this.die(p.done) } else this.die(null)
  }

  private die (done: BatchCallback | null): void {
    this.ended = true
    done?.(new BatchFailedError('worker exited with code 70', true))
    this.emit('exit', 70)
  }

  injectFault (fault: FaultMode | Fault): void {
    const { mode } = toFault(fault)
    if (mode === 'exit' || mode === 'throw') this.fault = mode
  }

  async stop (): Promise<void> {
    this.ended = true
  }
}

/** Starts simulated executors; while the device is down, starts fail (after `startMs`). */
export class SimulatedExecutorFactory implements ExecutorFactory {
  readonly started: SimulatedExecutor[] = []

  constructor (
    private readonly clock: VirtualClock,
    private readonly costs: ReadonlyMap<string, SimCost>,
    readonly condition: SimCondition,
    private readonly random: () => number,
    private readonly startMs = 0
  ) {}

  create (): SimulatedExecutor {
    const e = new SimulatedExecutor(this.clock, this.costs, this.condition, this.random)
    this.started.push(e)
    return e
  }

  spawn (_index: number, done: (err: Error | null, executor?: SimulatedExecutor) => void): void {
    this.clock.setTimer(this.clock.now() + this.startMs, () => {
      if (this.condition.down) done(new Error('simulated device is down'))
      else done(null, this.create())
    })
  }
}
