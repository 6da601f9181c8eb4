// A plain ONNX model inside an inference worker: a session whose inputs and outputs are served
// as they are (the Open Inference Protocol's tensors), with no pre- or post-processing. What
// the model takes and gives is read from the session: names, datatypes, shapes. It batches
// when the batch dimension (the first of every input) is free; every other dimension must be
// fixed, so an item is a fixed number of bytes per input. Outputs are sliced per item along
// their first dimension, which must be the batch.
import { performance } from 'node:perf_hooks'
import * as ort from 'onnxruntime-node'
import { calibratedSizes } from './batch-shapes.js'
import type { ItemResult, RunMessage, TensorDatatype, TensorModel, TensorSpec, TensorsResult } from './protocol.js'

type Ctor = new (buffer: ArrayBuffer, byteOffset?: number, length?: number) => ArrayBufferView & { length: number }
interface OrtType { datatype: TensorDatatype, bytes: number, array: Ctor }

const ORT_TYPES: Record<string, OrtType> = {
  float32: { datatype: 'FP32', bytes: 4, array: Float32Array },
  float64: { datatype: 'FP64', bytes: 8, array: Float64Array },
  float16: { datatype: 'FP16', bytes: 2, array: Uint16Array },
  int8: { datatype: 'INT8', bytes: 1, array: Int8Array },
  uint8: { datatype: 'UINT8', bytes: 1, array: Uint8Array },
  int16: { datatype: 'INT16', bytes: 2, array: Int16Array },
  uint16: { datatype: 'UINT16', bytes: 2, array: Uint16Array },
  int32: { datatype: 'INT32', bytes: 4, array: Int32Array },
  uint32: { datatype: 'UINT32', bytes: 4, array: Uint32Array },
  int64: { datatype: 'INT64', bytes: 8, array: BigInt64Array as unknown as Ctor },
  uint64: { datatype: 'UINT64', bytes: 8, array: BigUint64Array as unknown as Ctor },
  bool: { datatype: 'BOOL', bytes: 1, array: Uint8Array }
}

/** Bytes of one element of a datatype. */
export const DATATYPE_BYTES: Record<TensorDatatype, number> = Object.fromEntries(Object.values(ORT_TYPES).map((t) => [t.datatype, t.bytes])) as Record<TensorDatatype, number>

interface Input { spec: TensorSpec, ortType: ort.Tensor.Type, type: OrtType, itemBytes: number, buffer: ArrayBuffer }

export interface LoadedTensorModel {
  model: TensorModel
  session: ort.InferenceSession
  inputs: Input[]
  outputs: TensorSpec[]
  /** bytes of one item: the sum over inputs */
  itemBytes: number
  maxBatchSize: number
  dynamicBatch: boolean
}

/** Checks what the session declares and sets up the input buffers; throws naming what cannot be served. */
export function openTensorModel (model: TensorModel, session: ort.InferenceSession): LoadedTensorModel {
  const where = (kind: string, name: string): string => `${kind} ${name} of ${model.name.replace('@', ' version ')}`
  if (session.inputMetadata.length === 0) throw new Error(`model ${model.name} has no inputs`)
  let dynamicBatch = true
  const specs = session.inputMetadata.map((m) => {
    if (!m.isTensor) throw new Error(`${where('input', m.name)} is not a tensor`)
    const type = ORT_TYPES[m.type]
    if (!type) throw new Error(`${where('input', m.name)} has datatype ${m.type}, which is not served`)
    if (m.shape.length === 0) throw new Error(`${where('input', m.name)} is a scalar: the first dimension must be the batch`)
    const [batch, ...rest] = m.shape
    if (typeof batch === 'number' && batch !== 1 && batch !== -1) throw new Error(`${where('input', m.name)} has its batch dimension fixed to ${batch}: only 1 or a free batch is served`)
    if (typeof batch === 'number' && batch === 1) dynamicBatch = false
    for (const [i, d] of rest.entries()) {
      if (typeof d !== 'number' || d < 1) throw new Error(`${where('input', m.name)} has dimension ${i + 1} free (${String(d)}): only the batch dimension may be`)
    }
    return { spec: { name: m.name, datatype: type.datatype, shape: [-1, ...(rest as number[])] }, ortType: m.type as ort.Tensor.Type, type }
  })
  const outputs = session.outputMetadata.map((m) => {
    if (!m.isTensor) throw new Error(`${where('output', m.name)} is not a tensor`)
    const type = ORT_TYPES[m.type]
    if (!type) throw new Error(`${where('output', m.name)} has datatype ${m.type}, which is not served`)
    return { name: m.name, datatype: type.datatype, shape: m.shape.map((d, i) => i === 0 || typeof d !== 'number' ? -1 : d) }
  })
  const maxBatchSize = dynamicBatch ? model.maxBatchSize : 1
  const inputs = specs.map((s) => {
    const itemBytes = s.spec.shape.slice(1).reduce((a, d) => a * d, 1) * s.type.bytes
    return { ...s, itemBytes, buffer: new ArrayBuffer(itemBytes * maxBatchSize) }
  })
  return { model, session, inputs, outputs, itemBytes: inputs.reduce((a, i) => a + i.itemBytes, 0), maxBatchSize, dynamicBatch }
}

export interface TensorsExecuted { results: ItemResult[], prepMs: number, runMs: number, postMs: number }

/**
 * One batch: each item's bytes copied into the inputs, session.run, outputs sliced per item.
 * `shape`: the batch size to run at (≥ the items; the rows past them padded with whatever the
 * buffers hold, their outputs never read).
 */
export async function executeTensors (entry: LoadedTensorModel, items: RunMessage['items'], shape = items.length): Promise<TensorsExecuted> {
  const n = items.length
  const m = Math.max(n, Math.min(shape, entry.maxBatchSize))
  const t0 = performance.now()
  const feeds: Record<string, ort.Tensor> = {}
  for (let i = 0; i < n; i++) {
    const bytes = items[i]!.image.pixels
    if (bytes.byteLength !== entry.itemBytes) throw new Error(`tensor item of ${bytes.byteLength} bytes, expected ${entry.itemBytes}`)
  }
  let at = 0
  for (const input of entry.inputs) {
    const dst = new Uint8Array(input.buffer)
    for (let i = 0; i < n; i++) {
      const src = items[i]!.image.pixels
      dst.set(src.subarray(at, at + input.itemBytes), i * input.itemBytes)
    }
    at += input.itemBytes
    const count = (input.itemBytes / input.type.bytes) * m
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    feeds[input.spec.name] = new ort.Tensor(input.ortType, new input.type.array(input.buffer, 0, count) as any, [m, ...input.spec.shape.slice(1)])
  }
  const t1 = performance.now()
  const out = await entry.session.run(feeds)
  const t2 = performance.now()
  const results: ItemResult[] = []
  for (let i = 0; i < n; i++) results.push({ kind: 'tensors', outputs: [] } satisfies TensorsResult)
  for (const spec of entry.outputs) {
    const t = out[spec.name]!
    const dims = t.dims.map(Number)
    if (dims[0] !== m) throw new Error(`output ${spec.name} has first dimension ${dims[0]} for a batch of ${m}: the first dimension must be the batch`)
    const data = t.data as unknown as ArrayBufferView & { length: number, subarray: (a: number, b: number) => ArrayBufferView & { slice: () => ArrayBufferView } }
    const per = data.length / m
    for (let i = 0; i < n; i++) {
      (results[i] as TensorsResult).outputs.push({ name: spec.name, datatype: spec.datatype, shape: [1, ...dims.slice(1)], data: data.subarray(i * per, (i + 1) * per).slice() })
    }
  }
  for (const t of Object.values(out)) t.dispose()
  return { results, prepMs: t1 - t0, runMs: t2 - t1, postMs: performance.now() - t2 }
}

/**
 * Warm-up, then the median of `runs` timed batches for n = 1, 2, 4, … max batch, on zero
 * inputs: the same execute() a served batch goes through (see calibrate() in the worker).
 * The warm-up is also the check that the model runs at all (declared shapes that do not fit
 * the graph fail here, before the model takes traffic).
 */
export async function calibrateTensors (entry: LoadedTensorModel, runs: number, calibratedShapes = false): Promise<Array<{ batchSize: number, ms: number }>> {
  const zero = { pixels: new Uint8Array(entry.itemBytes), width: 0, height: 0, originalWidth: 0, originalHeight: 0, tensor: true as const }
  const items: RunMessage['items'] = Array.from({ length: entry.maxBatchSize }, () => ({ image: zero, params: {} }))
  const sizes = calibratedSizes(entry.maxBatchSize)
  // with calibrated shapes every worker runs each padded shape before it serves (worker-core.ts)
  for (const n of calibratedShapes ? sizes : [1]) await executeTensors(entry, items.slice(0, n))
  if (runs === 0) return []
  const out: Array<{ batchSize: number, ms: number }> = []
  for (const n of sizes) {
    const batch = items.slice(0, n)
    await executeTensors(entry, batch)
    const times: number[] = []
    for (let i = 0; i < runs; i++) {
      const r = await executeTensors(entry, batch)
      times.push(r.prepMs + r.runMs + r.postMs)
    }
    times.sort((a, b) => a - b)
    out.push({ batchSize: n, ms: times[Math.floor(times.length / 2)]! })
  }
  return out
}
