// Messages between a device's main-thread handle and its inference worker. Pixel buffers are
// offered in the transfer list; results come back as plain objects (raw output slices, when
// asked for, as transferred Float32Arrays).
import type { FaultMode } from '../devices/faults.js'
import type { ModelSpec } from '../models/model-spec.js'
import type { ItemParams, ItemResult, PreparedImage, TensorSpec } from '../core/items.js'

export type { Detection, Prediction, RawOutput } from '../postprocess/types.js'
// the core types the queues, the router and the routes share live in core/items.ts; re-exported for the worker's side
export { decoded } from '../core/items.js'
export type { DecodedResult, ItemParams, ItemResult, PreparedImage, TensorDatatype, TensorSpec, TensorsResult } from '../core/items.js'

/**
 * A plain ONNX model (no model.json: no pre- or post-processing), served through the Open
 * Inference Protocol with its own tensors. A batch item is `PreparedImage` with `tensor: true`
 * whose bytes are the item's slice of every input, in `inputs` order (read from the session).
 */
export interface TensorModel {
  kind: 'tensors'
  /** the lane key: `<model>@<version>` */
  name: string
  weightsPath: string
  maxBatchSize: number
}

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
  /** calibratedShapes: batches run padded to the next calibrated size, each run once before 'ready' (devices[].batchShapes) */
  device: { kind: 'cpu' | 'cuda', deviceId: number, intraOpThreads: number, calibratedShapes?: boolean }
  models: WorkerModel[]
  /** plain ONNX models loaded at run time (a replacement worker loads them too) */
  tensorModels?: TensorModel[]
  /** timed runs per batch size (0: no calibration, e.g. a replacement worker) */
  calibrationRuns: number
  /** accept 'fault' messages (tests, benchmarks, rehearsals: faults.allow) */
  allowFaults: boolean
  /** faults a new worker starts with (devices/faults.ts): the device's slow-down, a start that fails */
  faults?: { slowMs: number, failStart: boolean }
  /** thread isolation only: set to 1 (and notified) to release a worker blocked by a 'hang' fault so it can stop */
  hangRelease?: SharedArrayBuffer
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
  // the model repository (models/live-repository.ts): sessions added and removed at run time
  | { type: 'load-model', requestId: number, model: TensorModel, calibrationRuns: number }
  | { type: 'unload-model', requestId: number, name: string }


export interface ModelReport {
  name: string
  inputShape: Array<number | string>
  /** the decoded output's shape as the session declares it (symbolic dimensions as names) */
  outputShape: Array<number | string>
  dynamicBatch: boolean
  maxBatchSize: number
  /** median worker ms per batch size (layout + run + decode, as served), from the calibration */
  calibration: Array<{ batchSize: number, ms: number }>
  /** a plain model's tensors (read from the session) */
  tensors?: { inputs: TensorSpec[], outputs: TensorSpec[] }
  /** a plain model loaded at run time: wall ms to create its session, and to warm and calibrate it */
  loadMs?: { session: number, calibration: number }
  /** calibratedShapes: wall ms of the first run of each batch shape (1, 2, 4, … max), before any traffic */
  shapes?: Array<{ batchSize: number, firstMs: number }>
}

export interface ModelFailure { name: string, message: string }

export type WorkerToMain =
  | { type: 'ready', models: ModelReport[], failures: ModelFailure[] }
  | { type: 'init-error', message: string, providerUnavailable: boolean }
  | { type: 'result', batchId: number, results: ItemResult[], prepMs: number, runMs: number, postMs: number }
  | { type: 'batch-error', batchId: number, message: string }
  | { type: 'model-loaded', requestId: number, report: ModelReport }
  | { type: 'model-unloaded', requestId: number }
  | { type: 'model-error', requestId: number, message: string }
