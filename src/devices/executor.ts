// The mechanism a device's scheduler drives: something that runs one batch at a time. In the
// server it is a worker thread with onnxruntime sessions (worker-handle.ts); in the simulator
// and in tests, a simulated executor whose batch times come from a device profile. The
// scheduler (scheduler.ts) decides what runs when; an executor only runs it and reports back.
import type { ItemResult } from '../worker/protocol.js'
import type { Fault, FaultMode } from './faults.js'
import type { QueuedItem } from './request-queue.js'

export interface BatchResult {
  results: ItemResult[]
  /** worker time for the batch — tensor layout + run + output decoding: what the cost model fits */
  serviceMs: number
  /** of which output decoding */
  postMs: number
}

/** Exactly one of the two arguments is set. Never called synchronously from run(). */
export type BatchCallback = (err: Error | null, result?: BatchResult) => void

export interface Executor {
  /** Runs one batch; `done` gets its results, or a BatchFailedError. */
  run: (model: string, items: readonly QueuedItem[], done: BatchCallback) => void
  /** Finishes the batch in progress, then ends (by message: never a forced stop mid-run). */
  stop: () => Promise<void>
  /**
   * Forcibly ends the executor NOW (process mode: SIGKILL the child process); it then emits
   * 'exit'. Thread executors do not implement it (a thread cannot be killed mid-run).
   */
  kill?: () => void
  /** 'exit' (code): the executor ended on its own (a worker thread that died). */
  on: (event: 'exit', listener: (code: number) => void) => unknown
  /** Fault injection (devices/faults.ts); the old string form ('exit' | 'throw') keeps working. */
  injectFault?: (fault: FaultMode | Fault) => void
}

/** Starts a replacement executor for worker slot `index`. */
export interface ExecutorFactory {
  spawn: (index: number, done: (err: Error | null, executor?: Executor) => void) => void
}
