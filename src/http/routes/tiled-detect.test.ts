// Tiled /detect on the real detector: a mosaic of the shared photos at full resolution
// (2844×1476, built here) must hold what each photo gets on its own. The detections every
// photo gets alone (score ≥ 0.5) are moved to its place in the mosaic; the tiled answer must
// find ≥ 90 % of them (same label, IoU ≥ 0.5). The untiled answer's recall is printed beside
// it (it shrinks the mosaic 6.8× to 416 pixels: most objects vanish), not asserted.
//
// The model is yolox-nano-dynamic: its batch dimension is free, so a request's 46 images
// (45 tiles and the whole-image pass) run in batches of up to the device's maxBatchSize,
// which is what a tiled request is for; the static yolox-nano runs them one by one (its
// output is bit-identical per image, so the answers would be the same, only slower).
import sharp from 'sharp'
import t from 'tap'
import type { Detection } from '../../worker/protocol.js'
import { buildMosaic, recall, shift } from '../../test-support/mosaic.js'
import { startServer } from '../../test-support/server.js'

const MODEL = 'yolox-nano-dynamic'
const server = await startServer(t, { models: { enabled: ['mobilenetv2', MODEL] }, routes: { detect: MODEL }, tiling: { maxTiles: 64 }, images: { maxPixels: 5_000_000 } })
const { app } = server
const mosaic = await buildMosaic()
const jpeg = { 'content-type': 'image/jpeg' }

async function detect (payload: Buffer, query: string): Promise<{ status: number, headers: Record<string, unknown>, body: any }> {
  const res = await app.inject({ method: 'POST', url: `/detect/${MODEL}?${query}`, payload, headers: jpeg })
  return { status: res.statusCode, headers: res.headers, body: res.json() }
}

const reference: Detection[] = []
for (const p of mosaic.placed) {
  const alone = await detect(p.bytes, 'score_threshold=0.5')
  if (alone.status !== 200) throw new Error(`${p.photo} alone: ${alone.status} ${JSON.stringify(alone.body)}`)
  reference.push(...shift(alone.body.detections, p))
}

t.test('the mosaic is large enough to need tiles', async (t) => {
  t.same([mosaic.width, mosaic.height], [2844, 1476])
  t.ok(reference.length >= 15, `${reference.length} reference detections from the photos alone`)
})

t.test('tiles=auto finds what each photo gets on its own', async (t) => {
  const tiled = await detect(mosaic.jpeg, 'tiles=auto')
  t.equal(tiled.status, 200, JSON.stringify(tiled.body))
  const b = tiled.body
  t.same([b.width, b.height], [mosaic.width, mosaic.height], 'boxes in full-image pixels')
  t.match(b.tiles, { count: 45, grid: { columns: 9, rows: 5 }, tileSize: { width: 416, height: 416 }, overlap: 0.2, wholeImage: true })
  t.same(b.tiles.devices, { cpu: 46 }, '45 tiles and the whole-image pass ran')
  t.equal(b.tiles.batches.reduce((s: number, x: { items: number }) => s + x.items, 0), 46)
  t.ok(b.tiles.batches.every((x: { size: number }) => x.size >= 1 && x.size <= 4), 'batches within the device maxBatchSize (4)')
  t.equal(tiled.headers['x-switchyard-tiles'], 'count=45, grid=9x5, whole=1')
  t.equal(tiled.headers['x-switchyard-tile-devices'], 'cpu=46')
  for (const d of b.detections) {
    t.ok(d.box.x1 >= 0 && d.box.y1 >= 0 && d.box.x2 <= mosaic.width && d.box.y2 <= mosaic.height && d.box.x1 < d.box.x2 && d.box.y1 < d.box.y2, 'a box inside the image')
  }
  const r = recall(reference, b.detections)
  const plain = await detect(mosaic.jpeg, 'tiles=off')
  t.equal(plain.status, 200)
  t.notOk('tiles' in plain.body, 'tiles=off answers as /detect always has')
  const u = recall(reference, plain.body.detections)
  t.comment(`recall at IoU ≥ 0.5: tiled ${r.found}/${r.total} = ${r.recall.toFixed(3)} (${b.detections.length} detections); untiled ${u.found}/${u.total} = ${u.recall.toFixed(3)} (${plain.body.detections.length} detections)`)
  t.comment(`tiled misses: ${r.missed.map((m) => `${m.label} ${m.score.toFixed(2)}`).join(', ') || 'none'}`)
  t.ok(r.recall >= 0.9, `tiled recall ${r.recall.toFixed(3)} ≥ 0.9`)
})

t.test('an image the model input holds is not tiled by auto', async (t) => {
  const small = await detect(mosaic.placed[0]!.bytes, 'tiles=auto')
  t.equal(small.status, 200)
  t.notOk('tiles' in small.body, '768×576: the whole-image pass shrinks it 1.8×, under autoScale 2')
})

t.test('tiles=<n> and tile_size choose the grid', async (t) => {
  const three = await detect(mosaic.jpeg, 'tiles=3')
  t.equal(three.status, 200)
  t.match(three.body.tiles, { count: 6, grid: { columns: 3, rows: 2 } })
  const big = await detect(mosaic.jpeg, 'tile_size=1000&tile_overlap=0.1') // 2844: ⌈1844 / 900⌉ + 1 = 4 columns
  t.equal(big.status, 200)
  t.match(big.body.tiles, { count: 8, grid: { columns: 4, rows: 2 }, tileSize: { width: 1000, height: 1000 }, overlap: 0.1 })
})

t.test('bad tiling requests are 4xx, the tile cap a 422 before decoding', async (t) => {
  const over = await detect(mosaic.jpeg, 'tiles=auto&tile_size=64')
  t.equal(over.status, 422)
  t.equal(over.body.error, 'SY_TOO_MANY_TILES')
  t.match(over.body.message, /over the limit of 64/)
  for (const q of ['tiles=many', 'tiles=0', 'tiles=3&tile_size=500', 'tile_size=10', 'tile_overlap=0.9', 'tile_overlap=Infinity']) {
    const res = await detect(mosaic.jpeg, q)
    t.equal(res.status, 400, q)
    t.equal(res.body.error, 'SY_INVALID_QUERY', q)
  }
})

t.test('images.maxPixels holds for tiled requests, before decoding', async (t) => {
  const huge = await sharp({ create: { width: 2500, height: 2100, channels: 3, background: { r: 9, g: 9, b: 9 } } }).jpeg().toBuffer()
  const res = await detect(huge, 'tiles=auto')
  t.equal(res.status, 422)
  t.equal(res.body.error, 'SY_IMAGE_TOO_LARGE')
})

t.test('a tiled request counts its images in /metrics', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.match(res.body, /switchyard_tile_images_total\{device="cpu",model="yolox-nano-dynamic"\} \d+/)
})

t.test('two CPU profiles: a tiled latency request goes, whole, where all its images finish first', async (t) => {
  // `single` runs one image per batch on one worker; `batched` runs up to 8 per batch on two.
  // Both fitted costs are read from /models just before the request (nothing runs in between,
  // so they are the costs the router reads); the expected device is computed here from them by
  // the formula in router.ts — ⌈⌈k/B⌉ / W⌉ · (a + b·min(k, B)) — not asked of the server.
  const s = await startServer(t, {
    models: { enabled: ['mobilenetv2', MODEL] },
    routes: { detect: MODEL },
    tiling: { maxTiles: 64 },
    devices: [
      { id: 'single', kind: 'cpu', required: true, workers: 1, intraOpThreads: 1, maxBatchSize: 1 },
      { id: 'batched', kind: 'cpu', required: true, workers: 2, intraOpThreads: 1, maxBatchSize: 8 }
    ]
  })
  const models = (await s.app.inject('/models')).json().models as Array<{ name: string, devices: Array<{ id: string, workers: number, maxBatchSize: number, cost: { aMs: number, bMs: number } }> }>
  const k = 46 // 45 tiles and the whole-image pass (the grid is pinned in 'tiles=auto finds…')
  const finish = Object.fromEntries(models.find((m) => m.name === MODEL)!.devices.map((d) => {
    const B = d.maxBatchSize
    return [d.id, Math.ceil(Math.ceil(k / B) / d.workers) * (d.cost.aMs + d.cost.bMs * Math.min(k, B))]
  }))
  const expected = finish.single! < finish.batched! ? 'single' : 'batched'
  const res = await s.app.inject({ method: 'POST', url: `/detect/${MODEL}?tiles=auto`, payload: mosaic.jpeg, headers: { ...jpeg, 'x-switchyard-policy': 'latency' } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().tiles.count + 1, k)
  t.same(res.json().tiles.devices, { [expected]: k }, `every image on ${expected} (predicted ${Math.round(finish.single!)} ms on single, ${Math.round(finish.batched!)} ms on batched)`)
})

t.test('a tiled request can be answered drawn: the whole image with every merged box', async (t) => {
  const res = await app.inject({ method: 'POST', url: `/detect/${MODEL}?tiles=auto&format=jpeg&score_threshold=0.5`, payload: mosaic.jpeg, headers: jpeg })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'image/jpeg')
  const meta = await sharp(res.rawPayload).metadata()
  t.same([meta.width, meta.height], [mosaic.width, mosaic.height], 'the full mosaic, not a tile')
  t.match(res.headers['x-switchyard-tiles'], /^count=45, grid=9x5, whole=1$/)
  t.ok(Number(res.headers['x-switchyard-detections']) >= 17, `${res.headers['x-switchyard-detections']} boxes drawn`)
})
