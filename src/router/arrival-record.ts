// A record of what arrived (issue 17; docs/architecture.md, Routing, "Choosing the rule by
// replay", item 2): what a replay of the last seconds of traffic needs to know of each request —
// when it arrived, and its class: model, policy, deadline, images and how they are decoded —
// plus, per model, how long decoding took and how many bytes a prepared image holds. Written by
// the request pipeline at admission (every request the server sees, the refused ones too: they
// arrived), read once per window by the rule selector (src/router/rule-select-loop.ts).
//
// Hot path without allocation: a ring of preallocated typed arrays (time, class index), and the
// class looked up through nested maps keyed by the request's own values (a Map hit allocates
// nothing; a class is created once, the first time it is seen). Deadlines are kept to two
// significant digits so that clients' own deadlines do not make a class each; at most 256
// classes (the replay's workload indexes them in a byte), past which a request counts in the
// nearest class of its model and policy.
import type { Policy } from '../config/schema.js'
import type { ItemsDecode, TrafficClass } from '../sim/scenario.js'
import type { Workload } from '../sim/workload.js'

export interface ArrivalClass {
  model: string
  policy: Policy
  /** ms from arrival, to two significant digits */
  deadlineMs: number
  /** images the request sends to the devices */
  items: number
  itemsDecode: ItemsDecode
}

/** What a model's requests cost the host, as measured. */
export interface ModelCosts {
  /** decode ms under a slot, exponentially weighted (weight DECODE_WEIGHT per request) */
  decodeMs: number
  /** bytes of the last prepared image */
  imageBytes: number
}

/** The replay's input from the record: the window's arrivals (times from its start) and their classes, with their shares. */
export interface RecordedWindow {
  workload: Workload
  traffic: TrafficClass[]
}

const MAX_CLASSES = 256
const DECODE_WEIGHT = 0.05

type ByDeadline = Map<number, number>
type ByItems = Map<number, ByDeadline>
type ByPolicy = Map<Policy, ByItems>

export class ArrivalRecord {
  readonly classes: ArrivalClass[] = []
  private readonly at: Float64Array
  private readonly cls: Uint8Array
  /** the next slot written */
  private next = 0
  private size = 0
  /** arrivals ever written: an arrival's id (arrived's answer) is its number among them */
  private written = 0
  private readonly index = new Map<string, ByPolicy>()
  /** per model; created the first time a model is decoded or prepared */
  readonly costs = new Map<string, ModelCosts>()

  /** `capacity`: arrivals kept; older ones are overwritten (a window wants at most its last few seconds) */
  constructor (readonly capacity = 1 << 16) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError(`capacity must be a whole number ≥ 1, got ${capacity}`)
    this.at = new Float64Array(capacity)
    this.cls = new Uint8Array(capacity)
  }

  /** arrivals held (at most `capacity`) */
  get length (): number {
    return this.size
  }

  /** From when every arrival is held: -Infinity until the ring first fills, then its oldest arrival's time (a window reaching further back would hold only part of its arrivals). */
  get heldSinceMs (): number {
    return this.size < this.capacity ? -Infinity : this.at[this.next]!
  }

  /** One request arrived at clock ms `nowMs`; answers its id, for resized(). */
  arrived (nowMs: number, model: string, policy: Policy, deadlineMs: number, items: number, itemsDecode: ItemsDecode): number {
    this.at[this.next] = nowMs
    this.cls[this.next] = this.classOf(model, policy, twoDigits(deadlineMs), items, itemsDecode)
    this.next = (this.next + 1) % this.capacity
    if (this.size < this.capacity) this.size++
    return this.written++
  }

  /**
   * Arrival `id` turned out to send `items` images (known only once its body was read: the tiles
   * of a tiled /detect, the rows of a /v2 request to a plain model): its class is that of those
   * items. Ignored once the ring has overwritten it.
   */
  resized (id: number, items: number, itemsDecode: ItemsDecode): void {
    if (!(id >= 0 && id < this.written && this.written - id <= this.size)) return
    const slot = id % this.capacity
    const c = this.classes[this.cls[slot]!]!
    if (c.items === items && c.itemsDecode === itemsDecode) return
    this.cls[slot] = this.classOf(c.model, c.policy, c.deadlineMs, items, itemsDecode)
  }

  /** A request of `model` held its decode slot `ms`. */
  decoded (model: string, ms: number): void {
    const c = this.costsOf(model)
    c.decodeMs = c.decodeMs === 0 ? ms : c.decodeMs + DECODE_WEIGHT * (ms - c.decodeMs)
  }

  /** A prepared image of `model` holds `bytes`. */
  prepared (model: string, bytes: number): void {
    this.costsOf(model).imageBytes = bytes
  }

  /** The arrivals in [fromMs, toMs), times from fromMs, and every class seen with its share of them. Allocates: once per window. */
  window (fromMs: number, toMs: number): RecordedWindow {
    const start = (this.next - this.size + this.capacity) % this.capacity
    let first = this.size
    for (let i = 0; i < this.size; i++) if (this.at[(start + i) % this.capacity]! >= fromMs) { first = i; break }
    let end = first
    while (end < this.size && this.at[(start + end) % this.capacity]! < toMs) end++
    const count = end - first
    const at = new Float64Array(count); const cls = new Uint8Array(count)
    const seen = new Array<number>(this.classes.length).fill(0)
    for (let i = 0; i < count; i++) {
      const j = (start + first + i) % this.capacity
      at[i] = this.at[j]! - fromMs
      cls[i] = this.cls[j]!
      seen[cls[i]!]!++
    }
    const traffic = this.classes.map((c, k): TrafficClass => ({
      model: c.model,
      policy: c.policy,
      share: count > 0 ? seen[k]! / count : 0,
      deadlineMs: c.deadlineMs,
      ...(c.items !== 1 ? { items: c.items, itemsDecode: c.itemsDecode } : {})
    }))
    return { workload: { at, cls, count }, traffic }
  }

  private costsOf (model: string): ModelCosts {
    let c = this.costs.get(model)
    if (c === undefined) { c = { decodeMs: 0, imageBytes: 0 }; this.costs.set(model, c) }
    return c
  }

  private classOf (model: string, policy: Policy, deadlineMs: number, items: number, itemsDecode: ItemsDecode): number {
    let byPolicy = this.index.get(model)
    if (byPolicy === undefined) { byPolicy = new Map(); this.index.set(model, byPolicy) }
    let byItems = byPolicy.get(policy)
    if (byItems === undefined) { byItems = new Map(); byPolicy.set(policy, byItems) }
    const itemsKey = itemsDecode === 'each' ? -items : items // a /v2 request's k images, each decoded, apart from a tiled one's
    let byDeadline = byItems.get(itemsKey)
    if (byDeadline === undefined) { byDeadline = new Map(); byItems.set(itemsKey, byDeadline) }
    const k = byDeadline.get(deadlineMs)
    if (k !== undefined) return k
    if (this.classes.length === MAX_CLASSES) return this.nearest(model, policy, deadlineMs)
    this.classes.push({ model, policy, deadlineMs, items, itemsDecode })
    byDeadline.set(deadlineMs, this.classes.length - 1)
    return this.classes.length - 1
  }

  /** The class of `model` and `policy` whose deadline is nearest (the table is full); else the first class. */
  private nearest (model: string, policy: Policy, deadlineMs: number): number {
    let best = 0; let gap = Infinity
    for (let k = 0; k < this.classes.length; k++) {
      const c = this.classes[k]!
      if (c.model !== model || c.policy !== policy) continue
      const g = Math.abs(c.deadlineMs - deadlineMs)
      if (g < gap) { gap = g; best = k }
    }
    return best
  }
}

/** `ms` to two significant digits (12,345 → 12,000; 95 → 95; Infinity stays). */
export function twoDigits (ms: number): number {
  if (!(ms > 0) || !Number.isFinite(ms)) return ms > 0 ? ms : 0
  const step = 10 ** Math.max(0, Math.floor(Math.log10(ms)) - 1)
  return Math.round(ms / step) * step
}
