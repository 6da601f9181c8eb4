// A request's one path through the server, from admission to its answer:
//   admit (Dispatcher.admit: refused before any decoding)
//   → decode gate (a slot, latency class first; 429 when too many wait)
//   → decode (while the slot is held)
//   → dispatch (one image: Dispatcher.submit; several — the tiles of a /detect, the items of
//     a /v2 request — placed, queued and settled together: Dispatcher.submitMany)
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
    private readonly clock: Clock
  ) {}

  /** Admission before any work is spent on the request: throws the 429/503 the router would answer now. */
  admit (model: string, opts: DispatchOptions, items = 1): void {
    this.dispatcher.admit(model, opts, items)
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
    const policy = req.opts.policy
    const accepted = this.gate.enter(policy, (release) => {
      const start = this.clock.now()
      let decodedOnce = false
      const decoded = (err: Error | null, d?: D | null): void => {
        if (decodedOnce) return
        decodedOnce = true
        const decodeMs = this.clock.now() - start
        release()
        if (err !== null) done(err)
        else if (d === undefined || d === null) done(null, null)
        else this.dispatch(req, d, decodeMs, done)
      }
      try {
        req.decode(decoded)
      } catch (err) {
        if (decodedOnce) throw err // thrown past decoding: not the decoder's
        decoded(err as Error)
      }
    }, req.bodyBytes ?? 0)
    if (!accepted) {
      this.observer.rejected('', req.model, policy, 'decode-queue-full')
      done(withRetryAfter(new Overloaded('too many images waiting to be decoded'), 1))
    }
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
