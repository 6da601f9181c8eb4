// The yolov8 decoder on a real network: a YOLOv8-layout detector derived from YOLOX-Nano by
// graph surgery at test time (test-support/derive-yolov8.ts, written to a temporary directory,
// never committed) is served beside YOLOX-Nano and finds what YOLOX finds on the shared photos.
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { iou } from '../../postprocess/nms.js'
import { deriveYolov8FromYolox } from '../../test-support/derive-yolov8.js'
import { PHOTOS, REPO, SHARED_IMAGES, SHARED_MODELS, startServer } from '../../test-support/server.js'

const NAME = 'yolov8-from-yolox'
const dir = mkdtempSync(join(tmpdir(), 'switchyard-yolov8-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const repo = join(dir, 'models'); const weights = join(dir, 'weights')
mkdirSync(join(repo, NAME), { recursive: true }); mkdirSync(join(weights, NAME), { recursive: true })
for (const m of ['mobilenetv2-12-int8', 'yolox-nano']) symlinkSync(join(REPO, 'models', m), join(repo, m))
for (const f of readdirSync(SHARED_MODELS)) if (f !== NAME) symlinkSync(join(SHARED_MODELS, f), join(weights, f))

const derived = await deriveYolov8FromYolox(join(SHARED_MODELS, 'yolox-nano/model.onnx'), join(weights, NAME, 'model.onnx'))
const yolox = JSON.parse(readFileSync(join(REPO, 'models/yolox-nano/model.json'), 'utf8'))
writeFileSync(join(repo, NAME, 'labels.txt'), readFileSync(join(REPO, 'models/yolox-nano/labels.txt')))
writeFileSync(join(repo, NAME, 'model.json'), JSON.stringify({
  name: NAME,
  task: 'detect',
  description: 'YOLOv8 layout derived from YOLOX-Nano at test time',
  weights: { file: `${NAME}/model.onnx`, url: null, sha256: derived.sha256, bytes: derived.bytes },
  labels: 'labels.txt',
  input: yolox.input,
  preprocess: yolox.preprocess,
  output: { name: 'output0', decode: { kind: 'yolov8', box: { format: 'cxcywh', normalized: false }, scoreThreshold: 0.25, iouThreshold: 0.45 } }
}))

const { app } = await startServer(t, {
  models: { repository: repo, localDir: weights, enabled: ['mobilenetv2-12-int8', 'yolox-nano', NAME] },
  routes: { classify: 'mobilenetv2-12-int8', detect: 'yolox-nano' }
})

interface Det { label: string, score: number, box: { x1: number, y1: number, x2: number, y2: number } }
const detect = async (model: string, photo: string): Promise<Det[]> => {
  const res = await app.inject({ method: 'POST', url: `/detect/${model}`, payload: readFileSync(join(SHARED_IMAGES, photo)), headers: { 'content-type': 'image/jpeg' } })
  if (res.statusCode !== 200) throw new Error(`${model} ${photo}: ${res.statusCode} ${res.body}`)
  return res.json().detections
}

t.test('the derived detector has the YOLOv8 layout, and is batchable once loaded', async (t) => {
  const { models } = (await app.inject('/models')).json()
  const m = models.find((x: { name: string }) => x.name === NAME)
  t.match(m, { task: 'detect', ready: true, input: { shape: ['batch', 3, 416, 416], dynamicBatch: true } })
})

t.test('recall of YOLOX-Nano\'s own detections (score ≥ 0.5, IoU ≥ 0.5) on the shared photos is at least 0.95', async (t) => {
  let wanted = 0; let found = 0
  for (const photo of PHOTOS) {
    const reference = (await detect('yolox-nano', photo)).filter((d) => d.score >= 0.5)
    const got = await detect(NAME, photo)
    for (const r of reference) {
      wanted++
      if (got.some((d) => d.label === r.label && iou(d.box, r.box) >= 0.5)) found++
      else t.comment(`${photo}: ${r.label} ${r.score} not found`)
    }
  }
  t.ok(wanted >= 15, `${wanted} reference detections`)
  t.ok(found / wanted >= 0.95, `recall ${found}/${wanted}`)
})
