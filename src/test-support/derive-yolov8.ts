// Test-time graph surgery: a YOLOv8-layout detector derived from the shipped YOLOX-Nano, so the
// yolov8 decoder is proven on a real network with no model hub to fetch one from. Nothing is
// committed: the file is written to a temporary directory by the test that serves it.
//
// YOLOX's raw output [B, 3549, 85] (rows [tx, ty, tw, th, obj, cls_0…cls_79], grid-relative)
// is decoded inside the graph, with its grids and strides as constant tensors:
//   cxcy   = (txty + grid) · stride            grid [1, 3549, 2], stride [1, 3549, 1]
//   wh     = exp(twth) · stride
//   scores = cls · obj                         (YOLOv8 has no objectness)
//   output0 = transpose(concat(cxcy, wh, scores), [0, 2, 1])   → [B, 84, 3549]
// which is the Ultralytics YOLOv8 export's layout: centre/size boxes in input pixels, then class
// scores, channels first. The batch stays fixed to 1 as in the source file (the server frees it).
//
// deriveSplitFromYolox: the same rows split in two by Slice, as exports that give boxes and
// scores separately (model.json `output.roles`):
//   boxes = rows[..., 0:4]   [B, 3549, 4]     scores = rows[..., 4:]   [B, 3549, 80]
// or, with `labels`, the best class only: scores = ReduceMax [B, 3549], labels = ArgMax (int64) —
// named as RT-DETR exports name them (and as the Open Inference Protocol's decoded outputs).
import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { onnx as OnnxNs } from 'onnx-proto'

const { onnx } = createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNs }

const FLOAT = 1
const INT64 = 7

function floatTensor (name: string, dims: number[], values: Float32Array): OnnxNs.TensorProto {
  return onnx.TensorProto.create({ name, dataType: FLOAT, dims, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) })
}

function int64Tensor (name: string, values: number[]): OnnxNs.TensorProto {
  const data = BigInt64Array.from(values.map(BigInt))
  return onnx.TensorProto.create({ name, dataType: INT64, dims: [values.length], rawData: new Uint8Array(data.buffer) })
}

function node (opType: string, inputs: string[], outputs: string[], attributes: OnnxNs.IAttributeProto[] = []): OnnxNs.NodeProto {
  return onnx.NodeProto.create({ opType, input: inputs, output: outputs, name: `sy_${outputs[0]}`, attribute: attributes })
}

/** YOLOX's output decoded inside the graph: appends the nodes up to `sy_rows` [B, N, 4 + C]. */
function decodedRows (model: OnnxNs.ModelProto, size: number, strides: number[]): { classes: number, rows: number, batch: OnnxNs.TensorShapeProto.IDimension } {
  const g = model.graph!
  const source = g.output![0]!
  const rows = strides.reduce((n, s) => n + Math.floor(size / s) ** 2, 0)
  const classes = Number(source.type!.tensorType!.shape!.dim![2]!.dimValue) - 5

  const grid = new Float32Array(rows * 2)
  const stride = new Float32Array(rows)
  let r = 0
  for (const s of strides) {
    const n = Math.floor(size / s)
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++, r++) { grid[2 * r] = x; grid[2 * r + 1] = y; stride[r] = s }
  }
  g.initializer!.push(
    floatTensor('sy_grid', [1, rows, 2], grid),
    floatTensor('sy_stride', [1, rows, 1], stride),
    int64Tensor('sy_axis', [2]),
    int64Tensor('sy_0', [0]), int64Tensor('sy_2', [2]), int64Tensor('sy_4', [4]), int64Tensor('sy_5', [5]), int64Tensor('sy_end', [5 + classes])
  )
  const out = source.name!
  g.node!.push(
    node('Slice', [out, 'sy_0', 'sy_2', 'sy_axis'], ['sy_txty']),
    node('Slice', [out, 'sy_2', 'sy_4', 'sy_axis'], ['sy_twth']),
    node('Slice', [out, 'sy_4', 'sy_5', 'sy_axis'], ['sy_obj']),
    node('Slice', [out, 'sy_5', 'sy_end', 'sy_axis'], ['sy_cls']),
    node('Add', ['sy_txty', 'sy_grid'], ['sy_cells']),
    node('Mul', ['sy_cells', 'sy_stride'], ['sy_cxcy']),
    node('Exp', ['sy_twth'], ['sy_ewh']),
    node('Mul', ['sy_ewh', 'sy_stride'], ['sy_wh']),
    node('Mul', ['sy_cls', 'sy_obj'], ['sy_scores']),
    node('Concat', ['sy_cxcy', 'sy_wh', 'sy_scores'], ['sy_rows'], [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 2 })])
  )
  return { classes, rows, batch: source.type!.tensorType!.shape!.dim![0]! }
}

const tensorInfo = (name: string, elemType: number, dim: OnnxNs.TensorShapeProto.IDimension[]): OnnxNs.ValueInfoProto =>
  onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim } } } })

async function write (model: OnnxNs.ModelProto, outFile: string): Promise<{ sha256: string, bytes: number }> {
  const bytes = onnx.ModelProto.encode(model).finish()
  await writeFile(outFile, bytes)
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length }
}

/** Writes the derived model to `outFile`; returns its sha256 and size. */
export async function deriveYolov8FromYolox (yoloxFile: string, outFile: string, opts: { inputSize?: number, strides?: number[] } = {}): Promise<{ sha256: string, bytes: number }> {
  const model = onnx.ModelProto.decode(await readFile(yoloxFile))
  const g = model.graph!
  const { classes, rows, batch } = decodedRows(model, opts.inputSize ?? 416, opts.strides ?? [8, 16, 32])
  g.node!.push(node('Transpose', ['sy_rows'], ['output0'], [onnx.AttributeProto.create({ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 2, 1] })]))
  g.output = [tensorInfo('output0', FLOAT, [batch, { dimValue: 4 + classes }, { dimValue: rows }])]
  return write(model, outFile)
}

/**
 * Writes a detector with boxes and scores as separate outputs (`boxes` [B, N, 4] centre/size in
 * input pixels, `scores` [B, N, C]; with `labels`: `scores` [B, N] and `labels` [B, N] int64).
 */
export async function deriveSplitFromYolox (yoloxFile: string, outFile: string, opts: { labels?: boolean, inputSize?: number, strides?: number[] } = {}): Promise<{ sha256: string, bytes: number }> {
  const model = onnx.ModelProto.decode(await readFile(yoloxFile))
  const g = model.graph!
  const { classes, rows, batch } = decodedRows(model, opts.inputSize ?? 416, opts.strides ?? [8, 16, 32])
  g.initializer!.push(int64Tensor('sy_rows_end', [4 + classes]))
  const axis = (i: number): OnnxNs.IAttributeProto => onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i })
  const keep0 = onnx.AttributeProto.create({ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 })
  g.node!.push(
    node('Slice', ['sy_rows', 'sy_0', 'sy_4', 'sy_axis'], ['boxes']),
    node('Slice', ['sy_rows', 'sy_4', 'sy_rows_end', 'sy_axis'], [opts.labels === true ? 'sy_class_scores' : 'scores'])
  )
  const n = { dimValue: rows }
  if (opts.labels === true) {
    g.node!.push(
      // opset 11: ReduceMax takes its axes as an attribute
      node('ReduceMax', ['sy_class_scores'], ['scores'], [onnx.AttributeProto.create({ name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [2] }), keep0]),
      node('ArgMax', ['sy_class_scores'], ['labels'], [axis(2), keep0])
    )
    g.output = [tensorInfo('boxes', FLOAT, [batch, n, { dimValue: 4 }]), tensorInfo('scores', FLOAT, [batch, n]), tensorInfo('labels', INT64, [batch, n])]
  } else {
    g.output = [tensorInfo('boxes', FLOAT, [batch, n, { dimValue: 4 }]), tensorInfo('scores', FLOAT, [batch, n, { dimValue: classes }])]
  }
  return write(model, outFile)
}
