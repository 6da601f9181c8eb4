// The main thread's end of one inference worker: starts it, sends batches, matches results,
// and turns a worker that dies into a rejected batch instead of a request left hanging.
import { EventEmitter } from 'node:events'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { ItemResult, ModelFailure, ModelReport, RunMessage, WorkerInit, WorkerToMain } from '../worker/protocol.js'

// Source (.ts under the test loader, which workers inherit) or build output (.js).
const WORKER_URL = new URL(`../worker/inference-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)

export class WorkerStartError extends Error {
  override name = 'WorkerStartError'
  constructor (message: string, readonly providerUnavailable: boolean) { super(message) }
}

/** The batch was accepted by a worker that then failed; the items may be retried elsewhere. */
export class BatchFailedError extends Error {
  override name = 'BatchFailedError'
  constructor (message: string, readonly workerDied: boolean) { super(message) }
}

export interface BatchResult { results: ItemResult[], prepMs: number, runMs: number, postMs: number }

interface Pending { resolve: (r: BatchResult) => void, reject: (e: Error) => void }

let nextBatchId = 1

/** Emits 'exit' (code) when the worker thread ends for any reason other than stop(). */
export class WorkerHandle extends EventEmitter {
  private worker: Worker | null = null
  private readonly pending = new Map<number, Pending>()
  private stopping = false
  alive = false

  async start (init: WorkerInit): Promise<{ models: ModelReport[], failures: ModelFailure[] }> {
    const worker = new Worker(WORKER_URL, { workerData: init, name: 'switchyard-inference' })
    this.worker = worker
    return new Promise((resolve, reject) => {
      let settled = false
      worker.on('message', (msg: WorkerToMain) => {
        switch (msg.type) {
          case 'ready':
            settled = true
            this.alive = true
            resolve({ models: msg.models, failures: msg.failures })
            break
          case 'init-error':
            settled = true
            reject(new WorkerStartError(msg.message, msg.providerUnavailable))
            // an idle worker that failed to init is safe to end
            void worker.terminate()
            break
          case 'result': {
            const p = this.pending.get(msg.batchId)
            this.pending.delete(msg.batchId)
            p?.resolve({ results: msg.results, prepMs: msg.prepMs, runMs: msg.runMs, postMs: msg.postMs })
            break
          }
          case 'batch-error': {
            const p = this.pending.get(msg.batchId)
            this.pending.delete(msg.batchId)
            p?.reject(new BatchFailedError(msg.message, false))
            break
          }
          case 'stopped':
            break
        }
      })
      worker.on('error', (err) => {
        if (!settled) { settled = true; reject(new WorkerStartError(err.message, false)) }
        this.failAll(`worker error: ${err.message}`)
      })
      worker.on('exit', (code) => {
        this.alive = false
        if (!settled) { settled = true; reject(new WorkerStartError(`worker exited with code ${code} during startup`, false)) }
        this.failAll(`worker exited with code ${code}`)
        if (!this.stopping) this.emit('exit', code)
      })
    })
  }

  run (model: string, items: RunMessage['items']): Promise<BatchResult> {
    const worker = this.worker
    if (!worker || !this.alive) return Promise.reject(new BatchFailedError('worker is not running', true))
    const batchId = nextBatchId++
    // Offered for transfer. sharp's output lives in native (external) memory, which V8 cannot
    // detach, so postMessage copies it once (~0.3 MB per image); a JS-allocated buffer would be
    // moved. Either way the main thread may still hold the pixels afterwards, or find them
    // detached (the dispatcher handles both on a retry).
    const transfer: ArrayBuffer[] = []
    for (const { image } of items) {
      const buf = image.pixels.buffer
      if (buf instanceof ArrayBuffer && image.pixels.byteOffset === 0 && image.pixels.byteLength === buf.byteLength) transfer.push(buf)
    }
    return new Promise<BatchResult>((resolve, reject) => {
      this.pending.set(batchId, { resolve, reject })
      worker.postMessage({ type: 'run', batchId, model, items } satisfies RunMessage, transfer)
    })
  }

  /** Test hook: make the next batch fail by exiting the thread or throwing. */
  injectFault (mode: 'exit' | 'throw'): void {
    this.worker?.postMessage({ type: 'fault', mode })
  }

  /** Finish the batch in progress, release sessions, let the thread exit. */
  async stop (): Promise<void> {
    const worker = this.worker
    if (!worker || !this.alive) return
    this.stopping = true
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    worker.postMessage({ type: 'stop' })
    await exited
  }

  private failAll (reason: string): void {
    for (const p of this.pending.values()) p.reject(new BatchFailedError(reason, true))
    this.pending.clear()
  }
}
