// What one replica holds of the job queue for one model, per API key, between taking images
// from the queue and handing them to its devices — and the two decisions made there (policy:
// no I/O, no clock; the Puller is the mechanism):
//
//   take     how many more images the replica may take, and from each key. Each key may hold
//            up to `cap` (the devices' free throughput slots: one batch ahead per bulk worker,
//            capacity.ts), all keys together up to 2 × cap. With one key at work nothing
//            changes (it holds one batch ahead); a key that arrives while another fills the
//            stage may still take its own batch at once, instead of waiting behind it.
//   release  which ready images go to the devices, and only when a worker can start them
//            (startableSlots): n slots split by shares() — every key with ready images gets
//            one, the rest in inverse proportion to its backlog. Until then images wait here,
//            decoded, where their order can still change: the device queue is first come,
//            first served, so whatever is handed to it early is ahead of a key that arrives later.
//
// Without the stage (images dispatched as soon as decoded, up to one batch ahead per worker),
// a small key submitted beside a big one waited for the big key's running batch and for the
// whole batch already queued behind it before its first image ran (measured 2.35× its time
// alone for 20:1); with it, only for the running batch.
import { shares } from './shares.js'

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
    if (s.held === 0) this.keys.delete(key)
  }

  /**
   * Up to n ready images for the devices, n split between the keys with ready images by
   * shares() weighted by `backlog(key)` (images the key has queued besides those held here);
   * oldest first within a key.
   */
  release (n: number, backlog: (key: string) => number): T[] {
    if (n <= 0 || this.readyTotal === 0) return []
    const keys: string[] = []
    const available: number[] = []
    const weights: number[] = []
    for (const [key, s] of this.keys) {
      if (s.ready.length === 0) continue
      keys.push(key)
      available.push(s.ready.length)
      weights.push(backlog(key) + s.held)
    }
    const alloc = shares(n, available, weights)
    const out: T[] = []
    for (let i = 0; i < keys.length; i++) {
      if (alloc[i] === 0) continue
      const s = this.keys.get(keys[i]!)!
      out.push(...s.ready.splice(0, alloc[i]))
      this.readyTotal -= alloc[i]!
      for (let k = 0; k < alloc[i]!; k++) this.drop(keys[i]!)
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
