// Places one prepared image on the device the router picks and reports its answer. The only
// adapter between the pure router and the HTTP layer: it turns refusals into the API's errors
// (429/503 with Retry-After) and counts what happened through a DispatchObserver (the server's
// metrics, or the simulator's tallies).
//
// If the batch fails (the worker threw or died) or the device refuses the item (it lost its
// last worker meanwhile), the request is placed once more on another healthy device — another
// than the one that failed it, which for a pooled item need not be the one it was routed to; if there
// is none, or that fails too, it is answered 503 naming the failure. Nothing accepted is left
// without an answer.
//
// A request whose client goes away (opts.signal aborts) is taken out of its device queue if
// it is still there and answered RequestCancelledError (nobody reads it); an item already in
// a running batch runs to the end. Items answered SY_DEADLINE_EXCEEDED by a device (their
// deadline passed while queued) and cancelled ones are counted through observer.cancelled.
//
// submit() is callback-based and allocation-light: the simulator drives it on a virtual clock
// with hundreds of thousands of requests. dispatch() is its promise form for HTTP handlers.
import type { Policy } from '../config/schema.js'
import type { Clock } from '../devices/clock.js'
import type { QueueBudget } from '../devices/queue-budget.js'
import { RequestQueue, type CompletedItem, type QueuedItem } from '../devices/request-queue.js'
import type { Scheduler } from '../devices/scheduler.js'
import { BatchFailedError, DeadlineExceeded, DeadlineUnmeetable, DeviceNotFound, DeviceRefusedError, InferenceFailed, NoHealthyDevice, Overloaded, RequestCancelledError, withRetryAfter } from '../errors.js'
import type { ItemParams, PreparedImage } from '../core/items.js'
import { Router, type RejectReason, type RouteDecision, type RouteReason, type Strategy } from './router.js'

export interface DispatchOptions {
  policy: Policy
  /** absolute, clock ms */
  deadline: number
  pinned?: string | undefined
  /** only devices running this variant of the model (kept on a retry) */
  variant?: string | undefined
  /** aborts when the client goes away: its items still queued are removed */
  signal?: AbortSignal | undefined
}

/** Why items left a queue without running: their client went away, or their deadline passed. */
export type CancelReason = 'client-disconnect' | 'deadline'

export interface Dispatched extends CompletedItem {
  predictedMs: number
}

/** What the dispatcher reports; the server's Metrics implement it, so does the simulator. */
export interface DispatchObserver {
  decision: (device: string, model: string, policy: Policy, reason: RouteReason) => void
  rejected: (device: string, model: string, policy: Policy, reason: RejectReason | 'inference-failed') => void
  retry: (device: string, model: string) => void
  /** actual − predicted finish, ms */
  predictionError: (device: string, model: string, ms: number) => void
  /** an item removed from a queue without running */
  cancelled?: (model: string, reason: CancelReason) => void
  /** the same answer's predicted finish (X-Switchyard-Predicted-Ms) and actual one, ms after dispatch, with its class */
  prediction?: (device: string, model: string, policy: Policy, predictedMs: number, actualMs: number) => void
}

/** The devices as the dispatcher sees them: their schedulers (a Device's or a SimDevice's `scheduler`), and one by device id. */
export interface DeviceSource {
  readonly devices: readonly Scheduler[]
  get: (id: string) => Scheduler | undefined
}

export interface Job {
  model: string
  image: PreparedImage
  params: ItemParams
  opts: DispatchOptions
  /** Decodes the image again when a retry finds its pixels moved to a dead worker. */
  prepareAgain?: () => Promise<PreparedImage>
  /** where the job is queued now (set by the dispatcher while it waits in a device queue) */
  queued?: { device: Scheduler, item: QueuedItem } | undefined
  /** bytes its prepared image holds (admission by memory); default: the image's pixel bytes when first placed */
  bytes?: number
  /** bytes charged to the budget now (set by the dispatcher) */
  charged?: number
}

export type DispatchCallback = (err: Error | null, done?: Dispatched) => void

export class Dispatcher {
  private readonly router: Router
  /** the shared queues per model while the shared-queue rule stands in for switchyard's (useRule) */
  private shared: Map<string, RequestQueue> | undefined

  constructor (
    private readonly devices: DeviceSource,
    private readonly observer: DispatchObserver,
    private readonly clock: Clock,
    strategy: Strategy = 'switchyard',
    /** the bytes accepted items may hold (queue-budget.ts); absent: not counted */
    private readonly budget?: QueueBudget
  ) {
    this.router = new Router(strategy, budget)
  }

  /** the rule routing now */
  get strategy (): Strategy {
    return this.router.strategy
  }

  /**
   * Switches the rule while requests flow, between switchyard's (each device's own queues and
   * the models' late-binding pools) and Triton's shared queue (one queue per model that every
   * device takes from): the rule a replay chose (src/router/rule-select.ts). To the shared
   * queue, what waits in every device's queue and pool moves to the model's shared queue
   * (Scheduler.useShared), but for the items pinned to a device, which stay in its lane's own
   * queue (Lane.bound); back, every lane takes its own queue and pool again
   * (Scheduler.useOwn) and each item still in a shared queue is routed anew by the router, as
   * switchyard routes an arrival — a throughput item to its pool, a latency item to the device
   * of its earliest finish — without being refused again: it was admitted, and its bytes are
   * charged already. Running batches are untouched. Then every device pumps.
   */
  useRule (strategy: 'switchyard' | 'shared-queue'): void {
    if (strategy === this.router.strategy) return
    const devices = this.devices.devices
    this.router.strategy = strategy
    if (strategy === 'shared-queue') {
      const queues = new Map<string, RequestQueue>()
      for (const d of devices) for (const model of d.lanes.keys()) if (!queues.has(model)) queues.set(model, new RequestQueue())
      this.shared = queues
      for (const d of devices) d.useShared(queues)
    } else {
      for (const d of devices) d.useOwn()
      const shared = this.shared
      this.shared = undefined
      const now = this.clock.now()
      for (const [model, q] of shared ?? []) for (const item of q.drain()) this.placeAgain(model, item, now)
    }
    for (const d of devices) d.pump()
  }

  /** An admitted item back in a device queue or pool, as the router routes it now; refused by none (no device left: the item's own retry path). */
  private placeAgain (model: string, item: QueuedItem, now: number): void {
    const d = this.router.route(this.devices.devices, { model, policy: item.policy, deadlineMs: Infinity, items: 1, bytes: 0 }, now)
    if (!d.ok) { item.reject(new DeviceRefusedError(`no device can take model ${model} now`)); return }
    this.devices.get(d.device)!.enqueue(model, item, d.pooled === true)
  }

  /**
   * Admission control before any work is spent on the request (decoding): throws the 429/503
   * the router would answer now. dispatch() asks the router again once the image is ready.
   */
  admit (model: string, opts: DispatchOptions, items = 1): void {
    const now = this.clock.now()
    noteOffered(this.devices.devices, model, opts.variant, items, now)
    const decision = this.router.route(this.devices.devices, { model, policy: opts.policy, deadlineMs: opts.deadline - now, pinned: opts.pinned, items, variant: opts.variant }, now)
    if (!decision.ok) {
      this.observer.rejected(opts.pinned ?? '', model, opts.policy, decision.reason)
      throw rejection(decision, model, opts, now)
    }
  }

  /** Places the job; `done` is called once, with the answer or an API error. */
  submit (job: Job, done: DispatchCallback): void {
    this.start(job, done)
  }

  dispatch (model: string, image: PreparedImage, params: ItemParams, opts: DispatchOptions, prepareAgain?: () => Promise<PreparedImage>): Promise<Dispatched> {
    return new Promise((resolve, reject) => {
      this.submit({ model, image, params, opts, ...(prepareAgain ? { prepareAgain } : {}) }, (err, r) => (err !== null ? reject(err) : resolve(r!)))
    })
  }

  /**
   * A request that is several items (the tiles of a tiled detection), placed as what it is.
   * Latency: the router predicts the finish of all k items per device (batches of B over the
   * device's workers) and every item goes to the device where the whole request finishes
   * first, queued together so they batch. Throughput: admission counts all k items, then each
   * is placed in turn; as the efficient device's queue grows past a batch-time, later items
   * overflow to the next device (the request is split when that finishes it sooner).
   * Each item that fails is retried on its own like any other.
   */
  dispatchMany (model: string, images: PreparedImage[], params: ItemParams, opts: DispatchOptions, prepareAgain?: (index: number) => Promise<PreparedImage>): Promise<Dispatched[]> {
    return new Promise((resolve, reject) => {
      this.submitMany(model, images, params, opts, (err, r) => (err !== null ? reject(err) : resolve(r!)), prepareAgain)
    })
  }

  /**
   * Callback form of dispatchMany() (the simulator's: no promise may stand between two timers
   * of a virtual clock): `done` is called once, after every item has settled, with the answers
   * in order or the first item's error (by index). `bytes`: what each prepared image holds
   * (admission by memory), where its pixels do not tell.
   */
  submitMany (model: string, images: PreparedImage[], params: ItemParams, opts: DispatchOptions, done: (err: Error | null, items?: Dispatched[]) => void, prepareAgain?: (index: number) => Promise<PreparedImage>, bytes?: number): void {
    const k = images.length
    const now = this.clock.now()
    let first: RouteDecision | undefined
    if (opts.policy === 'latency' || opts.pinned !== undefined) {
      let total = 0
      for (const im of images) total += bytes ?? im.pixels.byteLength
      first = this.router.route(this.devices.devices, { model, policy: opts.policy, deadlineMs: opts.deadline - now, pinned: opts.pinned, items: k, variant: opts.variant, bytes: total }, now)
      if (!first.ok) {
        this.observer.rejected(opts.pinned ?? '', model, opts.policy, first.reason)
        done(rejection(first, model, opts, now))
        return
      }
    } else {
      try { this.admit(model, opts, k) } catch (err) { done(err as Error); return }
    }
    // every item settles before the call does, failed or not: no tile of a refused request is
    // still running once the client has its answer; the first error is then given
    if (k === 0) { done(null, []); return }
    const answers: Dispatched[] = new Array<Dispatched>(k)
    const errors: Array<Error | undefined> = new Array<Error | undefined>(k)
    let left = k
    const settled = (): void => {
      if (--left > 0) return
      const failed = errors.find((e) => e !== undefined)
      if (failed !== undefined) done(failed)
      else done(null, answers)
    }
    const place = (): void => {
      for (let i = 0; i < k; i++) {
        const job: Job = { model, image: images[i]!, params, opts, ...(prepareAgain ? { prepareAgain: () => prepareAgain(i) } : {}), ...(bytes !== undefined ? { bytes } : {}) }
        this.start(job, (err, r) => { if (err !== null) errors[i] = err; else answers[i] = r!; settled() }, first)
      }
    }
    if (first?.ok === true) this.devices.get(first.device)!.together(place)
    else place()
  }

  /** The first attempt; with a signal, the job can be cancelled while it is queued. */
  private start (job: Job, done: DispatchCallback, placed?: RouteDecision): void {
    const signal = job.opts.signal
    if (signal === undefined) { this.attempt(job, 1, [], null, done, placed); return }
    const onAbort = (): void => {
      const q = job.queued
      if (q === undefined || !q.device.cancel(job.model, q.item)) return // running (or between attempts): it finishes
      job.queued = undefined
      this.release(job)
      finish(this.cancelled(job))
    }
    const finish: DispatchCallback = (err, r) => {
      signal.removeEventListener('abort', onAbort)
      done(err, r)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    this.attempt(job, 1, [], null, finish, placed)
  }

  private cancelled (job: Job): Error {
    this.observer.cancelled?.(job.model, 'client-disconnect')
    return new RequestCancelledError(`the client went away while its request for ${job.model} was queued`)
  }

  private attempt (job: Job, attempt: number, tried: string[], lastError: Error | null, done: DispatchCallback, placed?: RouteDecision): void {
    const { model, opts } = job
    // the client went away before this attempt was queued (a retry decoding again, a request still being admitted)
    if (opts.signal?.aborted === true) { done(this.cancelled(job)); return }
    const now = this.clock.now()
    job.bytes ??= job.image.pixels.byteLength // (before the pixels move to a worker)
    const decision = placed ?? this.router.route(this.devices.devices, {
      model,
      policy: opts.policy,
      // a retry was already accepted: it is not refused for the deadline or memory again
      deadlineMs: attempt === 1 ? opts.deadline - now : Infinity,
      pinned: attempt === 1 ? opts.pinned : undefined,
      exclude: tried,
      variant: opts.variant,
      bytes: attempt === 1 ? job.bytes : 0
    }, now)
    if (!decision.ok) {
      if (attempt > 1) { this.failed(job, tried, lastError, done); return }
      this.observer.rejected(opts.pinned ?? '', model, opts.policy, decision.reason)
      done(rejection(decision, model, opts, now))
      return
    }
    this.observer.decision(decision.device, model, opts.policy, decision.reason)
    const device = this.devices.get(decision.device)!
    const item: QueuedItem = {
      image: job.image,
      params: job.params,
      policy: opts.policy,
      deadline: opts.deadline,
      enqueuedAt: now,
      // it runs on this device: the one the request named, or, for a retry (placed anew, as the
      // router does above, away from the devices that failed it), the one placed now — under a
      // shared queue the device that failed it may still take from it (Lane.bound)
      pinned: attempt > 1 || opts.pinned !== undefined,
      resolve: (c) => {
        job.queued = undefined
        this.release(job)
        const actualMs = this.clock.now() - now
        this.router.learn(decision, actualMs)
        this.observer.predictionError(c.device, model, actualMs - decision.predictedMs)
        this.observer.prediction?.(c.device, model, opts.policy, decision.predictedMs, actualMs)
        done(null, Object.assign(c, { predictedMs: decision.predictedMs }))
      },
      reject: (err, failedOn) => {
        job.queued = undefined
        this.release(job)
        if (err instanceof DeadlineExceeded) this.observer.cancelled?.(model, 'deadline')
        if (!(err instanceof BatchFailedError || err instanceof DeviceRefusedError)) { done(err); return }
        // the device that failed it, which for a pooled item may be another member of its pool
        // than the one it was routed to: the retry is placed away from that one
        const on = failedOn ?? decision.device
        tried.push(on)
        if (attempt >= 2) { this.failed(job, tried, err, done); return }
        this.observer.retry(on, model)
        if (job.image.pixels.byteLength > 0 || job.prepareAgain === undefined) {
          this.attempt(job, attempt + 1, tried, err, done)
          return
        }
        job.prepareAgain().then((image) => {
          job.image = image
          this.attempt(job, attempt + 1, tried, err, done)
        }, (e: Error) => done(e))
      }
    }
    if (opts.signal !== undefined) job.queued = { device, item }
    if (this.budget !== undefined && job.bytes > 0) { this.budget.take(job.bytes); job.charged = job.bytes }
    device.enqueue(model, item, decision.pooled === true)
  }

  /** Gives the job's bytes back to the budget (answered, refused, cancelled, or off to another attempt). */
  private release (job: Job): void {
    if (job.charged !== undefined && job.charged > 0) { this.budget?.give(job.charged); job.charged = 0 }
  }

  /** bytes accepted items hold now, and the budget (absent: none kept) */
  get queuedBytes (): { bytes: number, maxBytes: number } | null {
    return this.budget === undefined ? null : { bytes: this.budget.bytes, maxBytes: this.budget.maxBytes }
  }

  private failed (job: Job, tried: string[], lastError: Error | null, done: DispatchCallback): void {
    this.observer.rejected(tried.join(','), job.model, job.opts.policy, 'inference-failed')
    done(withRetryAfter(new InferenceFailed(`${tried.join(', ')}: ${lastError?.message ?? 'unknown failure'}`), 1))
  }
}

function rejection (d: Extract<RouteDecision, { ok: false }>, model: string, opts: DispatchOptions, now: number): Error {
  switch (d.reason) {
    case 'unknown-device': return new DeviceNotFound(opts.pinned ?? '', model)
    case 'no-healthy-device': return withRetryAfter(new NoHealthyDevice(model), d.retryAfterS)
    case 'queue-full': return withRetryAfter(new Overloaded(`every device queue for ${model} is full`), d.retryAfterS)
    case 'deadline': return withRetryAfter(new DeadlineUnmeetable(Math.max(0, Math.round(opts.deadline - now)), Math.round(d.predictedMs)), d.retryAfterS)
  }
}

/**
 * Counts a request's items as offered to its model's late-binding pool (RequestQueue.arrived),
 * once, at admission, refused or not: the offered load the schedulers read (scheduler.ts
 * offeredLoad). The first pool of a lane that could serve it: a model whose variants run in
 * several pools counts on one of them.
 */
export function noteOffered (devices: readonly Scheduler[], model: string, variant: string | undefined, items: number, now: number): void {
  for (const d of devices) {
    const lane = d.lanes.get(model)
    if (lane?.pool === undefined || (variant !== undefined && lane.variant !== variant)) continue
    lane.pool.arrived.add(items, now)
    return
  }
}
