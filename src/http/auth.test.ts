// API keys (config.auth.apiKeys): the inference routes need a key, given as
// `Authorization: Bearer <key>` or `X-API-Key: <key>`; no key or an unknown one is a 401, a
// key without access to the requested model a 403; /healthz, /readyz, /models and /metrics
// stay open. Keys are configured by their sha256 only (also through SWITCHYARD_API_KEYS), and
// no key ever reaches the logs, even at trace level: the logs name the key's holder instead.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import t from 'tap'
import { buildServer } from '../app.js'
import { loadConfig } from '../config/load-config.js'
import { ConfigError } from '../errors.js'
import { REPO, SHARED_IMAGES, testConfig } from '../test-support/server.js'
import { KeyRing, presentedKey, requireApiKeys } from './auth.js'
import { installErrorHandling } from './error-handler.js'

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex')
// fresh random keys each run, so a key found in the logs can only have come from a request
const ALICE = `sy_${randomBytes(24).toString('base64url')}` // every model
const BOB = `sy_${randomBytes(24).toString('base64url')}` // the detector only
const MALLORY = `sy_${randomBytes(24).toString('base64url')}` // configured nowhere

const eagle = readFileSync(join(SHARED_IMAGES, 'eagle.jpg'))
const dog = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))
const jpeg = { 'content-type': 'image/jpeg' }

const logLines: string[] = []
const logStream = new Writable({
  write (chunk: Buffer, _enc, cb) {
    logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    cb()
  }
})

const config = testConfig({
  server: { logLevel: 'trace' },
  auth: {
    apiKeys: [
      { name: 'alice', sha256: sha256(ALICE), models: ['*'] },
      { name: 'bob', sha256: sha256(BOB), models: ['yolox-nano'] }
    ]
  }
})
const server = await buildServer(config, { root: REPO, logStream })
t.teardown(() => server.close())
const { app } = server

const parsedLogs = (): Array<Record<string, unknown>> => logLines.map((l) => JSON.parse(l) as Record<string, unknown>)

t.test('without a key an inference request is a 401 and never reaches the model', async (t) => {
  for (const url of ['/classify', '/classify/mobilenetv2-12-int8', '/detect', '/detect/yolox-nano', '/classify/', '/detect?score_threshold=0.5']) {
    const res = await app.inject({ method: 'POST', url, payload: eagle, headers: jpeg })
    t.equal(res.statusCode, 401, url)
    t.match(res.json(), { statusCode: 401, error: 'SY_UNAUTHORIZED', message: /API key is required/ }, url)
    t.match(res.headers['www-authenticate'], /^Bearer realm="switchyard"/, url)
  }
  const notBearer = await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: { ...jpeg, authorization: `Basic ${Buffer.from(`alice:${ALICE}`).toString('base64')}` } })
  t.equal(notBearer.statusCode, 401, 'Basic credentials are not an API key')
})

t.test('an unknown key is a 401, in either header', async (t) => {
  for (const headers of [{ authorization: `Bearer ${MALLORY}` }, { 'x-api-key': MALLORY }, { 'x-api-key': sha256(ALICE) }, { authorization: `Bearer ${ALICE}x` }]) {
    const res = await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: { ...jpeg, ...headers } })
    t.equal(res.statusCode, 401, JSON.stringify(Object.keys(headers)))
    t.equal(res.json().error, 'SY_UNAUTHORIZED')
    t.match(res.headers['www-authenticate'], /error="invalid_token"/)
  }
})

t.test('a valid key in either header is served', async (t) => {
  for (const headers of [{ authorization: `Bearer ${ALICE}` }, { authorization: `bearer ${ALICE}` }, { 'x-api-key': ALICE }]) {
    const res = await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: { ...jpeg, ...headers } })
    t.equal(res.statusCode, 200, res.body)
    t.equal(res.json().predictions[0].label, 'bald eagle, American eagle, Haliaeetus leucocephalus')
  }
  const detect = await app.inject({ method: 'POST', url: '/detect/yolox-nano', payload: dog, headers: { ...jpeg, 'x-api-key': ALICE } })
  t.equal(detect.statusCode, 200, detect.body)
  t.ok(detect.json().detections.some((d: { label: string }) => d.label === 'dog'))
})

t.test('a key restricted to another model is a 403 naming the model; its own model is served', async (t) => {
  for (const [url, model] of [['/classify', 'mobilenetv2'], ['/classify/mobilenetv2-12-int8', 'mobilenetv2-12-int8']]) {
    const res = await app.inject({ method: 'POST', url: url!, payload: eagle, headers: { ...jpeg, authorization: `Bearer ${BOB}` } })
    t.equal(res.statusCode, 403, url)
    t.match(res.json(), { statusCode: 403, error: 'SY_FORBIDDEN', message: `This API key has no access to model ${model}` }, url)
  }
  const unknownModel = await app.inject({ method: 'POST', url: '/detect/no-such-model', payload: dog, headers: { ...jpeg, 'x-api-key': BOB } })
  t.equal(unknownModel.statusCode, 403, 'a restricted key learns nothing about models outside its list')
  const aliceUnknown = await app.inject({ method: 'POST', url: '/detect/no-such-model', payload: dog, headers: { ...jpeg, 'x-api-key': ALICE } })
  t.equal(aliceUnknown.statusCode, 404, 'an unrestricted key gets the ordinary 404')
  const own = await app.inject({ method: 'POST', url: '/detect', payload: dog, headers: { ...jpeg, 'x-api-key': BOB } })
  t.equal(own.statusCode, 200, own.body)
  t.equal(own.json().model, 'yolox-nano')
})

t.test('health, readiness, the model list and metrics stay open', async (t) => {
  for (const url of ['/healthz', '/readyz', '/models', '/metrics']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, url)
  }
  const unknown = await app.inject({ method: 'GET', url: '/nothing-here' })
  t.equal(unknown.statusCode, 404, 'an unknown route is a 404, not a 401')
})

t.test('no key ever appears in the logs; the access-log line names the key holder', async (t) => {
  // more requests carrying keys in both headers, valid and not, on every kind of outcome
  const both = (auth: string, apiKey: string) => ({ ...jpeg, authorization: `Bearer ${auth}`, 'x-api-key': apiKey })
  const sent = [
    await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: both(ALICE, BOB) }),
    await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: both(MALLORY, ALICE) }),
    await app.inject({ method: 'POST', url: '/classify', payload: Buffer.from('not an image'), headers: both(ALICE, MALLORY) }),
    await app.inject({ method: 'POST', url: '/classify?top_k=0', payload: eagle, headers: both(ALICE, ALICE) }),
    await app.inject({ method: 'POST', url: '/classify', payload: eagle, headers: both(BOB, BOB) }),
    await app.inject({ method: 'GET', url: '/models', headers: both(MALLORY, ALICE) }),
    await app.inject({ method: 'GET', url: '/nope', headers: both(BOB, MALLORY) })
  ]
  t.same(sent.map((r) => r.statusCode), [200, 401, 400, 400, 403, 200, 404])

  const all = logLines.join('\n')
  t.ok(logLines.length > 10, `captured ${logLines.length} log lines at trace level`)
  for (const [who, key] of [['alice', ALICE], ['bob', BOB], ['mallory', MALLORY]] as const) {
    t.notOk(all.includes(key), `${who}'s key is in no log line`)
    t.notOk(all.includes(key.slice(3, 19)), `nor is any part of it (${who})`)
  }

  const logs = parsedLogs()
  const served = logs.filter((l) => l.msg === 'inference' && l.status === 200)
  t.ok(served.length >= 6, 'every served inference request has an access-log line')
  t.ok(served.every((l) => l.apiKey === 'alice' || l.apiKey === 'bob'), 'each one names the key it was served for')
  t.ok(served.some((l) => l.apiKey === 'alice' && l.model === 'mobilenetv2' && l.variant === 'int8'))
  t.ok(served.some((l) => l.apiKey === 'bob' && l.model === 'yolox-nano'))
  t.ok(logs.some((l) => l.apiKey === 'bob' && l.msg === 'api key has no access to model' && l.model === 'mobilenetv2'), 'a 403 is logged with the holder and the model')
  t.ok(logs.some((l) => l.msg === 'api key rejected' && l.reason === 'unknown key'), 'a 401 is logged with its reason')
})

t.test('a route needs a key because it is registered in the auth context, not because of its URL', async (t) => {
  // the same keys as the server above, on a bare Fastify app with stand-in routes
  const app = Fastify()
  installErrorHandling(app, config.images.maxBodyBytes)
  app.get('/open', async () => ({ open: true }))
  await app.register(async (api) => {
    requireApiKeys(api, config)
    api.get('/inside', { config: { defaultModel: 'yolox-nano' } }, async (request) => ({ apiKey: request.apiKey }))
    // a plugin registered inside the context is inside it too (how infer.ts's routes get auth)
    await api.register(async (nested) => {
      nested.get('/nested/:model', async (request) => ({ model: (request.params as { model: string }).model }))
    })
  })
  // a route registered after the context, with a URL like the protected ones, is still open
  app.get('/inside-too', async () => ({ open: true }))
  t.teardown(() => app.close())

  for (const url of ['/open', '/inside-too']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 200, `${url}, outside the context, is open`)
  }
  for (const url of ['/inside', '/nested/yolox-nano']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 401, `${url}, inside the context, needs a key`)
    t.equal(res.json().error, 'SY_UNAUTHORIZED')
  }
  t.same((await app.inject({ url: '/inside', headers: { 'x-api-key': BOB } })).json(), { apiKey: 'bob' }, 'config.defaultModel is the model checked: bob may use yolox-nano')
  t.equal((await app.inject({ url: '/nested/mobilenetv2-12-int8', headers: { 'x-api-key': BOB } })).statusCode, 403, 'the :model parameter is the model checked')
  t.equal((await app.inject({ url: '/nested/yolox-nano', headers: { 'x-api-key': BOB } })).statusCode, 200)

  const unnamed = Fastify()
  t.teardown(() => unnamed.close())
  await t.rejects(async () => {
    await unnamed.register(async (api) => {
      requireApiKeys(api, config)
      api.post('/infer', async () => ({}))
    })
  }, /route POST \/infer needs an API key but names no model/, 'a protected route that names no model is refused at registration')
})

t.test('keys are matched by their sha256 against every configured hash', async (t) => {
  const ring = new KeyRing([
    { name: 'a', sha256: sha256('key-a'), models: ['*'] },
    { name: 'b', sha256: sha256('key-b'), models: ['m1', 'm2'] },
    { name: 'dup', sha256: sha256('key-a'), models: ['m3'] }
  ])
  t.match(ring.identify('key-a'), { name: 'a', models: null }, 'the first configured entry for a hash wins')
  t.same([...ring.identify('key-b')!.models!], ['m1', 'm2'])
  t.equal(ring.identify('key-c'), null)
  t.equal(ring.identify(''), null)
  t.equal(ring.identify(sha256('key-a')), null, 'the hash itself is not a key')
  t.equal(new KeyRing([]).size, 0)

  t.equal(presentedKey({ headers: { authorization: 'Bearer abc' } }), 'abc')
  t.equal(presentedKey({ headers: { authorization: 'Bearer abc', 'x-api-key': 'xyz' } }), 'abc', 'Authorization wins over X-API-Key')
  t.equal(presentedKey({ headers: { authorization: 'Basic abc', 'x-api-key': 'xyz' } }), 'xyz')
  t.equal(presentedKey({ headers: { authorization: 'Bearer' } }), null)
  t.equal(presentedKey({ headers: {} }), null)
})

t.test('SWITCHYARD_API_KEYS configures keys by name, hash and models', async (t) => {
  const a = sha256('first')
  const b = sha256('second')
  const env = { SWITCHYARD_API_KEYS: `ci:${a}; app:${b.toUpperCase()}:mobilenetv2-12-int8|yolox-nano;` }
  const config = loadConfig({ file: join(REPO, 'config/default.json'), env, root: REPO })
  t.same(config.auth.apiKeys, [
    { name: 'ci', sha256: a, models: ['*'] },
    { name: 'app', sha256: b, models: ['mobilenetv2-12-int8', 'yolox-nano'] }
  ])

  const secret = 'this-is-a-raw-key-not-a-hash'
  const err = (() => {
    try {
      loadConfig({ file: join(REPO, 'config/default.json'), env: { SWITCHYARD_API_KEYS: `ops:${secret}` }, root: REPO })
    } catch (e) {
      return e
    }
    return null
  })()
  t.type(err, ConfigError, 'a raw key where the hash belongs is an invalid config')
  const msg = (err as Error).message
  t.match(msg, /^invalid config at \/auth\/apiKeys\/0\/sha256: .*\(from SWITCHYARD_API_KEYS\)$/)
  t.notOk(msg.includes(secret), 'the rejected value is not echoed')
  t.throws(() => loadConfig({ file: join(REPO, 'config/default.json'), env: { SWITCHYARD_API_KEYS: `:${a}` }, root: REPO }), /\/auth\/apiKeys\/0\/name/)
})
