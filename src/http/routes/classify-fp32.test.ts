// POST /classify on the float32 variant of the classifier (../shared/models/mobilenetv2-12-fp32),
// against EXPECTED.json's reference for it: same top-5 order, scores within 1e-3. Float32
// scores do not depend on which x86 CPU runs them (to about 1e-4), unlike the int8 model's, so
// this is where the whole classify pipeline (decode, resize 256, crop 224, normalise, NCHW,
// softmax) is held to the verified outputs exactly on every machine. The reference
// implementation the int8 tests compare the server with is held to the same numbers here.
//
// The variant is served from a model repository built for this test: the checkout's models/,
// plus a model.json for mobilenetv2-12-fp32 written from its MODEL.md when models/ has none.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { EXPECTED, checkFp32Classification } from '../../test-support/expected.js'
import { referenceTop5 } from '../../test-support/reference-classifier.js'
import { PHOTOS, REPO, SHARED_IMAGES, SHARED_MODELS, startServer } from '../../test-support/server.js'

const FP32 = 'mobilenetv2-12-fp32'

const repository = mkdtempSync(join(tmpdir(), 'switchyard-models-'))
t.teardown(() => rmSync(repository, { recursive: true, force: true }))
cpSync(join(REPO, 'models'), repository, { recursive: true })
if (!existsSync(join(repository, FP32, 'model.json'))) {
  // the int8 model's spec with the float32 weights (MODEL.md: same input, output, labels and
  // preprocessing; derived from the int8 file, so there is no upstream URL to download from)
  const int8 = JSON.parse(readFileSync(join(REPO, 'models/mobilenetv2-12-int8/model.json'), 'utf8'))
  const ref = (EXPECTED.models as unknown as Record<string, { sha256: string }>)[FP32]!
  cpSync(join(REPO, 'models/mobilenetv2-12-int8'), join(repository, FP32), { recursive: true })
  writeFileSync(join(repository, FP32, 'model.json'), JSON.stringify({
    ...int8,
    name: FP32,
    description: 'MobileNetV2 1.0 224, ImageNet-1k: the int8 zoo model with every int8 operator turned back into float32 (test fixture)',
    weights: { file: `${FP32}/model.onnx`, url: null, sha256: ref.sha256 }
  }, null, 2))
}

const server = await startServer(t, {
  models: { repository, enabled: ['mobilenetv2-12-int8', FP32, 'yolox-nano'] },
  routes: { classify: FP32 }
})
const { app } = server

t.test('the reference photos are all there', async (t) => {
  t.same(PHOTOS, Object.keys(EXPECTED.models[FP32].results).sort(), 'EXPECTED.json has a float32 result for every shared photo')
  t.ok(existsSync(join(SHARED_MODELS, FP32, 'model.onnx')), 'the float32 weights are in ../shared/models')
})

for (const photo of PHOTOS) {
  t.test(`classify ${photo} with the float32 variant: EXPECTED.json's top-5 within 1e-3`, async (t) => {
    const res = await app.inject({ method: 'POST', url: '/classify', payload: readFileSync(join(SHARED_IMAGES, photo)), headers: { 'content-type': 'image/jpeg' } })
    t.equal(res.statusCode, 200, res.body)
    t.equal(res.json().model, FP32)
    checkFp32Classification(t, photo, res.json().predictions)
  })

  t.test(`the reference implementation gives EXPECTED.json's float32 top-5 for ${photo}`, async (t) => {
    checkFp32Classification(t, photo, await referenceTop5(join(SHARED_IMAGES, photo), FP32))
  })
}
