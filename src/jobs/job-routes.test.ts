// Asynchronous jobs on the embedded in-memory queue, on the real server with the real models:
// POST /jobs answers 202 at once, the images run as throughput-class work on the devices, and
// GET /jobs/:id gives progress and one result per image — to the key that submitted it only.
// Every bad submission is a 4xx before anything is queued.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { checkClassification, checkDetections } from '../test-support/expected.js'
import { multipart, PHOTOS, SHARED_IMAGES, startServer } from '../test-support/server.js'

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex')
const ALICE = `sy_${randomBytes(24).toString('base64url')}`
const BOB = `sy_${randomBytes(24).toString('base64url')}` // the detector only
const photo = (name: string): Buffer => readFileSync(join(SHARED_IMAGES, name))
const alice = { authorization: `Bearer ${ALICE}` }
const bob = { authorization: `Bearer ${BOB}` }

// a local web server: images for URL jobs, a redirect, and the callback receiver
const callbacks: Array<{ body: Record<string, unknown>, resolve?: () => void }> = []
let onCallback: ((body: Record<string, unknown>) => void) | null = null
const web: Server = createServer((req: IncomingMessage, res) => {
  if (req.method === 'POST' && req.url === '/done') {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => { const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>; callbacks.push({ body }); onCallback?.(body); res.end('ok') })
    return
  }
  if (req.url === '/redirect') { res.writeHead(302, { location: '/eagle.jpg' }).end(); return }
  if (req.url === '/text') { res.writeHead(200, { 'content-type': 'text/plain' }).end('not an image'); return }
  const name = (req.url ?? '').slice(1)
  if (PHOTOS.includes(name)) { res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo(name)); return }
  res.writeHead(404).end()
})
await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => web.close(() => resolve())))
const webHost = `127.0.0.1:${(web.address() as AddressInfo).port}`

const server = await startServer(t, {
  auth: { apiKeys: [{ name: 'alice', sha256: sha256(ALICE), models: ['*'] }, { name: 'bob', sha256: sha256(BOB), models: ['yolox-nano'] }] },
  jobs: { maxImages: 8, maxBytes: 4 * 1024 * 1024, maxOutstandingPerKey: 12, urls: { allowedHosts: [webHost] }, callbacks: { allowedHosts: [webHost] } }
})
const app: FastifyInstance = server.app

async function finished (id: string, headers: Record<string, string>): Promise<Record<string, any>> {
  for (;;) {
    const res = await app.inject({ method: 'GET', url: `/jobs/${id}`, headers })
    if (res.statusCode !== 200) throw new Error(`GET /jobs/${id}: ${res.statusCode} ${res.body}`)
    const body = res.json()
    if (body.state === 'done') return body
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function metric (name: string): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  let sum = 0
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop())
  return sum
}

t.test('a batch of photos as multipart: 202 at once, then one verified result per image', async (t) => {
  const form = multipart(PHOTOS.map((p) => ({ name: 'image', filename: p, type: 'image/jpeg', data: photo(p) })))
  const res = await app.inject({ method: 'POST', url: '/jobs', payload: form.payload, headers: { ...form.headers, ...alice } })
  t.equal(res.statusCode, 202, res.body)
  const sub = res.json()
  t.match(sub, { id: /^[0-9a-f-]{36}$/, state: 'queued', model: 'mobilenetv2', images: PHOTOS.length, statusUrl: `/jobs/${sub.id as string}` })
  t.equal(res.headers.location, sub.statusUrl)
  const job = await finished(sub.id, alice)
  t.match(job, { id: sub.id, state: 'done', task: 'classify', policy: 'throughput', images: PHOTOS.length, done: PHOTOS.length, failed: 0, progress: 1 })
  t.equal(job.results.length, PHOTOS.length, 'one result per image')
  for (const [i, r] of (job.results as Array<Record<string, any>>).entries()) {
    t.match(r, { index: i, name: PHOTOS[i], ok: true, device: 'cpu' })
    await checkClassification(t, PHOTOS[i]!, r.predictions)
  }
  t.equal(await metric('switchyard_jobs_done_images_total{model="mobilenetv2",outcome="ok"}'), PHOTOS.length)
  t.equal(await metric('switchyard_jobs_queued_images{model="mobilenetv2"}'), 0)
  t.ok((await metric('switchyard_routing_decisions_total{device="cpu",model="mobilenetv2",policy="throughput"')) >= PHOTOS.length, 'run as throughput-class work through the dispatcher')
})

t.test('one raw image to a detector, with its parameters', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/jobs/yolox-nano?score_threshold=0.25', payload: photo('giraffe.jpg'), headers: { 'content-type': 'image/jpeg', ...bob } })
  t.equal(res.statusCode, 202, res.body)
  const job = await finished(res.json().id, bob)
  t.equal(job.results.length, 1)
  t.equal(job.results[0].ok, true)
  checkDetections(t, 'giraffe.jpg', job.results[0])
})

t.test('a list of URLs from an allowed host, and the completion callback', async (t) => {
  const called = new Promise<Record<string, unknown>>((resolve) => { onCallback = resolve })
  const res = await app.inject({ method: 'POST', url: '/jobs', payload: { urls: [`http://${webHost}/eagle.jpg`, `http://${webHost}/dog.jpg`], callback: `http://${webHost}/done` }, headers: alice })
  t.equal(res.statusCode, 202, res.body)
  const id = res.json().id as string
  const body = await called // the event: the job's last result is stored
  t.match(body, { id, state: 'done', images: 2, done: 2, failed: 0, statusUrl: `/jobs/${id}` })
  t.notOk('results' in body, 'the callback carries no results: they are read with the key')
  const job = await finished(id, alice)
  t.same(job.results.map((r: Record<string, any>) => r.name), [`http://${webHost}/eagle.jpg`, `http://${webHost}/dog.jpg`])
  await checkClassification(t, 'eagle.jpg', job.results[0].predictions)
})

t.test('a job is visible to the key that submitted it only', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/jobs/yolox-nano', payload: photo('dog.jpg'), headers: { 'content-type': 'image/jpeg', ...bob } })
  const id = res.json().id as string
  const other = await app.inject({ method: 'GET', url: `/jobs/${id}`, headers: alice })
  t.equal(other.statusCode, 404)
  t.match(other.json(), { statusCode: 404, error: 'SY_JOB_NOT_FOUND' }, 'as if it did not exist')
  t.equal((await app.inject({ method: 'GET', url: `/jobs/${id}` })).statusCode, 401, 'no key')
  t.equal((await app.inject({ method: 'POST', url: '/jobs', payload: photo('dog.jpg'), headers: { 'content-type': 'image/jpeg' } })).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/jobs/mobilenetv2', payload: photo('dog.jpg'), headers: { 'content-type': 'image/jpeg', ...bob } })).statusCode, 403, 'a model the key may not use')
  t.equal((await finished(id, bob)).state, 'done')
})

t.test('every bad submission is a clear 4xx and queues nothing', async (t) => {
  const before = await metric('switchyard_jobs_submitted_images_total')
  const jpeg = { 'content-type': 'image/jpeg', ...alice }
  const cases: Array<[string, InjectOptions, number, string]> = [
    ['unknown model', { method: 'POST', url: '/jobs/resnet-9000', payload: photo('dog.jpg'), headers: jpeg }, 404, 'SY_MODEL_NOT_FOUND'],
    ['not an image', { method: 'POST', url: '/jobs', payload: Buffer.from('hello, this is text'), headers: jpeg }, 400, 'SY_INVALID_IMAGE'],
    ['too many images', { method: 'POST', url: '/jobs', ...form(9, 'dog.jpg'), }, 413, 'SY_JOB_TOO_MANY_IMAGES'],
    ['oversized job', { method: 'POST', url: '/jobs', ...form(4, 'kite.jpg') }, 413, 'SY_JOB_TOO_LARGE'],
    ['a URL to a host not allowed', { method: 'POST', url: '/jobs', payload: { urls: [`http://${webHost}/dog.jpg`, 'http://example.com/dog.jpg'] }, headers: alice }, 400, 'SY_URL_NOT_ALLOWED'],
    ['a URL that redirects', { method: 'POST', url: '/jobs', payload: { urls: [`http://${webHost}/redirect`] }, headers: alice }, 422, 'SY_URL_FETCH_FAILED'],
    ['a URL that is no image', { method: 'POST', url: '/jobs', payload: { urls: [`http://${webHost}/text`] }, headers: alice }, 400, 'SY_INVALID_IMAGE'],
    ['a callback to a host not allowed', { method: 'POST', url: '/jobs?callback=http://example.com/hook', payload: photo('dog.jpg'), headers: jpeg }, 400, 'SY_URL_NOT_ALLOWED'],
    ['a JSON body that is no job', { method: 'POST', url: '/jobs', payload: { images: 3 }, headers: alice }, 400, 'SY_INVALID_JOB'],
    ['the latency policy', { method: 'POST', url: '/jobs', payload: photo('dog.jpg'), headers: { ...jpeg, 'x-switchyard-policy': 'latency' } }, 400, 'SY_INVALID_HEADER'],
    ['a bad parameter', { method: 'POST', url: '/jobs?top_k=0', payload: photo('dog.jpg'), headers: jpeg }, 400, 'SY_INVALID_QUERY']
  ]
  for (const [what, req, status, code] of cases) {
    const res = await app.inject(req)
    t.equal(res.statusCode, status, `${what}: ${res.body}`)
    t.match(res.json(), { statusCode: status, error: code, message: String }, what)
  }
  const notImage = await app.inject(cases[1]![1])
  t.match(notImage.json().message, /^image 0 \(body\): /, 'the message names the image')
  t.equal(await metric('switchyard_jobs_submitted_images_total'), before, 'nothing was queued')

  function form (n: number, name: string): { payload: Buffer, headers: Record<string, string> } {
    const f = multipart(Array.from({ length: n }, (_, i) => ({ name: 'image', filename: `${i}.jpg`, type: 'image/jpeg', data: photo(name) })))
    return { payload: f.payload, headers: { ...f.headers, ...alice } }
  }
})

t.test('images queued or running per key are limited', async (t) => {
  const jobs = server.jobs!
  // stop this replica from running anything, so what is submitted stays queued
  await jobs.stopPulling()
  const form = multipart(Array.from({ length: 8 }, (_, i) => ({ name: 'image', filename: `${i}.jpg`, type: 'image/jpeg', data: photo('dog.jpg') })))
  const first = await app.inject({ method: 'POST', url: '/jobs', payload: form.payload, headers: { ...form.headers, ...alice } })
  t.equal(first.statusCode, 202)
  const second = await app.inject({ method: 'POST', url: '/jobs', payload: form.payload, headers: { ...form.headers, ...alice } })
  t.equal(second.statusCode, 429)
  t.match(second.json(), { error: 'SY_JOB_QUOTA', message: /has 8 images queued or running; 8 more would pass its limit of 12/ })
  t.ok(Number(second.headers['retry-after']) >= 1, 'Retry-After')
  const otherKey = await app.inject({ method: 'POST', url: '/jobs/yolox-nano', payload: photo('dog.jpg'), headers: { 'content-type': 'image/jpeg', ...bob } })
  t.equal(otherKey.statusCode, 202, 'another key is not limited by it')
  const job = (await app.inject({ method: 'GET', url: `/jobs/${first.json().id as string}`, headers: alice })).json()
  t.match(job, { state: 'queued', done: 0, progress: 0, results: [] })
  t.equal(await metric('switchyard_jobs_queued_images{model="mobilenetv2"}'), 8)
  t.ok(await metric('switchyard_jobs_oldest_age_seconds') >= 0)
  t.ok(await metric('switchyard_jobs_decode_slots{model="mobilenetv2"}') >= 1, 'job images decoded at once (jobs.decodeSlots auto)')
})
