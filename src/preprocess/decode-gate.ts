// Admission to image decoding, which shares libuv's small thread pool (4 by default).
// Bulk uploads must not fill it in front of latency-class requests, so throughput-class
// requests may hold at most `bulkSlots` of the `slots`; a latency-class request takes any
// free slot and is always queued ahead of throughput-class waiters. Waiting is bounded:
// past `maxWaiting` the gate refuses (the caller answers 429).
import type { Policy } from '../config/schema.js'

interface Waiter { grant: () => void }

export class DecodeGate {
  private active = 0
  private activeBulk = 0
  private readonly waitingLatency: Waiter[] = []
  private readonly waitingBulk: Waiter[] = []

  constructor (private readonly slots: number, private readonly bulkSlots: number, private readonly maxWaiting = 1024) {}

  get waiting (): number {
    return this.waitingLatency.length + this.waitingBulk.length
  }

  /** Resolves with a release function once a slot is held; null when too many are waiting. */
  acquire (policy: Policy): Promise<(() => void) | null> {
    if (this.canRun(policy)) return Promise.resolve(this.take(policy))
    if (this.waiting >= this.maxWaiting) return Promise.resolve(null)
    return new Promise((resolve) => {
      const list = policy === 'latency' ? this.waitingLatency : this.waitingBulk
      list.push({ grant: () => resolve(this.take(policy)) })
    })
  }

  private canRun (policy: Policy): boolean {
    if (this.active >= this.slots) return false
    return policy === 'latency' || this.activeBulk < this.bulkSlots
  }

  private take (policy: Policy): () => void {
    this.active++
    if (policy === 'throughput') this.activeBulk++
    let released = false
    return () => {
      if (released) return
      released = true
      this.active--
      if (policy === 'throughput') this.activeBulk--
      this.next()
    }
  }

  private next (): void {
    const w = this.waitingLatency.length > 0 && this.canRun('latency')
      ? this.waitingLatency.shift()
      : this.waitingBulk.length > 0 && this.canRun('throughput') ? this.waitingBulk.shift() : undefined
    w?.grant()
  }
}
