// What one of our models looks like through the Open Inference Protocol, and how a checked
// request (wire.ts) becomes batch items and how their results become output tensors.
//
// Inputs — a request sends exactly one of:
//   <model input>   FP32 [N, 3, H, W]: the model's own input tensor, already laid out and
//                   normalised as the model's MODEL.md says; no decoding, no resizing.
//   encoded_image   BYTES [N] (or [N, 1]): encoded images (JPEG, PNG, …), decoded and
//                   preprocessed exactly as /classify and /detect do. Binary: the raw file bytes;
//                   JSON: base64 strings (JSON strings cannot carry arbitrary bytes).
// N items are split and dispatched as N requests (each routed, queued and batched by the
// server), so N is free even for a model whose session has a static batch of 1; the metadata
// shows the session's real shape (-1 where the batch dimension is dynamic).
//
// Outputs — the model's raw output tensor (FP32, the session's name and shape with N as the
// batch; none for a detector with separate outputs, model.json `output.roles`), and the decoded
// answer as tensors:
//   classify: scores FP32 [N, k] (softmax, descending), indices INT32 [N, k], labels BYTES [N, k]
//   detect:   num_detections INT32 [N]; boxes FP32 [N, D, 4] (x1, y1, x2, y2 in the original
//             image's pixels — the input tensor's pixels for a tensor input), scores FP32 [N, D],
//             classes INT32 [N, D], labels BYTES [N, D]; D is the largest count among the N
//             items, rows past an item's num_detections are zero / empty.
// Request parameters: top_k (1–1000), score_threshold, iou_threshold (0–1), as the query of
// /classify and /detect; binary_data_output (every output in binary).
import type { ModelInfo } from '../../models/model-spec.js'
import type { DecodedResult, ItemParams, ModelReport } from '../../worker/protocol.js'
import { InvalidInferRequest, TooManyItems } from '../../errors.js'
import { bytesElements, elementCount, fp32Values, type Datatype, type InferRequest, type RequestOutput, type ResponseTensor } from './wire.js'

export const IMAGE_INPUT = 'encoded_image'
/** items (images or tensor rows) in one request: each is a queued request of its own */
export const MAX_ITEMS = 32
/**
 * Tensor rows a JSON body may carry. JSON numbers cost the main thread about 0.1 s per million
 * to parse (a 224×224 row is 150 528 of them), so larger tensors travel as binary data; the
 * limit is enforced on the bytes, before parsing (wire.ts).
 */
export const MAX_JSON_ITEMS = 4

/** The most JSON values a request to `model` needs: MAX_JSON_ITEMS tensor rows, and room for the rest. */
export function maxJsonValues (model: ModelInfo): number {
  return MAX_JSON_ITEMS * 3 * model.input.width * model.input.height + 4096
}

export interface TensorMetadata { name: string, datatype: Datatype, shape: number[] }
export interface ModelMetadata {
  name: string
  versions: string[]
  platform: string
  inputs: TensorMetadata[]
  outputs: TensorMetadata[]
}

const DECODED: Record<ModelInfo['task'], TensorMetadata[]> = {
  classify: [
    { name: 'scores', datatype: 'FP32', shape: [-1, -1] },
    { name: 'indices', datatype: 'INT32', shape: [-1, -1] },
    { name: 'labels', datatype: 'BYTES', shape: [-1, -1] }
  ],
  detect: [
    { name: 'num_detections', datatype: 'INT32', shape: [-1] },
    { name: 'boxes', datatype: 'FP32', shape: [-1, -1, 4] },
    { name: 'scores', datatype: 'FP32', shape: [-1, -1] },
    { name: 'classes', datatype: 'INT32', shape: [-1, -1] },
    { name: 'labels', datatype: 'BYTES', shape: [-1, -1] }
  ]
}

/**
 * The model's raw output offered over /v2 by its name, or null: a detector whose boxes and scores
 * are separate outputs (`output.roles`) answers its decoded outputs only — exports commonly name
 * those outputs boxes, scores and labels, as the protocol's decoded outputs are named.
 */
const rawName = (model: ModelInfo): string | null => model.output.roles === undefined ? model.output.name : null

/** A session dimension as the protocol writes it: symbolic or unknown → -1. */
const dim = (d: number | string | undefined): number => typeof d === 'number' && d >= 0 ? d : -1

/**
 * `report` is a loaded session's (batch dimension, output shape); without one (the model is
 * not loaded anywhere) the batch dimension and the raw output's shape are given as -1.
 */
export function modelMetadata (model: ModelInfo, report: ModelReport | undefined): ModelMetadata {
  const { input, output } = model
  const outputShape = report && report.outputShape.length > 0 ? report.outputShape.map(dim) : [-1]
  return {
    name: model.name,
    versions: [String(model.version)],
    platform: 'onnxruntime_onnx',
    inputs: [
      { name: input.name, datatype: 'FP32', shape: [dim(report?.inputShape[0]), 3, input.height, input.width] },
      { name: IMAGE_INPUT, datatype: 'BYTES', shape: [-1] }
    ],
    outputs: [...(rawName(model) !== null ? [{ name: output.name, datatype: 'FP32', shape: outputShape } satisfies TensorMetadata] : []), ...DECODED[model.task]]
  }
}

/** The names a model's inputs and outputs may not share with the decoded ones (startup check). */
export function checkNames (model: ModelInfo): void {
  const names = [model.input.name, IMAGE_INPUT, ...(rawName(model) !== null ? [model.output.name] : []), ...DECODED[model.task].map((o) => o.name)]
  if (new Set(names).size !== names.length) throw new Error(`model ${model.name}: its input/output names clash with the Open Inference Protocol's decoded outputs (${names.join(', ')})`)
}

export type Items =
  | { kind: 'tensor', count: number, /** N·3·H·W values, item i at i·3·H·W */ values: Float32Array }
  | { kind: 'image', count: number, images: Buffer[] }

export interface Plan {
  items: Items
  params: ItemParams
  outputs: Array<{ name: string, binary: boolean }>
}

const bad = (why: string): Error => new InvalidInferRequest(why)

/** Checks a parsed request against the model: one input that fits, known outputs, parameters. */
export function planInfer (model: ModelInfo, req: InferRequest): Plan {
  const { input } = model
  if (req.inputs.length !== 1) throw bad(`send one input: ${input.name} (FP32 [N,3,${input.height},${input.width}]) or ${IMAGE_INPUT} (BYTES [N])`)
  const t = req.inputs[0]!
  let items: Items
  if (t.name === input.name) {
    if (t.datatype !== 'FP32') throw bad(`input ${t.name} is FP32, not ${t.datatype}`)
    const [n = 0, c, h, w] = t.shape
    if (t.shape.length !== 4 || c !== 3 || h !== input.height || w !== input.width) {
      throw bad(`input ${t.name} has shape [N,3,${input.height},${input.width}], not [${t.shape.join(',')}]`)
    }
    items = { kind: 'tensor', count: checkCount(n), values: fp32Values(t, elementCount(t.shape)) }
  } else if (t.name === IMAGE_INPUT) {
    if (t.datatype !== 'BYTES') throw bad(`input ${IMAGE_INPUT} is BYTES, not ${t.datatype}`)
    const [n = 0, one = 1] = t.shape
    if (t.shape.length < 1 || t.shape.length > 2 || one !== 1) throw bad(`input ${IMAGE_INPUT} has shape [N] or [N,1], not [${t.shape.join(',')}]`)
    items = { kind: 'image', count: checkCount(n), images: bytesElements(t, n, true) }
  } else {
    throw bad(`model ${model.name} has no input ${t.name} (inputs: ${input.name}, ${IMAGE_INPUT})`)
  }

  const p = req.parameters
  const params: ItemParams = model.task === 'classify'
    ? { topK: intParam(p.top_k, 'top_k', 1, 1000) }
    : { scoreThreshold: unitParam(p.score_threshold, 'score_threshold'), iouThreshold: unitParam(p.iou_threshold, 'iou_threshold') }
  const allBinary = boolParam(p.binary_data_output, 'binary_data_output') ?? false
  const raw = rawName(model)
  const known = [...(raw !== null ? [raw] : []), ...DECODED[model.task].map((o) => o.name)]
  const outputs = (req.outputs ?? known.map((name): RequestOutput => ({ name, parameters: {} }))).map((o) => {
    if (!known.includes(o.name)) throw bad(`model ${model.name} has no output ${o.name} (outputs: ${known.join(', ')})`)
    if (o.parameters.classification !== undefined) throw bad(`the classification extension is not supported: ask for the scores, indices and labels outputs`)
    return { name: o.name, binary: boolParam(o.parameters.binary_data, `output ${o.name} binary_data`) ?? allBinary }
  })
  // the raw output is copied out of the worker only when it is asked for
  if (raw !== null && outputs.some((o) => o.name === raw)) params.rawOutput = true
  return { items, params: dropUndefined(params), outputs }
}

/** The requested outputs, items in request order. */
export function assembleOutputs (model: ModelInfo, plan: Plan, results: DecodedResult[]): ResponseTensor[] {
  const n = results.length
  return plan.outputs.map(({ name, binary }): ResponseTensor => {
    if (name === rawName(model)) {
      const per = results[0]!.raw!.data.length
      const data = new Float32Array(n * per)
      results.forEach((r, i) => data.set(r.raw!.data, i * per))
      return { name, datatype: 'FP32', shape: [n, ...results[0]!.raw!.shape.slice(1)], data, binary }
    }
    const rows = results.map((r) => r.kind === 'classify' ? r.predictions : r.detections)
    const k = Math.max(0, ...rows.map((r) => r.length))
    switch (name) {
      case 'num_detections':
        return { name, datatype: 'INT32', shape: [n], data: Int32Array.from(rows, (r) => r.length), binary }
      case 'boxes': {
        const data = new Float32Array(n * k * 4)
        results.forEach((r, i) => {
          if (r.kind !== 'detect') return
          r.detections.forEach((d, j) => data.set([d.box.x1, d.box.y1, d.box.x2, d.box.y2], (i * k + j) * 4))
        })
        return { name, datatype: 'FP32', shape: [n, k, 4], data, binary }
      }
      case 'scores':
        return { name, datatype: 'FP32', shape: [n, k], data: padded(rows, k, (p) => p.score, Float32Array), binary }
      case 'indices':
      case 'classes':
        return { name, datatype: 'INT32', shape: [n, k], data: padded(rows, k, (p) => p.index, Int32Array), binary }
      default: { // labels
        const data = rows.flatMap((r) => Array.from({ length: k }, (_, j) => r[j]?.label ?? ''))
        return { name, datatype: 'BYTES', shape: [n, k], data, binary }
      }
    }
  })
}

function padded<A extends Float32Array | Int32Array> (rows: Array<Array<{ score: number, index: number }>>, k: number, f: (p: { score: number, index: number }) => number, Ctor: new (n: number) => A): A {
  const out = new Ctor(rows.length * k)
  rows.forEach((r, i) => r.forEach((p, j) => { out[i * k + j] = f(p) }))
  return out
}

function checkCount (n: number): number {
  if (n < 1) throw bad('a request carries at least one item (batch dimension ≥ 1)')
  if (n > MAX_ITEMS) throw new TooManyItems(n, MAX_ITEMS)
  return n
}

function intParam (v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw bad(`parameter ${name} must be a whole number from ${min} to ${max}`)
  return v as number
}

function unitParam (v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw bad(`parameter ${name} must be a number from 0 to 1`)
  return v
}

function boolParam (v: unknown, name: string): boolean | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'boolean') throw bad(`parameter ${name} must be true or false`)
  return v
}

function dropUndefined (p: ItemParams): ItemParams {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as ItemParams
}
