// Model variants end to end, on the real models: each device loads the variant configured for
// it; the answer, its headers and the metrics name the variant that ran; a request can pin a
// variant or ask for the most accurate one; at startup the variants are compared on the
// calibration images and /models shows the agreement, which this test computes again on its
// own (onnxruntime sessions here, the independent preprocessing of reference-classifier.ts).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { buildServer } from '../app.js'
import { PHOTOS, REPO, SHARED_IMAGES, startServer, testConfig } from '../test-support/server.js'
import { referenceScores } from '../test-support/reference-classifier.js'

const jpeg = { 'content-type': 'image/jpeg' }
const eagle = readFileSync(join(SHARED_IMAGES, 'eagle.jpg'))
const devices = [
  { id: 'cpu', kind: 'cpu', required: true, maxBatchSize: 4, pricePerHour: 0.01 },
  { id: 'cpu-fp32', kind: 'cpu', required: true, maxBatchSize: 4, models: ['mobilenetv2'], variants: { mobilenetv2: 'fp32' }, pricePerHour: 1000 }
]
const config = { devices, models: { enabled: ['mobilenetv2', 'yolox-nano'], calibrationImages: SHARED_IMAGES } }

t.test('variants: per device, named in the answer, pinned by header or alias, compared at startup', async (t) => {
  const { app } = await startServer(t, config)

  t.test('/models: the variants, the one each device runs, and their agreement computed independently', async (t) => {
    const body = (await app.inject({ method: 'GET', url: '/models' })).json()
    const m = body.models.find((x: { name: string }) => x.name === 'mobilenetv2')
    t.match(m.devices, [{ id: 'cpu', variant: 'int8', price: { perHour: 0.01 } }, { id: 'cpu-fp32', variant: 'fp32', price: { perHour: 1000 } }])
    const byName = Object.fromEntries(m.variants.map((v: { name: string }) => [v.name, v]))
    t.match(byName.fp32, { accuracyRank: 1, served: true, unavailable: null, agreement: null }, 'fp32 is the reference')
    let agree = 0; let maxDiff = 0
    for (const photo of PHOTOS) {
      const fp32 = await referenceScores(join(SHARED_IMAGES, photo), 'mobilenetv2-12-fp32/model.onnx')
      const int8 = await referenceScores(join(SHARED_IMAGES, photo), 'mobilenetv2-12-int8/model.onnx')
      const top = (p: Float64Array): number => p.indexOf(Math.max(...p))
      if (top(fp32) === top(int8)) agree++
      for (let c = 0; c < fp32.length; c++) maxDiff = Math.max(maxDiff, Math.abs(fp32[c]! - int8[c]!))
    }
    t.equal(byName.int8.agreement.reference, 'fp32')
    t.equal(byName.int8.agreement.images, PHOTOS.length)
    t.equal(byName.int8.agreement.top1Agreement, agree / PHOTOS.length, `top-1 agreement ${agree}/${PHOTOS.length}`)
    t.ok(Math.abs(byName.int8.agreement.maxScoreDifference - maxDiff) < 1e-4, `largest score difference ${byName.int8.agreement.maxScoreDifference} vs ${maxDiff} computed here`)
  })

  t.test('X-Switchyard-Variant pins a variant; the answer, its header and the metrics name it', async (t) => {
    for (const variant of ['int8', 'fp32']) {
      const res = await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: { ...jpeg, 'x-switchyard-variant': variant } })
      t.equal(res.statusCode, 200, res.body)
      t.equal(res.headers['x-switchyard-variant'], variant)
      t.match(res.json(), { model: 'mobilenetv2', variant, device: variant === 'int8' ? 'cpu' : 'cpu-fp32' })
      const ref = await referenceScores(join(SHARED_IMAGES, 'eagle.jpg'), `mobilenetv2-12-${variant}/model.onnx`)
      t.equal(res.json().predictions[0].index, ref.indexOf(Math.max(...ref)), `${variant}: the top-1 of that variant's weights`)
    }
    const best = await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: { ...jpeg, 'x-switchyard-variant': 'most-accurate' } })
    t.match(best.json(), { variant: 'fp32', device: 'cpu-fp32' }, 'most-accurate: the lowest accuracyRank served')
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
    t.match(metrics, /switchyard_http_requests_total\{route="\/classify",model="mobilenetv2",device="cpu-fp32",variant="fp32",status="200"\} [2-9]/)
    t.match(metrics, /switchyard_model_variant_info\{device="cpu",model="mobilenetv2",variant="int8"\} 1/)
    t.match(metrics, /switchyard_energy_joules_total\{device="cpu-fp32",model="mobilenetv2",variant="fp32"\} [0-9.e-]+/)
    t.match(metrics, /switchyard_cost_total\{device="cpu",model="mobilenetv2",variant="int8"\} [0-9.e-]+/)
  })

  t.test('the old model name is an alias that pins its variant', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/classify/mobilenetv2-12-int8', payload: eagle, headers: jpeg })
    t.match(res.json(), { model: 'mobilenetv2', variant: 'int8', device: 'cpu' })
    const clash = await app.inject({ method: 'POST', url: '/classify/mobilenetv2-12-int8', payload: eagle, headers: { ...jpeg, 'x-switchyard-variant': 'fp32' } })
    t.match(clash.json(), { statusCode: 400, error: 'SY_INVALID_HEADER', message: /already means variant int8/ })
  })

  t.test('bad variant requests: 400 for a malformed value, 404 for one not served', async (t) => {
    const cases: Array<[Record<string, string>, number, string, RegExp]> = [
      [{ 'x-switchyard-variant': 'fp16' }, 404, 'SY_VARIANT_NOT_FOUND', /variant fp16 of model mobilenetv2 \(its variants: int8, fp32\)/],
      [{ 'x-switchyard-variant': 'int 8!' }, 400, 'SY_INVALID_HEADER', /X-Switchyard-Variant/],
      [{ 'x-switchyard-variant': 'fp32', 'x-switchyard-device': 'cpu' }, 404, 'SY_VARIANT_NOT_FOUND', /variant fp32 of model mobilenetv2 on device cpu: no device loads it \(loaded: int8\)/],
      [{ 'x-switchyard-policy': 'cheapest' }, 400, 'SY_INVALID_HEADER', /"latency", "throughput" or "cost"/]
    ]
    for (const [headers, status, error, message] of cases) {
      const res = await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: { ...jpeg, ...headers } })
      t.match(res.json(), { statusCode: status, error, message }, JSON.stringify(headers))
    }
  })

  t.test('X-Switchyard-Policy: cost goes to the cheaper device and says which device and variant ran', async (t) => {
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: { ...jpeg, 'x-switchyard-policy': 'cost' } })
      t.equal(res.statusCode, 200, res.body)
      t.match(res.headers, { 'x-switchyard-policy': 'cost', 'x-switchyard-device': 'cpu', 'x-switchyard-variant': 'int8' }, 'price 0.01/h against 1000/h')
      t.match(res.json(), { policy: 'cost', device: 'cpu', variant: 'int8' })
    }
  })
})

t.test('a variant beyond models.variantDrift is refused: named in the config it stops startup, by default the next one serves', async (t) => {
  const strict = { ...config, models: { ...config.models, variantDrift: { minTop1Agreement: 1 } } }
  const named = { ...strict, devices: [{ ...devices[0], variants: { mobilenetv2: 'int8' } }] }
  await t.rejects(buildServer(testConfig(named), { root: REPO }).then(async (s) => { await s.close(); return s }),
    /device cpu: variant int8 of model mobilenetv2 cannot be served: refused: top-1 agreement with fp32 0\.\d+ is under models\.variantDrift\.minTop1Agreement 1/)
  const { app } = await startServer(t, { ...strict, devices: [devices[0]] })
  const m = (await app.inject({ method: 'GET', url: '/models' })).json().models[0]
  t.match(m.devices, [{ id: 'cpu', variant: 'fp32' }], 'the CPU falls back to fp32')
  t.match(m.variants.find((v: { name: string }) => v.name === 'int8'), { served: false, unavailable: /^refused: top-1 agreement/ })
})
