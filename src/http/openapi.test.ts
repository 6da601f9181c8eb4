// GET /openapi.json: an OpenAPI 3.1 document generated from the routes' own schemas, valid
// for an OpenAPI validator; every route, every declared error status with its codes, the
// image body and the routing headers; and the server's real answers — successes and errors —
// conform to the response schemas it publishes. /docs serves Swagger UI from the package.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Validator } from '@seriousme/openapi-schema-validator'
import Ajv2020 from 'ajv/dist/2020.js'
import t, { type Test } from 'tap'
import { DECLARED_ERRORS, ERROR_STATUSES } from './schemas.js'
import { SHARED_IMAGES, startServer } from '../test-support/server.js'

const server = await startServer(t)
const { app } = server
const res = await app.inject({ method: 'GET', url: '/openapi.json' })
const doc = res.json()
const validator = new Validator()
const verdict = await validator.validate(structuredClone(doc))

t.test('the document is valid OpenAPI 3.1', async (t) => {
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.same(verdict.errors ?? [], [], 'no validation error')
  t.ok(verdict.valid, 'valid')
  t.equal(validator.version, '3.1')
  t.equal(doc.info.title, 'Switchyard')
})

const INFERENCE = ['/classify', '/classify/{model}', '/detect', '/detect/{model}']

t.test('every route is documented; the documentation routes are not', async (t) => {
  const V2 = ['/v2/', '/v2/health/live', '/v2/health/ready', ...['/v2/models/{model}', '/v2/models/{model}/versions/{version}'].flatMap((b) => [b, `${b}/infer`, `${b}/ready`])]
  const REPOSITORY = ['/v2/repository/index', '/v2/repository/models/{name}/load', '/v2/repository/models/{name}/unload']
  t.same(Object.keys(doc.paths).sort(), [...INFERENCE, ...V2, ...REPOSITORY, '/healthz', '/metrics', '/models', '/readyz', '/jobs', '/jobs/{model}', '/jobs/{id}'].sort())
  t.same(Object.keys(doc.paths['/classify']), ['post'])
  t.same(doc.paths['/models'].get.tags, ['status'])
})

t.test('inference operations: body, headers, every error status with its declared codes', async (t) => {
  for (const path of INFERENCE) {
    const op = doc.paths[path].post
    t.ok(op.requestBody.content['image/*'] && op.requestBody.content['multipart/form-data'], `${path}: raw or multipart image body`)
    const params = op.parameters.map((p: { in: string, name: string }) => `${p.in}:${p.name}`)
    for (const h of ['X-Switchyard-Policy', 'X-Switchyard-Deadline-Ms', 'X-Switchyard-Device']) t.ok(params.includes(`header:${h}`), `${path}: ${h}`)
    t.equal(params.includes('path:model'), path.endsWith('{model}'), `${path}: a model path parameter only where the path has one`)
    t.ok(op.responses['200'].headers['Server-Timing'], `${path}: the answer's headers`)
    for (const status of ERROR_STATUSES) {
      const schema = op.responses[String(status)]?.content?.['application/json']?.schema
      t.ok(schema, `${path}: ${status} documented`)
      const codes = [...schema.properties.error.enum as string[]].sort()
      t.same(codes, DECLARED_ERRORS.filter((e) => e.statusCode === status).map((e) => e.code).sort(), `${path}: ${status} lists the codes errors.ts declares`)
    }
  }
  t.same(ERROR_STATUSES, [400, 401, 403, 404, 408, 413, 415, 422, 429, 431, 500, 503, 504])
  const detect = doc.paths['/detect'].post.responses['200'].content
  t.same(Object.keys(detect).sort(), ['application/json', 'image/jpeg', 'image/png'], '/detect answers JSON or a drawn image')
  t.ok(doc.paths['/detect'].post.parameters.some((p: { name: string }) => p.name === 'format'), '?format is documented')
})

// The published schemas hold for what the server really sends.
const ajv = new Ajv2020.default({ strict: false, allErrors: true })
ajv.addFormat('binary', true)
function conforms (t: Test, path: string, method: string, status: number, body: unknown): void {
  const schema = doc.paths[path][method].responses[String(status)].content['application/json'].schema
  const ok = ajv.validate(schema, body)
  t.ok(ok, `${method.toUpperCase()} ${path} ${status} conforms to its schema`, { errors: ajv.errors })
}

t.test('real answers conform to the published schemas', async (t) => {
  const bytes = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))
  const headers = { 'content-type': 'image/jpeg' }
  const classify = await app.inject({ method: 'POST', url: '/classify', payload: bytes, headers })
  t.equal(classify.statusCode, 200)
  conforms(t, '/classify', 'post', 200, classify.json())
  t.same(Object.keys(classify.json()), ['model', 'variant', 'device', 'batchSize', 'policy', 'predictions', 'timing'], 'every field of the answer survives serialisation')
  const detect = await app.inject({ method: 'POST', url: '/detect/yolox-nano', payload: bytes, headers })
  t.equal(detect.statusCode, 200)
  conforms(t, '/detect/{model}', 'post', 200, detect.json())
  t.same(Object.keys(detect.json()), ['model', 'variant', 'device', 'batchSize', 'policy', 'width', 'height', 'detections', 'timing'])
  t.same(Object.keys(detect.json().detections[0]), ['label', 'index', 'score', 'box'])

  const bad = await app.inject({ method: 'POST', url: '/classify?top_k=0', payload: bytes, headers })
  t.equal(bad.statusCode, 400)
  conforms(t, '/classify', 'post', 400, bad.json())
  const empty = await app.inject({ method: 'POST', url: '/detect', payload: Buffer.alloc(0), headers })
  conforms(t, '/detect', 'post', 400, empty.json())
  const noModel = await app.inject({ method: 'POST', url: '/classify/nope', payload: bytes, headers })
  t.equal(noModel.statusCode, 404)
  conforms(t, '/classify/{model}', 'post', 404, noModel.json())
  const type = await app.inject({ method: 'POST', url: '/detect', payload: '{}', headers: { 'content-type': 'application/json' } })
  t.equal(type.statusCode, 415)
  conforms(t, '/detect', 'post', 415, type.json())
  const late = await app.inject({ method: 'POST', url: '/classify', payload: bytes, headers: { ...headers, 'x-switchyard-deadline-ms': '1' } })
  t.equal(late.statusCode, 429)
  conforms(t, '/classify', 'post', 429, late.json())

  for (const path of ['/healthz', '/readyz', '/models']) {
    const r = await app.inject({ method: 'GET', url: path })
    t.equal(r.statusCode, 200)
    conforms(t, path, 'get', 200, r.json())
  }
})

t.test('/docs serves Swagger UI from the package, no network needed', async (t) => {
  const page = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(page.statusCode, 200)
  t.match(page.body, /swagger-ui/)
  const assets = [...page.body.matchAll(/(?:src|href)="\.?\/?([^"]+\.(?:js|css))"/g)].map((m) => m[1]!)
  t.ok(assets.length >= 2, `the page loads its scripts and styles (${assets.join(', ')})`)
  for (const a of assets) {
    t.notMatch(a, /^https?:/, `${a} is served locally`)
    const r = await app.inject({ method: 'GET', url: `/docs/${a.replace(/^docs\//, '')}` })
    t.equal(r.statusCode, 200, `${a} is served`)
  }
  const init = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
  t.equal(init.statusCode, 200)
  const json = await app.inject({ method: 'GET', url: '/docs/json' })
  t.same(json.json().paths['/classify'] !== undefined, true, 'Swagger UI reads the same document')
})
