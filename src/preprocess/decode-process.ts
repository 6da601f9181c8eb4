// Background decoding: images decoded in a child process at a lower CPU priority (nice), for
// work that has no one waiting on it — the job queue's images (src/jobs/puller.ts). On a host
// whose cores are busy, the kernel then runs the latency class's decodes (in the server
// process, at normal priority) ahead of the background ones, instead of sharing the cores with
// them equally; when the cores are idle, nice changes nothing and background decodes run at
// full speed. A decode's result is the server's own (the same decode-image.ts); the pixels
// come back over the IPC channel with V8 serialisation (one copy, ~150–300 KB per image).
//
// Mechanism only: which images go here is the caller's choice. A child that dies fails the
// decodes it held with a retryable 503 (a job image goes back to the queue) and is started
// again on the next decode; if it cannot be started at all, decodes run in the server process
// (logged once), as they would without this module.
import { fork, type ChildProcess } from 'node:child_process'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DecoderUnavailable } from '../errors.js'
import type { ModelSpec } from '../models/model-spec.js'
import type { Log } from '../util/log.js'
import type { PreparedImage } from '../core/items.js'
import { decodeImage, type ImageLimits } from './decode-image.js'

// Source (.ts under the test loader, which fork() passes on in execArgv) or build output (.js).
const ENTRY = fileURLToPath(new URL(`./decode-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url))

export interface DecodeRequest {
  id: number
  bytes: Uint8Array
  model: Pick<ModelSpec, 'input' | 'preprocess'>
  limits: ImageLimits
}

export type DecodeReply =
  | { id: number, ready: true }
  | { id: number, image: PreparedImage }
  | { id: number, error: { message: string, statusCode?: number, code?: string } }

/** children that end before they are ready, in a row, before decodes run in the server process instead */
const MAX_FAILED_STARTS = 3

type Pending = { resolve: (image: PreparedImage) => void, reject: (err: Error) => void }

export class DecodeProcess {
  private child: ChildProcess | null = null
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closed = false
  /** the child could not be started: decode here */
  private inProcess = false
  /** children in a row that ended before they were ready */
  private failedStarts = 0

  /** `entry`: the child's script (tests) */
  constructor (private readonly nice: number, private readonly log: Log, private readonly entry = ENTRY) {}

  /** decodes run in the child (false once it could not be started: they run in the server process) */
  get separate (): boolean {
    return !this.inProcess
  }

  /** the child's pid while it runs (tests, logs) */
  get pid (): number | undefined {
    return this.child?.pid
  }

  /** Decodes as decodeImage() does, in the child. */
  decode (bytes: Buffer, model: Pick<ModelSpec, 'input' | 'preprocess'>, limits: ImageLimits): Promise<PreparedImage> {
    if (this.closed) return Promise.reject(new DecoderUnavailable('it is closed'))
    const child = this.inProcess ? null : this.ensure()
    if (child === null) return decodeImage(bytes, model, limits)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      const msg: DecodeRequest = { id, bytes, model: { input: model.input, preprocess: model.preprocess }, limits }
      // a send that fails (the child just died) surfaces as its 'exit', which fails this decode
      child.send(msg, () => {})
    })
  }

  /** Ends the child; decodes it still held fail (retryable). */
  async close (): Promise<void> {
    this.closed = true
    const child = this.child
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.disconnect()
    await exited
  }

  private ensure (): ChildProcess | null {
    if (this.child !== null) return this.child
    let child: ChildProcess
    try {
      child = fork(this.entry, [String(this.nice)], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    } catch (err) {
      this.inProcess = true
      this.log.warn({ err: (err as Error).message }, 'background decoder: could not start its process; decoding in the server process')
      return null
    }
    this.child = child
    let ready = false
    child.on('message', (r: DecodeReply) => {
      if ('ready' in r) { ready = true; this.failedStarts = 0; return }
      const p = this.pending.get(r.id)
      if (p === undefined) return
      this.pending.delete(r.id)
      if ('image' in r) {
        // a Buffer over its own ArrayBuffer (the worker takes it without a copy; tiles.test.ts)
        const px = r.image.pixels as unknown as Uint8Array
        const own = px.byteOffset === 0 && px.buffer.byteLength === px.byteLength
        p.resolve({ ...r.image, pixels: own ? Buffer.from(px.buffer, 0, px.byteLength) : Buffer.from(px) })
      } else {
        p.reject(Object.assign(new Error(r.error.message), r.error))
      }
    })
    child.on('error', (err) => { this.log.warn({ err: err.message }, 'background decoder: channel error') })
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null
      const how = signal !== null ? `killed by ${signal}` : `exited with code ${code ?? 0}`
      if (!ready && ++this.failedStarts >= MAX_FAILED_STARTS) {
        this.inProcess = true
        this.log.warn({ how, starts: this.failedStarts }, 'background decoder: its process never started; decoding in the server process')
      } else if (!this.closed) {
        this.log.warn({ how }, 'background decoder: its process ended; started again on the next decode')
      }
      const failed = [...this.pending.values()]
      this.pending.clear()
      for (const p of failed) p.reject(new DecoderUnavailable(`its process ${how}`))
    })
    return child
  }
}
