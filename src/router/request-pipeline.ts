// A request's one path through the server, from admission to its answer:
//   admit (Dispatcher.admit: refused before any decoding)
//   → decode gate (a slot, latency class first; 429 when too many wait)
//   → decode (while the slot is held)
//   → dispatch (one image: Dispatcher.submit; several — the tiles of a /detect, the items of
//     a /v2 request — placed, queued and settled together: Dispatcher.submitMany)
// A /v2 request's items are prepared each on its own (decodeEachAndDispatch): an encoded image
// under a slot of its own, a tensor row without one.
// The HTTP routes and the simulator both run it; what differs is injected: the decoding (sharp
// on the libuv pool, or the host profile's ms on a virtual clock) and the clock it is timed on.
//
// Callback-based, as Dispatcher.submit and DecodeGate.enter are: the simulator drives it on a
// virtual clock, where no promise may stand between two timers. process() is its promise form.
import type { Policy } from '../config/schema.js'
import type { ItemParams, PreparedImage } from '../core/items.js'
import type { Clock } from '../devices/clock.js'
import { Overloaded, withRetryAfter } from '../errors.js'
import type { DecodeGate } from '../preprocess/decode-gate.js'
import type { ItemsDecode } from '../sim/scenario.js'
import type { ArrivalRecord } from './arrival-record.js'
import type { Dispatched, Dispatcher, DispatchOptions, Job } from './dispatcher.js'

/** What the pipeline reports besides the dispatcher: the server's Metrics, or the simulator's tallies. */
export interface PipelineObserver {
  rejected: (device: string, model: string, policy: Policy, reason: 'decode-queue-full') => void
}

/**
 * Decoding, injected: called once a decode slot is held; calls `done` once with what it decoded,
 * or null when this path has nothing to dispatch (a /detect whose image needs no tiles).
 */
export type Decode<D> = (done: (err: Error | null, decoded?: D | null) => void) => void

export interface PipelineRequest<D> {
  model: string
  opts: DispatchOptions
  params: ItemParams
  /** items admission counts (run() only); default 1 */
  items?: number
  /** the body's bytes, held against the memory budget while it waits for a decode slot */
  bodyBytes?: number
  decode: Decode<D>
  /** what goes to the devices: one image (Dispatcher.submit), or an array placed together (Dispatcher.submitMany) */
  images: (decoded: D) => PreparedImage | PreparedImage[]
  /** image `index` prepared again, for a retry that finds its pixels moved to a dead worker */
  prepareAgain?: (decoded: D, index: number) => Promise<PreparedImage>
  /** bytes each prepared image holds, where its pixels do not tell (the simulator's empty images) */
  bytes?: number
  /** the request's arrival in the record (admit()'s answer): how many images its decoder made of it is noted there (a tiled /detect's tiles); absent: not noted */
  arrival?: number
}

/** An item of a request whose items are prepared each on its own (decodeEachAndDispatch). */
export interface EachItem {
  /** under a decode slot of its own (an encoded image); false: at once, without one, decodeMs 0 (a tensor row) */
  gated: boolean
  decode: Decode<PreparedImage>
  /** the item's encoded bytes, held against the memory budget while it waits for a slot */
  bodyBytes?: number
}

export interface EachRequest {
  model: string
  opts: DispatchOptions
  params: ItemParams
  items: EachItem[]
  prepareAgain?: (index: number) => Promise<PreparedImage>
  bytes?: number
}

export interface EachAnswer {
  /** one per item, in order */
  items: Dispatched[]
  /** per item: clock ms from its slot to its end of decoding (0 for an item without a slot) */
  decodeMs: number[]
}

export interface PipelineAnswer<D> {
  decoded: D
  /** one per image, in order */
  items: Dispatched[]
  /** clock ms from holding the decode slot to the end of decoding */
  decodeMs: number
}

export type PipelineCallback<D> = (err: Error | null, answer?: PipelineAnswer<D> | null) => void

/** Adapts a promise-returning decoder (the server's sharp) to Decode. */
export function decodeWith<D> (decode: () => Promise<D | null>): Decode<D> {
  return (done) => { decode().then((d) => done(null, d), (err: Error) => done(err)) }
}

export class RequestPipeline {
  constructor (
    private readonly dispatcher: Dispatcher,
    private readonly gate: DecodeGate,
    private readonly observer: PipelineObserver,
    private readonly clock: Clock,
    /** where each request's arrival, decode time and image bytes are noted for a replay of the traffic (arrival-record.ts); absent: nowhere */
    private readonly record?: ArrivalRecord
  ) {}

  /**
   * Admission before any work is spent on the request: throws the 429/503 the router would
   * answer now. The arrival is recorded first, refused or not (`itemsDecode`: how its `items`
   * images are decoded, as a simulator traffic class says). Answers the arrival's id in the
   * record (-1: none kept), for a request whose images are known only later (resized()).
   */
  admit (model: string, opts: DispatchOptions, items = 1, itemsDecode: ItemsDecode = 'together'): number {
    let arrival = -1
    if (this.record !== undefined) {
      const now = this.clock.now()
      arrival = this.record.arrived(now, model, opts.policy, opts.deadline - now, items, itemsDecode)
    }
    this.dispatcher.admit(model, opts, items)
    return arrival
  }

  /** Arrival `arrival` (admit()'s answer) sends `items` images, decoded as `itemsDecode` says (arrival-record.ts resized). */
  resized (arrival: number, items: number, itemsDecode: ItemsDecode): void {
    if (this.record !== undefined && arrival >= 0) this.record.resized(arrival, items, itemsDecode)
  }

  /** The whole path: admit → decode gate → decode → dispatch. `done` is called once. */
  run<D> (req: PipelineRequest<D>, done: PipelineCallback<D>): void {
    try {
      this.admit(req.model, req.opts, req.items ?? 1) // refuse now rather than after decoding
    } catch (err) {
      done(err as Error)
      return
    }
    this.decodeAndDispatch(req, done)
  }

  /**
   * After admission: a decode slot, decoding, then the devices. Answers null (and dispatches
   * nothing) when the decoder found nothing to dispatch.
   */
  decodeAndDispatch<D> (req: PipelineRequest<D>, done: PipelineCallback<D>): void {
    this.decodeGated(req.model, req.opts, req.bodyBytes ?? 0, req.decode, (err, d, decodeMs) => {
      if (err !== null) done(err)
      else if (d === undefined || d === null) done(null, null)
      else this.dispatch(req, d, decodeMs, done)
    })
  }

  /**
   * The whole path of a request whose items are prepared each on its own (a multi-item /v2
   * request, the simulator's `itemsDecode: 'each'`): admitted counting every item, then
   * decodeEachAndDispatch(). `done` is called once.
   */
  runEach (req: EachRequest, done: (err: Error | null, answer?: EachAnswer) => void): void {
    try {
      this.admit(req.model, req.opts, req.items.length, 'each') // refuse now rather than after decoding
    } catch (err) {
      done(err as Error)
      return
    }
    this.decodeEachAndDispatch(req, done)
  }

  /**
   * After admission, a request of several items each prepared on its own (a /v2 request): an
   * encoded image under a decode slot of its own, a tensor row at once; once every item has
   * settled, the first error (by index), or all of them placed together (Dispatcher.submitMany).
   */
  decodeEachAndDispatch (req: EachRequest, done: (err: Error | null, answer?: EachAnswer) => void): void {
    const k = req.items.length
    const images = new Array<PreparedImage>(k)
    const decodeMs = new Array<number>(k).fill(0)
    const errors = new Array<Error | undefined>(k)
    let left = k
    const dispatch = (): void => {
      const failed = errors.find((e) => e !== undefined)
      if (failed !== undefined) { done(failed); return }
      this.dispatcher.submitMany(req.model, images, req.params, req.opts,
        (err, items) => (err !== null ? done(err) : done(null, { items: items!, decodeMs })), req.prepareAgain, req.bytes)
    }
    if (k === 0) { dispatch(); return }
    req.items.forEach((item, i) => {
      const prepared = (err: Error | null, image?: PreparedImage | null, ms = 0): void => {
        if (err !== null) errors[i] = err
        else if (image === undefined || image === null) errors[i] = new Error(`item ${i} of a ${req.model} request was not prepared`)
        else { images[i] = image; decodeMs[i] = ms }
        if (--left === 0) dispatch()
      }
      if (item.gated) this.decodeGated(req.model, req.opts, item.bodyBytes ?? 0, item.decode, prepared)
      else once(item.decode, (err, image) => prepared(err, image))
    })
  }

  /** Promise form of runEach() (the /v2 route: the same entry as the simulator's multi-item requests). */
  processEach (req: EachRequest): Promise<EachAnswer> {
    return new Promise((resolve, reject) => {
      this.runEach(req, (err, answer) => (err !== null ? reject(err) : resolve(answer!)))
    })
  }

  /**
   * A decode slot (or 429 counted decode-queue-full), `decode` while it is held, then the slot
   * released. Where no count bounds the gate's waiting room (decode-gate.ts) it may wait as long
   * as its deadline leaves: the devices' queues drain while it waits, so the finish admission
   * predicted is not added to the wait; admission runs again once it is decoded. Refused (the
   * same 429) at its turn where its deadline would pass before it decoded (drop at dequeue).
   */
  private decodeGated<D> (model: string, opts: DispatchOptions, bodyBytes: number, decode: Decode<D>, done: (err: Error | null, decoded: D | null | undefined, decodeMs: number) => void): void {
    const policy = opts.policy
    const refuse = (): void => {
      this.observer.rejected('', model, policy, 'decode-queue-full')
      done(withRetryAfter(new Overloaded('too many images waiting to be decoded'), 1), undefined, 0)
    }
    const accepted = this.gate.enter(policy, (release) => {
      const start = this.clock.now()
      once(decode, (err, d) => {
        const decodeMs = this.clock.now() - start
        release()
        if (err === null && this.record !== undefined) this.record.decoded(model, decodeMs)
        done(err, d, decodeMs)
      })
    }, bodyBytes, opts.deadline - this.clock.now(), refuse)
    if (!accepted) refuse()
  }

  /** Promise form of decodeAndDispatch() (the HTTP routes). */
  process<D> (req: PipelineRequest<D>): Promise<PipelineAnswer<D> | null> {
    return new Promise((resolve, reject) => {
      this.decodeAndDispatch(req, (err, answer) => (err !== null ? reject(err) : resolve(answer ?? null)))
    })
  }

  private dispatch<D> (req: PipelineRequest<D>, decoded: D, decodeMs: number, done: PipelineCallback<D>): void {
    const images = req.images(decoded)
    const again = req.prepareAgain
    if (this.record !== undefined) {
      this.record.prepared(req.model, req.bytes ?? (Array.isArray(images) ? images[0]?.pixels.byteLength ?? 0 : images.pixels.byteLength))
      // the images its decoder made of it (a tiled /detect's tiles: known only now)
      if (req.arrival !== undefined && Array.isArray(images)) this.resized(req.arrival, images.length, 'together')
    }
    if (!Array.isArray(images)) {
      const job: Job = { model: req.model, image: images, params: req.params, opts: req.opts }
      if (again !== undefined) job.prepareAgain = () => again(decoded, 0)
      if (req.bytes !== undefined) job.bytes = req.bytes
      this.dispatcher.submit(job, (err, r) => (err !== null ? done(err) : done(null, { decoded, items: [r!], decodeMs })))
      return
    }
    this.dispatcher.submitMany(req.model, images, req.params, req.opts,
      (err, items) => (err !== null ? done(err) : done(null, { decoded, items: items!, decodeMs })),
      again !== undefined ? (i) => again(decoded, i) : undefined, req.bytes)
  }
}

/** Runs a decoder, taking its first answer only; a decoder that throws answers its error. */
function once<D> (decode: Decode<D>, done: (err: Error | null, decoded?: D | null) => void): void {
  let answered = false
  const answer = (err: Error | null, d?: D | null): void => {
    if (answered) return
    answered = true
    done(err, d)
  }
  try {
    decode(answer)
  } catch (err) {
    if (answered) throw err // thrown past decoding: not the decoder's
    answer(err as Error)
  }
}
