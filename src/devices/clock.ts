// Time, as the scheduler sees it. The scheduler never calls performance.now() or setTimeout
// itself: it asks a Clock. The server passes the real clock; tests and the simulator pass a
// VirtualClock, whose time moves only when they advance it, so a scheduling test is exact
// on any machine and ten simulated minutes take a few seconds.

export interface Clock {
  /** ms, monotonic (performance.now() on the real clock) */
  now: () => number
  /** Calls `fn` once when the clock reaches `at` (ms, absolute). */
  setTimer: (at: number, fn: () => void) => TimerHandle
  clearTimer: (t: TimerHandle) => void
}

export type TimerHandle = object

export const realClock: Clock = {
  now: () => performance.now(),
  setTimer: (at, fn) => setTimeout(fn, Math.max(0, at - performance.now())),
  clearTimer: (t) => clearTimeout(t as NodeJS.Timeout)
}

interface VirtualTimer { at: number, seq: number, fn: (() => void) | null }

/**
 * A clock whose time moves only when told: timers fire in (time, creation) order, each with
 * `now()` equal to its due time. Binary heap: O(log n) per timer, no allocation beyond the
 * timer record.
 */
export class VirtualClock implements Clock {
  private t: number
  private seq = 0
  private readonly heap: VirtualTimer[] = []

  constructor (start = 0) {
    this.t = start
  }

  now = (): number => this.t

  setTimer = (at: number, fn: () => void): TimerHandle => {
    const timer: VirtualTimer = { at: Math.max(at, this.t), seq: this.seq++, fn }
    this.push(timer)
    return timer
  }

  clearTimer = (t: TimerHandle): void => {
    (t as VirtualTimer).fn = null // removed lazily when it reaches the top
  }

  /** Time of the next live timer, or Infinity. */
  get nextAt (): number {
    this.dropCancelled()
    return this.heap.length > 0 ? this.heap[0]!.at : Infinity
  }

  /** Fires the next timer; false when none is left. */
  step (): boolean {
    this.dropCancelled()
    const top = this.pop()
    if (!top) return false
    this.t = top.at
    const fn = top.fn!
    top.fn = null
    fn()
    return true
  }

  /** Fires every timer due up to `until` (inclusive), then sets the time to `until`. */
  runUntil (until: number): void {
    while (this.nextAt <= until) this.step()
    if (until > this.t) this.t = until
  }

  /** runUntil(now + ms) */
  advance (ms: number): void {
    this.runUntil(this.t + ms)
  }

  private dropCancelled (): void {
    while (this.heap.length > 0 && this.heap[0]!.fn === null) this.pop()
  }

  private less (a: VirtualTimer, b: VirtualTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }

  private push (x: VirtualTimer): void {
    const h = this.heap
    h.push(x)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  private pop (): VirtualTimer | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1; const r = l + 1
        let m = i
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
}
