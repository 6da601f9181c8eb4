// The queue of one (device, model). Two classes: latency-class items are always served
// before throughput-class items; within a class, earliest deadline first (ties: arrival).
// Depth is bounded by the device's maxQueue; admission control checks `size` before adding.
import type { Policy } from '../config/schema.js'
import type { ItemParams, PreparedImage, ItemResult } from '../worker/protocol.js'

export interface QueuedItem {
  image: PreparedImage
  params: ItemParams
  policy: Policy
  /** absolute deadline, performance.now() ms */
  deadline: number
  enqueuedAt: number
  resolve: (r: CompletedItem) => void
  reject: (e: Error) => void
}

export interface CompletedItem {
  result: ItemResult
  device: string
  batchSize: number
  queueMs: number
  inferenceMs: number
  postprocessMs: number
}

export class RequestQueue {
  readonly latency: QueuedItem[] = []
  readonly throughput: QueuedItem[] = []

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
    list.splice(lo, 0, item)
  }

  /** Removes and returns up to n items of one class, most urgent first. */
  take (policy: Policy, n: number): QueuedItem[] {
    return (policy === 'latency' ? this.latency : this.throughput).splice(0, n)
  }

  /** Removes everything (shutdown, device loss). */
  drain (): QueuedItem[] {
    return this.latency.splice(0).concat(this.throughput.splice(0))
  }
}
