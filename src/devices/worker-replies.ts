// What a device's end of one worker waits for, whatever carries the messages (a thread's
// MessagePort: worker-handle.ts; a child process's IPC channel: process-handle.ts): batches
// sent and not yet answered, and model-repository requests (load-model, unload-model). One
// place matches the worker's replies to them and fails all of them when the worker is gone, and
// answers the worker's start (listen()).
import { BatchFailedError, WorkerStartError } from '../errors.js'
import type { MainToWorker, ModelFailure, ModelReport, TensorModel, WorkerToMain } from '../worker/protocol.js'
import type { BatchCallback } from './executor.js'

type ModelRequest = Extract<MainToWorker, { requestId: number }>

let nextBatchId = 1
let nextRequestId = 1

export class WorkerReplies {
  private readonly batches = new Map<number, BatchCallback>()
  private readonly requests = new Map<number, { resolve: (r?: ModelReport) => void, reject: (e: Error) => void }>()

  /** A batch about to be sent: its id, and `done` called once with its answer. */
  batch (done: BatchCallback): number {
    const id = nextBatchId++
    this.batches.set(id, done)
    return id
  }

  /**
   * The listener for every message of a starting worker: replies are settled; 'ready' calls
   * `started` with the models it loaded, 'init-error' calls `failed` (the worker is idle then,
   * and may be ended).
   */
  listen (started: (r: { models: ModelReport[], failures: ModelFailure[] }) => void, failed: (err: WorkerStartError) => void): (msg: WorkerToMain) => void {
    return (msg) => {
      if (this.settle(msg)) return
      if (msg.type === 'ready') started({ models: msg.models, failures: msg.failures })
      else if (msg.type === 'init-error') failed(new WorkerStartError(msg.message, msg.providerUnavailable))
    }
  }

  /** Settles what `msg` answers; false for a message that answers nothing (ready, init-error). */
  settle (msg: WorkerToMain): boolean {
    switch (msg.type) {
      case 'result': {
        const done = this.batches.get(msg.batchId)
        this.batches.delete(msg.batchId)
        done?.(null, { results: msg.results, serviceMs: msg.prepMs + msg.runMs + msg.postMs, postMs: msg.postMs })
        return true
      }
      case 'batch-error': {
        const done = this.batches.get(msg.batchId)
        this.batches.delete(msg.batchId)
        done?.(new BatchFailedError(msg.message, false))
        return true
      }
      case 'model-loaded':
      case 'model-unloaded':
      case 'model-error': {
        const r = this.requests.get(msg.requestId)
        this.requests.delete(msg.requestId)
        if (msg.type === 'model-error') r?.reject(new Error(msg.message))
        else r?.resolve(msg.type === 'model-loaded' ? msg.report : undefined)
        return true
      }
      default:
        return false
    }
  }

  /** load-model: a plain ONNX model's session created, warmed and (calibrationRuns > 0) calibrated. */
  async loadModel (send: (msg: ModelRequest) => void, model: TensorModel, calibrationRuns: number): Promise<ModelReport> {
    return (await this.request(send, { type: 'load-model', requestId: nextRequestId++, model, calibrationRuns }))!
  }

  /** unload-model: that session released. */
  async unloadModel (send: (msg: ModelRequest) => void, name: string): Promise<void> {
    await this.request(send, { type: 'unload-model', requestId: nextRequestId++, name })
  }

  /** The worker is gone: every batch fails (retried elsewhere by the dispatcher), every request rejects. */
  failAll (reason: string): void {
    for (const done of this.batches.values()) done(new BatchFailedError(reason, true))
    this.batches.clear()
    for (const r of this.requests.values()) r.reject(new Error(reason))
    this.requests.clear()
  }

  private request (send: (msg: ModelRequest) => void, msg: ModelRequest): Promise<ModelReport | undefined> {
    return new Promise((resolve, reject) => {
      this.requests.set(msg.requestId, { resolve, reject })
      send(msg)
    })
  }
}
