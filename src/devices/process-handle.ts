// The main thread's end of one inference worker in a child process (process isolation): the
// same worker code as a thread (worker/worker-core.ts), behind a process boundary, so that a
// native crash (abort, segfault) ends the child only and a run that never returns can be
// killed (SIGKILL) — neither is possible with a worker thread. Batches go over the IPC channel
// with V8 serialisation ('advanced'): typed arrays cross as bytes, one copy each way
// (bench/results/isolation.md measures what that costs per image against threads).
import { fork, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BatchFailedError, WorkerStartError } from '../errors.js'
import type { ModelFailure, ModelReport, RunMessage, TensorModel, WorkerInit, MainToWorker } from '../worker/protocol.js'
import type { BatchCallback, Executor } from './executor.js'
import { toFault, type Fault, type FaultMode } from './faults.js'
import type { QueuedItem } from './request-queue.js'
import { WorkerReplies } from './worker-replies.js'

// Source (.ts under the test loader, which fork() passes on in execArgv) or build output (.js).
const ENTRY = fileURLToPath(new URL(`../worker/inference-process${extname(fileURLToPath(import.meta.url))}`, import.meta.url))

/** Exit code of a child that ended by a signal, as a shell reports it (SIGABRT 134, SIGKILL 137). */
function exitCode (code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code
  const n = signal === null ? 0 : ({ SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15, SIGBUS: 7, SIGILL: 4, SIGFPE: 8 } as Record<string, number>)[signal] ?? 0
  return 128 + n
}

/** Emits 'exit' (code) when the child ends for any reason other than stop(), kill() included. */
export class ProcessHandle extends EventEmitter implements Executor {
  private child: ChildProcess | null = null
  /** batches and model-repository requests waiting for the worker's answer */
  private readonly replies = new WorkerReplies()
  private stopping = false
  private exited: Promise<void> = Promise.resolve()
  alive = false

  /** the child's pid (tests, logs) */
  get pid (): number | undefined {
    return this.child?.pid
  }

  async start (init: WorkerInit): Promise<{ models: ModelReport[], failures: ModelFailure[] }> {
    const child = fork(ENTRY, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child = child
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    return new Promise((resolve, reject) => {
      let settled = false
      child.on('message', this.replies.listen((r) => {
        settled = true
        this.alive = true
        resolve(r)
      }, (err) => {
        settled = true
        reject(err)
        child.kill('SIGKILL') // idle, and any process may be killed
      }))
      child.on('error', (err) => {
        // fork failed, or a message could not be sent; the 'exit' event follows if it ran
        if (!settled) { settled = true; reject(new WorkerStartError(err.message, false)) }
      })
      child.on('exit', (code, signal) => {
        this.alive = false
        const expected = this.stopping // decided before failAll(), whose callbacks may stop() this handle
        const c = exitCode(code, signal)
        const how = signal !== null ? `killed by ${signal}` : `exited with code ${c}`
        if (!settled) { settled = true; reject(new WorkerStartError(`worker process ${how} during startup`, false)) }
        this.replies.failAll(`worker process ${how}`)
        if (!expected) this.emit('exit', c)
      })
      child.send(init)
    })
  }

  run (model: string, items: readonly QueuedItem[], done: BatchCallback): void {
    const child = this.child
    if (!child || !this.alive || !child.connected) {
      queueMicrotask(() => done(new BatchFailedError('worker process is not running', true)))
      return
    }
    const batchId = this.replies.batch(done)
    const batch: RunMessage['items'] = []
    for (const { image, params } of items) batch.push({ image, params })
    this.send({ type: 'run', batchId, model, items: batch })
  }

  /** The model repository: a plain ONNX model's session added (warmed, calibrated) in the child, after the batch in progress. */
  async loadModel (model: TensorModel, calibrationRuns: number): Promise<ModelReport> {
    this.running()
    return this.replies.loadModel((m) => this.send(m), model, calibrationRuns)
  }

  /** Releases a plain model's session in the child, after the batch in progress. */
  async unloadModel (name: string): Promise<void> {
    this.running()
    await this.replies.unloadModel((m) => this.send(m), name)
  }

  private running (): void {
    if (this.child === null || !this.alive || !this.child.connected) throw new Error('worker process is not running')
  }

  /** Fault injection (devices/faults.ts); the worker ignores it unless faults are allowed. */
  injectFault (fault: FaultMode | Fault): void {
    const { mode, delayMs } = toFault(fault)
    this.send({ type: 'fault', mode, ...(delayMs !== undefined ? { delayMs } : {}) })
  }

  /** Ends the child now (SIGKILL), whatever it is doing; 'exit' follows, and its batch fails. */
  kill (): void {
    const child = this.child
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
  }

  /** Finishes the batch in progress, releases the sessions, lets the child exit; a child still starting is killed. */
  async stop (): Promise<void> {
    const child = this.child
    if (child === null) return
    // still starting (a start the scheduler gave up on), or already gone: nothing to finish
    if (!this.alive) { this.stopping = true; this.kill(); await this.exited; return }
    this.stopping = true
    this.send({ type: 'stop' })
    await this.exited
  }

  private send (msg: MainToWorker): void {
    const child = this.child
    if (child === null || !child.connected) return
    // a send that fails (the child just died) surfaces as its 'exit', which fails the batch
    child.send(msg, () => {})
  }

}
