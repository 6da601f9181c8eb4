// The embedded job queue: one process, nothing else to run. Images wait in a FairQueue per
// model; results live in memory until `retentionMs` after the job finished (then the job is
// forgotten: GET answers 404). Nothing survives a restart — for that, jobs.nats.url.
import { FairQueue } from './fair-queue.js'
import type { Delivery, ItemResult, JobBackend, JobMeta, JobStats, JobView } from './job-types.js'
import { Waiters } from './waiters.js'

interface StoredJob {
  meta: JobMeta
  /** released once the image's result is stored */
  images: Array<Buffer | null>
  results: Map<number, ItemResult>
  finishedAt: number | null
}

interface Pending { jobId: string, index: number, key: string, enqueuedAt: number, deliveries: number }

export interface MemoryBackendOptions {
  retentionMs: number
  /** epoch ms; injected by tests */
  now?: () => number
}

export class MemoryBackend implements JobBackend {
  readonly kind = 'memory'
  private readonly jobs = new Map<string, StoredJob>()
  private readonly queues = new Map<string, FairQueue<Pending>>()
  /** images per key queued or running */
  private readonly perKey = new Map<string, number>()
  /** handed out, not yet completed */
  private readonly running = new Set<Pending>()
  private readonly waiters = new Waiters()
  private readonly sweeper: NodeJS.Timeout
  private readonly now: () => number

  constructor (private readonly opts: MemoryBackendOptions) {
    this.now = opts.now ?? Date.now
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, Math.max(1000, opts.retentionMs))).unref()
  }

  async submit (meta: JobMeta, images: Buffer[]): Promise<void> {
    this.jobs.set(meta.id, { meta, images: [...images], results: new Map(), finishedAt: null })
    const q = this.queue(meta.model)
    const at = this.now()
    for (let i = 0; i < images.length; i++) q.push(meta.key, { jobId: meta.id, index: i, key: meta.key, enqueuedAt: at, deliveries: 0 })
    this.perKey.set(meta.key, (this.perKey.get(meta.key) ?? 0) + images.length)
    this.wake(meta.model)
  }

  async get (id: string): Promise<JobView | null> {
    const job = this.jobs.get(id)
    if (job === undefined) return null
    return { meta: job.meta, results: [...job.results.values()].sort((a, b) => a.index - b.index), finishedAt: job.finishedAt }
  }

  async outstanding (key: string): Promise<number> {
    return this.perKey.get(key) ?? 0
  }

  async take (model: string, n: number, perKey?: (key: string) => number): Promise<Delivery[]> {
    const q = this.queues.get(model)
    if (q === undefined || n <= 0) return []
    return q.take(n, perKey).map((p) => this.deliver(model, p))
  }

  backlog (model: string, key: string): number {
    return this.queues.get(model)?.sizeOf(key) ?? 0
  }

  waitForWork (model: string, ms: number): Promise<void> {
    // not resolved at once while images are queued: the caller may have found only keys it
    // may not take from now (take()'s perKey); it waits for a submission, a hand-back or `ms`
    return this.waiters.wait(model, ms)
  }

  async stats (): Promise<JobStats> {
    const queued = new Map<string, number>()
    const now = this.now()
    let oldest = now
    for (const [model, q] of this.queues) {
      queued.set(model, q.size)
      for (const p of q.heads()) oldest = Math.min(oldest, p.enqueuedAt)
    }
    for (const p of this.running) oldest = Math.min(oldest, p.enqueuedAt)
    return { queued, oldestMs: now - oldest }
  }

  /** Forgets jobs that finished more than retentionMs ago. */
  sweep (): void {
    const limit = this.now() - this.opts.retentionMs
    for (const [id, job] of this.jobs) if (job.finishedAt !== null && job.finishedAt <= limit) this.jobs.delete(id)
  }

  async close (): Promise<void> {
    clearInterval(this.sweeper)
    this.waiters.wakeAll()
  }

  private queue (model: string): FairQueue<Pending> {
    let q = this.queues.get(model)
    if (q === undefined) { q = new FairQueue(); this.queues.set(model, q) }
    return q
  }

  private wake (model: string): void {
    this.waiters.wake(model)
  }

  private deliver (model: string, p: Pending): Delivery {
    p.deliveries++
    this.running.add(p)
    let settled = false
    const settle = (): void => {
      if (settled) throw new Error(`delivery of ${p.jobId}/${p.index} settled twice`)
      settled = true
      this.running.delete(p)
    }
    return {
      jobId: p.jobId,
      index: p.index,
      key: p.key,
      model,
      deliveries: p.deliveries,
      meta: async () => this.jobs.get(p.jobId)?.meta ?? null,
      bytes: async () => {
        const b = this.jobs.get(p.jobId)?.images[p.index]
        if (b == null) throw new Error(`image ${p.jobId}/${p.index} is gone`)
        return b
      },
      complete: async (r) => {
        settle()
        this.perKey.set(p.key, (this.perKey.get(p.key) ?? 1) - 1)
        const job = this.jobs.get(p.jobId)
        if (job === undefined || job.results.has(p.index)) return { stored: false, finished: null }
        job.results.set(p.index, r)
        job.images[p.index] = null
        if (job.results.size < job.meta.images) return { stored: true, finished: null }
        job.finishedAt = this.now()
        return { stored: true, finished: await this.get(p.jobId) }
      },
      retryLater: (delayMs) => {
        settle()
        setTimeout(() => { this.queue(model).push(p.key, p); this.wake(model) }, delayMs).unref()
      }
    }
  }
}
