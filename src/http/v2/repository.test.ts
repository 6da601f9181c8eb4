// Any ONNX model over /v2, and the model repository that changes at run time, on the real
// server: plain models written at test time (test-support/onnx-writer.ts) into a temporary
// models directory beside the shared configured model. Every rescan is triggered by the test
// (pollMs 0, repository.rescan()), so nothing depends on timing.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { Switchyard } from '../../app.js'
import { tinyModel, wrongShapeModel } from '../../test-support/onnx-writer.js'
import { SHARED_MODELS, startServer } from '../../test-support/server.js'

const ADMIN = 'admin-key-0123456789'
const CLS = 'mobilenetv2-12-int8'
const DET = 'yolox-nano'

function repoDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-repo-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function put (dir: string, path: string, bytes: Buffer): void {
  const file = join(dir, path)
  mkdirSync(join(file, '..'), { recursive: true })
  writeFileSync(file, bytes)
}

function start (t: Test, dir: string, overrides: Record<string, unknown> = {}): Promise<Switchyard> {
  return startServer(t, {
    models: { enabled: [CLS, DET] },
    routes: { classify: CLS },
    modelRepository: { dir, pollMs: 0 },
    ...overrides
  })
}

const x = (n: number): number[] => Array.from({ length: 4 * n }, (_, i) => i)
const inferBody = (n: number) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [n, 4], data: x(n) }] })
const admin = { 'x-switchyard-admin-key': ADMIN }

async function infer (s: Switchyard, model: string, n = 1, headers: Record<string, string> = {}, version?: string) {
  const url = version === undefined ? `/v2/models/${model}/infer` : `/v2/models/${model}/versions/${version}/infer`
  return s.app.inject({ method: 'POST', url, payload: inferBody(n), headers })
}

/** y of the tiny model for inputs x(n): x·2 + offset */
const expectedY = (n: number, offset: number): number[] => x(n).map((v) => v * 2 + offset)

t.test('a plain ONNX model is served over /v2 with its own tensors, routed and batched', async (t) => {
  const dir = repoDir(t)
  put(dir, 'tiny/model.onnx', tinyModel({ offset: 1 })) // the flat layout: version 1
  put(dir, 'tiny-fixed/1/model.onnx', tinyModel({ offset: 1, batch: 1 }))
  // two workers: the first calibrates each model, the second loads it after the lane opened
  const s = await start(t, dir, { devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 2, maxBatchSize: 4, batchDelayMs: { throughput: 200 } }] })

  const meta = await s.app.inject({ method: 'GET', url: '/v2/models/tiny' })
  t.equal(meta.statusCode, 200)
  t.same(meta.json(), {
    name: 'tiny',
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 4] }, { name: 'c', datatype: 'INT32', shape: [-1, 4] }]
  }, 'names, datatypes and shapes come from the session')
  t.equal((await s.app.inject({ method: 'GET', url: '/v2/models/tiny/ready' })).statusCode, 200)

  const r = await infer(s, 'tiny', 2)
  t.equal(r.statusCode, 200)
  t.same(r.json().outputs, [
    { name: 'y', datatype: 'FP32', shape: [2, 4], data: expectedY(2, 1) },
    { name: 'c', datatype: 'INT32', shape: [2, 4], data: expectedY(2, 1) }
  ])
  t.equal(r.json().model_version, '1')

  // binary in, one output asked for, binary out (tritonclient's way)
  const bytes = Buffer.from(new Float32Array(x(1)).buffer)
  const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: bytes.length } }], outputs: [{ name: 'c', parameters: { binary_data: true } }] }))
  const b = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: Buffer.concat([json, bytes]), headers: { 'inference-header-content-length': String(json.length), 'content-type': 'application/octet-stream' } })
  t.equal(b.statusCode, 200)
  const headerLength = Number(b.headers['inference-header-content-length'])
  t.same(Array.from(new Int32Array(new Uint8Array(b.rawPayload.subarray(headerLength)).buffer)), expectedY(1, 1))

  // the free batch dimension batches: 4 throughput items in one batch; a fixed batch of 1 cannot
  const batched = await infer(s, 'tiny', 4, { 'x-switchyard-policy': 'throughput' })
  t.equal(batched.headers['x-switchyard-batch-size'], '4,4,4,4')
  const single = await infer(s, 'tiny-fixed', 4, { 'x-switchyard-policy': 'throughput' })
  t.equal(single.statusCode, 200)
  t.equal(single.headers['x-switchyard-batch-size'], '1,1,1,1')
  t.same(single.json().outputs[0].data, expectedY(4, 1))

  // refusals are the protocol's errors
  const wrong = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 5], data: [1, 2, 3, 4, 5] }] } })
  t.equal(wrong.statusCode, 400)
  t.match(wrong.json().error, /shape \[N,4\]/)
  const dtype = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: { inputs: [{ name: 'x', datatype: 'INT32', shape: [1, 4], data: [1, 2, 3, 4] }] } })
  t.equal(dtype.statusCode, 400)

  // listed in /models and the OpenAPI document (the routes take the model as a parameter)
  const models = (await s.app.inject({ method: 'GET', url: '/models' })).json()
  const tiny = models.repository.find((m: { name: string }) => m.name === 'tiny')
  t.equal(tiny.ready, true)
  t.equal(tiny.versions[0].state, 'READY')
  t.equal(tiny.versions[0].dynamicBatch, true)
  t.equal(tiny.versions[0].devices[0].maxBatchSize, 4)
  t.equal(models.repository.find((m: { name: string }) => m.name === 'tiny-fixed').versions[0].devices[0].maxBatchSize, 1)
  const doc = (await s.app.inject({ method: 'GET', url: '/openapi.json' })).json()
  for (const path of ['/v2/models/{model}/infer', '/v2/models/{model}/versions/{version}/infer', '/v2/repository/index', '/v2/repository/models/{name}/load']) {
    t.ok(doc.paths[path], `${path} is documented`)
  }
  // its metric series exist from the load on, at zero
  const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /switchyard_rejected_requests_total\{device="",model="tiny-fixed@1",policy="latency",reason="queue-full"\} 0/)
  t.match(metrics, /switchyard_batch_size_count\{device="cpu",model="tiny@1"\} [1-9]/)
})

t.test('the repository extension: index open; load and unload only with the admin key', async (t) => {
  const dir = repoDir(t)
  put(dir, 'tiny/1/model.onnx', tinyModel({ offset: 1 }))

  t.test('without auth.adminKeys, load and unload are off', async (t) => {
    const s = await start(t, dir)
    const index = await s.app.inject({ method: 'POST', url: '/v2/repository/index' })
    t.equal(index.statusCode, 200)
    t.same(index.json(), [{ name: CLS, version: '1', state: 'READY', reason: '' }, { name: DET, version: '1', state: 'READY', reason: '' }, { name: 'tiny', version: '1', state: 'READY', reason: '' }])
    for (const op of ['load', 'unload']) {
      const r = await s.app.inject({ method: 'POST', url: `/v2/repository/models/tiny/${op}`, headers: admin })
      t.equal(r.statusCode, 404)
      t.equal(r.headers['x-switchyard-error'], 'SY_ADMIN_OFF')
    }
    t.equal((await infer(s, 'tiny')).statusCode, 200, 'still served')
  })

  t.test('with keys: 401 without one, 403 with a wrong one, 200 with one of them', async (t) => {
    const s = await start(t, dir, { auth: { adminKeys: [ADMIN] } })
    const none = await s.app.inject({ method: 'POST', url: '/v2/repository/models/tiny/unload' })
    t.equal(none.statusCode, 401)
    t.equal(none.headers['x-switchyard-error'], 'SY_ADMIN_KEY_REQUIRED')
    const bad = await s.app.inject({ method: 'POST', url: '/v2/repository/models/tiny/unload', headers: { 'x-switchyard-admin-key': 'not-the-admin-key-at-all' } })
    t.equal(bad.statusCode, 403)
    t.equal(bad.headers['x-switchyard-error'], 'SY_ADMIN_KEY_INVALID')
    t.equal((await s.app.inject({ method: 'POST', url: '/v2/repository/index' })).statusCode, 200, 'the index needs no key')

    const unload = await s.app.inject({ method: 'POST', url: '/v2/repository/models/tiny/unload', headers: admin })
    t.equal(unload.statusCode, 200)
    t.equal((await infer(s, 'tiny')).statusCode, 404, 'unloaded: not served')
    t.same((await s.app.inject({ method: 'POST', url: '/v2/repository/index', payload: { ready: true } })).json().map((e: { name: string }) => e.name), [CLS, DET])
    await s.repository.rescan()
    t.equal((await infer(s, 'tiny')).statusCode, 404, 'an unloaded model stays unloaded through a rescan')

    const load = await s.app.inject({ method: 'POST', url: '/v2/repository/models/tiny/load', headers: admin })
    t.equal(load.statusCode, 200)
    t.same((await infer(s, 'tiny')).json().outputs[0].data, expectedY(1, 1))

    const configured = await s.app.inject({ method: 'POST', url: `/v2/repository/models/${CLS}/unload`, headers: admin })
    t.equal(configured.statusCode, 400)
    t.equal(configured.headers['x-switchyard-error'], 'SY_MODEL_CONFIGURED')
    const unknown = await s.app.inject({ method: 'POST', url: '/v2/repository/models/nothing-here/load', headers: admin })
    t.equal(unknown.statusCode, 404)
    t.equal(unknown.headers['x-switchyard-error'], 'SY_MODEL_NOT_FOUND')
  })
})

t.test('an unload drains what is queued for the model: every accepted request is answered', async (t) => {
  const dir = repoDir(t)
  put(dir, 'tiny/1/model.onnx', tinyModel({ offset: 1 }))
  // a throughput batch waits up to a second to fill: the requests sit in the queue for the unload
  const s = await start(t, dir, { auth: { adminKeys: [ADMIN] }, devices: [{ id: 'cpu', kind: 'cpu', required: true, maxBatchSize: 8, batchDelayMs: { throughput: 1000 } }] })
  const lane = s.devices.schedulers[0]!.lanes.get('tiny@1')!
  let answered = 0
  const pending = [1, 2, 3].map(() => infer(s, 'tiny', 1, { 'x-switchyard-policy': 'throughput' }).finally(() => { answered++ }))
  while (lane.queue.size + lane.inFlight + answered < 3) await new Promise((resolve) => setImmediate(resolve))
  const unload = await s.app.inject({ method: 'POST', url: '/v2/repository/models/tiny/unload', headers: admin })
  t.equal(unload.statusCode, 200)
  t.equal(lane.queue.size + lane.inFlight, 0, 'the unload answered once everything queued for the model had run')
  const answers = await Promise.all(pending)
  t.same(answers.map((a) => a.statusCode), [200, 200, 200])
  t.notOk(s.devices.schedulers[0]!.lanes.has('tiny@1'))
  t.equal((await infer(s, 'tiny')).statusCode, 404)
})

t.test('versions: latest by default, a new version replaces the old after it is ready; a changed directory reloads', async (t) => {
  const dir = repoDir(t)
  put(dir, 'tiny/1/model.onnx', tinyModel({ offset: 1 }))
  const s = await start(t, dir)
  t.same((await infer(s, 'tiny')).json().outputs[0].data, expectedY(1, 1))

  put(dir, 'tiny/2/model.onnx', tinyModel({ offset: 2 }))
  await s.repository.rescan()
  const r = await infer(s, 'tiny')
  t.equal(r.json().model_version, '2')
  t.same(r.json().outputs[0].data, expectedY(1, 2))
  t.same((await infer(s, 'tiny', 1, {}, '2')).json().outputs[0].data, expectedY(1, 2))
  const old = await infer(s, 'tiny', 1, {}, '1')
  t.equal(old.statusCode, 404)
  t.equal(old.headers['x-switchyard-error'], 'SY_MODEL_VERSION_NOT_FOUND')
  t.same((await s.app.inject({ method: 'GET', url: '/v2/models/tiny/versions/2' })).json().versions, ['2'])

  // the same version's files replaced: reloaded in place
  put(dir, 'tiny/2/model.onnx', tinyModel({ offset: 7 }))
  await s.repository.rescan()
  t.same((await infer(s, 'tiny')).json().outputs[0].data, expectedY(1, 7))

  // a new model directory is picked up, a removed one unloaded
  put(dir, 'other/model.onnx', tinyModel({ offset: 3 }))
  await s.repository.rescan()
  t.same((await infer(s, 'other')).json().outputs[0].data, expectedY(1, 3))
  rmSync(join(dir, 'other'), { recursive: true })
  await s.repository.rescan()
  t.equal((await infer(s, 'other')).statusCode, 404)
  t.notOk(s.devices.schedulers[0]!.lanes.has('other@1'))
})

t.test('version policy: all, or specific versions', async (t) => {
  const dir = repoDir(t)
  put(dir, 'tiny/1/model.onnx', tinyModel({ offset: 1 }))
  put(dir, 'tiny/2/model.onnx', tinyModel({ offset: 2 }))
  put(dir, 'tiny/3/model.onnx', tinyModel({ offset: 3 }))
  const s = await start(t, dir, { modelRepository: { dir, pollMs: 0, versionPolicy: { all: true }, perModel: { pinned: { versionPolicy: { specific: [1] } } } } })
  put(dir, 'pinned/1/model.onnx', tinyModel({ offset: 10 }))
  put(dir, 'pinned/2/model.onnx', tinyModel({ offset: 20 }))
  await s.repository.rescan()
  for (const v of [1, 2, 3]) t.same((await infer(s, 'tiny', 1, {}, String(v))).json().outputs[0].data, expectedY(1, v), `tiny version ${v} served`)
  t.equal((await infer(s, 'tiny')).json().model_version, '3', 'no version asked: the newest')
  t.same((await s.app.inject({ method: 'GET', url: '/v2/models/tiny' })).json().versions, ['3', '2', '1'])
  t.same((await infer(s, 'pinned')).json().outputs[0].data, expectedY(1, 10), 'specific: version 1 only')
  t.equal((await infer(s, 'pinned', 1, {}, '2')).statusCode, 404)
})

t.test('bad models are refused with a clear error and the old version keeps serving', async (t) => {
  const dir = repoDir(t)
  put(dir, 'tiny/1/model.onnx', tinyModel({ offset: 1 }))
  const good = tinyModel({ offset: 5 })
  // budget: the configured classifier and tiny fit, a model of 64 MiB does not
  const budget = readFileSync(join(SHARED_MODELS, 'mobilenetv2-12-int8/model.onnx')).length + readFileSync(join(SHARED_MODELS, 'yolox-nano/model.onnx')).length + 4 * 2 ** 20
  const s = await start(t, dir, { auth: { adminKeys: [ADMIN] }, devices: [{ id: 'cpu', kind: 'cpu', required: true, maxBatchSize: 4, memoryBytes: budget }] })
  const load = () => s.app.inject({ method: 'POST', url: '/v2/repository/models/tiny/load', headers: admin })

  const cases: Array<[string, Buffer, RegExp]> = [
    ['not ONNX', Buffer.from('this is not a model\n'), /Protobuf parsing failed|failed/],
    ['truncated', good.subarray(0, Math.floor(good.length / 2)), /failed/],
    ['shapes that do not fit its graph', wrongShapeModel(), /Incompatible dimensions|ShapeInferenceError/],
    ['too large for the device memory', Buffer.concat([good, Buffer.alloc(64 * 2 ** 20)]), /does not fit device cpu's memory/]
  ]
  for (const [what, bytes, why] of cases) {
    put(dir, 'tiny/2/model.onnx', bytes)
    const r = await load()
    t.equal(r.statusCode, 422, `${what}: refused`)
    t.equal(r.headers['x-switchyard-error'], 'SY_MODEL_LOAD_REFUSED')
    t.match(r.json().error, /Model tiny was not loaded: version 2: cpu: /)
    t.match(r.json().error, why, `${what}: says why`)
    const still = await infer(s, 'tiny')
    t.equal(still.json().model_version, '1', `${what}: version 1 keeps serving`)
    t.same(still.json().outputs[0].data, expectedY(1, 1))
    const index = (await s.app.inject({ method: 'POST', url: '/v2/repository/index' })).json()
    t.match(index.find((e: { name: string, version: string }) => e.name === 'tiny' && e.version === '2'), { state: 'UNAVAILABLE', reason: why })
  }
  // a refused version is not retried by the poll until its files change; then it loads
  let refusals = 0
  s.repository.on('refused', () => { refusals++ })
  await s.repository.rescan()
  t.equal(refusals, 0, 'the poll does not load the refused files again')
  t.equal((await infer(s, 'tiny')).json().model_version, '1')
  put(dir, 'tiny/2/model.onnx', good)
  await s.repository.rescan()
  t.same((await infer(s, 'tiny')).json().outputs[0].data, expectedY(1, 5), 'fixed: version 2 serves')
  // the serving version's file replaced by a broken one: refused once, version 2 serves on as loaded
  put(dir, 'tiny/2/model.onnx', Buffer.from('broken'))
  await s.repository.rescan()
  await s.repository.rescan()
  t.equal(refusals, 1, 'refused once, not on every poll')
  t.same((await infer(s, 'tiny')).json().outputs[0].data, expectedY(1, 5), 'the loaded version 2 keeps serving')
})

t.test('a device whose workers run in child processes (the CUDA default) loads, serves and unloads a plain model too', async (t) => {
  const dir = repoDir(t)
  put(dir, 'tiny/1/model.onnx', tinyModel({ offset: 3 }))
  const s = await start(t, dir, { auth: { adminKeys: [ADMIN] }, devices: [{ id: 'cpu', kind: 'cpu', required: true, maxBatchSize: 4, isolation: 'process' }] })
  t.same((await infer(s, 'tiny', 2)).json().outputs[0].data, expectedY(2, 3), 'loaded at startup in the child, answered from it')
  t.equal((await s.app.inject({ method: 'POST', url: '/v2/repository/models/tiny/unload', headers: admin })).statusCode, 200)
  t.equal((await infer(s, 'tiny')).statusCode, 404, 'unloaded')
  put(dir, 'tiny/1/model.onnx', tinyModel({ offset: 5 }))
  t.equal((await s.app.inject({ method: 'POST', url: '/v2/repository/models/tiny/load', headers: admin })).statusCode, 200)
  t.same((await infer(s, 'tiny')).json().outputs[0].data, expectedY(1, 5), 'loaded again over /v2/repository')
})
