// POST /classify and /detect on the real models and every shared photo, compared with
// EXPECTED.json; raw body and multipart give the same answer.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { checkClassification, checkDetections } from '../../test-support/expected.js'
import { PHOTOS, SHARED_IMAGES, multipart, startServer } from '../../test-support/server.js'

const server = await startServer(t)
const { app } = server

for (const photo of PHOTOS) {
  const bytes = readFileSync(join(SHARED_IMAGES, photo))

  t.test(`classify ${photo}`, async (t) => {
    const raw = await app.inject({ method: 'POST', url: '/classify', payload: bytes, headers: { 'content-type': 'image/jpeg' } })
    t.equal(raw.statusCode, 200, raw.body)
    const body = raw.json()
    t.match(body, { model: 'mobilenetv2', variant: 'int8' }, 'the CPU runs the int8 variant')
    t.equal(raw.headers['x-switchyard-variant'], 'int8')
    t.equal(body.device, 'cpu')
    t.equal(raw.headers['x-switchyard-device'], 'cpu')
    t.match(raw.headers['server-timing'], /decode;dur=[\d.]+, queue;dur=[\d.]+, inference;dur=[\d.]+, postprocess;dur=[\d.]+/)
    t.match(body.timing, { decodeMs: Number, queueMs: Number, inferenceMs: Number, postprocessMs: Number, totalMs: Number })
    await checkClassification(t, photo, body.predictions)

    const form = multipart([{ name: 'image', filename: photo, type: 'image/jpeg', data: bytes }])
    const mp = await app.inject({ method: 'POST', url: '/classify', ...form })
    t.equal(mp.statusCode, 200, mp.body)
    t.same(mp.json().predictions, body.predictions, 'multipart gives the same answer as a raw body')
  })

  t.test(`detect ${photo}`, async (t) => {
    const raw = await app.inject({ method: 'POST', url: '/detect', payload: bytes, headers: { 'content-type': 'image/jpeg' } })
    t.equal(raw.statusCode, 200, raw.body)
    const body = raw.json()
    t.equal(body.model, 'yolox-nano')
    checkDetections(t, photo, body)

    const form = multipart([{ name: 'note', data: 'a text field is ignored' }, { name: 'file', filename: photo, type: 'application/octet-stream', data: bytes }])
    const mp = await app.inject({ method: 'POST', url: '/detect', ...form })
    t.equal(mp.statusCode, 200, mp.body)
    t.same(mp.json().detections, body.detections, 'multipart gives the same answer as a raw body')
  })
}

t.test('query options change the answer', async (t) => {
  const bytes = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))
  const top2 = await app.inject({ method: 'POST', url: '/classify?top_k=2', payload: bytes, headers: { 'content-type': 'image/jpeg' } })
  t.equal(top2.json().predictions.length, 2)
  const strict = await app.inject({ method: 'POST', url: '/detect?score_threshold=0.8', payload: bytes, headers: { 'content-type': 'image/jpeg' } })
  const labels = strict.json().detections.map((d: { label: string }) => d.label).sort()
  t.same(labels, ['bicycle', 'car', 'dog'], 'only the three detections above 0.8 remain')
  const loose = await app.inject({ method: 'POST', url: '/detect?score_threshold=0.25&iou_threshold=0.99', payload: bytes, headers: { 'content-type': 'image/jpeg' } })
  t.ok(loose.json().detections.length > 5, 'a near-1 IoU threshold keeps overlapping boxes')
})

t.test('a model can be named in the path', async (t) => {
  const bytes = readFileSync(join(SHARED_IMAGES, 'eagle.jpg'))
  const res = await app.inject({ method: 'POST', url: '/classify/mobilenetv2-12-int8', payload: bytes, headers: { 'content-type': 'image/jpeg' } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().predictions[0].label, 'bald eagle, American eagle, Haliaeetus leucocephalus')
})
