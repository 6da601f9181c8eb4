// The tile grid and when an image is tiled; cutting tiles from pixels decoded once.
import t from 'tap'
import sharp from 'sharp'
import { decodeFull, decodeImage } from './decode-image.js'
import { cutTile, parseTilesQuery, planTiles, tileCount, tileGrid, tilePositions, type TilingSettings } from './tiles.js'

const input = { width: 416, height: 416 }
const settings: TilingSettings = { default: 'off', overlap: 0.2, maxTiles: 64, autoScale: 2 }
const yolox = {
  input: { name: 'images', width: 416, height: 416, channelOrder: 'BGR' as const },
  preprocess: { resize: { mode: 'letterbox' as const, fill: 114, anchor: 'top-left' as const }, scale: 1, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] }
}
const limits = { maxPixels: 40_000_000, maxDimension: 16384, formats: ['png', 'jpeg'] }

t.test('tiles cover the axis from 0 to its end, evenly, overlapping by at least the ratio', async (t) => {
  t.same(tilePositions(400, 416, 0.2), [0], 'shorter than a tile: one tile')
  t.same(tilePositions(416, 416, 0.2), [0])
  t.same(tilePositions(1000, 416, 0.2), [0, 292, 584], '3 tiles, the last ends at 1000')
  for (const [length, overlap] of [[417, 0.2], [2844, 0.2], [5000, 0], [5000, 0.5], [1249, 0.25]] as const) {
    const xs = tilePositions(length, 416, overlap)
    t.equal(xs[0], 0)
    t.equal(xs.at(-1)! + 416, length, `${length}: the last tile ends at the border`)
    for (let i = 1; i < xs.length; i++) {
      t.ok(xs[i - 1]! + 416 - xs[i]! >= Math.floor(overlap * 416), `${length}, ${overlap}: tiles ${i - 1} and ${i} overlap enough`)
    }
    const fewer = xs.length - 1
    t.ok(fewer < 2 || (length - 416) / (fewer - 1) > 416 * (1 - overlap), 'one tile fewer would not overlap enough')
  }
})

t.test('the grid is columns × rows of tiles of the model input size', async (t) => {
  const g = tileGrid(1000, 500, 416, 0.2)
  t.same(g.xs, [0, 292, 584])
  t.same(g.ys, [0, 84])
  t.equal(g.tiles.length, 6)
  t.same(g.tiles[4], { x: 292, y: 84, width: 416, height: 416 })
  const narrow = tileGrid(2000, 300, 416, 0.2)
  t.same(narrow.tiles.map((r) => r.height), Array(narrow.tiles.length).fill(300), 'an axis shorter than a tile is one tile of that length')
})

t.test('tiles query values', async (t) => {
  t.equal(parseTilesQuery(undefined), undefined)
  t.equal(parseTilesQuery('AUTO'), 'auto')
  t.equal(parseTilesQuery('off'), 'off')
  t.equal(parseTilesQuery('4'), 4)
  for (const bad of ['0', '33', '-1', '2.5', 'yes', '']) t.throws(() => parseTilesQuery(bad), { code: 'SY_INVALID_QUERY' }, bad)
})

t.test('auto tiles an image the whole-image pass would shrink more than autoScale', async (t) => {
  t.equal(planTiles(832, 600, input, { tiles: 'auto' }, settings), null, '832 px: shrunk 2×, not more')
  t.equal(planTiles(833, 400, input, { tiles: 'auto' }, settings)!.tiles.length, 3)
  t.equal(planTiles(3000, 2000, input, {}, settings), null, 'the default is off')
  t.equal(planTiles(3000, 2000, input, {}, { ...settings, default: 'auto' })!.tiles.length, 9 * 6, 'a configured default')
  t.equal(planTiles(3000, 2000, input, { tileSize: 1000 }, settings)!.tiles.length, 4 * 3, 'tile_size alone means auto')
  t.equal(planTiles(3000, 2000, input, { tiles: 'off', tileSize: 1000 }, settings), null)
  t.equal(planTiles(3000, 2000, input, { tiles: 'auto', overlap: 0 }, settings)!.tiles.length, 8 * 5)
})

t.test('tiles=<n> puts n tiles along the longer side', async (t) => {
  const p = planTiles(3000, 2000, input, { tiles: 3 }, settings)!
  t.equal(p.xs.length, 3)
  t.equal(p.tileWidth, Math.ceil(3000 / (3 - 2 * 0.2)))
  t.equal(p.ys.length, 2)
  t.equal(planTiles(3000, 2000, input, { tiles: 1 }, settings), null, 'one tile is the whole image: no tiling')
  t.throws(() => planTiles(3000, 2000, input, { tiles: 3, tileSize: 500 }, settings), { code: 'SY_INVALID_QUERY' })
  t.throws(() => planTiles(100, 100, input, { tiles: 8 }, settings), { code: 'SY_INVALID_QUERY' }, 'tiles under 32 px')
})

t.test('auto grows the tile until the grid fits maxTiles; tile_size and tiles=n as asked, else a 422', async (t) => {
  const grown = planTiles(6000, 4000, input, { tiles: 'auto' }, settings)!
  t.ok(grown.tiles.length <= 64, `${grown.xs.length}×${grown.ys.length} tiles`)
  t.ok(grown.tileWidth > 416, `tiles of ${grown.tileWidth} px, resized to the input`)
  t.ok(tileCount(6000, 4000, grown.tileWidth - 1, 0.2) > 64, 'the smallest tile that fits')
  t.equal(planTiles(6000, 4000, input, { tiles: 'auto' }, { ...settings, maxTiles: 500 })!.tileWidth, 416, 'the input size while it fits')
  t.ok(planTiles(3600, 2800, input, { tiles: 'auto' }, settings)!.tiles.length <= 64, 'the 10 MP photo refused before (9×11 = 99 tiles of 416)')
  t.throws(() => planTiles(6000, 4000, input, { tiles: 'auto', tileSize: 416 }, settings), { code: 'SY_TOO_MANY_TILES', statusCode: 422 }, 'tile_size as asked')
  t.throws(() => planTiles(6000, 4000, input, { tileSize: 416 }, settings), { code: 'SY_TOO_MANY_TILES' })
  t.throws(() => planTiles(6000, 4000, input, { tiles: 32 }, settings), { code: 'SY_TOO_MANY_TILES' }, 'tiles=32: 32 columns as asked')
})

t.test('auto answers every image from 0.5 to 40 MP, any shape, within maxTiles', async (t) => {
  const maxPixels = 40_000_000; const maxDimension = 16384
  let planned = 0
  for (let mp = 0.5; mp <= 40; mp += 0.5) {
    for (const aspect of [1, 4 / 3, 3 / 2, 16 / 9, 3, 7, 1 / 2, 9 / 16]) {
      const width = Math.min(maxDimension, Math.round(Math.sqrt(mp * 1e6 * aspect)))
      const height = Math.min(maxDimension, Math.floor(Math.min(mp * 1e6, maxPixels) / width))
      for (const s of [settings, { ...settings, maxTiles: 1 }, { ...settings, maxTiles: 8, overlap: 0.5 }, { ...settings, tileSize: 256 }]) {
        const plan = planTiles(width, height, input, { tiles: 'auto' }, s)
        if (plan === null) continue
        planned++
        if (plan.tiles.length > s.maxTiles) t.fail(`${width}×${height}, maxTiles ${s.maxTiles}: ${plan.tiles.length} tiles`)
        if (plan.xs.at(-1)! + plan.tileWidth !== width || plan.ys.at(-1)! + plan.tileHeight !== height) t.fail(`${width}×${height}: not covered`)
      }
    }
  }
  t.ok(planned > 1000, `${planned} plans, every one within maxTiles and covering its image`)
})

t.test('a tile is the decoded pixels of its rectangle, ready for the model', async (t) => {
  // a 600×500 gradient: R = x mod 256, G = y mod 256, B = (x + y) mod 256
  const W = 600; const H = 500
  const raw = Buffer.alloc(W * H * 3)
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) raw.set([x % 256, y % 256, (x + y) % 256], (y * W + x) * 3)
  const png = await sharp(raw, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer()
  const img = await decodeFull(png, limits)
  t.same([img.width, img.height], [W, H])
  t.ok(img.pixels.equals(raw), 'decoded once, losslessly, at full resolution')

  const tile = await cutTile(img, { x: 150, y: 70, width: 416, height: 416 }, yolox)
  t.same([tile.width, tile.height, tile.originalWidth, tile.originalHeight], [416, 416, 416, 416])
  t.same([...tile.pixels.subarray(0, 3)], [150, 70, 220], 'the top-left pixel')
  const last = (415 * 416 + 415) * 3
  t.same([...tile.pixels.subarray(last, last + 3)], [(150 + 415) % 256, (70 + 415) % 256, (150 + 70 + 830) % 256], 'the bottom-right pixel')
  t.equal(tile.pixels.byteOffset, 0)
  t.equal(tile.pixels.buffer.byteLength, tile.pixels.byteLength, 'its own buffer, so the worker can take it without a copy')

  const big = await cutTile(img, { x: 0, y: 0, width: 600, height: 500 }, yolox)
  const whole = await decodeImage(png, yolox, limits)
  t.same([big.width, big.height, big.originalWidth, big.originalHeight], [416, 346, 600, 500], 'a larger tile is letterboxed to the input')
  t.ok(Buffer.from(big.pixels).equals(Buffer.from(whole.pixels)), 'exactly as the model preprocessing prepares that image')
})
