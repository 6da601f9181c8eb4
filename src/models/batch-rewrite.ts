// Makes an ONNX model whose batch dimension was exported fixed to 1 take any batch, by generic
// graph rewrites on its protobuf (npm onnx-proto, protobufjs underneath); weights untouched:
//
//   1. dim 0 of every graph input and output that is fixed to 1 becomes symbolic ("batch")
//   2. every Reshape whose target shape is a constant (initializer or Constant node) starting
//      with 1 gets 0 there instead — "copy dimension 0 of the input" — which is the batch
//      (exporters bake the traced batch into such shapes: YOLOX-Nano has three [1, 85, -1]).
//      Skipped where the Reshape has allowzero = 1 (0 would then mean a literal 0).
//   3. the intermediate value_info shape annotations are dropped: they pinned batch 1, and the
//      runtime infers shapes itself.
//
// Nothing here proves the result right: other operators can bake the batch too (Expand, Tile,
// ConstantOfShape…). batch-check.ts therefore runs a batch against the images one by one
// before the rewritten model is used (checked at load), and the model stays batch 1 otherwise.
import { createRequire } from 'node:module'
import type { onnx as OnnxNs } from 'onnx-proto'

const require = createRequire(import.meta.url)
// onnx-proto is CommonJS: its namespace object, typed by its own declarations
const { onnx } = require('onnx-proto') as { onnx: typeof OnnxNs }

export const BATCH_DIM_PARAM = 'batch'

export interface BatchRewrite {
  /** dynamic: the batch is free already; rewritten: see bytes; impossible: see reason */
  status: 'dynamic' | 'rewritten' | 'impossible'
  /** the rewritten model (status rewritten) */
  bytes?: Uint8Array
  reason?: string
  /** what was changed: names of the inputs/outputs freed and of the Reshapes rewritten */
  changes: { inputs: string[], outputs: string[], reshapes: string[], valueInfoDropped: number }
}

type ValueInfo = OnnxNs.IValueInfoProto
type Tensor = OnnxNs.ITensorProto

/** dim 0 of a value: a number when fixed, a string when symbolic, null when absent (no shape) */
function batchDim (v: ValueInfo): number | string | null {
  const dim = v.type?.tensorType?.shape?.dim?.[0]
  if (!dim) return null
  if (dim.dimParam) return dim.dimParam
  if (dim.dimValue !== undefined && dim.dimValue !== null) return Number(dim.dimValue)
  return null
}

function freeBatch (v: ValueInfo): void {
  const dim = v.type!.tensorType!.shape!.dim![0]!
  dim.dimValue = undefined
  delete (dim as { dimValue?: unknown }).dimValue
  dim.dimParam = BATCH_DIM_PARAM
}

const INT64 = 7

/** The int64 values of a 1-D tensor, with a writer for the first one; null for other tensors. */
function int64Shape (t: Tensor): { values: number[], setFirst: (v: number) => void } | null {
  if (t.dataType !== INT64 || (t.dims?.length ?? 0) !== 1) return null
  if (t.rawData && t.rawData.length > 0) {
    // decoded rawData is a view of the caller's file bytes: edit a copy
    const raw = Uint8Array.from(t.rawData)
    t.rawData = raw
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
    const values: number[] = []
    for (let o = 0; o + 8 <= raw.byteLength; o += 8) values.push(Number(view.getBigInt64(o, true)))
    return { values, setFirst: (v) => view.setBigInt64(0, BigInt(v), true) }
  }
  const data = t.int64Data ?? []
  return {
    values: data.map((x) => Number(x)),
    setFirst: (v) => { data[0] = v }
  }
}

/** Rewrites `bytes` (an ONNX ModelProto) to a free batch dimension; see the rules above. */
export function rewriteBatch (bytes: Uint8Array): BatchRewrite {
  const changes: BatchRewrite['changes'] = { inputs: [], outputs: [], reshapes: [], valueInfoDropped: 0 }
  let model: OnnxNs.ModelProto
  try {
    model = onnx.ModelProto.decode(bytes)
  } catch (err) {
    return { status: 'impossible', reason: `not an ONNX model: ${(err as Error).message}`, changes }
  }
  const graph = model.graph
  if (!graph) return { status: 'impossible', reason: 'the model has no graph', changes }
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name))
  const inputs = (graph.input ?? []).filter((v) => !initializers.has(v.name))
  const outputs = graph.output ?? []
  const fixed = (v: ValueInfo): boolean => batchDim(v) === 1
  const inputDims = inputs.map(batchDim)
  if (inputs.length === 0) return { status: 'impossible', reason: 'the model has no inputs', changes }
  if (!inputs.some(fixed)) {
    if (inputDims.every((d) => typeof d === 'string')) return { status: 'dynamic', changes }
    return { status: 'impossible', reason: `dimension 0 of the inputs is ${inputDims.map((d) => d ?? 'unknown').join(', ')}, not a batch of 1`, changes }
  }
  for (const v of inputs) if (fixed(v)) { freeBatch(v); changes.inputs.push(v.name ?? '') }
  for (const v of outputs) if (fixed(v)) { freeBatch(v); changes.outputs.push(v.name ?? '') }

  // constant tensors by output name: initializers and Constant nodes (attribute "value")
  const constants = new Map<string, Tensor>()
  for (const t of graph.initializer ?? []) if (t.name) constants.set(t.name, t)
  for (const n of graph.node ?? []) {
    if (n.opType !== 'Constant') continue
    const value = n.attribute?.find((a) => a.name === 'value')?.t
    if (value && n.output?.[0]) constants.set(n.output[0], value)
  }
  const rewritten = new Set<Tensor>()
  for (const n of graph.node ?? []) {
    if (n.opType !== 'Reshape' || (n.domain ?? '') !== '') continue
    const allowZero = n.attribute?.find((a) => a.name === 'allowzero')
    if (allowZero && Number(allowZero.i) === 1) continue
    const t = constants.get(n.input?.[1] ?? '')
    if (!t) continue // a computed shape (Shape → Gather → Concat) follows the batch already
    const shape = int64Shape(t)
    if (!shape || shape.values.length < 2 || shape.values[0] !== 1) continue
    if (!rewritten.has(t)) { shape.setFirst(0); rewritten.add(t) }
    changes.reshapes.push(n.name || n.output?.[0] || '?')
  }
  changes.valueInfoDropped = graph.valueInfo?.length ?? 0
  graph.valueInfo = []
  return { status: 'rewritten', bytes: onnx.ModelProto.encode(model).finish(), changes }
}

/** dim 0 of each graph input and output, as the file declares it (tests, diagnostics) */
export function batchDims (bytes: Uint8Array): { inputs: Record<string, number | string | null>, outputs: Record<string, number | string | null> } {
  const graph = onnx.ModelProto.decode(bytes).graph!
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name))
  const entries = (list: ValueInfo[]): Record<string, number | string | null> => Object.fromEntries(list.map((v) => [v.name ?? '', batchDim(v)]))
  return { inputs: entries((graph.input ?? []).filter((v) => !initializers.has(v.name))), outputs: entries(graph.output ?? []) }
}
