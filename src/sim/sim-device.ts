// SIMULATED HARDWARE — builds a device for the simulator and for tests: simulated executors
// on a virtual clock instead of worker threads, holding the server's own Scheduler (queues,
// batcher, worker slots, cost model, breaker) as `scheduler`, as a Device holds its own.
import type { VirtualClock } from '../devices/clock.js'
import { laneSettings } from '../devices/lane-settings.js'
import { DEFAULT_RIDER_BUDGET } from '../devices/riders.js'
import type { RequestQueue } from '../devices/request-queue.js'
import { Scheduler, type SchedulerOptions } from '../devices/scheduler.js'
import type { PriceConfig } from '../router/price.js'
import type { CorePool } from './core-pool.js'
import { SimulatedExecutorFactory, type SimCondition, type SimCost } from './simulated-executor.js'

export interface SimModelProfile extends SimCost {
  maxBatchSize: number
  /**
   * t(n) = a + b·n fitted to the startup calibration alone (the device with the machine to
   * itself; `npm run simulate -- profile` records it). Used where the device shares the host's
   * cores in the simulation, since contention is then simulated rather than baked into a and b.
   */
  calibrated?: { a: number, b: number }
}

export interface SimDeviceSpec {
  id: string
  /** device kind: sets the default price and power (src/router/price.ts) */
  kind?: 'cpu' | 'cuda'
  pricePerHour?: number
  watts?: { busy: number, idle: number }
  workers: number
  latencyWorkers?: number
  /** cores one batch takes (intra-op threads) where the device shares the host's cores; default 1 */
  threads?: number
  /** default: the config schema's, as for a server device (devices/lane-settings.ts) */
  maxQueue?: number
  /** default: the config schema's, as for a server device (devices/lane-settings.ts) */
  batchDelayMs?: { latency: number, throughput: number }
  /** devices[].riders.budget (src/devices/riders.ts); default 1 */
  ridersBudget?: number
  /** devices[].riders.backlogBudget (src/devices/riders.ts); default the server's */
  ridersBacklogBudget?: number
  /** devices[].riders.latencyObjectiveMs (src/devices/latency-gate.ts); default: unset */
  latencyObjectiveMs?: number
  models: Record<string, SimModelProfile>
}

export interface SimDeviceOptions {
  costWindow?: number
  sharedQueues?: ReadonlyMap<string, RequestQueue>
  pools?: Map<string, RequestQueue>
  /** false: lanes start with no calibration (costs learnt from the first batches) */
  calibrate?: boolean
  /** the host's cores, shared with decoding (core-pool.ts) */
  cores?: CorePool
  /** scheduler settings beside the spec's (tests: the watchdog, the start timeout, who starts replacements — default these simulated executors) */
  scheduler?: Partial<Pick<SchedulerOptions, 'watchdog' | 'startTimeoutMs' | 'factory'>>
}

export class SimDevice {
  /** the spec's id; the scheduler's too */
  readonly id: string
  /** the policy half, the server's own (devices/scheduler.ts) */
  readonly scheduler: Scheduler
  readonly condition: SimCondition = { slowdown: 1, down: false }
  /** what the cost policy and the cost figures read: kind, price and power */
  readonly config: PriceConfig
  readonly executors: SimulatedExecutorFactory

  constructor (spec: SimDeviceSpec, clock: VirtualClock, random: () => number, opts: SimDeviceOptions = {}) {
    this.id = spec.id
    this.config = { kind: spec.kind ?? 'cpu', ...(spec.pricePerHour !== undefined ? { pricePerHour: spec.pricePerHour } : {}), ...(spec.watts !== undefined ? { watts: spec.watts } : {}) }
    // on the host's cores: the uncontended costs (contention is simulated), a batch as wide as its threads
    const pooled = opts.cores !== undefined
    const costs = new Map(Object.entries(spec.models).map(([m, p]): [string, SimModelProfile] => [m, pooled && p.calibrated ? { ...p, ...p.calibrated } : p]))
    this.executors = new SimulatedExecutorFactory(clock, costs, this.condition, random, 1000, opts.cores ? { pool: opts.cores, width: spec.threads ?? 1 } : undefined)
    this.scheduler = new Scheduler({ id: spec.id, workers: spec.workers, latencyWorkers: spec.latencyWorkers ?? 0, clock, config: this.config, factory: this.executors, costWindow: opts.costWindow ?? 128, restartBackoffMs: { initial: 250, max: 30_000 }, ...(spec.ridersBudget !== undefined || spec.ridersBacklogBudget !== undefined || spec.latencyObjectiveMs !== undefined ? { riders: { budget: spec.ridersBudget ?? DEFAULT_RIDER_BUDGET, ...(spec.ridersBacklogBudget !== undefined ? { backlogBudget: spec.ridersBacklogBudget } : {}), ...(spec.latencyObjectiveMs !== undefined ? { latencyObjectiveMs: spec.latencyObjectiveMs } : {}) } } : {}), ...opts.scheduler })
    for (const [model, p] of costs) {
      const sizes: number[] = []
      for (let n = 1; n < p.maxBatchSize; n *= 2) sizes.push(n)
      sizes.push(p.maxBatchSize)
      // the startup calibration, as a real device would measure it (nominal costs)
      const report = { name: model, inputShape: [], outputShape: [], dynamicBatch: p.maxBatchSize > 1, maxBatchSize: p.maxBatchSize, calibration: opts.calibrate === false ? [] : sizes.map((n) => ({ batchSize: n, ms: p.a + p.b * n })) }
      this.scheduler.addLane(model, laneSettings(spec, report, { sharedQueues: opts.sharedQueues, pools: opts.pools }))
    }
    for (let i = 0; i < spec.workers; i++) this.scheduler.adopt(i, this.executors.create())
  }

  /** Scenario event: the device fails (its workers die, replacements fail) or comes back. */
  setDown (down: boolean): void {
    this.condition.down = down
    if (down) for (const e of this.executors.started) e.kill()
  }

  /** Scenario event: batch times × factor from now on. */
  setSlowdown (factor: number): void {
    this.condition.slowdown = factor
  }
}
