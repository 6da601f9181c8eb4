// A plain ONNX model (the model repository) through the Open Inference Protocol: its own
// tensors, as the session declares them (ModelReport.tensors), with no pre- or post-processing.
//
// A request gives every input of the model once, each [N, …the session's other dimensions]
// with the session's datatype (JSON numbers — booleans for BOOL — or binary data); N is the
// same for all and splits the request into N items, each routed, queued and batched like any
// other. An item travels as one buffer: its slice of every input, in the session's input
// order (worker/tensor-model.ts). The answer has every output (or those asked for), the items
// stacked again along the first dimension.
import { InvalidInferRequest, TooManyItems } from '../../errors.js'
import type { ModelReport, TensorDatatype, TensorSpec, TensorsResult } from '../../worker/protocol.js'
import { DATATYPE_BYTES } from '../../worker/tensor-model.js'
import type { ModelMetadata } from './model-io.js'
import { MAX_ITEMS, MAX_JSON_ITEMS } from './model-io.js'
import { flatten, type InferRequest, type RequestOutput, type ResponseTensor } from './wire.js'

type Tensors = NonNullable<ModelReport['tensors']>

export interface TensorPlan {
  count: number
  /** item i's bytes: every input's slice, in input order */
  items: Uint8Array[]
  outputs: Array<{ name: string, binary: boolean }>
}

const bad = (why: string): Error => new InvalidInferRequest(why)
const perItem = (t: TensorSpec): number => t.shape.slice(1).reduce((a, d) => a * d, 1)

export function tensorMetadata (name: string, versions: number[], tensors: Tensors): ModelMetadata {
  return { name, versions: versions.map(String), platform: 'onnxruntime_onnx', inputs: tensors.inputs, outputs: tensors.outputs }
}

/** The most JSON values a request may hold: MAX_JSON_ITEMS items of every input, and room for the rest. */
export function tensorJsonValues (tensors: Tensors): number {
  return MAX_JSON_ITEMS * tensors.inputs.reduce((a, t) => a + perItem(t), 0) + 4096
}

export function planTensors (model: string, tensors: Tensors, req: InferRequest): TensorPlan {
  const names = tensors.inputs.map((t) => `${t.name} (${t.datatype} [${t.shape.join(',')}])`).join(', ')
  if (req.inputs.length !== tensors.inputs.length) throw bad(`model ${model} takes ${tensors.inputs.length} input(s): ${names}`)
  let count = -1
  const values: Uint8Array[] = []
  for (const spec of tensors.inputs) {
    const t = req.inputs.find((x) => x.name === spec.name)
    if (!t) throw bad(`input ${spec.name} is missing (model ${model} takes ${names})`)
    if (t.datatype !== spec.datatype) throw bad(`input ${t.name} is ${spec.datatype}, not ${t.datatype}`)
    const [n = 0, ...rest] = t.shape
    if (t.shape.length !== spec.shape.length || rest.some((d, i) => d !== spec.shape[i + 1])) {
      throw bad(`input ${t.name} has shape [N,${spec.shape.slice(1).join(',')}], not [${t.shape.join(',')}]`)
    }
    if (count !== -1 && n !== count) throw bad(`every input has the same first dimension (the items): ${t.name} has ${n}, not ${count}`)
    count = n
    if (n < 1) throw bad('a request carries at least one item (batch dimension ≥ 1)')
    if (n > MAX_ITEMS) throw new TooManyItems(n, MAX_ITEMS)
    values.push(tensorBytes(t, spec.datatype, n * perItem(spec)))
  }
  const items: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const size = tensors.inputs.reduce((a, s) => a + perItem(s) * DATATYPE_BYTES[s.datatype], 0)
    const item = new Uint8Array(size) // its own buffer: moved to the worker
    let at = 0
    tensors.inputs.forEach((s, k) => {
      const len = perItem(s) * DATATYPE_BYTES[s.datatype]
      item.set(values[k]!.subarray(i * len, (i + 1) * len), at)
      at += len
    })
    items.push(item)
  }
  const p = req.parameters
  const flag = (v: unknown, where: string): boolean | undefined => {
    if (v !== undefined && typeof v !== 'boolean') throw bad(`parameter ${where} must be true or false`)
    return v as boolean | undefined
  }
  const allBinary = flag(p.binary_data_output, 'binary_data_output') ?? false
  const known = tensors.outputs.map((o) => o.name)
  const outputs = (req.outputs ?? known.map((name): RequestOutput => ({ name, parameters: {} }))).map((o) => {
    if (!known.includes(o.name)) throw bad(`model ${model} has no output ${o.name} (outputs: ${known.join(', ')})`)
    return { name: o.name, binary: flag(o.parameters.binary_data, `output ${o.name} binary_data`) ?? allBinary }
  })
  return { count, items, outputs }
}

/** The requested outputs, items stacked along the first dimension in request order. */
export function assembleTensors (plan: TensorPlan, results: TensorsResult[]): ResponseTensor[] {
  return plan.outputs.map(({ name, binary }) => {
    const parts = results.map((r) => r.outputs.find((o) => o.name === name)!)
    const first = parts[0]!
    const total = parts.reduce((a, p) => a + p.data.byteLength, 0)
    const bytes = new Uint8Array(total)
    let at = 0
    for (const p of parts) { bytes.set(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength), at); at += p.data.byteLength }
    return { name, datatype: first.datatype, shape: [results.length, ...first.shape.slice(1)], data: typed(first.datatype, bytes.buffer), binary }
  })
}

function typed (datatype: TensorDatatype, buffer: ArrayBuffer): ArrayBufferView {
  switch (datatype) {
    case 'FP32': return new Float32Array(buffer)
    case 'FP64': return new Float64Array(buffer)
    case 'INT8': return new Int8Array(buffer)
    case 'INT16': return new Int16Array(buffer)
    case 'INT32': return new Int32Array(buffer)
    case 'INT64': return new BigInt64Array(buffer)
    case 'UINT16': case 'FP16': return new Uint16Array(buffer)
    case 'UINT32': return new Uint32Array(buffer)
    case 'UINT64': return new BigUint64Array(buffer)
    default: return new Uint8Array(buffer) // UINT8, BOOL
  }
}

const INT_RANGE: Partial<Record<TensorDatatype, [number, number]>> = {
  INT8: [-128, 127], UINT8: [0, 255], INT16: [-32768, 32767], UINT16: [0, 65535],
  INT32: [-2147483648, 2147483647], UINT32: [0, 4294967295],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], UINT64: [0, Number.MAX_SAFE_INTEGER]
}

/** An input's bytes: binary data (exactly `expected` elements) or JSON values of its datatype. */
export function tensorBytes (t: InferRequest['inputs'][number], datatype: TensorDatatype, expected: number): Uint8Array {
  const size = DATATYPE_BYTES[datatype]
  if (t.binary !== undefined) {
    if (t.binary.length !== expected * size) throw bad(`input ${t.name}: binary_data_size is ${t.binary.length} bytes; shape [${t.shape.join(',')}] of ${datatype} needs ${expected * size}`)
    return new Uint8Array(t.binary) // a copy, aligned
  }
  if (datatype === 'FP16') throw bad(`input ${t.name}: send FP16 as binary data`)
  let n = 0
  flatten(t, () => { if (++n > expected) throw bad(`input ${t.name}: more values than shape [${t.shape.join(',')}] holds (${expected})`) })
  if (n !== expected) throw bad(`input ${t.name}: ${n} values; shape [${t.shape.join(',')}] needs ${expected}`)
  const buffer = new ArrayBuffer(expected * size)
  const out = typed(datatype, buffer) as unknown as { [i: number]: number | bigint }
  const range = INT_RANGE[datatype]
  let i = 0
  flatten(t, (v) => {
    if (datatype === 'BOOL') {
      if (typeof v !== 'boolean') throw bad(`input ${t.name}: BOOL data must be true or false`)
      out[i++] = v ? 1 : 0
      return
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`input ${t.name}: value ${i} is not a finite number`)
    if (range) {
      if (!Number.isInteger(v) || v < range[0] || v > range[1]) throw bad(`input ${t.name}: value ${i} is not a ${datatype} (whole number from ${range[0]} to ${range[1]})`)
      out[i++] = datatype === 'INT64' || datatype === 'UINT64' ? BigInt(v) : v
    } else {
      out[i++] = v
    }
  })
  return new Uint8Array(buffer)
}

export type { ResponseTensor }
