// What one replica holds of the job queue for one model, per API key, between taking images
// from the queue and handing them to its devices — and the three decisions made there (policy:
// no I/O, no clock; the Puller is the mechanism):
//
//   take     how many more images the replica may take, and from each key. Each key may hold
//            up to `cap` (the devices' free throughput slots: one batch ahead per bulk worker,
//            capacity.ts), all keys together up to 2 × cap. With one key at work nothing
//            changes (it holds one batch ahead); a key that arrives while another fills the
//            stage may still take its own batch at once, instead of waiting behind it.
//   release  which ready images go to the devices, and only when a worker can start them
//            (startableSlots): the key with the smallest backlog first, as many as it has
//            ready (a key passed over three times in a row gets one). Until then images wait here,
//            decoded, where their order can still change: the device queue is first come,
//            first served, so whatever is handed to it early is ahead of a key that arrives later.
//   prepare  which taken image is decoded next, when the replica decodes (the decode gate's
//            throughput-class slots) slower than its workers run: the key with the smaller
//            backlog first, so a newly arrived key does not wait behind the images another key
//            took a moment earlier (when decoding is the bottleneck, its order is the order
//            images run in).
//
// Without the stage (images dispatched as soon as decoded, up to one batch ahead per worker),
// a small key submitted beside a big one waited for the big key's running batch and for the
// whole batch already queued behind it before its first image ran (measured 2.35× its time
// alone for 20:1); with it, only for the running batch (and the images being decoded).

/** a key with ready images passed over in this many releases in a row gets one in the next */
export const STARVE_AFTER = 3

interface KeyState<T> {
  /** taken from the queue, not released: being prepared or ready */
  held: number
  /** prepared, waiting to be released, oldest first */
  ready: T[]
}

export class JobStage<T> {
  private readonly keys = new Map<string, KeyState<T>>()
  private heldTotal = 0
  private readyTotal = 0
  /** per key: images waiting for a turn to be prepared (decoded), oldest first */
  private readonly turns = new Map<string, Array<() => void>>()
  private preparing = 0
  /** per key with ready images: releases in a row that gave it none */
  private readonly passedOver = new Map<string, number>()

  /** images taken and not yet released (prepared or being prepared) */
  get held (): number {
    return this.heldTotal
  }

  /** images prepared and waiting to be released */
  get readyCount (): number {
    return this.readyTotal
  }

  heldBy (key: string): number {
    return this.keys.get(key)?.held ?? 0
  }

  /**
   * How many images may be taken now, in all and per key, when the devices have `cap` free
   * throughput slots: a key up to `cap` of its own, all keys up to 2 × cap.
   */
  allowance (cap: number): { total: number, perKey: (key: string) => number } {
    const c = Math.max(0, cap)
    const total = c === 0 ? 0 : Math.max(0, 2 * c - this.heldTotal)
    return { total, perKey: (key) => Math.min(total, Math.max(0, c - this.heldBy(key))) }
  }

  /** An image of `key` was taken from the queue (it is being prepared). */
  hold (key: string): void {
    const s = this.state(key)
    s.held++
    this.heldTotal++
  }

  /** A held image is prepared: it waits for release(). */
  ready (key: string, item: T): void {
    this.state(key).ready.push(item)
    this.readyTotal++
  }

  /** A held image that will not be released (it failed, or was handed back). */
  drop (key: string): void {
    const s = this.keys.get(key)
    if (s === undefined || s.held === 0) throw new Error(`job stage: nothing held for key ${JSON.stringify(key)}`)
    s.held--
    this.heldTotal--
    if (s.held === 0) { this.keys.delete(key); this.passedOver.delete(key) }
  }

  /**
   * Up to n ready images for the devices: keys by their backlog (`backlog(key)`, images it has
   * queued besides those held here, + held), the smallest first, each as many as it has ready,
   * oldest first — except that a key passed over in STARVE_AFTER releases in a row gets one
   * first, so the big key still moves while small ones come and go.
   */
  release (n: number, backlog: (key: string) => number): T[] {
    if (n <= 0 || this.readyTotal === 0) return []
    const order: Array<{ key: string, s: KeyState<T>, w: number }> = []
    for (const [key, s] of this.keys) if (s.ready.length > 0) order.push({ key, s, w: backlog(key) + s.held })
    order.sort((a, b) => a.w - b.w) // stable: ties keep the keys' arrival order
    const given = new Map<string, number>()
    const give = (key: string, k: number): void => { given.set(key, (given.get(key) ?? 0) + k) }
    let left = n
    for (const o of order) if (left > 0 && (this.passedOver.get(o.key) ?? 0) >= STARVE_AFTER) { give(o.key, 1); left-- }
    for (const o of order) {
      if (left === 0) break
      const k = Math.min(left, o.s.ready.length - (given.get(o.key) ?? 0))
      if (k > 0) { give(o.key, k); left -= k }
    }
    const out: T[] = []
    for (const o of order) {
      const k = given.get(o.key) ?? 0
      if (k === 0) { this.passedOver.set(o.key, (this.passedOver.get(o.key) ?? 0) + 1); continue }
      this.passedOver.delete(o.key)
      out.push(...o.s.ready.splice(0, k))
      this.readyTotal -= k
      for (let i = 0; i < k; i++) this.drop(o.key)
    }
    return out
  }

  /** A held image of `key` waits for a turn to be prepared: `start` is called when it has one (nextTurns). */
  queueTurn (key: string, start: () => void): void {
    let q = this.turns.get(key)
    if (q === undefined) { q = []; this.turns.set(key, q) }
    q.push(start)
  }

  /** A preparation ended (its turn is free again). */
  endTurn (): void {
    if (this.preparing === 0) throw new Error('job stage: no preparation to end')
    this.preparing--
  }

  /**
   * The starts of those waiting that may be prepared now, with `slots` preparations at once:
   * one at a time from the key with the smallest `backlog(key)` + held, oldest first.
   */
  nextTurns (slots: number, backlog: (key: string) => number): Array<() => void> {
    const out: Array<() => void> = []
    while (this.preparing < slots && this.turns.size > 0) {
      let best: string | null = null
      let bestWeight = Infinity
      for (const key of this.turns.keys()) {
        const w = backlog(key) + this.heldBy(key)
        if (w < bestWeight) { best = key; bestWeight = w }
      }
      const q = this.turns.get(best!)!
      out.push(q.shift()!)
      if (q.length === 0) this.turns.delete(best!)
      this.preparing++
    }
    return out
  }

  /** Every ready image, taken out (shutdown: they are handed back to the queue). */
  drain (): T[] {
    const out: T[] = []
    for (const [key, s] of [...this.keys]) {
      const items = s.ready.splice(0)
      this.readyTotal -= items.length
      for (const item of items) { out.push(item); this.drop(key) }
    }
    return out
  }

  private state (key: string): KeyState<T> {
    let s = this.keys.get(key)
    if (s === undefined) { s = { held: 0, ready: [] }; this.keys.set(key, s) }
    return s
  }
}
