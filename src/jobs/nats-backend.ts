// Jobs on NATS JetStream (client `nats` 2.29.3, checked against Debian's nats-server 2.9.10):
// any number of replicas share one queue, and any of them answers GET /jobs/{id}.
//
//   stream  <P>_JOBS        work-queue retention, subjects <P>.jobs.<model>.<key>: one message
//                           per image, { job, index } and where its bytes are — not the bytes
//                           (NATS payloads are limited to 1 MB by default, images here to 16 MiB)
//   objects <P>_IMAGES      the image bytes, named <job>/<index>, in chunks as large as the
//                           server's max payload (one for most photos); read by direct get, chunk
//                           by chunk, the digest checked by node:crypto (readObject); removed once
//                           the result is stored
//   kv      <P>_JOBS_KV     meta.<job> (the job), res.<job>.<index> (its one result per image),
//                           count.<job> (results stored), fin.<job> (when the last one was)
//
// Round trips per image on the replica that runs it, kept few because each one is main-thread
// work beside the latency-class requests the replica serves (bench/results/jobs-probe.md): the
// chunk reads (the queued message names the object's chunks, size and digest, so no info
// lookup), the result's create, a share of the job counter's compare-and-set (the results of
// one job stored in the same turn of the event loop count in one update), the acknowledgement
// (sent, not awaited: a lost one means a redelivery, which finds the stored result) and two
// purges that are not awaited either (the chunks and the object's metadata).
//
// One durable pull consumer per model and API key, filtered on its subject (nats-server 2.9
// has one filter subject per consumer, and a work-queue stream's consumers may not overlap):
// a replica takes as many images as it has free batch slots, split over the keys that have
// work by their backlogs (shares.ts) within what each key may still hold on the replica
// (job-stage.ts), so one key's million images do not starve another's ten. At least once:
// an image is acknowledged only after its result is stored; a replica that dies (or passes
// ack_wait, which `working()` extends while an image runs) has it delivered to another. The
// result is written with a create (fails if the key exists): one stored result per image
// however often it is delivered, and the count moves once per stored result, so exactly one
// delivery sees the job finish (and sends the callback).
//
// Retention: key-value entries expire retentionMs after they were written (the bucket's max
// age); set it longer than a job takes.
import { createHash } from 'node:crypto'
import { AckPolicy, connect, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type JsMsg, type KV, type NatsConnection, type ObjectStore } from 'nats'
import type { Log } from '../util/log.js'
import type { Delivery, ItemResult, JobBackend, JobMeta, JobStats, JobView } from './job-types.js'
import { shares } from './shares.js'
import { batchNatsWrites, PATCHED_NATS_VERSION } from './nats-write-batching.js'
import { Waiters } from './waiters.js'

export interface NatsBackendOptions {
  url: string
  prefix: string
  ackWaitMs: number
  retentionMs: number
  /** models this replica takes images of */
  models: readonly string[]
  log: Log
}

/** where an image's bytes are in the object store: its chunks' id, their count, size and digest */
interface ObjectRef { n: string, c: number, s: number, d: string }
/** the queued message of one image (`o` absent in messages queued before it was added) */
interface WireItem { j: string, i: number, k: string, m: string, o?: ObjectRef }

/** JetStream's direct get of a stream's message (the client's manager has it; its declared interface does not name it) */
interface DirectGet { getMessage: (stream: string, q: { seq: number, next_by_subj: string }) => Promise<{ data: Uint8Array, seq: number }> }

/** chunk size asked of the object store (the client lowers it to the server's max payload) */
const CHUNK_BYTES = 8 * 1024 * 1024

const enc = new TextEncoder()
const dec = new TextDecoder()
const json = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v))
const parse = <T>(b: Uint8Array): T => JSON.parse(dec.decode(b)) as T

/** subject- and consumer-name-safe token of any string */
const token = (s: string): string => Buffer.from(s, 'utf8').toString('hex')
const untoken = (t: string): string => Buffer.from(t, 'hex').toString('utf8')

export class NatsBackend implements JobBackend {
  readonly kind = 'nats'
  private readonly stream: string
  /** the object store bucket of the image bytes */
  private readonly imagesBucket: string
  /** per model: the consumer durables of its keys, and when they were listed */
  private readonly turns = new Map<string, { durables: string[], refreshedAt: number }>()
  private readonly knownConsumers = new Set<string>()
  private readonly metaCache = new Map<string, JobMeta>()
  private readonly inFlight = new Set<JsMsg>()
  private readonly heartbeat: NodeJS.Timeout
  private statsCache: { at: number, value: Promise<JobStats> } | null = null
  /** pullers waiting for work, per model: woken by a submission on any replica */
  private readonly waiters = new Waiters()
  /** per model and key: its consumer's pending images at the last take() */
  private readonly pendingSeen = new Map<string, Map<string, number>>()
  /** per job: completions waiting for the job counter's next update (one per event-loop turn) */
  private readonly counting = new Map<string, Array<{ resolve: (count: number) => void, reject: (err: Error) => void }>>()

  private constructor (
    private readonly opts: NatsBackendOptions,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly kv: KV,
    private readonly os: ObjectStore
  ) {
    this.stream = `${opts.prefix}_JOBS`
    this.imagesBucket = `${opts.prefix}_IMAGES`
    // images running longer than half the ack wait are reported as still being worked on
    this.heartbeat = setInterval(() => { for (const m of this.inFlight) m.working() }, Math.max(500, opts.ackWaitMs / 2)).unref()
    // a submission on any replica: its key's consumer joins the turns now, idle pullers wake
    const sub = nc.subscribe(`${opts.prefix}.notify.*`)
    void (async () => {
      for await (const m of sub) {
        const model = untoken(m.subject.slice(m.subject.lastIndexOf('.') + 1))
        const t = this.turns.get(model)
        if (t !== undefined) t.refreshedAt = 0
        this.waiters.wake(model)
      }
    })()
  }

  static async connect (opts: NatsBackendOptions): Promise<NatsBackend> {
    // one socket write per event-loop turn (nats-write-batching.ts)
    if (!batchNatsWrites()) opts.log.warn({ expected: PATCHED_NATS_VERSION }, 'job queue: the nats client is not the version whose writes are batched per turn; its writes stay per microtask')
    // noAsyncTraces: a request does not capture a stack up front for an error it rarely has
    const nc = await connect({ servers: opts.url.split(',').map((s) => s.trim()), name: 'switchyard', maxReconnectAttempts: -1, noAsyncTraces: true })
    const jsm = await nc.jetstreamManager()
    const stream = `${opts.prefix}_JOBS`
    const config = { name: stream, subjects: [`${opts.prefix}.jobs.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File, duplicate_window: 120_000_000_000 }
    try {
      await jsm.streams.info(stream)
    } catch {
      await jsm.streams.add(config)
    }
    const js = nc.jetstream()
    const kv = await js.views.kv(`${opts.prefix}_JOBS_KV`, { history: 1, ttl: opts.retentionMs })
    const os = await js.views.os(`${opts.prefix}_IMAGES`)
    return new NatsBackend(opts, nc, jsm, js, kv, os)
  }

  private subject (model: string, key: string): string {
    return `${this.opts.prefix}.jobs.${token(model)}.${token(key) || '_'}`
  }

  private durable (model: string, key: string): string {
    return `${token(model)}_${token(key) || '_'}`
  }

  private async ensureConsumer (model: string, key: string): Promise<void> {
    const durable = this.durable(model, key)
    if (this.knownConsumers.has(durable)) return
    await this.jsm.consumers.add(this.stream, {
      durable_name: durable,
      filter_subject: this.subject(model, key),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: this.opts.ackWaitMs * 1_000_000,
      max_deliver: -1,
      max_ack_pending: 20_000
    })
    this.knownConsumers.add(durable)
  }

  async submit (meta: JobMeta, images: Buffer[]): Promise<void> {
    await this.kv.put(`meta.${meta.id}`, json(meta))
    await this.ensureConsumer(meta.model, meta.key)
    const refs: ObjectRef[] = new Array(images.length)
    await eachLimited(images.length, 8, async (i) => {
      const info = await this.os.putBlob({ name: `${meta.id}/${i}`, options: { max_chunk_size: CHUNK_BYTES } }, images[i]!)
      refs[i] = { n: info.nuid, c: info.chunks, s: info.size, d: info.digest }
    })
    const subject = this.subject(meta.model, meta.key)
    await eachLimited(images.length, 64, async (i) => {
      await this.js.publish(subject, json({ j: meta.id, i, k: meta.key, m: meta.model, o: refs[i] } satisfies WireItem), { msgID: `${meta.id}.${i}` })
    })
    this.statsCache = null
    this.nc.publish(`${this.opts.prefix}.notify.${token(meta.model)}`)
  }

  async get (id: string): Promise<JobView | null> {
    const m = await this.kv.get(`meta.${id}`)
    if (m === null || m.operation !== 'PUT') return null
    const meta = parse<JobMeta>(m.value)
    const results: ItemResult[] = []
    if (meta.images > 0) {
      const it = await this.kv.history({ key: `res.${id}.*` })
      for await (const e of it) if (e?.operation === 'PUT') results.push(parse<ItemResult>(e.value)) // the iterator may yield undefined when its ordered consumer resets
    }
    results.sort((a, b) => a.index - b.index)
    let finishedAt: number | null = null
    if (results.length >= meta.images) {
      const fin = await this.kv.get(`fin.${id}`)
      finishedAt = fin !== null && fin.operation === 'PUT' ? Number(dec.decode(fin.value)) : Math.max(0, ...results.map((r) => r.at))
    }
    return { meta, results, finishedAt }
  }

  async outstanding (key: string): Promise<number> {
    let n = 0
    for (const model of this.opts.models) {
      try {
        const ci = await this.jsm.consumers.info(this.stream, this.durable(model, key))
        n += ci.num_pending + ci.num_ack_pending
      } catch { /* no consumer yet: nothing queued for this key */ }
    }
    return n
  }

  /** the durables of a model's keys, refreshed from the server after a submission (notify) and every few seconds */
  private async durablesOf (model: string): Promise<{ durables: string[], refreshedAt: number }> {
    let t = this.turns.get(model)
    const now = Date.now()
    if (t === undefined || now - t.refreshedAt > 5000) {
      const prefix = `${token(model)}_`
      const names: string[] = []
      for await (const page of this.jsm.consumers.list(this.stream)) {
        for (const ci of (Array.isArray(page) ? page : [page])) if (ci.name.startsWith(prefix)) names.push(ci.name)
      }
      names.sort()
      t = { durables: names, refreshedAt: now }
      this.turns.set(model, t)
    }
    return t
  }

  async take (model: string, n: number, perKey?: (key: string) => number): Promise<Delivery[]> {
    if (n <= 0) return []
    const out: Delivery[] = []
    const t = await this.durablesOf(model)
    const keys = t.durables.map((d) => untoken(d.slice(d.indexOf('_') + 1)))
    // keys that may take nothing more here are not asked (the puller asks again whenever an
    // image of its is stored: most asks while a key holds its fill would be for nothing)
    const open = keys.map((k) => perKey === undefined || perKey(k) > 0)
    if (!open.includes(true)) return []
    const last = this.pendingSeen.get(model)
    // each key's backlog now (as last seen for those not asked); keys without one are skipped
    // (and its images delivered and not acknowledged: those of a replica that died come back
    // once their ack wait passes, and num_pending does not count them — with nothing else
    // queued for the key they would otherwise never be fetched again)
    const infos = await Promise.all(t.durables.map(async (d, i) => {
      if (!open[i]) return { pending: last?.get(keys[i]!) ?? 0, unacked: 0 }
      try { const ci = await this.jsm.consumers.info(this.stream, d); return { pending: ci.num_pending, unacked: ci.num_ack_pending } } catch { return { pending: 0, unacked: 0 } }
    }))
    const pending = infos.map((x) => x.pending)
    const seen = new Map<string, number>()
    keys.forEach((k, i) => seen.set(k, pending[i]!))
    this.pendingSeen.set(model, seen)
    // what each key may take: its backlog (or, with none, what may be delivered again), within its limit on this replica
    const may = infos.map((x, i) => { const w = x.pending > 0 ? x.pending : x.unacked; return Math.min(w, perKey === undefined ? w : Math.max(0, perKey(keys[i]!))) })
    const alloc = shares(n, may, pending)
    const full: number[] = []
    for (let i = 0; i < t.durables.length && out.length < n; i++) {
      if (alloc[i]! === 0) continue
      const got = await this.fetch(t.durables[i]!, alloc[i]!)
      out.push(...got.map((m) => this.deliver(model, m)))
      may[i]! -= got.length
      if (got.length === alloc[i]!) full.push(i)
    }
    // what a key did not have goes to the keys that had all they were given (within their limit)
    for (const i of full) {
      const more = Math.min(n - out.length, may[i]!)
      if (more <= 0) continue
      const got = await this.fetch(t.durables[i]!, more)
      out.push(...got.map((m) => this.deliver(model, m)))
    }
    return out
  }

  backlog (model: string, key: string): number {
    return this.pendingSeen.get(model)?.get(key) ?? 0
  }

  private async fetch (durable: string, batch: number): Promise<JsMsg[]> {
    const msgs: JsMsg[] = []
    try {
      for await (const m of this.js.fetch(this.stream, durable, { batch, no_wait: true })) msgs.push(m)
    } catch (err) {
      // a consumer removed meanwhile: forget it until the next refresh
      this.opts.log.warn({ durable, err: (err as Error).message }, 'job queue: fetch failed')
    }
    return msgs
  }

  waitForWork (model: string, ms: number): Promise<void> {
    return this.waiters.wait(model, ms)
  }

  stats (): Promise<JobStats> {
    const now = Date.now()
    if (this.statsCache !== null && now - this.statsCache.at < 1000) return this.statsCache.value
    const value = (async () => {
      const queued = new Map<string, number>()
      for await (const page of this.jsm.consumers.list(this.stream)) {
        for (const ci of (Array.isArray(page) ? page : [page])) {
          const model = untoken(ci.name.split('_')[0]!)
          queued.set(model, (queued.get(model) ?? 0) + ci.num_pending)
        }
      }
      const si = await this.jsm.streams.info(this.stream)
      // a work-queue stream holds exactly the unacknowledged images: its first is the oldest
      const oldestMs = si.state.messages === 0 ? 0 : Math.max(0, now - Date.parse(si.state.first_ts))
      return { queued, oldestMs }
    })()
    this.statsCache = { at: now, value }
    value.catch(() => { this.statsCache = null })
    return value
  }

  async close (): Promise<void> {
    clearInterval(this.heartbeat)
    this.waiters.wakeAll()
    await this.nc.drain()
  }

  private async metaOf (id: string): Promise<JobMeta | null> {
    const cached = this.metaCache.get(id)
    if (cached !== undefined) return cached
    const e = await this.kv.get(`meta.${id}`)
    if (e === null || e.operation !== 'PUT') return null
    const meta = parse<JobMeta>(e.value)
    if (this.metaCache.size > 1000) this.metaCache.clear()
    this.metaCache.set(id, meta)
    return meta
  }

  private deliver (model: string, m: JsMsg): Delivery {
    const w = parse<WireItem>(m.data)
    this.inFlight.add(m)
    const object = `${w.j}/${w.i}`
    return {
      jobId: w.j,
      index: w.i,
      key: w.k,
      model,
      deliveries: m.info.redeliveryCount,
      meta: () => this.metaOf(w.j),
      bytes: async () => {
        const b = await this.readObject(object, w.o)
        if (b === null && m.info.redeliveryCount > 1 && await this.kv.get(`res.${w.j}.${w.i}`) !== null) {
          // stored by an earlier delivery whose acknowledgement was lost: nothing left to do
          throw Object.assign(new Error(`image ${object} was answered by an earlier delivery`), { alreadyStored: true })
        }
        if (b === null) throw new Error(`image ${object} is not in the object store`)
        return b
      },
      complete: async (r) => {
        const stored = await this.createResult(w.j, w.i, r)
        let finished: JobView | null = null
        if (stored) {
          const count = await this.count(w.j)
          const meta = await this.metaOf(w.j)
          if (meta !== null && count === meta.images) {
            await this.kv.put(`fin.${w.j}`, enc.encode(String(Date.now())))
            finished = await this.get(w.j)
          }
        }
        this.inFlight.delete(m)
        m.ack()
        // the bytes are not needed once the result is stored (a redelivery finds the result
        // first); already gone after an earlier delivery
        this.forget(object, w.o)
        this.statsCache = null
        return { stored, finished }
      },
      retryLater: (delayMs) => {
        this.inFlight.delete(m)
        m.nak(delayMs)
      }
    }
  }

  /**
   * An object's bytes, null when there is none. The object store's own get reads the chunks
   * through an ordered consumer made for the one read and checks the SHA-256 in JavaScript —
   * measured at about a fifth of a replica's main-thread time while it runs job images on two
   * busy cores. Here the chunks are read by direct get, one request each (no consumer), and the
   * digest is checked with node:crypto. Links and unknown digests: the object store's get.
   */
  private async readObject (name: string, ref?: ObjectRef): Promise<Buffer | null> {
    // (the client's manager has the direct-get API; its declared interface does not name it)
    const direct = (this.jsm as unknown as { direct?: DirectGet }).direct
    if (ref !== undefined && direct !== undefined && ref.d.startsWith('SHA-256=')) {
      try {
        return await this.readChunks(direct, name, ref)
      } catch (err) {
        // removed after an earlier delivery stored the result (or never there)
        if (/no message found|404/i.test((err as Error).message)) return null
        throw err
      }
    }
    const info = await this.os.info(name)
    if (info === null || info.deleted) return null
    if (direct === undefined || info.options?.link !== undefined || !info.digest.startsWith('SHA-256=')) {
      const b = await this.os.getBlob(name)
      return b === null ? null : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
    }
    return await this.readChunks(direct, name, { n: info.nuid, c: info.chunks, s: info.size, d: info.digest })
  }

  private async readChunks (direct: DirectGet, name: string, ref: ObjectRef): Promise<Buffer> {
    const subject = `$O.${this.imagesBucket}.C.${ref.n}`
    const parts: Uint8Array[] = []
    let seq = 0
    for (let i = 0; i < ref.c; i++) {
      const m = await direct.getMessage(`OBJ_${this.imagesBucket}`, { seq: seq + 1, next_by_subj: subject })
      parts.push(m.data)
      seq = m.seq
    }
    const bytes = Buffer.concat(parts) // (a copy: a message's data may view the client's read buffer)
    // (the digest is base64 or base64url: Node's base64 decoder reads both)
    if (bytes.length !== ref.s || !createHash('sha256').update(bytes).digest().equals(Buffer.from(ref.d.slice('SHA-256='.length), 'base64'))) {
      throw new Error(`image ${name}: the object store returned ${bytes.length} bytes that do not match its size ${ref.s} or digest`)
    }
    return bytes
  }

  /**
   * Removes an image's bytes once its result is stored, without waiting: with its chunks known,
   * two purges (its chunks, its metadata) instead of the object store's delete (a lookup, a
   * tombstone written, a purge).
   */
  private forget (name: string, ref?: ObjectRef): void {
    if (ref === undefined) { this.os.delete(name).catch(() => undefined); return }
    const stream = `OBJ_${this.imagesBucket}`
    // the object store's metadata subject: the name in padded base64url (each character one byte, as the client's btoa)
    const meta = `$O.${this.imagesBucket}.M.${Buffer.from(name, 'latin1').toString('base64').replace(/\+/g, '-').replace(/\//g, '_')}`
    this.jsm.streams.purge(stream, { filter: `$O.${this.imagesBucket}.C.${ref.n}` }).catch(() => undefined)
    this.jsm.streams.purge(stream, { filter: meta }).catch(() => undefined)
  }

  /**
   * The job's count of stored results after this one is counted. The results of one job stored
   * in the same turn of the event loop (a batch's images end together) count in one
   * compare-and-set, each given its own place in the range it added, so exactly one of them
   * sees the job's last image counted.
   */
  private count (job: string): Promise<number> {
    return new Promise((resolve, reject) => {
      let waiting = this.counting.get(job)
      if (waiting === undefined) {
        waiting = []
        this.counting.set(job, waiting)
        setImmediate(() => {
          const all = this.counting.get(job)!
          this.counting.delete(job)
          this.increment(`count.${job}`, all.length).then(
            (after) => { all.forEach((w, i) => w.resolve(after - all.length + i + 1)) },
            (err: Error) => { for (const w of all) w.reject(err) })
        })
      }
      waiting.push({ resolve, reject })
    })
  }

  /** true if this call stored the image's result; false if one was stored before */
  private async createResult (job: string, index: number, r: ItemResult): Promise<boolean> {
    try {
      await this.kv.create(`res.${job}.${index}`, json(r))
      return true
    } catch (err) {
      if (/wrong last sequence|key exists/i.test((err as Error).message)) return false
      throw err
    }
  }

  /** compare-and-set increment by `by`; the value after this call's increment */
  private async increment (key: string, by: number): Promise<number> {
    for (;;) {
      const e = await this.kv.get(key)
      try {
        if (e === null || e.operation !== 'PUT') {
          await this.kv.create(key, enc.encode(String(by)))
          return by
        }
        const n = Number(dec.decode(e.value)) + by
        await this.kv.update(key, enc.encode(String(n)), e.revision)
        return n
      } catch (err) {
        if (!/wrong last sequence|key exists/i.test((err as Error).message)) throw err
        // another replica stored a result of the same job in between: read again
      }
    }
  }
}

async function eachLimited (n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => { while (next < n) await fn(next++) }
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker))
}
