// Bad variant configuration is refused at startup with a message naming what is wrong:
// a variant whose file takes another input or gives a score per label other than the
// model's, a model.json that gives both forms or aliases a missing variant, a device
// configured for a variant the model does not have or for a model not enabled.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildServer } from '../app.js'
import { REPO, testConfig } from '../test-support/server.js'
import { loadModel, readModelSpec } from './model-repository.js'
import { unsuitedVariants, variantFor } from './variants.js'
import { SHARED_MODELS } from '../test-support/server.js'

const shipped = JSON.parse(readFileSync(join(REPO, 'models/mobilenetv2/model.json'), 'utf8'))
const labels = readFileSync(join(REPO, 'models/mobilenetv2/labels.txt'), 'utf8')
const yoloxWeights = JSON.parse(readFileSync(join(REPO, 'models/yolox-nano/model.json'), 'utf8')).weights

/** a models repository holding one model `bad`: the shipped mobilenetv2 with `edit` applied */
function repository (edit: (spec: Record<string, any>) => void, labelText = labels): string {
  const repo = mkdtempSync(join(tmpdir(), 'sy-variants-'))
  mkdirSync(join(repo, 'bad'))
  const spec = structuredClone(shipped)
  spec.name = 'bad'
  edit(spec)
  writeFileSync(join(repo, 'bad', 'model.json'), JSON.stringify(spec))
  writeFileSync(join(repo, 'bad', 'labels.txt'), labelText)
  return repo
}

async function startupError (overrides: Record<string, unknown>): Promise<string> {
  const config = testConfig({ models: { enabled: ['bad'] }, routes: { classify: 'bad', detect: 'bad' }, ...overrides })
  try {
    const s = await buildServer(config, { root: REPO })
    await s.close()
  } catch (err) {
    return (err as Error).message
  }
  return 'no error: the server started'
}

t.test('a variant whose file takes another input is refused', async (t) => {
  const repo = repository((s) => { s.variants.fp32.weights = yoloxWeights })
  t.match(await startupError({ models: { enabled: ['bad'], repository: repo } }),
    /model bad: variant fp32 does not take the model's input input \[n, 3, 224, 224\] \(its inputs: images \[1, 3, 416, 416\]\)/)
})

t.test('a variant whose scores do not match the labels is refused', async (t) => {
  const repo = repository(() => {}, labels.split('\n').slice(0, 10).join('\n'))
  t.match(await startupError({ models: { enabled: ['bad'], repository: repo } }), /model bad: variant (int8|fp32) gives 1000 scores per image; the model has 10 labels/)
})

t.test('model.json: weights and variants together, or an alias to a missing variant', async (t) => {
  await t.rejects(readModelSpec(repository((s) => { s.weights = s.variants.int8.weights }), 'bad'), /must give either "weights" \(one variant\) or "variants", not both/)
  await t.rejects(readModelSpec(repository((s) => { s.aliases = { 'bad-int4': 'int4' } }), 'bad'), /aliases bad-int4 to variant "int4", which the model does not have/)
  await t.rejects(readModelSpec(repository((s) => { s.variants.int8.kinds = ['tpu'] }), 'bad'), /invalid .*model\.json at \/variants\/int8\/kinds\/0/)
})

t.test('a device configured for a variant that does not exist, or a model not enabled', async (t) => {
  t.match(await startupError({ models: { enabled: ['mobilenetv2', 'yolox-nano'] }, routes: {}, devices: [{ id: 'cpu', kind: 'cpu', variants: { mobilenetv2: 'fp16' } }] }),
    /device cpu: model mobilenetv2 has no variant "fp16" \(variants: int8, fp32\)/)
  t.match(await startupError({ models: { enabled: ['mobilenetv2', 'yolox-nano'] }, routes: {}, devices: [{ id: 'cpu', kind: 'cpu', variants: { resnet: 'int8' } }] }),
    /device cpu: variants names model resnet, which is not enabled/)
})

t.test('a variant without weights: skipped by default (with a warning where it was meant), refused where configured', async (t) => {
  const repo = repository((s) => { s.variants.fp32.weights.file = 'nowhere/model.onnx' })
  const model = await loadModel(repo, 'bad', { localDir: SHARED_MODELS, cacheDir: mkdtempSync(join(tmpdir(), 'sy-cache-')), download: false })
  t.match(model.variants.find((v) => v.name === 'fp32'), { weightsPath: null, unavailable: /weights nowhere\/model\.onnx not found .*no download URL/ })
  const cuda = { id: 'cuda:0', kind: 'cuda' as const, variants: {} }
  t.equal(variantFor(model, cuda).name, 'int8', 'CUDA falls back to the variant that has weights')
  t.same(unsuitedVariants([cuda, { id: 'cpu', kind: 'cpu', variants: {} }], [model]), [
    `device cuda:0 runs variant int8 of bad, which does not list cuda; fp32 (${model.variants[1]!.unavailable})`
  ])
  t.throws(() => variantFor(model, { ...cuda, variants: { bad: 'fp32' } }), /device cuda:0: variant fp32 of model bad cannot be served: .*not found/)
})
