// Admission to image decoding, which shares libuv's small thread pool (4 by default).
// Bulk uploads must not fill it in front of latency-class requests, so throughput-class
// requests may hold at most `bulkSlots` of the `slots`; a latency-class request takes any
// free slot and is always queued ahead of throughput-class waiters. Waiting is bounded (the
// caller answers 429 past a bound):
//  - by a count, `maxWaiting` requests, where one is set;
//  - by time, where no count is (maxWaiting null): a request waits only where its predicted wait
//    for a slot is within the time its deadline leaves it (enter's `waitLimitMs`: every caller
//    gives deadline − now — the request pipeline, which admits it again once decoded, and
//    decodeSlot for a drawn answer and job images). The wait is
//    predicted from the requests ahead of it and the mean time a slot is held, measured here:
//      wait = (ahead + 1) / k × h
//    ahead: the latency-class waiters for a latency-class request, every waiter for a batched
//    one; k: the slots its class may hold (`slots`, `bulkSlots`); h: the slot's mean hold time
//    (decoding), an exponential average of the last ~16 on the gate's clock (0 until the first:
//    nothing refused for time before the gate has held a slot). A burst whose excess drains
//    within its deadlines waits instead of being refused after a fixed number of requests
//    (issue 17: admission by time and memory, the decode gate's waiting room included). The
//    prediction can run short (latency-class requests that come later go first), so a waiter is
//    checked again when its turn comes: one whose deadline would pass before a slot's mean hold
//    ends is refused then (drop at dequeue, as Triton's queue policy drops a request whose
//    timeout passed), and its decoding is not spent on an answer that would come too late;
//  - by memory, where a budget is kept (queue-budget.ts: the bytes of the bodies waiting count
//    against the same budget as the prepared images queued for the devices).
import type { Policy } from '../config/schema.js'
import type { QueueBudget } from '../devices/queue-budget.js'

interface Waiter {
  grant: () => void
  /** time bound only: the gate-clock ms by which it must hold a slot to decode within its deadline */
  due: number
  /** time bound only: refuses it where it would get a slot too late (drop at dequeue) */
  expire?: () => void
}

export interface DecodeGateOptions {
  /** requests that may wait for a slot; null: no count, waiting bounded by time (and memory); default 1024 */
  maxWaiting?: number | null
  /** the memory budget the bodies waiting hold their bytes against */
  budget?: QueueBudget
  /** the clock slots are timed on (ms); default performance.now */
  now?: () => number
}

/** weight of the latest hold time in the mean (about the last 16) */
const HOLD_WEIGHT = 1 / 16

export class DecodeGate {
  /** latency-class requests that entered so far (the job puller's cue that this replica serves that class: decode-pace.ts) */
  latencyEntered = 0
  private active = 0
  private activeBulk = 0
  private readonly waitingLatency: Waiter[] = []
  private readonly waitingBulk: Waiter[] = []
  private readonly maxWaiting: number | null
  private readonly budget: QueueBudget | undefined
  private readonly now: () => number
  /** h: mean ms a slot is held (0: none held yet) */
  private holdMs = 0

  constructor (private readonly slots: number, private readonly bulkSlots: number, o: DecodeGateOptions = {}) {
    this.maxWaiting = o.maxWaiting === undefined ? 1024 : o.maxWaiting
    this.budget = o.budget
    this.now = o.now ?? (() => performance.now())
  }

  /** The predicted ms a request of `policy` entering now waits for a slot (0 where one is free): (ahead + 1) / k × h. */
  predictedWaitMs (policy: Policy): number {
    const p: Policy = policy === 'latency' ? 'latency' : 'throughput'
    if (this.canRun(p)) return 0
    const ahead = p === 'latency' ? this.waitingLatency.length : this.waiting
    return (ahead + 1) / (p === 'latency' ? this.slots : this.bulkSlots) * this.holdMs
  }

  get waiting (): number {
    return this.waitingLatency.length + this.waitingBulk.length
  }

  /** Resolves with a release function once a slot is held; null when refused, at once or (time bound) at dequeue (enter()). */
  acquire (policy: Policy, bytes = 0, waitLimitMs = Infinity): Promise<(() => void) | null> {
    return new Promise((resolve) => {
      if (!this.enter(policy, resolve, bytes, waitLimitMs, () => resolve(null))) resolve(null)
    })
  }

  /**
   * Callback form of acquire() (the simulator drives the gate on a virtual clock, where no
   * promise may stand between two timers): `granted` gets the release function once a slot
   * is held — at once when one is free. False, and no call, when it would have to wait and
   * `maxWaiting` wait already, or (no count set) its predicted wait passes `waitLimitMs` (the
   * ms its deadline leaves it), or its `bytes` would pass the memory budget (held while waiting).
   * With no count, a waiter given `expired` is refused through it instead of granted where, when
   * its turn comes, its deadline would pass before a slot's mean hold time ends (drop at dequeue).
   */
  enter (asked: Policy, granted: (release: () => void) => void, bytes = 0, waitLimitMs = Infinity, expired?: () => void): boolean {
    // two classes: latency, and batched work (throughput and cost)
    const policy: Policy = asked === 'latency' ? 'latency' : 'throughput'
    if (policy === 'latency') this.latencyEntered++
    if (this.canRun(policy)) { granted(this.take(policy)); return true }
    if (this.maxWaiting !== null ? this.waiting >= this.maxWaiting : this.predictedWaitMs(policy) > waitLimitMs) return false
    const budget = this.budget
    if (budget !== undefined && bytes > 0) {
      if (!budget.fits(bytes)) return false
      budget.take(bytes)
    }
    const list = policy === 'latency' ? this.waitingLatency : this.waitingBulk
    const give = (): void => { if (bytes > 0) budget?.give(bytes) }
    list.push({
      grant: () => { give(); granted(this.take(policy)) },
      due: this.now() + waitLimitMs,
      ...(expired !== undefined ? { expire: () => { give(); expired() } } : {})
    })
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
    const start = this.now()
    return () => {
      if (released) return
      released = true
      const held = this.now() - start
      this.holdMs = this.holdMs === 0 ? held : this.holdMs + HOLD_WEIGHT * (held - this.holdMs)
      this.active--
      if (policy === 'throughput') this.activeBulk--
      this.next()
    }
  }

  private next (): void {
    for (;;) {
      const w = this.waitingLatency.length > 0 && this.canRun('latency')
        ? this.waitingLatency.shift()
        : this.waitingBulk.length > 0 && this.canRun('throughput') ? this.waitingBulk.shift() : undefined
      if (w === undefined) return
      // drop at dequeue (time bound only): one whose deadline passes before a slot's mean hold
      // would end is refused, not decoded — its decoding would be wasted, and the slot goes to the next
      if (this.maxWaiting === null && w.expire !== undefined && this.now() + this.holdMs > w.due) { w.expire(); continue }
      w.grant()
      return
    }
  }
}
