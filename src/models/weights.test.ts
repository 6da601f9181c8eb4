// Weights resolution: local directory first, then the cache, then the pinned URL — always
// sha256-checked. The download path runs against a real HTTP server on loopback.
import { createReadStream, existsSync, mkdtempSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { SHARED_MODELS, REPO } from '../test-support/server.js'
import { readModelSpec } from './model-repository.js'
import { WeightsError } from '../errors.js'
import { resolveWeights, sha256File } from './weights.js'

const real = join(SHARED_MODELS, 'mobilenetv2-12-int8/model.onnx')
const read = await readModelSpec(join(REPO, 'models'), 'mobilenetv2-12-int8')
const spec = { name: read.name, weights: read.weights! }
const hits: string[] = []
const server = createServer((req, res) => {
  hits.push(req.url!)
  if (req.url === '/model.onnx') {
    res.writeHead(200, { 'content-length': String(spec.weights.bytes) })
    createReadStream(real).pipe(res)
  } else if (req.url === '/redirect') {
    res.writeHead(302, { location: '/model.onnx' }).end()
  } else {
    res.writeHead(404).end()
  }
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
t.teardown(() => server.close())
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const withUrl = (url: string | null, sha256 = spec.weights.sha256) => ({ ...spec, weights: { ...spec.weights, url, sha256 } })
const tmp = () => mkdtempSync(join(tmpdir(), 'sy-weights-'))

t.test('the right hash is downloaded once, verified and cached', async (t) => {
  const cacheDir = tmp()
  hits.length = 0
  const path = await resolveWeights(withUrl(`${base}/redirect`), { localDir: null, cacheDir, download: true, progress: true })
  t.equal(path, join(cacheDir, spec.name, `${spec.weights.sha256}.onnx`))
  t.equal(await sha256File(path), spec.weights.sha256)
  t.same(hits, ['/redirect', '/model.onnx'], 'redirects are followed')
  const again = await resolveWeights(withUrl(`${base}/redirect`), { localDir: null, cacheDir, download: true })
  t.equal(again, path)
  t.equal(hits.length, 2, 'the second start uses the cache')
})

t.test('a wrong hash is a clear error and nothing is cached', async (t) => {
  const cacheDir = tmp()
  const wrong = 'f'.repeat(64)
  await t.rejects(resolveWeights(withUrl(`${base}/model.onnx`, wrong), { localDir: null, cacheDir, download: true }),
    new WeightsError(`model ${spec.name}: download from ${base}/model.onnx has sha256 ${spec.weights.sha256}, expected ${wrong}; nothing was cached`))
  t.same(readdirSync(join(cacheDir, spec.name)), [], 'no file left behind, not even a partial one')
})

t.test('HTTP errors and unreachable hosts', async (t) => {
  await t.rejects(resolveWeights(withUrl(`${base}/missing`), { localDir: null, cacheDir: tmp(), download: true }), /failed: HTTP 404/)
  await t.rejects(resolveWeights(withUrl('http://127.0.0.1:1/model.onnx'), { localDir: null, cacheDir: tmp(), download: true }), /download from http:\/\/127\.0\.0\.1:1\/model\.onnx failed/)
})

t.test('the local directory comes first, and is checked too', async (t) => {
  hits.length = 0
  t.equal(await resolveWeights(withUrl(`${base}/model.onnx`), { localDir: SHARED_MODELS, cacheDir: tmp(), download: true }), real)
  t.equal(hits.length, 0, 'nothing downloaded')
  const local = tmp()
  mkdirSync(join(local, 'mobilenetv2-12-int8'))
  writeFileSync(join(local, spec.weights.file), 'not the model')
  await t.rejects(resolveWeights(withUrl(null), { localDir: local, cacheDir: tmp(), download: true }), /has sha256 [0-9a-f]{64}, expected cc028fe6/)
})

t.test('nowhere to get it from', async (t) => {
  await t.rejects(resolveWeights(withUrl(null), { localDir: tmp(), cacheDir: tmp(), download: true }), /no download URL \(set SWITCHYARD_MODELS_DIR\)/)
  await t.rejects(resolveWeights(withUrl(`${base}/model.onnx`), { localDir: null, cacheDir: tmp(), download: false }), /downloads are disabled/)
})

t.test('a corrupted cache entry is fetched again', async (t) => {
  const cacheDir = tmp()
  mkdirSync(join(cacheDir, spec.name))
  const entry = join(cacheDir, spec.name, `${spec.weights.sha256}.onnx`)
  writeFileSync(entry, 'bit rot')
  t.equal(await resolveWeights(withUrl(`${base}/model.onnx`), { localDir: null, cacheDir, download: true }), entry)
  t.equal(await sha256File(entry), spec.weights.sha256)
  t.ok(existsSync(entry))
})

t.test('model configs: missing and invalid ones name the model and field', async (t) => {
  await t.rejects(readModelSpec(join(REPO, 'models'), 'resnet-9000'), /model resnet-9000: no .*model\.json/)
  const repo = tmp()
  mkdirSync(join(repo, 'bad'))
  const { labelList: _labels, variantList: _variants, version: _version, versions: _versions, ...json } = read
  writeFileSync(join(repo, 'bad', 'model.json'), JSON.stringify({ ...json, name: 'bad', task: 'segment' }))
  await t.rejects(readModelSpec(repo, 'bad'), /model bad: invalid .*model\.json at \/task/)
})
