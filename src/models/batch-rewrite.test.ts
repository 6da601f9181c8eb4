// The batch rewrite on the real files: YOLOX-Nano (exported with batch 1 baked into its inputs,
// outputs and three Reshape shapes) becomes batchable and gives, batched, exactly what it gives
// image by image; MobileNetV2 (free batch already) is left alone, and with its batch pinned to 1
// it is freed again. The load-time check refuses a rewrite that leaves the batch baked in.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import t from 'tap'
import * as ort from 'onnxruntime-node'
import type { onnx as OnnxNs } from 'onnx-proto'
import { SHARED_MODELS } from '../test-support/server.js'
import { batchDims, rewriteBatch } from './batch-rewrite.js'
import { checkBatch } from './batchable.js'

const { onnx } = createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNs }
const YOLOX = join(SHARED_MODELS, 'yolox-nano/model.onnx')
const MOBILENET = join(SHARED_MODELS, 'mobilenetv2-12-int8/model.onnx')

/** n distinct, deterministic inputs of `size` values in [0, 255) */
function inputs (n: number, size: number): Float32Array[] {
  let seed = 12345
  return Array.from({ length: n }, () => {
    const a = new Float32Array(size)
    for (let i = 0; i < size; i++) { seed = (seed * 1103515245 + 12345) >>> 0; a[i] = (seed >>> 16) % 255 }
    return a
  })
}

t.test('YOLOX-Nano: inputs, outputs and the three [1, 85, -1] Reshapes freed; value_info dropped', async (t) => {
  const original = readFileSync(YOLOX)
  const copy = Buffer.from(original)
  t.same(batchDims(original), { inputs: { images: 1 }, outputs: { output: 1 } }, 'the export is batch 1')
  const r = rewriteBatch(original)
  t.equal(r.status, 'rewritten')
  t.same(r.changes.inputs, ['images'])
  t.same(r.changes.outputs, ['output'])
  t.equal(r.changes.reshapes.length, 3, 'three Reshape shapes carried the batch')
  t.equal(r.changes.valueInfoDropped, 368)
  t.same(batchDims(r.bytes!), { inputs: { images: 'batch' }, outputs: { output: 'batch' } })
  t.ok(original.equals(copy), 'the source bytes are not modified')
  const reshaped = onnx.ModelProto.decode(r.bytes!).graph!
  const shapes = reshaped.node!.filter((n) => n.opType === 'Reshape').map((n) => {
    const c = reshaped.node!.find((x) => x.output?.[0] === n.input![1]) ?? null
    const tensor = c?.attribute?.find((a) => a.name === 'value')?.t ?? reshaped.initializer!.find((i) => i.name === n.input![1])!
    const raw = Buffer.from(tensor.rawData!)
    return [0, 1, 2].map((k) => Number(raw.readBigInt64LE(k * 8)))
  })
  t.same(shapes, [[0, 85, -1], [0, 85, -1], [0, 85, -1]], '0 = copy the batch from the input')

  const session = await ort.InferenceSession.create(r.bytes!, { executionProviders: ['cpu'], intraOpNumThreads: 1 })
  t.teardown(() => session.release())
  t.same(session.inputMetadata[0]!.isTensor && session.inputMetadata[0]!.shape, ['batch', 3, 416, 416], 'the session reads a free batch')
  t.equal(await checkBatch(YOLOX, r.bytes!, 'images', [3, 416, 416], inputs(3, 3 * 416 * 416)), null, 'a batch of 3 gives the outputs of the 3 alone')
})

t.test('the load-time check refuses a rewrite that leaves the batch baked into a Reshape', async (t) => {
  // only the inputs and outputs freed: the Reshapes still say [1, 85, -1]
  const m = onnx.ModelProto.decode(readFileSync(YOLOX))
  for (const v of [m.graph!.input![0]!, m.graph!.output![0]!]) {
    const d = v.type!.tensorType!.shape!.dim![0]!
    delete (d as { dimValue?: unknown }).dimValue
    d.dimParam = 'batch'
  }
  m.graph!.valueInfo = []
  const half = onnx.ModelProto.encode(m).finish()
  const why = await checkBatch(YOLOX, half, 'images', [3, 416, 416], inputs(2, 3 * 416 * 416))
  // it runs, but folds the 2 images into the anchor axis: [1, 7098, 85], caught by the shape
  t.equal(why, 'output output of a batch of 2 has shape [1, 7098, 85]')
})

t.test('MobileNetV2: a free batch is left alone; pinned to 1, it is freed again', async (t) => {
  const original = readFileSync(MOBILENET)
  t.equal(rewriteBatch(original).status, 'dynamic', 'nothing to do')
  const m = onnx.ModelProto.decode(original)
  for (const v of [m.graph!.input![0]!, m.graph!.output![0]!]) {
    const d = v.type!.tensorType!.shape!.dim![0]!
    delete (d as { dimParam?: unknown }).dimParam
    d.dimValue = 1
  }
  const pinned = onnx.ModelProto.encode(m).finish()
  t.same(batchDims(pinned).inputs, { input: 1 })
  const r = rewriteBatch(pinned)
  t.equal(r.status, 'rewritten')
  t.same(r.changes.reshapes, [], 'its Reshape shape is computed (Shape → Gather → Concat): not a constant')
  t.same(batchDims(r.bytes!), { inputs: { input: 'batch' }, outputs: { output: 'batch' } })
  t.equal(await checkBatch(pinned, r.bytes!, 'input', [3, 224, 224], inputs(3, 3 * 224 * 224).map((a) => a.map((x) => x / 255 - 0.5))), null, 'a batch of 3 matches')
})

t.test('not a model: impossible, with the reason', async (t) => {
  const r = rewriteBatch(Buffer.from('this is not protobuf at all, just text'))
  t.equal(r.status, 'impossible')
  t.match(r.reason, /not an ONNX model/)
})
