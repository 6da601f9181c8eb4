// A device's scheduler: the policy half of a device, in the spirit of Triton's scheduler /
// backend split. It owns, per model, a queue and a cost model (a lane); per worker, one
// record (slot) saying whether the worker is alive, whether it takes throughput-class work,
// and what it runs until when; the batcher (batcher.ts) that picks what a free worker runs
// next; health and the circuit breaker. It never touches threads, sessions or real time:
// work runs on Executors (executor.ts) and time comes from a Clock (clock.ts). It is held,
// not extended: the server's Device (device.ts) holds one and drives it with worker threads
// and the real clock, the simulator's SimDevice holds one with simulated executors on a
// virtual clock; what the mechanism supplies (the clock, the factory of replacement
// executors, the price) comes in through SchedulerOptions. The router, the dispatcher and
// the metrics read and drive a device through its Scheduler alone.
//
// Worker slots, and the one view of them the router reads:
//   reserved          configured: slots 0 … latencyWorkers−1 take latency-class work only
//   alive             an executor is running in the slot (a dead one is being replaced)
//   takesThroughput   not reserved — or reserved while no unreserved slot is alive, so a
//                     device never holds bulk work that none of its live workers will take
//   busyUntil         when the running batch is predicted to end (cost model), 0 when idle
// pump() and the router (router.ts) read these same fields, so they cannot disagree about
// which worker takes which work.
//
// Nothing accepted is left without an answer (see docs/architecture.md, Faults):
//   guard      executor.run throwing synchronously fails that batch like a batch that threw
//   watchdog   a batch running past max(floorMs, factor × predicted ms) fails, its worker is
//              retired (killed where the executor can be: a process; a thread is abandoned)
//              and replaced; a late result from the abandoned executor is ignored
//   deadlines  an item whose deadline passed while queued is answered SY_DEADLINE_EXCEEDED
//              instead of run: when a batch is formed, and by a timer at the earliest queued
//              deadline, so it does not wait behind a hung worker
//   start      a replacement that does not start within startTimeoutMs counts as a failed
//              start (the backoff goes on); should it arrive later, it is stopped
import { EventEmitter } from 'node:events'
import { BatchFailedError, DeadlineExceeded, DeviceRefusedError } from '../errors.js'
import type { DeviceConfig } from '../config/schema.js'
import type { Log } from '../util/log.js'
import type { ModelReport } from '../worker/protocol.js'
import { planBatch, type BatchSlot } from './batcher.js'
import type { Clock, TimerHandle } from './clock.js'
import { BulkShare } from './bulk-share.js'
import { CostModel } from './cost-model.js'
import type { BatchResult, Executor, ExecutorFactory } from './executor.js'
import type { Fault, FaultMode } from './faults.js'
import { ADVANTAGE_LOAD, choosePool, joinCount, pullCount, relativeEff, type PoolMember, type ReadyPool } from './late-binding.js'
import { overdue } from './overdue-pool.js'
import { residualMs } from './residual.js'
import { DEFAULT_BACKLOG_BUDGET, DEFAULT_RIDER_BUDGET, fillCount, riderCount } from './riders.js'
import { LatencyGate } from './latency-gate.js'
import { RequestQueue, type QueueConsumer, type QueuedItem } from './request-queue.js'

/** A pool a free worker may pull from now (planPool): its lane, the pull rule's count, what choosePool weighs, the device's t(1) there. */
interface PoolPull extends ReadyPool { lane: Lane, oneMs: number }

export interface Lane extends BatchSlot {
  cost: CostModel
  maxQueue: number
  /** items in batches running now */
  inFlight: number
  /** what the worker reported when it loaded the model (shape, calibration) */
  report: ModelReport
  /** the model variant whose weights this lane runs */
  readonly variant: string
  /** the throughput pool several devices pull from (late binding, late-binding.ts); absent: none (or left: useShared) */
  pool?: RequestQueue
  /**
   * While `queue` is shared with other devices (the shared-queue rule: useShared, or the
   * strategy's queues from the start): this device's own queue, for the items pinned to it
   * (X-Switchyard-Device), which no other device may take. Its batches are planned with the
   * shared queue's, by class and deadline. Absent: `queue` is the lane's own.
   */
  bound?: RequestQueue
}

/** A lane's bound queue as the batcher plans it (Lane.bound): a batch planned here is taken from it. */
interface BoundSlot extends BatchSlot { readonly lane: Lane }

export interface LaneSettings {
  maxBatchSize: number
  delayMs: { latency: number, throughput: number }
  maxQueue: number
  report: ModelReport
  /** default: 'default' */
  variant?: string
  /** a queue shared with other devices (the shared-queue strategy); default: the lane's own */
  queue?: RequestQueue
  /** a throughput pool shared with other devices (the late-binding strategy) */
  pool?: RequestQueue
}

interface Running {
  lane: Lane
  size: number
  startedAt: number
  predictedMs: number
  /** the watchdog's timer; null once the batch settled */
  watchdog: TimerHandle | null
  /** set once the batch has been answered (a result, an error, the watchdog): later callbacks are ignored */
  settled: boolean
}

export interface WorkerSlot {
  readonly index: number
  readonly reserved: boolean
  alive: boolean
  takesThroughput: boolean
  /** clock ms when the running batch is predicted to end; 0 when idle */
  busyUntil: number
  executor: Executor | null
  running: Running | null
  /** consecutive failed batches (circuit breaker) */
  errors: number
  /** busy with something other than a batch (a model load): pump() gives it no work meanwhile */
  held?: boolean
  /**
   * The lane of a model this worker has just loaded and calibrated (openLane), as a list of one
   * for the batcher: its work goes first here while the device's other workers still load it.
   */
  opens?: readonly Lane[] | null
  /** its last latency batch gave way to an overdue pool's batch (overdue-pool.ts): the next one does not */
  ranOverdue?: boolean
}

export interface BatchEvent {
  device: string
  model: string
  size: number
  /** worker time for the batch: tensor layout + run + decode */
  serviceMs: number
  predictedMs: number
  /** latency-class items in the batch (0: a bulk batch; riders are the rest) */
  latency: number
  /** run by a worker reserved for latency work */
  reserved: boolean
}


export interface SchedulerOptions {
  id: string
  /** worker slots */
  workers: number
  /** of which take latency-class work only (capped at workers − 1) */
  latencyWorkers: number
  clock: Clock
  /** the device's kind, price and power: what the cost policy and the cost figures read (router/price.ts) */
  config: Pick<DeviceConfig, 'kind' | 'pricePerHour' | 'watts'>
  /** starts replacement executors (the mechanism: worker threads, processes, simulated ones); none: a dead worker stays dead */
  factory?: ExecutorFactory
  /** executed batches the cost model is fitted over */
  costWindow: number
  /** consecutive failed batches before a worker is replaced (circuit breaker; default 3) */
  breakerThreshold?: number
  restartBackoffMs?: { initial: number, max: number }
  /** a batch running longer than max(floorMs, factor × predicted ms) fails and its worker is retired (default 4, 5000) */
  watchdog?: { factor: number, floorMs: number }
  /** a replacement executor that has not started after this long counts as a failed start (default 120000) */
  startTimeoutMs?: number
  /** throughput items riding with latency batches where filling a batch is cheap (riders.ts); budget 0: off (default 1); backlogBudget: under a backlog (default 2); latencyObjectiveMs: under a deep backlog, filled to the batch limit while this device's latency items are within it (latency-gate.ts; default unset: never) */
  riders?: { budget: number, backlogBudget?: number, latencyObjectiveMs?: number }
  log?: Log
}

export const DEFAULT_WATCHDOG = { factor: 4, floorMs: 5000 } as const
export const DEFAULT_START_TIMEOUT_MS = 120_000

/**
 * Events: 'batch' (BatchEvent) after every executed batch; 'health' (boolean) when it flips.
 */
export class Scheduler extends EventEmitter implements QueueConsumer {
  readonly id: string
  readonly lanes = new Map<string, Lane>()
  readonly workers: WorkerSlot[] = []
  /** kind, price and power (SchedulerOptions.config) */
  readonly config: Pick<DeviceConfig, 'kind' | 'pricePerHour' | 'watts'>
  private readonly clock: Clock
  private lanesList: Lane[] = []
  /** what the batcher plans over: the lanes, and the bound queues of those that have one (Lane.bound) */
  private planSlots: ReadonlyArray<Lane | BoundSlot> = []
  /** each lane's own queue and pool while a shared queue stands in for them (useShared), for useOwn */
  private readonly ownQueues = new Map<Lane, { queue: RequestQueue, pool: RequestQueue | undefined }>()
  /** this device's latency items against the latency objective (latency-gate.ts); null: none set */
  private readonly gate: LatencyGate | null
  private timer: TimerHandle | null = null
  private timerAt = Infinity
  /** the deadline sweep: a timer at the earliest deadline queued */
  private sweep: TimerHandle | null = null
  private sweepAt = Infinity
  private pumping = false
  private holding = 0
  private pumpAgain = false
  private closed = false
  private lastHealthy = false
  private readonly bulk = new BulkShare()
  /** lanes removed by removeLane() that still have queued or running items, with who waits for them */
  private readonly draining = new Map<Lane, () => void>()
  /** loads holding each worker (openLane): a worker may load two models one after the other */
  private readonly holds = new Map<WorkerSlot, number>()

  constructor (private readonly sopts: SchedulerOptions) {
    super()
    this.id = sopts.id
    this.config = sopts.config
    this.clock = sopts.clock
    const objective = sopts.riders?.latencyObjectiveMs
    this.gate = objective !== undefined && objective > 0 ? new LatencyGate(objective) : null
    const reserved = Math.min(sopts.latencyWorkers, sopts.workers - 1)
    for (let i = 0; i < sopts.workers; i++) {
      this.workers.push({ index: i, reserved: i < reserved, alive: false, takesThroughput: false, busyUntil: 0, executor: null, running: null, errors: 0 })
    }
  }

  get liveWorkers (): number {
    let n = 0
    for (const w of this.workers) if (w.alive) n++
    return n
  }

  get healthy (): boolean {
    return !this.closed && this.liveWorkers > 0
  }

  /** the riders' settings this device was given (SchedulerOptions.riders); undefined: the defaults */
  get ridersOptions (): SchedulerOptions['riders'] {
    return this.sopts.riders
  }

  addLane (model: string, s: LaneSettings): Lane {
    const cost = new CostModel(this.sopts.costWindow)
    for (const c of s.report.calibration) cost.observe(c.batchSize, c.ms)
    // a lane added again under its key (a reloaded model) keeps the queue: nothing queued is lost
    const before = this.lanes.get(model)
    const queue = s.queue ?? before?.queue ?? new RequestQueue()
    if (!queue.consumers.includes(this)) queue.consumers.push(this)
    if (s.pool !== undefined && !s.pool.consumers.includes(this)) s.pool.consumers.push(this)
    // a queue shared from the start (the shared-queue strategy): pinned items wait in one of the lane's own
    const bound = s.queue === undefined ? undefined : before?.bound ?? ownQueue(this)
    const lane: Lane = { model, queue, maxBatchSize: s.maxBatchSize, delayMs: s.delayMs, maxQueue: s.maxQueue, inFlight: 0, cost, report: s.report, variant: s.variant ?? 'default', ...(s.pool ? { pool: s.pool } : {}), ...(bound ? { bound } : {}) }
    this.lanes.set(model, lane)
    this.relist([...this.lanes.values(), ...this.draining.keys()])
    return lane
  }

  /** Sets the lanes the batcher plans over, with their bound queues (planSlots). */
  private relist (lanes: Lane[]): void {
    this.lanesList = lanes
    let slots: Array<Lane | BoundSlot> | null = null
    for (const lane of lanes) {
      const bound = lane.bound
      if (bound === undefined) continue
      // the lane's delays as they are when planned (removeLane zeroes them)
      const view: BoundSlot = { lane, model: lane.model, queue: bound, maxBatchSize: lane.maxBatchSize, get delayMs () { return lane.delayMs } }
      ;(slots ??= [...lanes]).push(view)
    }
    this.planSlots = slots ?? lanes
  }

  /**
   * Takes a lane out of service (the model repository's unload): the router and enqueue() no
   * longer see it at once, while what is queued for it still runs; resolves when the last of
   * it has finished (or was refused because the device lost its workers or stopped).
   */
  removeLane (model: string): Promise<void> {
    const lane = this.lanes.get(model)
    if (!lane) return Promise.resolve()
    this.lanes.delete(model)
    for (const w of this.workers) if (w.opens?.[0] === lane) w.opens = null
    // nothing more will join its batches: what is queued goes at once, not after the batch delay
    lane.delayMs = { latency: 0, throughput: 0 }
    return new Promise((resolve) => {
      this.draining.set(lane, resolve)
      this.settleDrained()
      this.pump()
    })
  }

  /**
   * Brings a model loaded at run time into service (the model repository). `load(executor,
   * calibrate)` has one worker create the model's session (and, with `calibrate`, warm and
   * calibrate it); `settings(report)` makes its lane from what the calibrating worker reports.
   *  1. One worker loads and calibrates it: an idle one if any (else the one whose batch ends
   *     first: its load waits behind that batch), held meanwhile — pump() gives it no batches,
   *     and while a general worker is held a reserved one takes bulk work too, so the device's
   *     other workers serve the other models.
   *  2. On its report the lane opens on that worker, in the same turn as it is released: its
   *     first plan is the new lane's, and the new lane's work goes first there until the other
   *     workers have loaded the model — it is the lane's only server until then, so a request
   *     to the new model does not queue behind other models' work on the one worker that can
   *     run it; meanwhile it takes other models' work one item at a time, so the new model's
   *     first request, arriving just after the lane opened, waits at most one item's time
   *     there, not a whole batch's.
   *  3. The other workers load it (no calibration) at the same time, each held until it answers.
   * Resolves, once the lane is open, with the report and `others` (settles when the other
   * workers have answered; a worker that fails is logged — its batches of the model fail, and
   * the circuit breaker replaces it with one that loads it at start). Rejects, opening nothing,
   * when the first worker cannot load it (a reload: the old lane keeps serving).
   */
  async openLane (model: string, settings: (report: ModelReport) => LaneSettings, load: (executor: Executor, calibrate: boolean) => Promise<ModelReport>): Promise<{ report: ModelReport, lane: Lane, others: Promise<void> }> {
    // (a worker held by another model's load takes this one after it, in its message order)
    const free = this.workers.filter((w) => w.alive && w.executor !== null && w.held !== true)
    if (free.length === 0) throw new Error(`device ${this.id} has no live worker to load ${model} on`)
    let first = free[0]!
    for (const w of free) {
      const end = w.running === null ? 0 : w.busyUntil
      const best = first.running === null ? 0 : first.busyUntil
      if (end < best) first = w
    }
    const executor = first.executor!
    this.hold(first, true)
    let report: ModelReport
    try {
      report = await load(executor, true)
    } catch (err) {
      if (first.executor === executor) this.hold(first, false)
      throw err
    }
    const lane = this.addLane(model, settings(report))
    const opens: readonly Lane[] = [lane]
    if (first.executor === executor) first.opens = opens // (a worker that died meanwhile: its replacement loads the model at start)
    // every other live worker now (a replacement adopted meanwhile too: it started without the model)
    const others = this.workers.filter((w) => w !== first && w.alive && w.executor !== null).map(async (w) => {
      const ex = w.executor!
      this.hold(w, true)
      try {
        await load(ex, false)
      } catch (err) {
        this.sopts.log?.warn({ device: this.id, worker: w.index, model, err: (err as Error).message }, 'a worker could not load a model the device serves')
      } finally {
        if (w.executor === ex) this.hold(w, false)
      }
    })
    // released last, in one turn with the others held: the pump below plans the new lane first
    if (first.executor === executor) this.hold(first, false)
    const done = Promise.all(others).then(() => { if (first.opens === opens) first.opens = null; this.pump() })
    return { report, lane, others: done }
  }

  /** Holds a worker out of the batcher's reach (a model load) or releases it; which workers take bulk work follows. */
  private hold (slot: WorkerSlot, held: boolean): void {
    const n = (this.holds.get(slot) ?? 0) + (held ? 1 : -1)
    if (n > 0) this.holds.set(slot, n)
    else this.holds.delete(slot)
    slot.held = n > 0
    this.refreshWorkers()
    if (!held) this.pump()
  }

  private settleDrained (): void {
    if (this.draining.size === 0) return
    for (const [lane, resolve] of this.draining) {
      if (lane.queue.size > 0 || lane.inFlight > 0 || (lane.bound?.size ?? 0) > 0) continue
      this.draining.delete(lane)
      this.relist(this.lanesList.filter((l) => l !== lane))
      const i = lane.queue.consumers.indexOf(this)
      if (i >= 0) lane.queue.consumers.splice(i, 1)
      resolve()
    }
  }

  /** Puts a started executor into worker slot `index`. */
  adopt (index: number, executor: Executor): void {
    const slot = this.workers[index]!
    slot.executor = executor
    slot.alive = true
    slot.errors = 0
    executor.on('exit', (code: number) => {
      if (slot.executor !== executor) return
      this.sopts.log?.warn({ device: this.id, worker: index, code }, 'inference worker exited; replacing it')
      this.retire(slot)
    })
    this.refreshWorkers()
    this.pump()
  }

  /** Accepts an item (admission control happened in the router); `pooled`: into the lane's shared throughput pool; a pinned item, into the lane's own queue where the lane takes from a shared one (Lane.bound). */
  enqueue (model: string, item: QueuedItem, pooled = false): void {
    const lane = this.lanes.get(model)
    if (!lane || !this.healthy) {
      item.reject(new DeviceRefusedError(`device ${this.id} cannot take model ${model} now`), this.id)
      return
    }
    const queue = pooled && lane.pool !== undefined && item.policy !== 'latency' ? lane.pool : item.pinned === true && lane.bound !== undefined ? lane.bound : lane.queue
    queue.push(item)
    if (item.deadline < this.sweepAt) this.sweepFrom(item.deadline)
    const consumers = queue.consumers
    if (consumers.length === 1) this.pump()
    else for (const c of consumers) c.pump()
  }

  /**
   * Runs `fn`, which enqueues several items, and only then lets workers take them: the items
   * of one request (tiles) start as one batch instead of the first one running alone.
   */
  together (fn: () => void): void {
    this.holding++
    try { fn() } finally { this.holding--; this.pump() }
  }

  /** Fault injection (devices/faults.ts): the next batch on the first live worker fails this way. */
  injectFault (fault: FaultMode | Fault): void {
    this.workers.find((w) => w.alive)?.executor?.injectFault?.(fault)
  }

  /**
   * Removes a still-queued item (its client went away) without answering it; false when it is
   * not queued here (running, answered, or never here). An item in a running batch still runs.
   */
  cancel (model: string, item: QueuedItem): boolean {
    const lane = this.lanes.get(model)
    if (lane === undefined) return false
    return lane.queue.remove(item) || (lane.pool?.remove(item) ?? false) || (lane.bound?.remove(item) ?? false)
  }

  /** What late binding needs to know of this device for `model`'s pool (late-binding.ts); null: it takes none. */
  poolMember (model: string, now: number): PoolMember | null {
    const lane = this.lanes.get(model)
    if (lane === undefined || !this.healthy) return null
    let backlog = 0
    for (const l of this.lanesList) {
      const q = l.queue.size
      if (q > 0) backlog += Math.ceil(q / l.maxBatchSize) * l.cost.a + q * l.cost.b
    }
    let workers = 0; let first = Infinity
    for (const w of this.workers) {
      if (!w.takesThroughput) continue
      workers++
      // an overdue worker is not free: its overrun so far, as the router counts it (residual.ts)
      const r = w.running === null ? 0 : residualMs(w.busyUntil, now)
      if (r < first) first = r
    }
    if (workers === 0) return null
    const B = lane.maxBatchSize
    let reachMs = first + backlog / workers
    // a pool short of a batch waits this lane's batch delay from its head's arrival (planPool),
    // while the worker is still busy, not after it (as the router counts it)
    const list = lane.pool?.throughput
    if (list !== undefined && list.length > 0 && list.length < B) reachMs = Math.max(reachMs, list[0]!.enqueuedAt + lane.delayMs.throughput - now)
    return { eff: lane.cost.throughput(B), reachMs, workers, maxBatchSize: B, predict: (n) => lane.cost.predict(n) }
  }

  /** The other devices serving `lane`'s pool, as the pull rule reads them (late-binding.ts PoolMember). */
  private poolPeers (lane: Lane, now: number): PoolMember[] {
    const others: PoolMember[] = []
    for (const c of lane.pool!.consumers) {
      if (c === this) continue
      const m = (c as Partial<Scheduler>).poolMember?.(lane.model, now)
      if (m) others.push(m)
    }
    return others
  }

  /** latency-class items waiting in the device's lanes */
  private latencyWaiting (): number {
    let n = 0
    for (const l of this.lanesList) n += l.queue.latency.length
    return n
  }

  /**
   * The lane whose pool is overdue (overdue-pool.ts): a full batch of it waiting, b < a, its head
   * overdue beside the device's other pools, another live device serving the pool, a full batch
   * this device may pull, and room for it before `latencyDeadline` (now + 2·t(B)); the oldest
   * head. Null: none.
   */
  private overduePool (now: number, latencyDeadline: number): Lane | null {
    let best: Lane | null = null; let oldest = Infinity
    for (const lane of this.lanesList) {
      const list = lane.pool?.throughput
      if (list === undefined || list.length < lane.maxBatchSize || !(lane.cost.b < lane.cost.a)) continue
      const head = list[0]!
      if (head.enqueuedAt >= oldest || now + 2 * lane.cost.predict(lane.maxBatchSize) > latencyDeadline) continue
      let youngest = Infinity
      for (const other of this.lanesList) {
        if (other === lane || other.pool === undefined) continue
        const h = other.pool.throughput[0]
        youngest = Math.min(youngest, h === undefined ? 0 : now - h.enqueuedAt)
      }
      if (!overdue(now - head.enqueuedAt, youngest)) continue
      // a pool this device serves alone waits on the batcher's class order, as under any rule: not overdue
      const peers = this.poolPeers(lane, now)
      if (peers.length === 0) continue
      const own = this.poolMember(lane.model, now)
      if (own === null || pullCount(own, peers, list.length) < lane.maxBatchSize) continue
      best = lane; oldest = head.enqueuedAt
    }
    return best
  }

  /** Late binding: a free throughput worker's batch from a pool, or when to look again. */
  private planPool (now: number): { lane: Lane, count: number } | { wake: number } | null {
    let wake = Infinity
    let first: PoolPull | null = null
    let ready: PoolPull[] | null = null
    for (const lane of this.lanesList) {
      const pool = lane.pool
      if (pool === undefined || pool.throughput.length === 0) continue
      const list = pool.throughput
      const due = list[0]!.enqueuedAt + lane.delayMs.throughput
      if (list.length < lane.maxBatchSize && now < due) { wake = Math.min(wake, due); continue }
      const own = this.poolMember(lane.model, now)
      if (own === null) continue
      const others = this.poolPeers(lane, now)
      const n = pullCount(own, others, list.length)
      if (n === 0) continue
      const p: PoolPull = { lane, count: n, deadline: list[0]!.deadline, advantage: relativeEff(own, others), oneMs: own.predict(1) }
      if (first === null) first = p
      else (ready ??= [first]).push(p)
    }
    // one pool ready (the common case): it; several: the most urgent head, or near saturation a
    // slower device's comparative advantage within one of its batches of it (late-binding.ts choosePool)
    if (first !== null) return ready === null ? first : choosePool(ready, (u) => u.oneMs, () => this.offeredLoad(now) >= ADVANTAGE_LOAD)!
    return wake === Infinity ? null : { wake }
  }

  /**
   * The load offered to the pools this device serves: Σ_m λ̂_m / cap_m, with λ̂_m the items
   * per ms admission saw arrive for pool m lately (RequestQueue.arrived, refused ones too)
   * and cap_m = Σ_f G_f·eff_f what its members drain at full batches. Infinity where a pool
   * with arrivals has no member that could drain it.
   */
  private offeredLoad (now: number): number {
    let rho = 0
    for (const lane of this.lanesList) {
      const pool = lane.pool
      if (pool === undefined) continue
      const rate = pool.arrived.perMs(now)
      if (rate === 0) continue
      let cap = 0
      for (const c of pool.consumers) {
        const m = (c as Partial<Scheduler>).poolMember?.(lane.model, now)
        if (m) cap += m.workers * m.eff
      }
      if (cap === 0) return Infinity
      rho += rate / cap
    }
    return rho
  }

  /**
   * From now on, every lane of a model in `queues` takes its work from that queue — the
   * shared-queue rule (Triton's: one queue per model, the first free worker takes the next
   * batch) — and leaves its pool: what waits in the lane's own queue and in its pool moves
   * there, in deadline order — except the items pinned to this device (X-Switchyard-Device): they
   * stay in the lane's own queue, which becomes its bound queue (Lane.bound; pinned arrivals go
   * there too), planned with the shared one by class and deadline and taken by no other device.
   * The server's switch of rule chosen by replay (Dispatcher.useRule) and the simulator's
   * (RunOptions.switchToSharedAtMs, bench/results/replay-select.md). Nothing starts here:
   * the caller pumps every device once all of them have switched, so that the first to pump
   * sees every device's waiting items, not only its own.
   */
  useShared (queues: ReadonlyMap<string, RequestQueue>): void {
    for (const lane of this.lanes.values()) {
      const q = queues.get(lane.model)
      if (q === undefined || q === lane.queue) continue
      if (this.ownQueues.has(lane) || lane.bound !== undefined) {
        // from one shared queue to another: its own queue and pool are the ones kept the first
        // time, its pinned items in its bound queue already
        const i = lane.queue.consumers.indexOf(this)
        if (i >= 0) lane.queue.consumers.splice(i, 1)
        if (!this.ownQueues.has(lane)) this.ownQueues.set(lane, { queue: lane.queue, pool: lane.pool })
        for (const item of lane.queue.drain()) q.push(item)
      } else {
        this.ownQueues.set(lane, { queue: lane.queue, pool: lane.pool })
        for (const item of lane.queue.drainUnpinned()) q.push(item)
        lane.bound = lane.queue
      }
      if (lane.pool !== undefined) { for (const item of lane.pool.drain()) q.push(item); delete lane.pool }
      lane.queue = q
      if (!q.consumers.includes(this)) q.consumers.push(this)
    }
    this.relist(this.lanesList)
  }

  /**
   * Back from the shared-queue rule (useShared): every lane takes its own queue and its pool
   * again, both empty, and stops taking from the shared one. What still waits in the shared
   * queues is the caller's to place again (Dispatcher.useRule routes each item as the rule now
   * in force would); nothing starts here, as in useShared.
   */
  useOwn (): void {
    for (const [lane, own] of this.ownQueues) {
      const i = lane.queue.consumers.indexOf(this)
      if (i >= 0) lane.queue.consumers.splice(i, 1)
      lane.queue = own.queue
      if (own.pool !== undefined) lane.pool = own.pool
      // its own queue again, with the pinned items it kept (a lane whose queue was shared from the start keeps its bound one)
      if (lane.bound === own.queue) delete lane.bound
    }
    this.ownQueues.clear()
    this.relist(this.lanesList)
  }

  /** Gives every free worker what the batcher says it should run. */
  pump (): void {
    if (this.closed || this.holding > 0) return
    if (this.pumping) { this.pumpAgain = true; return }
    this.pumping = true
    try {
      do {
        this.pumpAgain = false
        const now = this.clock.now()
        this.expire(now) // a batch is never formed with an item whose deadline passed
        // reserved latency workers come first, so latency work lands on them when they are free
        for (const slot of this.workers) {
          if (!slot.alive || slot.running !== null || slot.held === true) continue
          if (slot.opens != null) {
            // the lane this worker just opened: its only server while the others load the model
            const first = planBatch(slot.opens, now)
            if (first.action === 'dispatch') { const lane = slot.opens[0]!; this.dispatch(slot, lane, lane.queue.take(first.policy, first.count), now); continue }
          }
          const plan = planBatch(this.planSlots, now, !slot.takesThroughput)
          // opening a lane, a worker takes other work one item at a time: the new model's first request waits at most that
          const most = slot.opens != null ? 1 : Infinity
          if (plan.action !== 'dispatch' && slot.takesThroughput) {
            const pooled = this.planPool(now)
            if (pooled !== null && 'lane' in pooled) { this.dispatch(slot, pooled.lane, pooled.lane.pool!.take('throughput', Math.min(most, pooled.count)), now); continue }
            if (pooled !== null) this.wakeAt(pooled.wake)
          }
          if (plan.action === 'idle') continue
          if (plan.action === 'wait') { this.wakeAt(plan.until); continue }
          // a latency batch that leaves no latency backlog may first give way to an overdue pool (overdue-pool.ts)
          if (plan.policy === 'latency' && slot.takesThroughput && most === Infinity && this.latencyWaiting() <= plan.count) {
            if (slot.ranOverdue === true) slot.ranOverdue = false
            else {
              const due = this.overduePool(now, plan.slot.queue.latency[0]!.deadline)
              if (due !== null) { slot.ranOverdue = true; this.dispatch(slot, due, due.pool!.take('throughput', due.maxBatchSize), now); continue }
            }
          }
          // the slot planned: a lane (a draining lane and a lane loaded again may share a key: the
          // one with the work) or a lane's bound queue
          const chosen = plan.slot as Lane | BoundSlot
          const lane = 'lane' in chosen ? chosen.lane : chosen
          const items = chosen.queue.take(plan.policy, Math.min(most, plan.count))
          if (plan.policy === 'latency' && slot.takesThroughput && most === Infinity) {
            this.joinPeers(lane, items, now)
            this.addRiders(lane, items, now)
          }
          this.dispatch(slot, lane, items, now)
        }
      } while (this.pumpAgain)
    } finally {
      this.pumping = false
    }
  }

  /**
   * Latency batch `items` takes the same model's latency items waiting on the other devices of its
   * pool that have no worker free, as many as it finishes no later than they would (late-binding.ts
   * joinCount); never an item pinned to its device. Only under late binding: the pool's consumers
   * are the devices serving the model.
   */
  private joinPeers (lane: Lane, items: QueuedItem[], now: number): void {
    const pool = lane.pool
    if (pool === undefined || items.length >= lane.maxBatchSize) return
    for (const c of pool.consumers) {
      if (c === this || !(c instanceof Scheduler)) continue
      const peer = c.lanes.get(lane.model)
      if (peer === undefined || peer.pool !== pool || peer.queue.latency.length === 0) continue
      const k = joinCount(lane.cost, items.length, lane.maxBatchSize - items.length, peer.cost, c.firstFreeMs(now), peer.queue.movableLatency(lane.maxBatchSize - items.length))
      if (k === 0) continue
      peer.queue.takeMovable(k, items)
      if (items.length >= lane.maxBatchSize) return
    }
  }

  /** ms from `now` until this device's earliest live worker is free (0: one is; Infinity: none lives): the residual of its running batch (residual.ts). */
  private firstFreeMs (now: number): number {
    let first = Infinity
    for (const w of this.workers) {
      if (!w.alive || w.held === true) continue
      const r = w.running === null ? 0 : residualMs(w.busyUntil, now)
      if (r < first) first = r
    }
    return first
  }

  /** Latency batch `items` takes throughput riders (riders.ts): the lane's own queue first, then its pool. */
  private addRiders (lane: Lane, items: QueuedItem[], now: number): void {
    const own = lane.queue.throughput; const pool = lane.pool?.throughput
    const available = own.length + (pool?.length ?? 0)
    if (available === 0) return
    // the batch's earliest deadline: its own items are in deadline order, but items it joined from
    // another device (joinPeers) may have waited longer
    let earliest = items[0]!.deadline
    for (let i = 1; i < items.length; i++) if (items[i]!.deadline < earliest) earliest = items[i]!.deadline
    const slack = earliest - now
    let r = riderCount(lane.cost, items.length, lane.maxBatchSize, this.ridersBudget, slack, available)
    if (available > lane.maxBatchSize) r = Math.max(r, fillCount(lane.cost, items.length, lane.maxBatchSize, this.backlogBudget, slack, this.backlogOf(lane), available, this.ridersDeep))
    if (r === 0) return
    const fromOwn = Math.min(r, own.length)
    for (const item of lane.queue.take('throughput', fromOwn)) items.push(item)
    if (r > fromOwn) {
      const taken = lane.pool!.take('throughput', r - fromOwn)
      for (const item of taken) items.push(item)
      lane.pool!.ridden.add(taken.length, now) // what the router's reported finish reads (rider-rate.ts)
    }
  }

  /** riders' budget (riders.ts) */
  get ridersBudget (): number {
    return this.sopts.riders?.budget ?? DEFAULT_RIDER_BUDGET
  }

  /** the share of its recent batch time spent on bulk batches (bulk-share.ts; the router reads it, DeviceView.bulkShare) */
  get bulkShare (): number {
    return this.bulk.share
  }

  /** a latency batch under a deep backlog may fill past the backlog budget now: the latency objective is set and this device's latency items are within it (latency-gate.ts, riders.ts) */
  get ridersDeep (): boolean {
    return this.gate?.open ?? false
  }

  /** riders' budget under a backlog (riders.ts) */
  get backlogBudget (): number {
    return this.sopts.riders?.backlogBudget ?? DEFAULT_BACKLOG_BUDGET
  }

  /** The throughput backlog riders under a backlog count (riders.ts): `model`'s own bulk queue and this device's share of its pool; what the router predicts with. */
  ridersBacklog (model: string): number {
    const lane = this.lanes.get(model)
    return lane === undefined ? 0 : this.backlogOf(lane)
  }

  private backlogOf (lane: Lane): number {
    return lane.queue.throughput.length + this.poolShare(lane) * (lane.pool?.throughput.length ?? 0)
  }

  /** This device's share of `lane`'s pool: its workers × full-batch throughput over all the pool's consumers' (late-binding.ts). */
  private poolShare (lane: Lane): number {
    if (lane.pool === undefined || lane.pool.throughput.length === 0) return 0
    const mine = this.poolWeight(lane.model)
    if (mine === 0) return 0
    let all = mine
    for (const c of lane.pool.consumers) if (c !== this) all += (c as Partial<Scheduler>).poolWeight?.(lane.model) ?? 0
    return mine / all
  }

  /** poolMember's workers × eff, without building the member (the riders' and the router's per-request path): 0 where it takes none. */
  poolWeight (model: string): number {
    const lane = this.lanes.get(model)
    if (lane === undefined || !this.healthy) return 0
    let workers = 0
    for (const w of this.workers) if (w.takesThroughput) workers++
    return workers === 0 ? 0 : workers * lane.cost.throughput(lane.maxBatchSize)
  }

  private wakeAt (at: number): void {
    if (this.timer !== null && this.timerAt <= at) return
    if (this.timer !== null) this.clock.clearTimer(this.timer)
    this.timerAt = at
    this.timer = this.clock.setTimer(at, () => { this.timer = null; this.timerAt = Infinity; this.pump() })
  }

  /**
   * Answers SY_DEADLINE_EXCEEDED to every queued item whose deadline has passed (queues are in
   * deadline order per class: only heads are looked at), then sets the sweep timer at the
   * earliest deadline still queued.
   */
  private expire (now: number): void {
    let next = Infinity
    for (const lane of this.lanesList) {
      next = Math.min(next, this.expireList(lane.queue.latency, now), this.expireList(lane.queue.throughput, now))
      if (lane.pool !== undefined) next = Math.min(next, this.expireList(lane.pool.throughput, now))
      if (lane.bound !== undefined) next = Math.min(next, this.expireList(lane.bound.latency, now), this.expireList(lane.bound.throughput, now))
    }
    // a timer later than needed is moved; one earlier than needed fires and finds nothing
    if (next === Infinity ? this.sweep !== null : next < this.sweepAt) this.sweepFrom(next)
  }

  /** expire() for one class of one queue; returns the earliest deadline left in it */
  private expireList (list: QueuedItem[], now: number): number {
    while (list.length > 0 && list[0]!.deadline <= now) {
      const item = list.shift()!
      item.reject(new DeadlineExceeded(Math.round(now - item.enqueuedAt), this.id))
    }
    return list.length > 0 ? list[0]!.deadline : Infinity
  }

  /** (Re)sets the deadline sweep timer to `at` (Infinity: none). */
  private sweepFrom (at: number): void {
    if (this.sweep !== null) this.clock.clearTimer(this.sweep)
    this.sweep = null
    this.sweepAt = at
    if (at === Infinity || this.closed) return
    this.sweep = this.clock.setTimer(at, () => {
      this.sweep = null
      this.sweepAt = Infinity
      if (this.closed) return
      this.expire(this.clock.now()) // answers what is due and sets the next sweep
      this.pump()
    })
  }

  private dispatch (slot: WorkerSlot, lane: Lane, items: QueuedItem[], now: number): void {
    const predictedMs = lane.cost.predict(items.length)
    this.bulk.add(predictedMs, !hasLatency(items), now)
    const run: Running = { lane, size: items.length, startedAt: now, predictedMs, watchdog: null, settled: false }
    const executor = slot.executor!
    slot.running = run
    slot.busyUntil = now + predictedMs
    lane.inFlight += items.length
    const w = this.sopts.watchdog ?? DEFAULT_WATCHDOG
    const limitMs = Math.max(w.floorMs, Number.isFinite(predictedMs) ? w.factor * predictedMs : 0)
    run.watchdog = this.clock.setTimer(now + limitMs, () => { run.watchdog = null; this.overran(slot, executor, run, items, limitMs) })
    const settle = (err: Error | null, res?: BatchResult): void => {
      if (run.settled) return // the watchdog answered already, or a second callback
      run.settled = true
      if (run.watchdog !== null) { this.clock.clearTimer(run.watchdog); run.watchdog = null }
      lane.inFlight -= items.length
      if (slot.running === run) { slot.running = null; slot.busyUntil = 0 }
      if (err !== null || res === undefined) this.failed(slot, executor, lane, items, err ?? new BatchFailedError('no result', false))
      else this.completed(slot, lane, items, run, res)
    }
    try {
      executor.run(lane.model, items, (err, res) => { settle(err, res); this.pump(); this.settleDrained() })
    } catch (err) {
      // e.g. postMessage refusing a transfer list: the batch fails, the slot is free again
      settle(new BatchFailedError(`the worker refused the batch: ${(err as Error).message}`, false))
      this.pumpAgain = true
      this.settleDrained()
    }
  }

  /** The watchdog: the batch ran past its limit. It fails; its worker is retired and replaced. */
  private overran (slot: WorkerSlot, executor: Executor, run: Running, items: QueuedItem[], limitMs: number): void {
    if (run.settled) return
    run.settled = true
    run.lane.inFlight -= items.length
    this.sopts.log?.warn({ device: this.id, worker: slot.index, model: run.lane.model, batchSize: items.length, limitMs: Math.round(limitMs) }, 'watchdog: batch ran past its limit; retiring the worker')
    // retired first, so that the items' retries cannot land on this worker; a process executor
    // is killed, a thread cannot be (it is abandoned: see retire)
    if (slot.executor === executor) this.retire(slot, true)
    const err = new BatchFailedError(`batch ran past the watchdog limit of ${Math.round(limitMs)} ms`, true)
    for (const item of items) item.reject(err, this.id)
    this.pump()
    this.settleDrained()
  }

  private completed (slot: WorkerSlot, lane: Lane, items: QueuedItem[], run: Running, res: BatchResult): void {
    const done = this.clock.now()
    lane.cost.observe(items.length, res.serviceMs)
    slot.errors = 0
    const inferenceMs = done - run.startedAt - res.postMs
    let latency = 0
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!
      if (item.policy === 'latency') {
        latency++
        if (this.gate !== null) this.gate.observe(done - item.enqueuedAt)
      }
      item.resolve({
        result: res.results[i]!,
        device: this.id,
        batchSize: items.length,
        queueMs: run.startedAt - item.enqueuedAt,
        inferenceMs,
        postprocessMs: res.postMs
      })
    }
    this.emit('batch', { device: this.id, model: lane.model, size: items.length, serviceMs: res.serviceMs, predictedMs: run.predictedMs, latency, reserved: slot.reserved } satisfies BatchEvent)
  }

  private failed (slot: WorkerSlot, executor: Executor, lane: Lane, items: QueuedItem[], err: Error): void {
    for (const item of items) item.reject(err, this.id)
    this.sopts.log?.warn({ device: this.id, model: lane.model, batchSize: items.length, err: err.message }, 'batch failed')
    if (slot.executor !== executor) return // already retired
    // a worker that died is retired now, before pump() could hand it the next batch (its
    // 'exit' event may come later); batches that threw count towards the circuit breaker
    if (err instanceof BatchFailedError && err.workerDied) { this.retire(slot); return }
    slot.errors++
    if (slot.errors >= (this.sopts.breakerThreshold ?? 3)) {
      this.sopts.log?.warn({ device: this.id, worker: slot.index, errors: slot.errors }, 'circuit breaker: replacing a worker whose batches keep failing')
      this.retire(slot)
    }
  }

  /**
   * Takes a failed worker out of service and starts a replacement with backoff. `hung`: it is
   * still running a batch — killed where the executor can be (a process); a thread cannot be
   * stopped mid-run, so it is abandoned: told to stop once its run returns, its result ignored.
   */
  private retire (slot: WorkerSlot, hung = false): void {
    const executor = slot.executor
    if (executor === null) return
    slot.executor = null
    slot.alive = false
    slot.running = null
    slot.busyUntil = 0
    slot.errors = 0
    slot.held = false
    slot.opens = null
    this.holds.delete(slot)
    if (hung && executor.kill !== undefined) executor.kill()
    else void executor.stop() // after its error the worker is idle: a stop message is safe
    this.refreshWorkers()
    if (this.liveWorkers === 0) this.failQueued('device has no live worker')
    // the pools' other devices may now take what this one would have reached first
    for (const lane of this.lanesList) for (const c of lane.pool?.consumers ?? []) if (c !== this) c.pump()
    this.replace(slot, this.sopts.restartBackoffMs?.initial ?? 250)
  }

  private replace (slot: WorkerSlot, delay: number): void {
    const factory = this.sopts.factory
    if (factory === undefined || this.closed) return
    const max = this.sopts.restartBackoffMs?.max ?? 30_000
    const timeoutMs = this.sopts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS
    this.clock.setTimer(this.clock.now() + delay, () => {
      if (this.closed) return
      let answered = false
      // a start that never calls back is a failed start: the backoff goes on
      const timeout = this.clock.setTimer(this.clock.now() + timeoutMs, () => {
        answered = true
        this.sopts.log?.warn({ device: this.id, worker: slot.index, timeoutMs, retryInMs: delay }, 'replacement worker did not start in time')
        this.replace(slot, Math.min(delay * 2, max))
      })
      const spawned = (err: Error | null, executor?: Executor): void => {
        if (answered) { void executor?.stop(); return } // too late: its slot has moved on
        answered = true
        this.clock.clearTimer(timeout)
        if (this.closed) { void executor?.stop(); return }
        if (err !== null || executor === undefined) {
          this.sopts.log?.warn({ device: this.id, worker: slot.index, err: err?.message, retryInMs: delay }, 'replacement worker failed to start')
          this.replace(slot, Math.min(delay * 2, max))
          return
        }
        this.sopts.log?.info({ device: this.id, worker: slot.index }, 'replacement worker ready')
        this.adopt(slot.index, executor)
      }
      try {
        factory.spawn(slot.index, spawned)
      } catch (err) {
        spawned(err as Error)
      }
    })
  }

  /** Recomputes which live workers take throughput work, and the device's health. */
  private refreshWorkers (): void {
    // a general worker held by a model load serves nothing meanwhile: a reserved one stands in
    let generalAlive = false
    for (const w of this.workers) if (w.alive && !w.reserved && w.held !== true) generalAlive = true
    for (const w of this.workers) w.takesThroughput = w.alive && (!w.reserved || !generalAlive)
    const h = this.healthy
    if (h !== this.lastHealthy) {
      this.lastHealthy = h
      this.emit('health', h)
    }
  }

  private failQueued (reason: string): void {
    for (const lane of this.lanesList) { // draining lanes too
      for (const q of [lane.queue, lane.pool, lane.bound]) {
        if (q === undefined || q.servedBesides(this)) continue // a shared queue another device still serves
        for (const item of q.drain()) item.reject(new DeviceRefusedError(`device ${this.id}: ${reason}`), this.id)
      }
    }
    this.settleDrained()
  }

  /** Resolves once queued and running work has finished (or the device can no longer run it). */
  async drain (): Promise<void> {
    while (this.healthy && this.lanesList.some((l) => l.queue.size > 0 || l.inFlight > 0 || (l.pool?.size ?? 0) > 0 || (l.bound?.size ?? 0) > 0)) {
      await new Promise<void>((resolve) => this.clock.setTimer(this.clock.now() + 5, resolve))
    }
  }

  /** Refuses what is queued, lets running batches finish, stops every executor by message. */
  async stop (): Promise<void> {
    this.closed = true
    if (this.timer !== null) this.clock.clearTimer(this.timer)
    this.timer = null
    this.sweepFrom(Infinity)
    this.failQueued('device stopped')
    const running = this.workers.map((w) => w.executor?.stop())
    for (const w of this.workers) { w.executor = null; w.alive = false }
    this.refreshWorkers()
    await Promise.all(running)
  }
}

/** Whether a batch holds a latency item (a loop: the dispatch path allocates no closure). */
function hasLatency (items: readonly QueuedItem[]): boolean {
  for (let i = 0; i < items.length; i++) if (items[i]!.policy === 'latency') return true
  return false
}

/** A lane's bound queue (Lane.bound): consumed by `device` alone. */
function ownQueue (device: QueueConsumer): RequestQueue {
  const q = new RequestQueue()
  q.consumers.push(device)
  return q
}
