// Batching by default: the default /detect model, yolox-nano, is exported with its batch fixed
// to 1; the server frees it at load (models/batchable.ts), so concurrent throughput-class
// requests run in batches, and a batched answer is the answer the image gets alone.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { PHOTOS, SHARED_IMAGES, startServer } from '../../test-support/server.js'

// the default CPU device (2 workers, 1 kept for latency work), max batch 8
const server = await startServer(t, {
  devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 2, latencyWorkers: 1, maxBatchSize: 8 }]
})
const { app } = server

/**
 * Holds the device's dispatching until `n` throughput items of `model` are queued, so that
 * requests sent at once meet in the queue however slowly a loaded machine decodes them (no
 * timing in the test); the scheduler then plans as always: a full batch leaves at once.
 */
function meetInQueue (model: string, n: number): void {
  const device = server.devices.get('cpu')!.scheduler
  const lane = device.lanes.get(model)!
  const pump = device.pump.bind(device)
  device.pump = () => {
    // throughput items wait in the device's own queue, or in the late-binding pool it pulls from
    if (lane.queue.throughput.length + (lane.pool?.throughput.length ?? 0) < n) return
    device.pump = pump
    pump()
  }
}

interface Det { label: string, score: number, box: { x1: number, y1: number, x2: number, y2: number } }
const detect = async (bytes: Buffer, policy: string) => {
  const res = await app.inject({ method: 'POST', url: '/detect', payload: bytes, headers: { 'content-type': 'image/jpeg', 'x-switchyard-policy': policy } })
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`)
  return res.json() as { model: string, batchSize: number, detections: Det[] }
}

t.test('yolox-nano is batchable on a default start', async (t) => {
  const { models } = (await app.inject('/models')).json()
  const yolox = models.find((m: { name: string }) => m.name === 'yolox-nano')
  t.match(yolox.input, { shape: ['batch', 3, 416, 416], dynamicBatch: true }, 'the batch dimension was freed at load')
  t.equal(yolox.devices[0].maxBatchSize, 8, 'the device\'s max batch applies')
})

t.test('8 concurrent throughput requests run batched, with the boxes each image gets alone', async (t) => {
  const images = [...PHOTOS, 'dog.jpg'].slice(0, 8).map((p) => readFileSync(join(SHARED_IMAGES, p)))
  t.equal(images.length, 8)
  meetInQueue('yolox-nano', images.length)
  const batched = await Promise.all(images.map((b) => detect(b, 'throughput')))
  for (const r of batched) t.equal(r.batchSize, 8, 'served in one batch of 8')
  for (let i = 0; i < images.length; i++) {
    const alone = await detect(images[i]!, 'latency')
    t.equal(alone.batchSize, 1, 'a latency request runs alone')
    const got = batched[i]!.detections
    t.equal(got.length, alone.detections.length, `image ${i}: as many detections batched as alone`)
    for (let k = 0; k < Math.min(got.length, alone.detections.length); k++) {
      const a = got[k]!; const b = alone.detections[k]!
      t.equal(a.label, b.label)
      const off = Math.max(Math.abs(a.box.x1 - b.box.x1), Math.abs(a.box.y1 - b.box.y1), Math.abs(a.box.x2 - b.box.x2), Math.abs(a.box.y2 - b.box.y2))
      t.ok(off <= 1, `image ${i}, ${a.label}: box within 1 px of the batch-1 box (off by ${off})`)
      t.ok(Math.abs(a.score - b.score) < 1e-3, 'same score')
    }
  }
})

t.test('the alias yolox-nano-dynamic serves the same model on a default start', async (t) => {
  const dog = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))
  const res = await app.inject({ method: 'POST', url: '/detect/yolox-nano-dynamic', payload: dog, headers: { 'content-type': 'image/jpeg' } })
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json().detections, (await detect(dog, 'latency')).detections)
})
