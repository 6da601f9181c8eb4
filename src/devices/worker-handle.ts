// The main thread's end of one inference worker: starts it, sends batches, matches results,
// and turns a worker that dies into a rejected batch instead of a request left hanging.
import { EventEmitter } from 'node:events'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { BatchFailedError, WorkerStartError } from '../errors.js'
import type { ModelFailure, ModelReport, RunMessage, TensorModel, WorkerInit } from '../worker/protocol.js'
import type { BatchCallback, Executor } from './executor.js'
import { toFault, type Fault, type FaultMode } from './faults.js'
import type { QueuedItem } from './request-queue.js'
import { WorkerReplies } from './worker-replies.js'

// Source (.ts under the test loader, which workers inherit) or build output (.js).
const WORKER_URL = new URL(`../worker/inference-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)


/** Emits 'exit' (code) when the worker thread ends for any reason other than stop(). */
export class WorkerHandle extends EventEmitter implements Executor {
  private worker: Worker | null = null
  /** batches and model-repository requests waiting for the worker's answer */
  private readonly replies = new WorkerReplies()
  private stopping = false
  /** set to 1 to release a run blocked by a 'hang' fault (a thread cannot be killed) */
  private readonly hangRelease = new Int32Array(new SharedArrayBuffer(4))
  alive = false

  async start (init: WorkerInit): Promise<{ models: ModelReport[], failures: ModelFailure[] }> {
    const worker = new Worker(WORKER_URL, { workerData: { ...init, hangRelease: this.hangRelease.buffer }, name: 'switchyard-inference' })
    this.worker = worker
    return new Promise((resolve, reject) => {
      let settled = false
      worker.on('message', this.replies.listen((r) => {
        settled = true
        this.alive = true
        resolve(r)
      }, (err) => {
        settled = true
        reject(err)
        void worker.terminate() // an idle worker that failed to init is safe to end
      }))
      worker.on('error', (err) => {
        if (!settled) { settled = true; reject(new WorkerStartError(err.message, false)) }
        this.replies.failAll(`worker error: ${err.message}`)
      })
      worker.on('exit', (code) => {
        this.alive = false
        if (!settled) { settled = true; reject(new WorkerStartError(`worker exited with code ${code} during startup`, false)) }
        this.replies.failAll(`worker exited with code ${code}`)
        if (!this.stopping) this.emit('exit', code)
      })
    })
  }

  run (model: string, items: readonly QueuedItem[], done: BatchCallback): void {
    const worker = this.worker
    if (!worker || !this.alive) {
      queueMicrotask(() => done(new BatchFailedError('worker is not running', true)))
      return
    }
    const batchId = this.replies.batch(done)
    // Offered for transfer. sharp's output lives in native (external) memory, which V8 cannot
    // detach, so postMessage copies it once (~0.3 MB per image); a JS-allocated buffer would be
    // moved. Either way the main thread may still hold the pixels afterwards, or find them
    // detached (the dispatcher handles both on a retry).
    const transfer: ArrayBuffer[] = []
    const batch: RunMessage['items'] = []
    for (const { image, params } of items) {
      batch.push({ image, params })
      const buf = image.pixels.buffer
      if (buf instanceof ArrayBuffer && image.pixels.byteOffset === 0 && image.pixels.byteLength === buf.byteLength) transfer.push(buf)
    }
    worker.postMessage({ type: 'run', batchId, model, items: batch } satisfies RunMessage, transfer)
  }

  /**
   * Adds a plain ONNX model's session (the model repository): created, warmed and — with
   * calibrationRuns > 0 — calibrated in the worker, after the batch in progress.
   */
  async loadModel (model: TensorModel, calibrationRuns: number): Promise<ModelReport> {
    const worker = this.running()
    return this.replies.loadModel((m) => worker.postMessage(m), model, calibrationRuns)
  }

  /** Releases a plain model's session, after the batch in progress. */
  async unloadModel (name: string): Promise<void> {
    const worker = this.running()
    await this.replies.unloadModel((m) => worker.postMessage(m), name)
  }

  private running (): Worker {
    if (!this.worker || !this.alive) throw new Error('worker is not running')
    return this.worker
  }

  /** Fault injection (devices/faults.ts); the worker ignores it unless faults are allowed. */
  injectFault (fault: FaultMode | Fault): void {
    const { mode, delayMs } = toFault(fault)
    this.worker?.postMessage({ type: 'fault', mode, ...(delayMs !== undefined ? { delayMs } : {}) })
  }

  /** Finish the batch in progress, release sessions, let the thread exit. */
  async stop (): Promise<void> {
    const worker = this.worker
    if (!worker || !this.alive) return
    this.stopping = true
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    // a run blocked by a 'hang' fault gives up (its batch fails), so the stop message is read
    Atomics.store(this.hangRelease, 0, 1)
    Atomics.notify(this.hangRelease, 0)
    worker.postMessage({ type: 'stop' })
    await exited
  }

}
