// The core types of a request's path, shared by every layer: what an item is once prepared
// (PreparedImage, ItemParams) and what it yields (ItemResult). They belong to no layer — the
// HTTP routes make them, the queues, batcher and router carry them, the worker consumes and
// produces them — so they live here rather than in the worker's message protocol
// (src/worker/protocol.ts re-exports them for the worker's side).
import type { ItemResult as DecodedResult } from '../postprocess/types.js'

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
