// The queue of one (device, model). Two classes: latency-class items are always served
// before throughput-class items; within a class, earliest deadline first (ties: arrival).
// Depth is bounded by the device's maxQueue; admission control checks `size` before adding.
//
// Usually one device consumes a queue. Under the `shared-queue` routing strategy (Triton's
// rule, kept as a baseline) every device serving a model consumes the same queue, and
// whichever worker is free first takes the next batch: `consumers` are told of each push.
// Items pinned to a device (X-Switchyard-Device, or a retry placed away from the device that
// failed it) stay in that device's own queue meanwhile (Lane.bound, scheduler.ts).
import type { Policy } from '../config/schema.js'
import { OFFERED_TAU_MS } from './late-binding.js'
import { RiderRate } from './rider-rate.js'
import type { ItemParams, PreparedImage, ItemResult } from '../core/items.js'

export interface QueuedItem {
  image: PreparedImage
  params: ItemParams
  policy: Policy
  /** absolute deadline, clock ms */
  deadline: number
  enqueuedAt: number
  /** it runs on the device it was queued for, never in another device's batch (late-binding.ts joinCount), nor from a shared queue: the request named its device (X-Switchyard-Device), or it is a retry placed away from the device that failed it (dispatcher.ts) */
  pinned?: boolean
  /** Called exactly once, by the device, from its own clock's context: one of the two. */
  resolve: (r: CompletedItem) => void
  /**
   * `device`: the device that refused the item or whose batch with it failed — a pooled item may
   * fail on another member of its pool than the one it was routed to (a retry is placed away from
   * this one, dispatcher.ts)
   */
  reject: (e: Error, device?: string) => void
}

export interface CompletedItem {
  result: ItemResult
  device: string
  batchSize: number
  queueMs: number
  inferenceMs: number
  postprocessMs: number
}

export interface QueueConsumer {
  readonly healthy: boolean
  pump: () => void
}

export class RequestQueue {
  readonly latency: QueuedItem[] = []
  readonly throughput: QueuedItem[] = []
  readonly consumers: QueueConsumer[] = []
  /** a late-binding pool: how fast its items leave riding with latency batches (rider-rate.ts) */
  readonly ridden = new RiderRate()
  /** a late-binding pool: items admission saw arrive for it, refused ones too (the offered load, scheduler.ts offeredLoad) */
  readonly arrived = new RiderRate(OFFERED_TAU_MS)

  get size (): number {
    return this.latency.length + this.throughput.length
  }

  push (item: QueuedItem): void {
    const list = item.policy === 'latency' ? this.latency : this.throughput
    // binary search for the first item with a later deadline (stable for equal deadlines)
    let lo = 0; let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (list[mid]!.deadline <= item.deadline) lo = mid + 1
      else hi = mid
    }
    if (lo === list.length) list.push(item)
    else list.splice(lo, 0, item)
  }

  /** Removes and returns up to n items of one class, most urgent first. */
  take (policy: Policy, n: number): QueuedItem[] {
    return (policy === 'latency' ? this.latency : this.throughput).splice(0, n)
  }

  /** Latency items another device's batch may take, counted up to `max`: those not pinned to this device (QueuedItem.pinned). */
  movableLatency (max: number): number {
    let n = 0
    for (let i = 0; i < this.latency.length && n < max; i++) if (this.latency[i]!.pinned !== true) n++
    return n
  }

  /** Moves up to n latency items not pinned to this device, most urgent first, onto `into`. */
  takeMovable (n: number, into: QueuedItem[]): void {
    const list = this.latency
    let head = 0 // the common case: none pinned among the first n, one splice
    while (head < list.length && head < n && list[head]!.pinned !== true) head++
    for (const item of list.splice(0, head)) into.push(item)
    n -= head
    for (let i = 0; i < list.length && n > 0;) {
      if (list[i]!.pinned === true) { i++; continue }
      into.push(list.splice(i, 1)[0]!)
      n--
    }
  }

  /** Removes one item (its client went away); false when it is not queued here. */
  remove (item: QueuedItem): boolean {
    const list = item.policy === 'latency' ? this.latency : this.throughput
    // the first item not earlier than it, then along the equal deadlines
    let lo = 0; let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (list[mid]!.deadline < item.deadline) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < list.length && list[i]!.deadline === item.deadline; i++) {
      if (list[i] === item) { list.splice(i, 1); return true }
    }
    return false
  }

  /** Removes and returns the items not pinned to this queue's device (QueuedItem.pinned), in deadline order per class; the pinned ones stay (the shared-queue rule: Scheduler.useShared). */
  drainUnpinned (): QueuedItem[] {
    const out: QueuedItem[] = []
    for (const list of [this.latency, this.throughput]) {
      let kept = 0
      for (const item of list) {
        if (item.pinned === true) list[kept++] = item
        else out.push(item)
      }
      list.length = kept
    }
    return out
  }

  /** Removes everything (shutdown, device loss). */
  drain (): QueuedItem[] {
    return this.latency.splice(0).concat(this.throughput.splice(0))
  }

  /** Does any consumer other than `except` still serve this queue? */
  servedBesides (except: QueueConsumer): boolean {
    return this.consumers.some((c) => c !== except && c.healthy)
  }
}
