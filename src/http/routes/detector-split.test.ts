// Detectors whose boxes and scores are separate outputs (model.json `output.roles`) on a real
// network: YOLOX-Nano's output decoded in the graph and split in two by Slice at test time
// (test-support/derive-yolov8.ts, written to a temporary directory, never committed) — boxes
// [B, N, 4] and scores [B, N, 80], or scores [B, N] and labels [B, N] (int64), named as RT-DETR
// exports name them — served beside YOLOX-Nano through the server and its workers, finding what
// YOLOX finds on the shared photos, over /detect and /v2.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { iou } from '../../postprocess/nms.js'
import { deriveSplitFromYolox } from '../../test-support/derive-yolov8.js'
import { PHOTOS, REPO, SHARED_IMAGES, SHARED_MODELS, startServer } from '../../test-support/server.js'

const SCORES = 'split-scores-from-yolox'
const LABELS = 'split-labels-from-yolox'
const dir = mkdtempSync(join(tmpdir(), 'switchyard-split-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const repo = join(dir, 'models'); const weights = join(dir, 'weights')
for (const m of ['mobilenetv2-12-int8', 'yolox-nano']) { mkdirSync(repo, { recursive: true }); symlinkSync(join(REPO, 'models', m), join(repo, m)) }
mkdirSync(weights, { recursive: true })
for (const f of readdirSync(SHARED_MODELS)) symlinkSync(join(SHARED_MODELS, f), join(weights, f))

const yolox = JSON.parse(readFileSync(join(REPO, 'models/yolox-nano/model.json'), 'utf8'))
async function derive (name: string, labels: boolean, roles: Record<string, string>): Promise<void> {
  mkdirSync(join(repo, name), { recursive: true }); mkdirSync(join(weights, name), { recursive: true })
  const d = await deriveSplitFromYolox(join(SHARED_MODELS, 'yolox-nano/model.onnx'), join(weights, name, 'model.onnx'), { labels })
  writeFileSync(join(repo, name, 'labels.txt'), readFileSync(join(REPO, 'models/yolox-nano/labels.txt')))
  writeFileSync(join(repo, name, 'model.json'), JSON.stringify({
    name,
    task: 'detect',
    description: 'YOLOX-Nano decoded and split into separate outputs at test time',
    weights: { file: `${name}/model.onnx`, url: null, sha256: d.sha256, bytes: d.bytes },
    labels: 'labels.txt',
    input: yolox.input,
    preprocess: yolox.preprocess,
    output: { name: 'boxes', roles, decode: { kind: 'yolov8', box: { format: 'cxcywh', normalized: false }, scoreThreshold: 0.25, iouThreshold: 0.45 } }
  }))
}
await derive(SCORES, false, { boxes: 'boxes', scores: 'scores' })
await derive(LABELS, true, { boxes: 'boxes', scores: 'scores', labels: 'labels' })
const WRONG = 'split-wrong-role'
await derive(WRONG, false, { boxes: 'boxes', scores: 'class_scores' }) // an output it does not have

const { app } = await startServer(t, {
  models: { repository: repo, localDir: weights, enabled: ['mobilenetv2-12-int8', 'yolox-nano', SCORES, LABELS, WRONG], optional: [WRONG] },
  routes: { classify: 'mobilenetv2-12-int8', detect: 'yolox-nano' }
})

interface Det { label: string, score: number, box: { x1: number, y1: number, x2: number, y2: number } }
const detect = async (model: string, photo: string): Promise<Det[]> => {
  const res = await app.inject({ method: 'POST', url: `/detect/${model}`, payload: readFileSync(join(SHARED_IMAGES, photo)), headers: { 'content-type': 'image/jpeg' } })
  if (res.statusCode !== 200) throw new Error(`${model} ${photo}: ${res.statusCode} ${res.body}`)
  return res.json().detections
}

t.test('both derived detectors load (the server frees their batch) and are ready; a role naming an output the model lacks is refused at load', async (t) => {
  const { models, unavailable } = (await app.inject('/models')).json()
  for (const name of [SCORES, LABELS]) t.match(models.find((x: { name: string }) => x.name === name), { task: 'detect', ready: true, input: { dynamicBatch: true } })
  t.match(unavailable[WRONG], /output\.roles names class_scores, which the model does not output \(outputs: boxes, scores\)/)
})

for (const name of [SCORES, LABELS]) {
  t.test(`${name}: recall of YOLOX-Nano's own detections (score ≥ 0.5, IoU ≥ 0.5) on the shared photos is at least 0.95`, async (t) => {
    let wanted = 0; let found = 0
    for (const photo of PHOTOS) {
      const reference = (await detect('yolox-nano', photo)).filter((d) => d.score >= 0.5)
      const got = await detect(name, photo)
      for (const r of reference) {
        wanted++
        if (got.some((d) => d.label === r.label && iou(d.box, r.box) >= 0.5)) found++
        else t.comment(`${photo}: ${r.label} ${r.score} not found`)
      }
    }
    t.ok(wanted >= 15, `${wanted} reference detections`)
    t.ok(found / wanted >= 0.95, `recall ${found}/${wanted}`)
  })
}

t.test('over /v2: the decoded outputs only (the model\'s own are named as they are), the same boxes as /detect', async (t) => {
  const meta = (await app.inject({ method: 'GET', url: `/v2/models/${LABELS}` })).json()
  t.same(meta.outputs.map((o: { name: string }) => o.name), ['num_detections', 'boxes', 'scores', 'classes', 'labels'])
  const photo = readFileSync(join(SHARED_IMAGES, PHOTOS[0]!))
  const res = await app.inject({ method: 'POST', url: `/v2/models/${LABELS}/infer`, payload: { inputs: [{ name: 'encoded_image', datatype: 'BYTES', shape: [1], data: [photo.toString('base64')] }] } })
  t.equal(res.statusCode, 200, res.body.slice(0, 300))
  const outputs = res.json().outputs as Array<{ name: string, data: number[] }>
  const dets = await detect(LABELS, PHOTOS[0]!)
  t.equal(outputs.find((o) => o.name === 'num_detections')!.data[0], dets.length)
  t.same(outputs.find((o) => o.name === 'boxes')!.data.slice(0, 4), [dets[0]!.box.x1, dets[0]!.box.y1, dets[0]!.box.x2, dets[0]!.box.y2].map(Math.fround))
  const asked = await app.inject({ method: 'POST', url: `/v2/models/${LABELS}/infer`, payload: { inputs: [{ name: 'encoded_image', datatype: 'BYTES', shape: [1], data: [photo.toString('base64')] }], outputs: [{ name: 'nothing' }] } })
  t.equal(asked.statusCode, 400, 'an output it does not have is refused')
})
