// Sends one prepared image to the device the router picks and waits for its answer.
// If the batch fails (the worker threw or died), the request is retried once on another
// healthy device; if there is none, or the retry fails too, it is answered 503 naming the
// failure. Nothing accepted is left without an answer.
import { performance } from 'node:perf_hooks'
import type { Policy } from '../config/schema.js'
import type { DeviceSet } from '../devices/device-set.js'
import type { CompletedItem, QueuedItem } from '../devices/request-queue.js'
import { BatchFailedError } from '../devices/worker-handle.js'
import { DeadlineUnmeetable, DeviceNotFound, InferenceFailed, NoHealthyDevice, Overloaded } from '../errors.js'
import type { Metrics } from '../metrics/metrics.js'
import type { ItemParams, PreparedImage } from '../worker/protocol.js'
import { route, type RouteDecision } from './router.js'

export interface DispatchOptions {
  policy: Policy
  /** absolute, performance.now() ms */
  deadline: number
  pinned?: string | undefined
  /** only devices running this variant of the model (kept on a retry) */
  variant?: string | undefined
}

export interface Dispatched extends CompletedItem {
  predictedMs: number
  routeReason: string
  attempts: number
}

export type RetryableError = Error & { retryAfter?: number }

export class Dispatcher {
  constructor (private readonly devices: DeviceSet, private readonly metrics: Metrics) {}

  /**
   * Admission control before any work is spent on the request (decoding): throws the 429/503
   * the router would answer now. dispatch() asks the router again once the image is ready.
   */
  admit (model: string, opts: DispatchOptions): void {
    const now = performance.now()
    const decision = route(this.devices.devices, { model, policy: opts.policy, deadlineMs: opts.deadline - now, pinned: opts.pinned, variant: opts.variant }, now)
    if (!decision.ok) {
      this.metrics.rejected.inc({ device: opts.pinned ?? '', model, policy: opts.policy, reason: decision.reason })
      throw rejection(decision, model, opts, now)
    }
  }

  /**
   * `image` is offered to the worker for transfer. If it was moved (detached here), a retry
   * after a failed batch calls `prepareAgain` (decode again) rather than keeping a copy of
   * every request's pixels in advance: only the rare retry pays one more decode.
   */
  async dispatch (model: string, image: PreparedImage, params: ItemParams, opts: DispatchOptions, prepareAgain: () => Promise<PreparedImage>): Promise<Dispatched> {
    const tried: string[] = []
    let lastError: Error | null = null
    for (let attempt = 1; attempt <= 2; attempt++) {
      const now = performance.now()
      const decision = route(this.devices.devices, {
        model,
        policy: opts.policy,
        // a retry was already accepted: it is not refused for the deadline again
        deadlineMs: attempt === 1 ? opts.deadline - now : Infinity,
        pinned: attempt === 1 ? opts.pinned : undefined,
        exclude: tried,
        variant: opts.variant
      }, now)
      if (!decision.ok) {
        if (attempt > 1) break
        this.metrics.rejected.inc({ device: opts.pinned ?? '', model, policy: opts.policy, reason: decision.reason })
        throw rejection(decision, model, opts, now)
      }
      this.metrics.decisions.inc({ device: decision.device, model, policy: opts.policy, reason: decision.reason })
      try {
        if (image.pixels.byteLength === 0) image = await prepareAgain()
        const done = await this.enqueue(decision.device, model, image, params, opts)
        const actual = performance.now() - now
        this.metrics.predictionError.observe({ device: done.device, model }, (actual - decision.predictedMs) / 1000)
        return { ...done, predictedMs: decision.predictedMs, routeReason: decision.reason, attempts: attempt }
      } catch (err) {
        if (!(err instanceof BatchFailedError)) throw err
        lastError = err
        tried.push(decision.device)
        this.metrics.retries.inc({ device: decision.device, model })
      }
    }
    this.metrics.rejected.inc({ device: tried.join(','), model, policy: opts.policy, reason: 'inference-failed' })
    const e: RetryableError = new InferenceFailed(`${tried.join(', ')}: ${lastError?.message ?? 'unknown failure'}`)
    e.retryAfter = 1
    throw e
  }

  private enqueue (deviceId: string, model: string, image: PreparedImage, params: ItemParams, opts: DispatchOptions): Promise<CompletedItem> {
    const device = this.devices.get(deviceId)!
    return new Promise<CompletedItem>((resolve, reject) => {
      const item: QueuedItem = {
        image,
        params,
        policy: opts.policy,
        deadline: opts.deadline,
        enqueuedAt: performance.now(),
        resolve,
        reject
      }
      device.enqueue(model, item)
    })
  }
}

function rejection (d: Extract<RouteDecision, { ok: false }>, model: string, opts: DispatchOptions, now: number): RetryableError {
  let e: RetryableError
  switch (d.reason) {
    case 'unknown-device': return new DeviceNotFound(opts.pinned ?? '', model)
    case 'no-healthy-device': e = new NoHealthyDevice(model); break
    case 'queue-full': e = new Overloaded(`every device queue for ${model} is full`); break
    case 'deadline': e = new DeadlineUnmeetable(Math.max(0, Math.round(opts.deadline - now)), Math.round(d.predictedMs)); break
  }
  e.retryAfter = d.retryAfterS
  return e
}
