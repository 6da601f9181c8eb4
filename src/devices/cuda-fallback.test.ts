// A CUDA device that the config asks for but does not require (the default config's cuda:0).
// Its verdict holds on both kinds of host, and what kind this is is decided independently of
// the server: the test process opens a CUDA session itself, with onnxruntime, on the same
// model, and runs it once.
//  - where that works (a GPU host set up as docs/gpu.md says), cuda:0 must come up, healthy,
//    with no warning about it, and serve a request pinned to it correctly;
//  - where it cannot (no provider library, no GPU), the server must log exactly one warning
//    naming cuda:0 and why, leave the device out, and serve on the CPU; pinning cuda:0 is a 404.
// The same probe decides what a config that marks cuda:0 required must do: start, or fail.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import * as ort from 'onnxruntime-node'
import t from 'tap'
import { buildServer } from '../app.js'
import { REPO, SHARED_IMAGES, SHARED_MODELS, testConfig } from '../test-support/server.js'

const MODEL = 'mobilenetv2'
const eagle = readFileSync(join(SHARED_IMAGES, 'eagle.jpg'))
const jpeg = { 'content-type': 'image/jpeg' }

/** null where a CUDA session opens and runs here, else the reason it does not. */
async function cudaProbe (): Promise<string | null> {
  try {
    const session = await ort.InferenceSession.create(join(SHARED_MODELS, MODEL, 'model.onnx'), { executionProviders: [{ name: 'cuda', deviceId: 0 }] })
    try {
      await session.run({ input: new ort.Tensor('float32', new Float32Array(3 * 224 * 224), [1, 3, 224, 224]) })
    } finally {
      await session.release()
    }
    return null
  } catch (err) {
    return (err as Error).message.split('\n')[0]!
  }
}

const cudaUnavailable = await cudaProbe()
t.comment(cudaUnavailable === null ? 'this host runs onnxruntime\'s CUDA provider' : `this host cannot run onnxruntime's CUDA provider: ${cudaUnavailable}`)

const lines: string[] = []
const logStream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
const config = testConfig({
  server: { logLevel: 'warn' },
  models: { enabled: [MODEL, 'yolox-nano'] },
  devices: [{ id: 'cpu', kind: 'cpu', required: true }, { id: 'cuda:0', kind: 'cuda', deviceId: 0 }]
})
const server = await buildServer(config, { root: REPO, logStream })
t.teardown(() => server.close())
const { app } = server
const warnings = lines.filter((l) => l.includes('cuda:0'))

if (cudaUnavailable === null) {
  t.test('CUDA requested on a host that runs it: cuda:0 comes up and serves', async (t) => {
    t.same(warnings, [], 'no warning names cuda:0')
    t.same(server.devices.devices.map((d) => d.id), ['cpu', 'cuda:0'], 'both devices opened')
    t.same((await app.inject('/readyz')).json().devices, { cpu: 'healthy', 'cuda:0': 'healthy' })
    t.same((await app.inject('/models')).json().skippedDevices ?? {}, {}, 'no device skipped')
    const pinned = await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: { ...jpeg, 'x-switchyard-device': 'cuda:0' } })
    t.equal(pinned.statusCode, 200, pinned.body)
    t.equal(pinned.headers['x-switchyard-device'], 'cuda:0', 'served by cuda:0')
    t.equal(pinned.json().predictions[0].index, 22, 'bald eagle')
  })
} else {
  t.test('CUDA requested on a host without it: one warning, CPU service', async (t) => {
    t.equal(warnings.length, 1, 'exactly one warning names the device')
    t.match(warnings[0], /CUDA execution provider cannot be loaded.*running without cuda:0/)
    t.same(server.devices.devices.map((d) => d.id), ['cpu'], 'only the CPU opened')
    t.match((await app.inject('/models')).json().skippedDevices, { 'cuda:0': /cannot be loaded/ })
    const res = await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: jpeg })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-switchyard-device'], 'cpu')
    const pinned = await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: { ...jpeg, 'x-switchyard-device': 'cuda:0' } })
    t.equal(pinned.statusCode, 404, 'pinning the absent device is a 404')
  })
}

t.test('CUDA marked required: it starts where the host runs it, else startup fails naming the cause', async (t) => {
  const required = testConfig({
    models: { enabled: [MODEL, 'yolox-nano'] },
    devices: [{ id: 'cpu', kind: 'cpu' }, { id: 'cuda:0', kind: 'cuda', deviceId: 0, required: true }]
  })
  if (cudaUnavailable === null) {
    const s = await buildServer(required, { root: REPO })
    t.teardown(() => s.close())
    t.ok(s.devices.get('cuda:0')?.scheduler.healthy, 'cuda:0 started and is healthy')
  } else {
    await t.rejects(buildServer(required, { root: REPO }), /required device cuda:0 failed to start: .*CUDA execution provider cannot be loaded/)
  }
})
