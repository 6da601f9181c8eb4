// Admission to image decoding, which shares libuv's small thread pool (4 by default).
// Bulk uploads must not fill it in front of latency-class requests, so throughput-class
// requests may hold at most `bulkSlots` of the `slots`; a latency-class request takes any
// free slot and is always queued ahead of throughput-class waiters. Waiting is bounded:
// past `maxWaiting` requests, or where a memory budget is kept (queue-budget.ts: the bytes of
// the bodies waiting count against the same budget as the prepared images queued for the
// devices), past that budget, the gate refuses (the caller answers 429).
import type { Policy } from '../config/schema.js'
import type { QueueBudget } from '../devices/queue-budget.js'

interface Waiter { grant: () => void }

export class DecodeGate {
  /** latency-class requests that entered so far (the job puller's cue that this replica serves that class: decode-pace.ts) */
  latencyEntered = 0
  private active = 0
  private activeBulk = 0
  private readonly waitingLatency: Waiter[] = []
  private readonly waitingBulk: Waiter[] = []

  constructor (private readonly slots: number, private readonly bulkSlots: number, private readonly maxWaiting = 1024, private readonly budget?: QueueBudget) {}

  get waiting (): number {
    return this.waitingLatency.length + this.waitingBulk.length
  }

  /** Resolves with a release function once a slot is held; null when too many are waiting. */
  acquire (policy: Policy, bytes = 0): Promise<(() => void) | null> {
    return new Promise((resolve) => {
      if (!this.enter(policy, resolve, bytes)) resolve(null)
    })
  }

  /**
   * Callback form of acquire() (the simulator drives the gate on a virtual clock, where no
   * promise may stand between two timers): `granted` gets the release function once a slot
   * is held — at once when one is free. False, and no call, when too many are waiting (or
   * their `bytes` would pass the memory budget; held while waiting).
   */
  enter (asked: Policy, granted: (release: () => void) => void, bytes = 0): boolean {
    // two classes: latency, and batched work (throughput and cost)
    const policy: Policy = asked === 'latency' ? 'latency' : 'throughput'
    if (policy === 'latency') this.latencyEntered++
    if (this.canRun(policy)) { granted(this.take(policy)); return true }
    if (this.waiting >= this.maxWaiting) return false
    const budget = this.budget
    if (budget !== undefined && bytes > 0) {
      if (!budget.fits(bytes)) return false
      budget.take(bytes)
    }
    const list = policy === 'latency' ? this.waitingLatency : this.waitingBulk
    list.push({ grant: () => { if (bytes > 0) budget?.give(bytes); granted(this.take(policy)) } })
    return true
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
