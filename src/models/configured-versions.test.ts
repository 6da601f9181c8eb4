// Configured models (model.json) in version directories, `<model>/<version>/model.json`, served
// by the same version policy as plain repository models (latest by default); the flat
// `<model>/model.json` stays version 1. Read on its own, then on the real server.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { ModelConfigError } from '../errors.js'
import { REPO, SHARED_IMAGES, startServer } from '../test-support/server.js'
import { configuredVersions, readModelSpec } from './model-repository.js'

const CLS = 'mobilenetv2-12-int8'
const SPEC = JSON.parse(readFileSync(join(REPO, 'models', CLS, 'model.json'), 'utf8')) as { output: { decode: { topK: number } } }

/** A config repository with `CLS` in `layout`: 'flat', or the version directories given, each with its own topK. */
function repository (t: Test, versions: Record<string, number> | 'flat'): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-configured-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const put = (sub: string, topK: number): void => {
    mkdirSync(join(dir, CLS, sub), { recursive: true })
    writeFileSync(join(dir, CLS, sub, 'model.json'), JSON.stringify({ ...SPEC, output: { ...SPEC.output, decode: { ...SPEC.output.decode, topK } } }))
    cpSync(join(REPO, 'models', CLS, 'labels.txt'), join(dir, CLS, sub, 'labels.txt'))
  }
  if (versions === 'flat') put('.', 5)
  else for (const [v, topK] of Object.entries(versions)) put(v, topK)
  return dir
}

t.test('the flat layout is version 1 (compatibility)', async (t) => {
  const dir = repository(t, 'flat')
  t.same(configuredVersions(dir, CLS).map((v) => v.version), [1])
  const m = await readModelSpec(dir, CLS)
  t.equal(m.version, 1)
  t.same(m.versions, [1])
  t.equal(m.output.decode.kind === 'softmax' && m.output.decode.topK, 5)
  t.equal(m.labelList.length, 1000)
})

t.test('version directories: the policy picks the one served, the newest it selects (latest 1 by default)', async (t) => {
  const dir = repository(t, { 1: 1, 2: 2, 10: 3 })
  mkdirSync(join(dir, CLS, '3')) // no model.json: not a version
  mkdirSync(join(dir, CLS, 'notes')) // not a version name
  t.same(configuredVersions(dir, CLS).map((v) => v.version), [1, 2, 10], 'ascending by number, not by name')
  const topK = async (policy?: Parameters<typeof readModelSpec>[2]): Promise<[number, number]> => {
    const m = await readModelSpec(dir, CLS, policy)
    return [m.version, m.output.decode.kind === 'softmax' ? m.output.decode.topK : -1]
  }
  t.same(await topK(), [10, 3], 'default: the latest')
  t.same(await topK({ latest: 2 }), [10, 3], 'latest 2: the newest of them')
  t.same(await topK({ specific: [1, 2] }), [2, 2], 'specific: the newest named')
  t.same(await topK({ specific: [1] }), [1, 1])
  t.same(await topK({ all: true }), [10, 3])
  await t.rejects(readModelSpec(dir, CLS, { specific: [7] }), ModelConfigError, 'a policy that selects none of them fails startup with a clear error')
  await t.rejects(readModelSpec(dir, CLS, { specific: [7] }), /selects none of its versions \(1, 2, 10\)/)
})

t.test('version directories win over a flat model.json beside them', async (t) => {
  const dir = repository(t, { 2: 2 })
  writeFileSync(join(dir, CLS, 'model.json'), '{ not even json')
  const m = await readModelSpec(dir, CLS)
  t.same([m.version, m.versions], [2, [2]])
})

t.test('on the server: the served version answers /classify and /v2, the index lists every version', async (t) => {
  const dir = repository(t, { 1: 1, 2: 2, 3: 3 })
  const plain = mkdtempSync(join(tmpdir(), 'switchyard-plain-'))
  t.teardown(() => rmSync(plain, { recursive: true, force: true }))
  cpSync(join(REPO, 'models', 'yolox-nano'), join(dir, 'yolox-nano'), { recursive: true }) // beside it, a flat one
  const s = await startServer(t, { models: { enabled: [CLS, 'yolox-nano'], repository: dir }, routes: { classify: CLS, detect: 'yolox-nano' }, modelRepository: { dir: plain, pollMs: 0, perModel: { [CLS]: { versionPolicy: { latest: 2 } } } } })
  const photo = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))
  const r = await s.app.inject({ method: 'POST', url: '/classify', payload: photo, headers: { 'content-type': 'image/jpeg' } })
  t.equal(r.statusCode, 200)
  t.equal(r.json().predictions.length, 3, 'version 3\'s model.json (topK 3) is the one served: the newest of the latest 2')
  const listed = (await s.app.inject('/models')).json().models.map((m: { name: string, version: string }) => [m.name, m.version])
  t.same(listed, [[CLS, '3'], ['yolox-nano', '1']], '/models names the version served')
  const meta = await s.app.inject({ method: 'GET', url: `/v2/models/${CLS}` })
  t.same(meta.json().versions, ['3'])
  t.equal((await s.app.inject({ method: 'GET', url: `/v2/models/${CLS}/versions/3` })).statusCode, 200)
  const v1 = await s.app.inject({ method: 'GET', url: `/v2/models/${CLS}/versions/1` })
  t.equal(v1.statusCode, 404, 'a version not served is not found')
  t.equal(v1.headers['x-switchyard-error'], 'SY_MODEL_VERSION_NOT_FOUND')
  const index = await s.app.inject({ method: 'POST', url: '/v2/repository/index', payload: {} })
  t.same(index.json().filter((e: { name: string }) => e.name === CLS).map((e: { version: string, state: string, reason: string }) => [e.version, e.state, e.reason]), [['1', 'UNAVAILABLE', 'not selected by the version policy'], ['2', 'UNAVAILABLE', 'a configured model serves one version, the newest its policy selects (3)'], ['3', 'READY', '']])
  t.same(index.json().filter((e: { name: string }) => e.name === 'yolox-nano').map((e: { version: string, state: string }) => [e.version, e.state]), [['1', 'READY']], 'the flat one: version 1')
  const ready = await s.app.inject({ method: 'POST', url: '/v2/repository/index', payload: { ready: true } })
  t.same(ready.json().filter((e: { name: string }) => e.name === CLS).map((e: { version: string }) => e.version), ['3'])
})
