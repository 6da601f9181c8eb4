// POST /detect answered as an image: the original photo, orientation-corrected, at its own
// size, with each box drawn in its class colour and labelled; JSON stays the default.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import t from 'tap'
import { answerFormat, classColour, overlaySvg, strokeWidth } from './draw-detections.js'
import { SHARED_IMAGES, startServer } from '../test-support/server.js'

t.test('the answer format: ?format first, then Accept, JSON by default', async (t) => {
  const cases: Array<[string | undefined, string | undefined, string]> = [
    [undefined, undefined, 'json'],
    [undefined, '*/*', 'json'],
    [undefined, 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'json'],
    [undefined, 'application/json', 'json'],
    [undefined, 'image/png', 'png'],
    [undefined, 'image/jpeg', 'jpeg'],
    [undefined, 'image/*', 'png'],
    [undefined, 'image/png;q=0.5, image/jpeg', 'jpeg'],
    [undefined, 'image/png;q=0.5, application/json', 'json'],
    [undefined, 'text/csv', 'json'],
    ['png', 'application/json', 'png'],
    ['jpeg', undefined, 'jpeg'],
    ['json', 'image/png', 'json']
  ]
  for (const [query, accept, want] of cases) t.equal(answerFormat(query as never, accept), want, `format=${query} Accept: ${accept}`)
})

t.test('labels are escaped in the SVG overlay', async (t) => {
  const svg = overlaySvg(100, 80, [{ label: '<script>&"\'', index: 1, score: 0.5, box: { x1: 10, y1: 30, x2: 60, y2: 70 } }])
  t.notMatch(svg, /<script>/)
  t.match(svg, /&lt;script&gt;&amp;&quot;&apos; 0\.50/)
  const png = await sharp({ create: { width: 100, height: 80, channels: 3, background: '#fff' } }).composite([{ input: Buffer.from(svg) }]).png().toBuffer()
  t.same((await sharp(png).metadata()).width, 100, 'librsvg renders it')
})

const server = await startServer(t)
const { app } = server
const dog = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))
const json = (await app.inject({ method: 'POST', url: '/detect', payload: dog, headers: { 'content-type': 'image/jpeg' } })).json()

/** RGB of the pixel at (x, y) of an encoded image */
async function pixel (image: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  const i = (Math.floor(y) * info.width + Math.floor(x)) * info.channels
  return [data[i]!, data[i + 1]!, data[i + 2]!]
}

t.test('Accept: image/png answers the photo with the boxes drawn', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/detect', payload: dog, headers: { 'content-type': 'image/jpeg', accept: 'image/png' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'image/png')
  t.equal(res.headers['x-switchyard-device'], 'cpu', 'the routing headers as on a JSON answer')
  t.match(res.headers['server-timing'], /total;dur=[\d.]+, draw;dur=[\d.]+$/)
  t.equal(res.headers['x-switchyard-detections'], String(json.detections.length))
  t.equal(res.headers.vary, 'Accept', 'caches keep the JSON and image answers apart')
  const meta = await sharp(res.rawPayload).metadata()
  t.equal(meta.format, 'png')
  t.same([meta.width, meta.height], [json.width, json.height], 'the original size (768×576)')

  const best = json.detections[0]
  t.equal(best.label, 'dog')
  const stroke = strokeWidth(json.width, json.height)
  const colour = classColour(best.index)
  const midY = (best.box.y1 + best.box.y2) / 2
  t.same(await pixel(res.rawPayload, best.box.x1 + stroke / 2, midY), [colour.r, colour.g, colour.b], 'the box\'s left edge is the dog class colour')
  t.same(await pixel(res.rawPayload, best.box.x2 - stroke / 2, midY), [colour.r, colour.g, colour.b], 'and its right edge')
  const inside = [best.box.x1 + 40, midY] as const
  const original = await sharp(dog).png().toBuffer()
  t.same(await pixel(res.rawPayload, ...inside), await pixel(original, ...inside), 'the photo inside the box is untouched')
})

t.test('?format=jpeg answers a JPEG, whatever Accept says', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/detect?format=jpeg&score_threshold=0.8', payload: dog, headers: { 'content-type': 'image/jpeg', accept: 'application/json' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'image/jpeg')
  t.equal(res.headers['x-switchyard-detections'], '3', 'query options still apply')
  const meta = await sharp(res.rawPayload).metadata()
  t.same([meta.format, meta.width, meta.height], ['jpeg', 768, 576])
  const best = json.detections[0]
  const c = classColour(best.index)
  const got = await pixel(res.rawPayload, best.box.x1 + strokeWidth(768, 576) / 2, (best.box.y1 + best.box.y2) / 2)
  t.ok(got.every((v, i) => Math.abs(v - [c.r, c.g, c.b][i]!) <= 24), `the box edge is the class colour, within JPEG loss (${got} vs ${[c.r, c.g, c.b]})`)
})

t.test('*/* and no Accept get JSON; a bad format is a 400', async (t) => {
  for (const accept of ['*/*', undefined]) {
    const res = await app.inject({ method: 'POST', url: '/detect', payload: dog, headers: { 'content-type': 'image/jpeg', ...(accept ? { accept } : {}) } })
    t.match(res.headers['content-type'], /^application\/json/, `Accept: ${accept}`)
  }
  const bad = await app.inject({ method: 'POST', url: '/detect?format=gif', payload: dog, headers: { 'content-type': 'image/jpeg' } })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().error, 'SY_INVALID_QUERY')
  const classify = await app.inject({ method: 'POST', url: '/classify', payload: dog, headers: { 'content-type': 'image/jpeg', accept: 'image/png' } })
  t.match(classify.headers['content-type'], /^application\/json/, '/classify has no image form: JSON')
})

t.test('an EXIF-rotated photo is drawn upright, at the size its boxes are in', async (t) => {
  // the dog photo stored sideways with orientation 6 ("rotate 90° clockwise to view")
  const sideways = await sharp(dog).rotate(-90).withMetadata({ orientation: 6 }).jpeg().toBuffer()
  const j = (await app.inject({ method: 'POST', url: '/detect', payload: sideways, headers: { 'content-type': 'image/jpeg' } })).json()
  t.same([j.width, j.height], [768, 576], 'the answer is in upright pixels')
  const res = await app.inject({ method: 'POST', url: '/detect?format=png', payload: sideways, headers: { 'content-type': 'image/jpeg' } })
  const meta = await sharp(res.rawPayload).metadata()
  t.same([meta.width, meta.height], [768, 576], 'so is the drawing')
  const best = j.detections[0]
  const c = classColour(best.index)
  t.same(await pixel(res.rawPayload, best.box.x1 + strokeWidth(768, 576) / 2, (best.box.y1 + best.box.y2) / 2), [c.r, c.g, c.b], 'boxes land on the upright photo')
})
