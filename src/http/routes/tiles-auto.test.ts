// tiles=auto answers every image within images.maxPixels on a default start: the smallest image
// it tiles and the largest one allowed (40 MP) — the planner is held to the whole range in
// preprocess/tiles.test.ts; these two run the real path (decode, cut, resize, infer, merge).
// The deadline is the longest a request may ask (an hour): what is pinned is the tiling, not
// whether a 40 MP image fits the default 10 s on a loaded machine (the router refuses a request
// it predicts will miss its deadline — 429 SY_DEADLINE_UNMEETABLE — which a busy CI host once did).
import t from 'tap'
import sharp from 'sharp'
import { startServer } from '../../test-support/server.js'

const { app } = await startServer(t)

async function image (width: number, height: number): Promise<Buffer> {
  // a flat background with a few dark blocks: cheap to encode and to decode at any size
  const blocks = [0.2, 0.5, 0.8].map((f) => ({
    input: { create: { width: Math.round(width / 10), height: Math.round(height / 10), channels: 3 as const, background: { r: 20, g: 20, b: 20 } } },
    left: Math.round(width * f) - Math.round(width / 20),
    top: Math.round(height * f) - Math.round(height / 20)
  }))
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 180, b: 120 } } }).composite(blocks).jpeg({ quality: 70 }).toBuffer()
}

for (const [width, height] of [[1000, 500], [8000, 5000]] as const) {
  t.test(`tiles=auto on ${width}×${height} (${width * height / 1e6} MP): 200 within maxTiles`, async (t) => {
    const res = await app.inject({ method: 'POST', url: '/detect?tiles=auto', payload: await image(width, height), headers: { 'content-type': 'image/jpeg', 'x-switchyard-deadline-ms': '3600000' } })
    t.equal(res.statusCode, 200, res.body.slice(0, 300))
    const body = res.json()
    t.match(body, { width, height, tiles: { count: Number } })
    t.ok(body.tiles.count > 1 && body.tiles.count <= 64, `${body.tiles.count} tiles of ${body.tiles.tileSize.width}×${body.tiles.tileSize.height}`)
  })
}

t.test('tile_size is honoured as asked: a grid over the limit is still a 422', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/detect?tiles=auto&tile_size=416', payload: await image(6000, 4000), headers: { 'content-type': 'image/jpeg', 'x-switchyard-deadline-ms': '3600000' } })
  t.equal(res.statusCode, 422)
  t.equal(res.json().error, 'SY_TOO_MANY_TILES')
})
