// What a job is, wherever it is queued: the job's description (meta), one stored result per
// image, and the backend contract that the in-memory queue (memory-backend.ts) and NATS
// JetStream (nats-backend.ts) both implement. The puller (puller.ts) and the routes
// (job-routes.ts) only see this contract.
import type { ItemParams } from '../worker/protocol.js'

export type JobPolicy = 'throughput' | 'cost'

export interface JobMeta {
  id: string
  /** the API key's name that submitted it ('' when auth is off): only it may read the job */
  key: string
  model: string
  task: 'classify' | 'detect'
  policy: JobPolicy
  params: ItemParams
  /** number of images */
  images: number
  /** per image: the file name or URL it came from */
  names: string[]
  /** epoch ms */
  createdAt: number
  callback: string | null
}

export interface ItemError { statusCode: number, error: string, message: string }

/** The one stored result of one image. */
export interface ItemResult {
  index: number
  ok: boolean
  /** the replica (process) that stored it, and the device that ran it */
  replica: string
  device?: string
  /** the prediction: { predictions } (classify) or { width, height, detections } (detect) */
  output?: Record<string, unknown>
  error?: ItemError
  /** epoch ms */
  at: number
}

export interface JobView {
  meta: JobMeta
  /** sorted by index; at most one per image */
  results: ItemResult[]
  /** epoch ms when the last result was stored, null while unfinished */
  finishedAt: number | null
}

/** One image handed to a replica; exactly one of complete()/retryLater() is called. */
export interface Delivery {
  jobId: string
  index: number
  key: string
  model: string
  /** 1 on the first delivery */
  deliveries: number
  meta: () => Promise<JobMeta | null>
  bytes: () => Promise<Buffer>
  /**
   * Stores the result (idempotent: the first stored result of an image wins) and then
   * acknowledges the delivery. `finished` is true for exactly the call that stored a job's
   * last result.
   */
  complete: (r: ItemResult) => Promise<{ stored: boolean, finished: JobView | null }>
  /** Hands the image back to the queue, to be delivered again after `delayMs`. */
  retryLater: (delayMs: number) => void
}

export interface JobStats {
  /** images queued (not yet handed to a replica), per model */
  queued: Map<string, number>
  /** age of the oldest queued or running image, ms (0: none) */
  oldestMs: number
}

export interface JobBackend {
  readonly kind: 'memory' | 'nats'
  submit: (meta: JobMeta, images: Buffer[]) => Promise<void>
  get: (id: string) => Promise<JobView | null>
  /** images of this key queued or running, for the per-key limit */
  outstanding: (key: string) => Promise<number>
  /**
   * Up to n deliveries for `model`, shared between the keys that have work, at most
   * `perKey(key)` of a key (job-stage.ts: what each key may still hold on this replica).
   */
  take: (model: string, n: number, perKey?: (key: string) => number) => Promise<Delivery[]>
  /** images of this key queued for `model` and not taken, as last seen (weights the hand-over to the devices) */
  backlog: (model: string, key: string) => number
  /** resolves when take() may find work again (a submission), or after `ms` */
  waitForWork: (model: string, ms: number) => Promise<void>
  stats: () => Promise<JobStats>
  close: () => Promise<void>
}
