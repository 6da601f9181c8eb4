// Issue 4: every kind of hostile or odd upload in the corpus (test-support/corpus.ts) through a
// real server. Each gets exactly its documented status; every refusal is a JSON body
// `{statusCode, error, message}` with the documented code; every accepted odd image gets a
// correct answer; and after each one the server still answers a real photo exactly as before
// (never a 5xx, never a crash). docs/input-limits.md tables the same kinds.
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import Fastify from 'fastify'
import sharp from 'sharp'
import t, { type Test } from 'tap'
import { buildCorpus, PHOTO, type CorpusEntry } from '../test-support/corpus.js'
import { checkClassification, checkDetections, type GotDetection } from '../test-support/expected.js'
import { SHARED_IMAGES, startServer } from '../test-support/server.js'
import { clientErrorHandler, frameworkErrors } from './error-handler.js'
import { checkQueryNumbers } from './request-options.js'

const LIMITS = { maxBodyBytes: 2_000_000, maxPixels: 40_000_000, maxDimension: 16384 }

interface DetectBody { width: number, height: number, detections: GotDetection[], timing: { decodeMs: number } }
interface ClassifyBody { predictions: Array<{ index: number, label: string, score: number }>, timing: { decodeMs: number } }

// A local URL for the SVG that references an external image: nothing may ever fetch it.
let fetches = 0
const bait = createServer((_req, res) => { fetches++; res.end() })
bait.listen(0, '127.0.0.1')
await once(bait, 'listening')
t.teardown(() => { bait.close() })
const externalUrl = `http://127.0.0.1:${(bait.address() as AddressInfo).port}/pixel.png`

const server = await startServer(t, { images: { maxBodyBytes: LIMITS.maxBodyBytes } })
const { app } = server
const corpus = await buildCorpus(LIMITS, { externalUrl })
const photo = readFileSync(`${SHARED_IMAGES}/${PHOTO}`)

const detectPhoto = async (): Promise<DetectBody> => {
  const res = await app.inject({ method: 'POST', url: '/detect', payload: photo, headers: { 'content-type': 'image/jpeg' } })
  if (res.statusCode !== 200) throw new Error(`${PHOTO}: ${res.statusCode} ${res.body}`)
  return res.json()
}
const reference = await detectPhoto()

t.ok(corpus.length >= 30, `the corpus has at least 30 kinds (${corpus.length})`)

const detectAnswers = new Map<string, DetectBody>()
const classifyAnswers = new Map<string, ClassifyBody>()

for (const entry of corpus) {
  const name = `${entry.kind}: ${entry.what} → ${entry.status}${entry.code ? ` ${entry.code}` : ''}`
  t.test(name, entry.todo ? { todo: entry.todo } : {}, async (t) => {
    const res = await app.inject(entry.request)
    t.equal(res.statusCode, entry.status, `status (body: ${res.body.slice(0, 300)})`)
    t.match(res.headers['content-type'], /^application\/json/, 'a JSON answer')
    const body = res.json()
    if (entry.status >= 400) checkError(t, entry, body)
    else await checkAccepted(t, entry, body)

    const after = await detectPhoto()
    t.same(after.detections, reference.detections, `${PHOTO} is still answered exactly as before`)
  })
}

function checkError (t: Test, entry: CorpusEntry, body: Record<string, unknown>): void {
  t.same(Object.keys(body).sort(), ['error', 'message', 'statusCode'], 'the body is {statusCode, error, message}')
  t.equal(body.statusCode, entry.status, 'statusCode matches the status')
  t.equal(body.error, entry.code, 'error code')
  t.ok(typeof body.message === 'string' && body.message.length > 0, `a message: ${String(body.message).slice(0, 120)}`)
}

async function checkAccepted (t: Test, entry: CorpusEntry, body: DetectBody): Promise<void> {
  const a = entry.answer!
  t.equal(body.width, a.width, 'width of the image as displayed')
  t.equal(body.height, a.height, 'height of the image as displayed')
  t.ok(body.timing.decodeMs < 5000, `decoded in ${body.timing.decodeMs} ms`)
  for (const d of body.detections) {
    t.ok(d.score >= 0 && d.score <= 1 && d.box.x1 >= 0 && d.box.y1 >= 0 && d.box.x2 <= body.width && d.box.y2 <= body.height && d.box.x1 <= d.box.x2 && d.box.y1 <= d.box.y2,
      `${d.label} ${d.score.toFixed(2)}: box inside the image`)
  }
  const confident = new Set(body.detections.filter((d) => d.score >= 0.5).map((d) => d.label))
  for (const label of a.finds ?? []) t.ok(confident.has(label), `finds ${label}`)
  for (const label of a.misses ?? []) t.notOk(confident.has(label), `does not find ${label}`)
  if (a.sameAs) t.same(body.detections, detectAnswers.get(a.sameAs)?.detections, `the same detections as ${a.sameAs} (same pixels)`)
  if (a.uprightAs) await checkUpright(t, entry, detectAnswers.get(a.uprightAs)!, body)
  detectAnswers.set(entry.kind, body)

  // the same upload classified
  const res = await app.inject({ ...entry.request, url: entry.request.url.replace('/detect', '/classify') })
  t.equal(res.statusCode, 200, `classify: ${res.body.slice(0, 200)}`)
  if (res.statusCode !== 200) return
  const cls = res.json() as ClassifyBody
  t.equal(cls.predictions.length, 5, 'classify: five predictions')
  t.ok(cls.predictions.every((p, i) => p.score >= 0 && p.score <= 1 && (i === 0 || cls.predictions[i - 1]!.score >= p.score)), 'classify: scores in [0, 1], sorted')
  t.ok(cls.timing.decodeMs < 5000, `classify: decoded in ${cls.timing.decodeMs} ms`)
  if (a.sameAs) t.same(cls.predictions, classifyAnswers.get(a.sameAs)?.predictions, `classify: the same predictions as ${a.sameAs}`)
  classifyAnswers.set(entry.kind, cls)
}

/**
 * `entry` stores the photo turned 90° anticlockwise and says, in EXIF, to turn it back. The
 * answer is about the image as displayed: the upright size, and every confident detection of
 * the upright photo where the upright photo has it, within 5 px (two JPEG encodings of
 * differently turned pixels are not bit-identical). A server ignoring the orientation would
 * answer 576×768 with boxes in the turned frame, and a detector finds little in a sideways scene.
 */
async function checkUpright (t: Test, entry: CorpusEntry, upright: DetectBody, oriented: DetectBody): Promise<void> {
  const stored = await sharp(entry.request.payload!).metadata()
  t.same([stored.width, stored.height, stored.orientation], [upright.height, upright.width, 6], 'stored turned, with EXIF orientation 6')
  const confident = upright.detections.filter((d) => d.score >= 0.5)
  t.ok(confident.length >= 3, `${confident.length} confident detections to compare`)
  for (const d of confident) {
    const off = (g: GotDetection): number => Math.max(Math.abs(g.box.x1 - d.box.x1), Math.abs(g.box.y1 - d.box.y1), Math.abs(g.box.x2 - d.box.x2), Math.abs(g.box.y2 - d.box.y2))
    const best = oriented.detections.filter((g) => g.index === d.index).sort((p, q) => off(p) - off(q))[0]
    t.ok(best, `${d.label} found`)
    if (best) t.ok(off(best) <= 5, `${d.label}: within 5 px of the upright photo's box (off by ${off(best).toFixed(2)})`)
  }
}

t.test('the pixel bombs are judged from their headers, never decoded', async (t) => {
  const bomb = corpus.find((e) => e.kind === 'png-pixel-bomb')!.request.payload!
  const meta = await sharp(bomb, { limitInputPixels: false }).metadata()
  t.equal(meta.width, 100_000, 'the crafted IHDR is well-formed: 100000 wide')
  t.equal(meta.height, 100_000, 'and 100000 high')
  await t.rejects(sharp(bomb, { limitInputPixels: false }).raw().toBuffer(), 'its pixel data is missing: decoding it fails, so 422 (not 400) means the header decided')
})

t.test('the SVG\'s external URL was never fetched', async (t) => {
  t.equal(fetches, 0)
})

// Over a real socket: what app.inject cannot send.
t.test('over HTTP', async (t) => {
  const api = (await server.listen()).api
  const port = Number(new URL(api).port)

  t.test('a header sent twice is refused', async (t) => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer()
    const res = await rawHttp(port, Buffer.concat([Buffer.from(
      `POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nX-Switchyard-Policy: latency\r\nX-Switchyard-Policy: latency\r\nContent-Length: ${png.length}\r\nConnection: close\r\n\r\n`), png]))
    t.equal(res.status, 400)
    t.match(JSON.parse(res.body), { statusCode: 400, error: 'SY_INVALID_HEADER', message: /X-Switchyard-Policy: given more than once/ })
  })

  t.test('a Content-Length over the limit is refused before the body is read', async (t) => {
    const res = await rawHttp(port, Buffer.from(`POST /detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${LIMITS.maxBodyBytes * 10}\r\nConnection: close\r\n\r\n`))
    t.equal(res.status, 413)
    t.match(JSON.parse(res.body), { statusCode: 413, error: 'SY_PAYLOAD_TOO_LARGE' })
  })

  t.test('a request Node cannot parse gets our JSON body', async (t) => {
    const res = await rawHttp(port, Buffer.from('GARBAGE / HTTP/1.1\r\n\r\n'))
    t.equal(res.status, 400)
    t.match(JSON.parse(res.body), { statusCode: 400, error: 'SY_BAD_REQUEST' })
  })
})

t.test('checkQueryNumbers refuses the infinities the query schema lets through', async (t) => {
  t.throws(() => checkQueryNumbers({ top_k: Infinity }), { code: 'SY_INVALID_QUERY', statusCode: 400 })
  t.throws(() => checkQueryNumbers({ score_threshold: 0.5, iou_threshold: -Infinity }), { code: 'SY_INVALID_QUERY', message: /iou_threshold must be a finite number/ })
  t.doesNotThrow(() => checkQueryNumbers({ top_k: 5, score_threshold: 0, iou_threshold: 1 }))
})

t.test('frameworkErrors and clientErrorHandler give the same JSON body', async (t) => {
  const bare = Fastify({ frameworkErrors: frameworkErrors(LIMITS.maxBodyBytes), clientErrorHandler })
  bare.post('/detect/:model', async () => ({}))
  t.teardown(() => bare.close())
  const long = await bare.inject({ method: 'POST', url: `/detect/${'a'.repeat(300)}` })
  t.equal(long.statusCode, 404)
  t.match(long.json(), { statusCode: 404, error: 'SY_MODEL_NOT_FOUND', message: /^No detection model named a+…$/ })
  const badUrl = await bare.inject({ method: 'POST', url: '/detect/%E0%A4%A' })
  t.equal(badUrl.statusCode, 400)
  t.match(badUrl.json(), { statusCode: 400, error: 'SY_BAD_REQUEST' })
  await bare.listen({ host: '127.0.0.1', port: 0 })
  const res = await rawHttp((bare.server.address() as AddressInfo).port, Buffer.from('GARBAGE / HTTP/1.1\r\n\r\n'))
  t.equal(res.status, 400)
  t.match(JSON.parse(res.body), { statusCode: 400, error: 'SY_BAD_REQUEST' })
})

t.test(`after the whole corpus, ${PHOTO} is still answered correctly`, async (t) => {
  const det = await app.inject({ method: 'POST', url: '/detect', payload: photo, headers: { 'content-type': 'image/jpeg' } })
  t.equal(det.statusCode, 200)
  checkDetections(t, PHOTO, det.json())
  const cls = await app.inject({ method: 'POST', url: '/classify', payload: photo, headers: { 'content-type': 'image/jpeg' } })
  t.equal(cls.statusCode, 200)
  await checkClassification(t, PHOTO, cls.json().predictions)
})

/** One request over a fresh connection; the status and body of the answer. */
async function rawHttp (port: number, request: Buffer): Promise<{ status: number, body: string }> {
  const socket = connect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  socket.on('error', () => {}) // the server may reset after answering
  socket.end(request)
  await once(socket, 'close')
  const text = Buffer.concat(chunks).toString('utf8')
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
  const head = text.indexOf('\r\n\r\n')
  return { status, body: head < 0 ? '' : text.slice(head + 4) }
}
