// Batching by default at load: a model whose rewrite passes the check is served from the
// rewritten file; one whose batch stays baked in (here by a Reshape to a shape without the
// batch) keeps its file and batch 1, with exactly one warning saying why.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { onnx as OnnxNs } from 'onnx-proto'
import { REPO, SHARED_MODELS } from '../test-support/server.js'
import { batchDims } from './batch-rewrite.js'
import { makeAllBatchable } from './batchable.js'
import type { ModelInfo } from './model-spec.js'
import { loadModel } from './model-repository.js'

const { onnx } = createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNs }
const dir = mkdtempSync(join(tmpdir(), 'switchyard-batchable-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const images = { maxBodyBytes: 1 << 24, maxPixels: 40_000_000, maxDimension: 16384, formats: ['png', 'jpeg'] }
const config = (staticBatch: string[] = []) => ({ images, devices: [{ maxBatchSize: 8, perModel: {} }, { maxBatchSize: 1, perModel: {} }] as never, models: { staticBatch } })

function recorder (): { lines: Array<[string, string]>, log: { info: (o: object, m: string) => void, warn: (o: object, m: string) => void } } {
  const lines: Array<[string, string]> = []
  return { lines, log: { info: (_o, m) => { lines.push(['info', m]) }, warn: (_o, m) => { lines.push(['warn', m]) } } }
}

t.test('yolox-nano: served from the rewritten file, one info line', async (t) => {
  const model = await loadModel(join(REPO, 'models'), 'yolox-nano', { localDir: SHARED_MODELS, cacheDir: join(dir, 'cache'), download: false })
  const { lines, log } = recorder()
  const [r] = await makeAllBatchable([model], config(), null, join(dir, 'cache'), log)
  t.match(r, { model: 'yolox-nano', variant: 'fp32', outcome: 'rewritten' })
  t.equal(model.weightsPath, join(dir, 'cache', 'batchable', `${model.variants[0]!.weights.sha256}.v1.onnx`))
  t.equal(model.variants[0]!.weightsPath, model.weightsPath)
  t.same(batchDims(readFileSync(model.weightsPath)).inputs, { images: 'batch' })
  t.equal(lines.length, 1)
  t.match(lines[0], ['info', /yolox-nano \(variant fp32\): batch dimension made free at load \(inputs images; 3 Reshape shape\(s\) rewritten; 368 value_info dropped\)/])

  const again = await loadModel(join(REPO, 'models'), 'yolox-nano', { localDir: SHARED_MODELS, cacheDir: join(dir, 'cache'), download: false })
  t.same(await makeAllBatchable([again], config(['yolox-nano']), null, join(dir, 'cache'), log), [], 'models.staticBatch: left as exported')
  t.equal(again.weightsPath, join(SHARED_MODELS, 'yolox-nano/model.onnx'))
})

/** A tiny image model [1, 3, 1, 1] → Reshape to [3]: its output has no batch to free. */
function bakedModel (): Uint8Array {
  const shape = BigInt64Array.from([3n])
  const m = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 11 }],
    graph: {
      name: 'baked',
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }, { dimValue: 1 }, { dimValue: 1 }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 3 }] } } } }],
      initializer: [{ name: 'shape', dataType: 7, dims: [1], rawData: new Uint8Array(shape.buffer) }],
      node: [{ opType: 'Reshape', input: ['x', 'shape'], output: ['y'], name: 'flatten' }]
    }
  })
  return onnx.ModelProto.encode(m).finish()
}

t.test('a batch the rewrite cannot free: the original file, batch 1, one warning saying why', async (t) => {
  const file = join(dir, 'baked.onnx')
  writeFileSync(file, bakedModel())
  const variant = { name: 'default', weights: { file: 'baked.onnx', url: null, sha256: 'a'.repeat(64) }, kinds: ['cpu' as const], accuracyRank: 1, weightsPath: file, unavailable: null, agreement: null }
  const model: ModelInfo = {
    name: 'baked',
    task: 'classify',
    labels: 'labels.txt',
    labelList: ['a', 'b', 'c'],
    input: { name: 'x', width: 1, height: 1, channelOrder: 'RGB' },
    preprocess: { resize: { mode: 'stretch' }, scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
    output: { name: 'y', decode: { kind: 'softmax', topK: 3 } },
    variants: [variant],
    version: 1,
    versions: [1],
    variant: 'default',
    weightsPath: file
  }
  const { lines, log } = recorder()
  const [r] = await makeAllBatchable([model], config(), null, join(dir, 'cache'), log)
  t.match(r, { outcome: 'kept', reason: /^a batch of 4 fails: / })
  t.equal(model.weightsPath, file, 'the original file is served')
  t.same(lines.length, 1)
  t.match(lines[0], ['warn', /^model baked \(variant default\) stays at batch 1: a batch of 4 fails: /])
  t.notOk(existsSync(join(dir, 'cache', 'batchable', `${'a'.repeat(64)}.v1.onnx`)), 'nothing cached')
})
