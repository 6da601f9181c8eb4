// Messages between a device's main-thread handle and its inference worker. Pixel buffers are
// offered in the transfer list; results come back as plain objects (raw output slices, when
// asked for, as transferred Float32Arrays).
import type { FaultMode } from '../devices/faults.js'
import type { ModelSpec } from '../models/model-spec.js'
import type { ItemResult as DecodedResult } from '../postprocess/types.js'

export type { Detection, Prediction, RawOutput } from '../postprocess/types.js'

/** What a batch item yields: a decoded answer (classify, detect) or a plain model's output tensors. */
export type ItemResult = DecodedResult | TensorsResult
export type { DecodedResult }

/** The result of a model with a decoder (a lane of a configured model never yields tensors). */
export function decoded (r: ItemResult): DecodedResult {
  if (r.kind === 'tensors') throw new Error('a plain model\'s tensors where a decoded answer was expected')
  return r
}

/** The Open Inference Protocol's datatypes a plain ONNX model's tensors may have. */
export type TensorDatatype = 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64' | 'FP16' | 'FP32' | 'FP64'

/** One input or output of a plain ONNX model as its session declares it. */
export interface TensorSpec {
  name: string
  datatype: TensorDatatype
  /** the session's shape: -1 for the (free) batch dimension, every other dimension fixed */
  shape: number[]
}

/** One item's outputs of a plain model, each with batch dimension 1. */
export interface TensorsResult {
  kind: 'tensors'
  outputs: Array<{ name: string, datatype: TensorDatatype, shape: number[], data: ArrayBufferView }>
}

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
  device: { kind: 'cpu' | 'cuda', deviceId: number, intraOpThreads: number }
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
