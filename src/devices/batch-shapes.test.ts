// devices[].batchShapes: 'calibrated' runs a batch of n padded to the next calibrated size (1, 2,
// 4, … max batch), so a session only ever sees shapes that every worker ran before it took
// traffic. On CUDA the first run of a new input shape has onnxruntime time every cuDNN
// convolution algorithm (onnxruntime-node 1.29 passes no other search mode): on an H200 that
// cost 0.5–5 s per shape and worker (docs/gpu.md), paid mid-traffic by a batcher that forms
// batches of every size. So a CUDA device pads by default; a CPU device runs exact sizes.
// Here a CPU device stands in, on the real models: every worker (not only the calibrating one)
// runs each shape before it serves, and a padded batch answers exactly what an exact one does.
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { deviceBatchShapes } from '../config/schema.js'
import { tinyModel } from '../test-support/onnx-writer.js'
import { SHARED_IMAGES, startServer } from '../test-support/server.js'
import type { BatchEvent } from './scheduler.js'

t.test('by default a CUDA device pads to calibrated shapes and a CPU device does not; a setting overrides either', async (t) => {
  t.equal(deviceBatchShapes({ kind: 'cuda' }), 'calibrated')
  t.equal(deviceBatchShapes({ kind: 'cpu' }), 'any')
  t.equal(deviceBatchShapes({ kind: 'cuda', batchShapes: 'any' }), 'any')
  t.equal(deviceBatchShapes({ kind: 'cpu', batchShapes: 'calibrated' }), 'calibrated')
})

const logs: Array<Record<string, unknown>> = []
const logStream = new Writable({ write (chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) logs.push(JSON.parse(l) as Record<string, unknown>); cb() } })
const device = { kind: 'cpu', required: true, intraOpThreads: 1, maxBatchSize: 8, batchDelayMs: { latency: 0, throughput: 0 } }
const server = await startServer(t, {
  server: { logLevel: 'info' },
  devices: [{ ...device, id: 'cpu-pad', workers: 2, batchShapes: 'calibrated' }, { ...device, id: 'cpu-any', workers: 1 }]
}, { logStream })

t.test('every worker runs each calibrated shape once before it serves, and says so', async (t) => {
  const models = [...server.devices.get('cpu-pad')!.scheduler.lanes.keys()]
  t.ok(models.length >= 2, `the device serves the configured models (${models.join(', ')})`)
  for (const model of models) {
    const mine = logs.filter((l) => l.device === 'cpu-pad' && l.model === model && l.shapes !== undefined)
    t.equal(mine.length, 2, `${model}: both workers ran the shapes, the one that calibrates and the other`)
    for (const l of mine) {
      t.same((l.shapes as Array<{ batchSize: number }>).map((s) => s.batchSize), [1, 2, 4, 8], `${model}: shapes 1, 2, 4, 8`)
      t.match(String(l.msg), new RegExp(`worker ran ${model}'s batch shapes 1: \\d+ ms, 2: \\d+ ms, 4: \\d+ ms, 8: \\d+ ms`))
    }
  }
  t.equal(logs.filter((l) => l.device === 'cpu-any' && l.shapes !== undefined).length, 0, 'a device left at any runs no shapes ahead')
})

t.test('a batch of three runs padded to four and answers exactly what an unpadded batch of three does', async (t) => {
  const photos = ['dog.jpg', 'eagle.jpg', 'kite.jpg'].map((f) => readFileSync(join(SHARED_IMAGES, f)).toString('base64'))
  const body = JSON.stringify({ inputs: [{ name: 'encoded_image', shape: [3], datatype: 'BYTES', data: photos }], outputs: [{ name: 'scores' }, { name: 'indices' }] })
  const answers: Record<string, { outputs: Array<{ name: string, data: number[] }> }> = {}
  for (const id of ['cpu-pad', 'cpu-any']) {
    const batch = once(server.devices.get(id)!.scheduler, 'batch').then(([e]) => e as BatchEvent)
    const res = await server.app.inject({ method: 'POST', url: '/v2/models/mobilenetv2/infer', payload: body, headers: { 'content-type': 'application/json', 'x-switchyard-device': id } })
    t.equal(res.statusCode, 200, `${id}: ${res.body.slice(0, 200)}`)
    t.equal((await batch).size, 3, `${id}: the three images ran as one batch`)
    answers[id] = res.json()
  }
  const out = (id: string, name: string): number[] => answers[id]!.outputs.find((o) => o.name === name)!.data
  t.same(out('cpu-pad', 'indices'), out('cpu-any', 'indices'), 'the same top classes for each image')
  const a = out('cpu-pad', 'scores'); const b = out('cpu-any', 'scores')
  t.equal(a.length, b.length)
  t.ok(a.every((x, i) => Math.abs(x - b[i]!) < 1e-5), `scores equal within 1e-5 (largest difference ${Math.max(...a.map((x, i) => Math.abs(x - b[i]!)))})`)
})

t.test('a plain ONNX model from the repository runs padded too, and answers only its own rows', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-shapes-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'tiny'))
  writeFileSync(join(dir, 'tiny', 'model.onnx'), tinyModel({ offset: 1 }))
  const s = await startServer(t, {
    modelRepository: { dir, pollMs: 0 },
    // the rows arrive together; a batch delay lets them form one batch whatever the policy
    devices: [{ ...device, id: 'cpu-pad', workers: 1, maxBatchSize: 4, batchShapes: 'calibrated', batchDelayMs: { latency: 1000, throughput: 1000 } }]
  })
  const x = Array.from({ length: 12 }, (_, i) => i) // three rows of four
  const batch = once(s.devices.get('cpu-pad')!.scheduler, 'batch').then(([e]) => e as BatchEvent)
  const res = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: { inputs: [{ name: 'x', datatype: 'FP32', shape: [3, 4], data: x }] } })
  t.equal(res.statusCode, 200, res.body.slice(0, 200))
  t.equal((await batch).size, 3, 'one batch of three (run at four)')
  const y = (res.json() as { outputs: Array<{ shape: number[], data: number[] }> }).outputs[0]!
  t.same(y.shape, [3, 4], 'three rows answered, not four')
  t.same(y.data, x.map((v) => v * 2 + 1), 'each row its own y = 2x + 1')
})
