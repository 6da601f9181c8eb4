// Runs queued job images of one model on this replica's devices — the late-binding pull: the
// replica takes images from the queue only while its devices have free throughput capacity
// (capacity.ts), so a fast replica takes more and a slow or busy one fewer, and what no
// replica has taken yet stays in the shared queue. Each image goes the HTTP path's way:
// decode gate (throughput class) → the stage (job-stage.ts: decoded, it waits until a worker
// can start it, and the keys' order is decided then) → Dispatcher (admission, routing,
// batching, one retry) → one stored result, then the acknowledgement. A refusal that means
// "not now" (429/503) hands the image back to the queue; a bad image is stored as that
// image's failed result.
import type { EventEmitter } from 'node:events'
import type { Config } from '../config/schema.js'
import type { Scheduler } from '../devices/scheduler.js'
import { decodeGated } from '../http/decode-slot.js'
import type { Metrics } from '../metrics/metrics.js'
import type { ModelInfo } from '../models/model-spec.js'
import type { decodeImage } from '../preprocess/decode-image.js'
import type { DecodeGate } from '../preprocess/decode-gate.js'
import type { Dispatcher } from '../router/dispatcher.js'
import type { Log } from '../util/log.js'
import { decoded, type PreparedImage } from '../worker/protocol.js'
import { jobDecodeSlots, LatencyWatch } from './decode-pace.js'
import type { Delivery, ItemResult, JobBackend, JobView } from './job-types.js'
import { JobStage } from './job-stage.js'

export interface PullerDeps {
  backend: JobBackend
  model: ModelInfo
  /** free throughput slots of this replica's devices for the model (capacity.ts): how much to take */
  free: () => number
  /** throughput slots of idle workers (capacity.ts startableSlots): how much to hand to the devices now */
  startable: () => number
  /** images of this model decoded at once: a number, or 'auto' (as fast as the devices run them, decode-pace.ts) */
  decodeSlots: number | 'auto'
  /** where a job image is decoded: the background decoder (jobs.decodeNice, decode-process.ts), or in this process */
  decode: typeof decodeImage
  /** true while `decode` runs in the background decoder's own process: no decode-gate slot is taken for it */
  background: () => boolean
  /** the most decoded at once under 'auto' (the decode gate's throughput-class slots; with the background decoder at least its threads) */
  maxDecodeSlots: number
  /** under 'auto', the most decoded at once while latency-class requests come (decode-pace.ts decodeCap: the cores CPU inference leaves) */
  latencyDecodeCap: number
  /** throughput-class images per ms the devices run at full batches (capacity.ts drainRate) */
  drainRate: () => number
  /** the schedulers: they emit 'batch' when a batch ends (capacity may have freed), and hold their batch planning while released images are submitted (together) */
  devices: ReadonlyArray<EventEmitter & Pick<Scheduler, 'together'>>
  dispatcher: Dispatcher
  gate: DecodeGate
  metrics: Metrics
  images: Config['images']
  replica: string
  itemDeadlineMs: number
  maxDeliver: number
  onFinished: (job: JobView) => void
  log: Log
}

/** how long a refused image waits before it is offered again */
const RETRY_MS = 1000
/** fallback re-check of capacity and work when no event came (health changes, another replica's submissions) */
const IDLE_MS = 200

/** called when a staged image is released (true: it is submitted to the dispatcher, synchronously) or handed back at shutdown (false) */
type Go = (release: boolean) => void
/** a released image's outcome from the dispatcher */
interface Dispatch { err: Error | null, r?: Parameters<Parameters<Dispatcher['submit']>[1]>[1] }

export class Puller {
  /** taken from the queue and not yet handed to the devices, per key (being prepared, or ready) */
  private readonly stage = new JobStage<Go>()
  /** taken, result not yet stored */
  running = 0
  private closed = false
  private wakeUp: (() => void) | null = null
  private loop: Promise<void> | null = null
  /** a job image's decode (holding its gate slot), ms: moving average (0 until one is measured) */
  private decodeMs = 0
  private readonly latency = new LatencyWatch()
  // a batch ended: a worker is free now (synchronously, before its device looks at its queue
  // again), so what is ready goes into that batch; and there may be room to take more
  private readonly onBatch = (): void => { this.release(); this.wake() }

  constructor (private readonly d: PullerDeps) {}

  get model (): string {
    return this.d.model.name
  }

  /** job images decoded at once now: jobs.decodeSlots, or under 'auto' as many as keep the devices fed (decode-pace.ts) */
  get decodeSlots (): number {
    if (this.d.decodeSlots !== 'auto') return this.d.decodeSlots
    // while this replica serves latency-class requests, off the cores they decode on (decode-pace.ts)
    const recent = this.latency.observe(this.d.gate.latencyEntered, performance.now())
    return jobDecodeSlots(this.d.drainRate(), this.decodeMs, this.d.maxDecodeSlots, this.d.latencyDecodeCap, recent)
  }

  start (): void {
    for (const dev of this.d.devices) dev.on('batch', this.onBatch)
    this.loop = this.run()
  }

  /** Stops taking images; those taken finish (their results are stored) before it resolves. */
  async stop (): Promise<void> {
    this.closed = true
    for (const dev of this.d.devices) dev.off('batch', this.onBatch)
    for (const go of this.stage.drain()) go(false)
    this.wake()
    // a take() that hangs on an unreachable queue does not hold up the shutdown: what it
    // returns after the stop is handed back (below)
    await Promise.race([this.loop, new Promise((resolve) => setTimeout(resolve, 2000).unref())])
    while (this.running > 0) await new Promise((resolve) => setTimeout(resolve, 10))
  }

  private wake (): void {
    const w = this.wakeUp
    this.wakeUp = null
    w?.()
  }

  /** until wake(), `ms`, or `also` settles — whichever comes first */
  private sleep (ms: number, also?: Promise<void>): Promise<void> {
    return new Promise((resolve) => {
      let done = false
      const finish = (): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        if (this.wakeUp === finish) this.wakeUp = null
        resolve()
      }
      const timer = setTimeout(finish, ms)
      this.wakeUp = finish
      also?.then(finish, finish)
    })
  }

  /**
   * Hands ready images to the devices, as many as idle workers can start now: submitted
   * synchronously, and all of them before any device plans a batch (`holding`), so they start as
   * one batch together with what is already queued for the worker. Called from a batch's end
   * ('batch', before the device looks at its queue again), they make that worker's next batch.
   * (Submitted a microtask later, as they once were, the device had already started what its
   * queue held — an image left over from a batch split by a late arrival — and the released
   * ones queued behind it: a slow replica's batches then paired off as 1 + 7 for a whole run,
   * bench/results/jobs-shares.md.)
   */
  private release (): void {
    if (this.closed || this.stage.readyCount === 0) return
    const n = this.d.startable()
    if (n <= 0) return
    const name = this.d.model.name
    const gos = this.stage.release(n, (key) => this.d.backend.backlog(name, key))
    holding(this.d.devices, () => { for (const go of gos) go(true) })
  }

  /** Starts the decodes whose turn it is. */
  private startTurns (): void {
    const name = this.d.model.name
    for (const start of this.stage.nextTurns(this.decodeSlots, (key) => this.d.backend.backlog(name, key))) start()
  }

  private endTurn (): void {
    this.stage.endTurn()
    this.startTurns()
  }

  private async run (): Promise<void> {
    const { backend, model } = this.d
    while (!this.closed) {
      this.release()
      const { total, perKey } = this.stage.allowance(this.d.free())
      if (total <= 0) { await this.sleep(IDLE_MS); continue }
      let taken: Delivery[]
      try {
        taken = await backend.take(model.name, total, perKey)
      } catch (err) {
        this.d.log.warn({ model: model.name, err: (err as Error).message }, 'job queue: take failed')
        await this.sleep(RETRY_MS)
        continue
      }
      if (this.closed) { for (const d of taken) d.retryLater(0); break }
      // nothing to take (or only from keys that hold enough here): a submission, a batch's end or the timeout
      if (taken.length === 0) { await this.sleep(IDLE_MS, backend.waitForWork(model.name, IDLE_MS)); continue }
      for (const delivery of taken) void this.handle(delivery)
    }
  }

  private async handle (dl: Delivery): Promise<void> {
    const { model, metrics } = this.d
    this.stage.hold(dl.key)
    this.running++
    if (dl.deliveries > 1) metrics.jobRedeliveries.inc({ model: model.name })
    let staged = true
    const unstage = (): void => { if (staged) { staged = false; this.stage.drop(dl.key) } }
    try {
      const meta = await dl.meta()
      if (meta === null) { await this.store(dl, failure(410, 'SY_JOB_NOT_FOUND', `job ${dl.jobId} is gone`)); return }
      if (dl.deliveries > this.d.maxDeliver) {
        await this.store(dl, failure(503, 'SY_INFERENCE_FAILED', `delivered ${dl.deliveries - 1} times without a stored result (jobs.nats.maxDeliver)`))
        return
      }
      const bytes = await dl.bytes()
      let image: PreparedImage
      // a turn to decode: the key with the smaller backlog first (job-stage.ts)
      await new Promise<void>((start) => { this.stage.queueTurn(dl.key, start); this.startTurns() })
      try {
        // background decodes (their own process, at a lower priority) take no slot of the
        // server's decode gate: they use none of its threads; the pace (decodeSlots) bounds how
        // many run at once and the stage (job-stage.ts) how many images are held. A decoder that
        // fell back to this process goes through the gate again.
        const got = this.d.background() ? await timed(() => this.d.decode(bytes, model, this.d.images)) : await decodeGated(this.d.gate, metrics, meta.policy, model, bytes, this.d.images, this.d.decode, this.d.itemDeadlineMs)
        image = got.image
        // the decode itself, not the wait for a gate slot (decodeGated times it)
        this.decodeMs = this.decodeMs === 0 ? got.decodeMs : this.decodeMs + 0.2 * (got.decodeMs - this.decodeMs)
      } catch (err) {
        this.endTurn()
        unstage()
        if (transient(err)) { this.requeue(dl); return }
        await this.store(dl, errorOf(err))
        return
      }
      this.endTurn()
      // ready: it waits in the stage until a worker can start it; release() submits it to the
      // dispatcher then, synchronously (see release), or hands it back at shutdown (null)
      const done = this.closed ? null : await new Promise<Dispatch | null>((resolve) => {
        this.stage.ready(dl.key, (release) => {
          staged = false
          if (!release) { resolve(null); return }
          this.d.dispatcher.submit({
            model: model.name,
            image,
            params: meta.params,
            opts: { policy: meta.policy, deadline: performance.now() + this.d.itemDeadlineMs },
            prepareAgain: () => this.d.decode(bytes, model, this.d.images)
          }, (err, r) => resolve({ err, r }))
        })
        this.release()
      })
      if (done === null) { dl.retryLater(0); return } // shutting down: back to the queue
      if (done.err !== null) {
        if (transient(done.err)) { this.requeue(dl); return }
        await this.store(dl, errorOf(done.err))
        return
      }
      const res = decoded(done.r!.result)
      const output: Record<string, unknown> = res.kind === 'classify'
        ? { predictions: res.predictions }
        : { width: res.width, height: res.height, detections: res.detections }
      await this.store(dl, { ok: true, device: done.r!.device, output })
    } catch (err) {
      if ((err as { alreadyStored?: boolean }).alreadyStored === true) {
        // an earlier delivery stored the result and its acknowledgement was lost: complete()
        // stores nothing (the first result wins) and acknowledges
        await this.store(dl, failure(409, 'SY_INTERNAL', 'duplicate delivery')).catch(() => undefined)
        return
      }
      // the queue itself failed (fetching the image, storing the result): the delivery is
      // not acknowledged, so the queue offers it again after its ack wait
      this.d.log.warn({ model: model.name, job: dl.jobId, index: dl.index, err: (err as Error).message }, 'job image not completed; it will be delivered again')
    } finally {
      unstage()
      this.running--
      this.wake()
    }
  }

  private requeue (dl: Delivery): void {
    dl.retryLater(RETRY_MS)
  }

  private async store (dl: Delivery, r: Pick<ItemResult, 'ok' | 'device' | 'output' | 'error'>): Promise<void> {
    const result: ItemResult = { index: dl.index, replica: this.d.replica, at: Date.now(), ...r }
    const { stored, finished } = await dl.complete(result)
    if (stored) this.d.metrics.jobImagesDone.inc({ model: this.d.model.name, outcome: r.ok ? 'ok' : 'failed' })
    if (finished !== null) this.d.onFinished(finished)
  }
}

async function timed (decode: () => Promise<PreparedImage>): Promise<{ image: PreparedImage, decodeMs: number }> {
  const start = performance.now()
  const image = await decode()
  return { image, decodeMs: performance.now() - start }
}

/** Runs `fn` with every device's batch planning held (Scheduler.together), then lets them plan: what `fn` submits starts as whole batches. */
export function holding (devices: PullerDeps['devices'], fn: () => void, i = 0): void {
  if (i === devices.length) { fn(); return }
  devices[i]!.together(() => holding(devices, fn, i + 1))
}

function failure (statusCode: number, error: string, message: string): Pick<ItemResult, 'ok' | 'error'> {
  return { ok: false, error: { statusCode, error, message } }
}

/** 429 (overloaded) and 503 (no healthy device, shutting down, failed on every device): try later */
function transient (err: unknown): boolean {
  const status = (err as { statusCode?: number }).statusCode
  return status === 429 || status === 503
}

function errorOf (err: unknown): Pick<ItemResult, 'ok' | 'error'> {
  const e = err as { statusCode?: number, code?: string, message?: string }
  const statusCode = typeof e.statusCode === 'number' && e.statusCode < 500 ? e.statusCode : 500
  return failure(statusCode, statusCode === 500 ? 'SY_INTERNAL' : (e.code ?? 'SY_INTERNAL'), statusCode === 500 ? 'Internal server error' : (e.message ?? ''))
}

