// Writes small ONNX models (protobuf, encoded by hand) for the tests and the repository bench:
// a model is generated at test time and never committed. Enough of onnx.proto for a graph of
// a few nodes with float initialisers: ModelProto → GraphProto → NodeProto / TensorProto /
// ValueInfoProto (field numbers from onnx/onnx.proto, IR version 8, opset 13).

/** ONNX TensorProto.DataType values */
export const OnnxType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const

export interface OnnxValue { name: string, type: number, /** a number is fixed, a string symbolic */ shape: Array<number | string> }
export interface OnnxNode { op: string, inputs: string[], outputs: string[], attributes?: Record<string, number> }
export interface OnnxInitializer { name: string, dims: number[], values: number[] }
export interface OnnxGraph { inputs: OnnxValue[], outputs: OnnxValue[], nodes: OnnxNode[], initializers?: OnnxInitializer[] }

class Writer {
  private readonly parts: Buffer[] = []
  varint (field: number, value: number): this { return this.tag(field, 0).raw(varint(value)) }
  bytes (field: number, data: Buffer): this { return this.tag(field, 2).raw(varint(data.length)).raw(data) }
  string (field: number, s: string): this { return this.bytes(field, Buffer.from(s, 'utf8')) }
  message (field: number, w: Writer): this { return this.bytes(field, w.done()) }
  done (): Buffer { return Buffer.concat(this.parts) }
  private tag (field: number, wire: number): this { return this.raw(varint(field * 8 + wire)) }
  private raw (b: Buffer): this { this.parts.push(b); return this }
}

function varint (v: number): Buffer {
  const out: number[] = []
  let n = BigInt(v) & 0xffffffffffffffffn // negative numbers as 64-bit two's complement
  do {
    let byte = Number(n & 0x7fn)
    n >>= 7n
    if (n !== 0n) byte |= 0x80
    out.push(byte)
  } while (n !== 0n)
  return Buffer.from(out)
}

function valueInfo (v: OnnxValue): Writer {
  const shape = new Writer()
  for (const d of v.shape) shape.message(1, typeof d === 'number' ? new Writer().varint(1, d) : new Writer().string(2, d))
  const tensorType = new Writer().varint(1, v.type).message(2, shape)
  return new Writer().string(1, v.name).message(2, new Writer().message(1, tensorType))
}

/** The bytes of an ONNX model file. */
export function onnxModel (g: OnnxGraph): Buffer {
  const graph = new Writer()
  g.nodes.forEach((n, i) => {
    const node = new Writer()
    for (const x of n.inputs) node.string(1, x)
    for (const y of n.outputs) node.string(2, y)
    node.string(3, `n${i}`).string(4, n.op)
    for (const [name, value] of Object.entries(n.attributes ?? {})) {
      node.message(5, new Writer().string(1, name).varint(3, value).varint(20, 2)) // type INT
    }
    graph.message(1, node)
  })
  graph.string(2, 'g')
  for (const t of g.initializers ?? []) {
    const tensor = new Writer()
    for (const d of t.dims) tensor.varint(1, d)
    tensor.varint(2, OnnxType.FLOAT).string(8, t.name).bytes(9, Buffer.from(new Float32Array(t.values).buffer))
    graph.message(5, tensor)
  }
  for (const v of g.inputs) graph.message(11, valueInfo(v))
  for (const v of g.outputs) graph.message(12, valueInfo(v))
  return new Writer()
    .varint(1, 8) // ir_version
    .string(2, 'switchyard-test')
    .message(7, graph)
    .message(8, new Writer().string(1, '').varint(2, 13)) // opset_import: default domain, 13
    .done()
}

/**
 * A tiny plain model with two outputs of two datatypes: y = x·2 + offset (FP32 [batch, 4]) and
 * c = y as INT32. `batch` is 'N' (free) or a fixed number. The offset tells versions apart.
 */
export function tinyModel (opts: { offset?: number, batch?: number | string } = {}): Buffer {
  const batch = opts.batch ?? 'N'
  const offset = opts.offset ?? 1
  return onnxModel({
    inputs: [{ name: 'x', type: OnnxType.FLOAT, shape: [batch, 4] }],
    outputs: [{ name: 'y', type: OnnxType.FLOAT, shape: [batch, 4] }, { name: 'c', type: OnnxType.INT32, shape: [batch, 4] }],
    initializers: [{ name: 'two', dims: [1], values: [2] }, { name: 'offset', dims: [4], values: [offset, offset, offset, offset] }],
    nodes: [
      { op: 'Mul', inputs: ['x', 'two'], outputs: ['x2'] },
      { op: 'Add', inputs: ['x2', 'offset'], outputs: ['y'] },
      { op: 'Cast', inputs: ['y'], outputs: ['c'], attributes: { to: OnnxType.INT32 } }
    ]
  })
}

/** A model whose declared shapes do not fit its graph: [N, 4] + a [5] constant fails on the first run. */
export function wrongShapeModel (): Buffer {
  return onnxModel({
    inputs: [{ name: 'x', type: OnnxType.FLOAT, shape: ['N', 4] }],
    outputs: [{ name: 'y', type: OnnxType.FLOAT, shape: ['N', 4] }],
    initializers: [{ name: 'offset', dims: [5], values: [1, 1, 1, 1, 1] }],
    nodes: [{ op: 'Add', inputs: ['x', 'offset'], outputs: ['y'] }]
  })
}
