// Messages between a device's main-thread handle and its inference worker. Pixel buffers are
// offered in the transfer list; results come back as plain objects (raw output slices, when
// asked for, as transferred Float32Arrays).
import type { FaultMode } from '../devices/faults.js'
import type { ModelSpec } from '../models/model-spec.js'
import type { ItemResult } from '../postprocess/types.js'

export type { Detection, ItemResult, Prediction, RawOutput } from '../postprocess/types.js'

export interface WorkerModel {
  name: string
  weightsPath: string
  input: ModelSpec['input']
  preprocess: ModelSpec['preprocess']
  output: ModelSpec['output']
  labels: string[]
  /** largest batch the device may send; 1 when the batch dimension is static */
  maxBatchSize: number
}

export interface WorkerInit {
  device: { kind: 'cpu' | 'cuda', deviceId: number, intraOpThreads: number }
  models: WorkerModel[]
  /** timed runs per batch size (0: no calibration, e.g. a replacement worker) */
  calibrationRuns: number
  /** accept 'fault' messages (tests, benchmarks, rehearsals: faults.allow) */
  allowFaults: boolean
  /** faults a new worker starts with (devices/faults.ts): the device's slow-down, a start that fails */
  faults?: { slowMs: number, failStart: boolean }
  /** thread isolation only: set to 1 (and notified) to release a worker blocked by a 'hang' fault so it can stop */
  hangRelease?: SharedArrayBuffer
}

/**
 * One batch item's input, prepared on the main thread. Usually an image already decoded and
 * resized: HWC, 3 channels, RGB, uint8, which the worker lays out (tensor-layout.ts). With
 * `tensor: true` (the Open Inference Protocol's raw input) it is the model's own input for one
 * item instead: `pixels` holds the bytes of 3·H·W float32 values, NCHW, already normalised,
 * which the worker copies as they are; width/height and the original size are the input's, so
 * boxes come back in input pixels. One type for both, so the queues, the batcher, the worker
 * handle (transfer list) and the dispatcher (re-prepare after a detached buffer) carry either
 * without knowing which it is.
 */
export interface PreparedImage {
  pixels: Uint8Array
  width: number
  height: number
  /** size of the (orientation-corrected) original, for mapping boxes back */
  originalWidth: number
  originalHeight: number
  tensor?: true
}

export interface ItemParams {
  topK?: number
  scoreThreshold?: number
  iouThreshold?: number
  /** also return the item's raw output tensor (a copy); off for /classify and /detect */
  rawOutput?: boolean
}

export interface RunMessage {
  type: 'run'
  batchId: number
  model: string
  items: Array<{ image: PreparedImage, params: ItemParams }>
}

export type MainToWorker =
  | RunMessage
  | { type: 'stop' }
  | { type: 'fault', mode: FaultMode, delayMs?: number }


export interface ModelReport {
  name: string
  inputShape: Array<number | string>
  /** the decoded output's shape as the session declares it (symbolic dimensions as names) */
  outputShape: Array<number | string>
  dynamicBatch: boolean
  maxBatchSize: number
  /** median worker ms per batch size (layout + run + decode, as served), from the calibration */
  calibration: Array<{ batchSize: number, ms: number }>
}

export interface ModelFailure { name: string, message: string }

export type WorkerToMain =
  | { type: 'ready', models: ModelReport[], failures: ModelFailure[] }
  | { type: 'init-error', message: string, providerUnavailable: boolean }
  | { type: 'result', batchId: number, results: ItemResult[], prepMs: number, runMs: number, postMs: number }
  | { type: 'batch-error', batchId: number, message: string }
