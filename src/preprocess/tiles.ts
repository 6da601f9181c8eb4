// Tiled detection: which tiles a large image is cut into, and cutting them from pixels decoded
// once (decode-image.ts decodeFull), each prepared exactly as the model's preprocessing would
// prepare an image of the tile's size, so the worker takes a tile like any other image.
//
// The grid. Along each axis of length L with tile length T (default: the model's input size,
// so a tile reaches the model unscaled) and overlap ratio o:
//   n = 1                                     when L ≤ T (the tile is the whole axis, L long)
//   n = ⌈(L − T) / (T·(1 − o))⌉ + 1           otherwise
//   tile i starts at round(i · (L − T) / (n − 1))
// The first tile starts at 0 and the last ends at L, so every pixel is covered; the n tiles
// are spread evenly, so neighbours overlap by at least o·T (more when L does not divide).
//
// When an image is tiled (the request's `tiles`, else the model's `tiling.default`):
//   off   never
//   auto  when the whole-image pass would shrink the image by more than `autoScale`
//         (max(W / input width, H / input height) > autoScale, default 2: objects would be
//         drawn at under half their size) and the grid has more than one tile. The tile side
//         starts at the model input (or tiling's tileSize) and grows until the grid fits
//         `maxTiles` (tiles then resized to the input), so auto answers any image within
//         images.maxPixels; a `tile_size` given with it is taken as asked
//   n     n tiles along the longer side: T = ⌈L / (n − (n − 1)·o)⌉, each tile resized to the
//         model's input (a zoom level chosen by the client)
// A grid of one tile is no tiling (that tile is the whole image). A grid of more than `maxTiles`
// tiles — tiles=n or tile_size as asked — is refused (422 SY_TOO_MANY_TILES), judged from the
// header before decoding. Every tiled request also runs one whole-image pass (the ordinary
// preprocessing of the whole image), which finds the objects larger than a tile.
import { InvalidQuery, TooManyTiles } from '../errors.js'
import type { ModelSpec } from '../models/model-spec.js'
import type { PreparedImage } from '../worker/protocol.js'
import { prepareDecoded, type DecodedImage } from './decode-image.js'

export type TilingMode = 'off' | 'auto' | number

export interface TilingSettings {
  default: 'off' | 'auto'
  overlap: number
  maxTiles: number
  autoScale: number
  /** square tile side in image pixels; undefined: the model's input size */
  tileSize?: number | undefined
}

/** What the request asked for (query), each field optional */
export interface TilingRequest {
  tiles?: TilingMode | undefined
  tileSize?: number | undefined
  overlap?: number | undefined
}

/** A tile: a rectangle of the full image, in its pixels */
export interface TileRect { x: number, y: number, width: number, height: number }

export interface TilePlan {
  tileWidth: number
  tileHeight: number
  overlap: number
  /** left edges of the columns, top edges of the rows */
  xs: number[]
  ys: number[]
  tiles: TileRect[]
}

/** Most tiles along one side of `tiles=<n>` */
export const MAX_TILES_PER_SIDE = 32
/** Smallest tile side a request may ask for */
export const MIN_TILE_SIZE = 32

/** Parses the `tiles` query value: auto, off or a whole number of tiles along the longer side. */
export function parseTilesQuery (v: string | undefined): TilingMode | undefined {
  if (v === undefined) return undefined
  const s = v.trim().toLowerCase()
  if (s === 'auto' || s === 'off') return s
  if (/^\d{1,3}$/.test(s)) {
    const n = Number(s)
    if (n >= 1 && n <= MAX_TILES_PER_SIDE) return n
  }
  throw new InvalidQuery(`tiles must be "auto", "off" or a number of tiles along the longer side from 1 to ${MAX_TILES_PER_SIDE}`)
}

/** Start offsets of the tiles along an axis of `length` (see the grid rule above). */
export function tilePositions (length: number, tile: number, overlap: number): number[] {
  if (length <= tile) return [0]
  const n = Math.ceil((length - tile) / (tile * (1 - overlap)) - 1e-9) + 1
  const step = (length - tile) / (n - 1)
  return Array.from({ length: n }, (_, i) => Math.round(i * step))
}

export function tileGrid (width: number, height: number, tileSize: number, overlap: number): TilePlan {
  const tileWidth = Math.min(tileSize, width)
  const tileHeight = Math.min(tileSize, height)
  const xs = tilePositions(width, tileSize, overlap)
  const ys = tilePositions(height, tileSize, overlap)
  const tiles: TileRect[] = []
  for (const y of ys) for (const x of xs) tiles.push({ x, y, width: tileWidth, height: tileHeight })
  return { tileWidth, tileHeight, overlap, xs, ys, tiles }
}

/** Tiles of side `side` over width × height: columns × rows. */
export function tileCount (width: number, height: number, side: number, overlap: number): number {
  return tilePositions(width, side, overlap).length * tilePositions(height, side, overlap).length
}

/**
 * The tile side `auto` uses: `start` (the model input, or the configured tile size) when its
 * grid fits `maxTiles`, else the smallest side whose grid does (the count only falls as the
 * side grows, and one tile the size of the image always fits), found by bisection.
 */
export function autoTileSize (width: number, height: number, start: number, overlap: number, maxTiles: number): number {
  if (tileCount(width, height, start, overlap) <= maxTiles) return start
  let lo = start; let hi = Math.max(width, height, start) // count(lo) > maxTiles ≥ count(hi)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (tileCount(width, height, mid, overlap) <= maxTiles) hi = mid
    else lo = mid
  }
  return hi
}

/**
 * The tiles for an image of width × height (oriented, from the header), or null when it is
 * not tiled. Throws 400 for contradictory options and 422 past the tile cap.
 */
export function planTiles (width: number, height: number, input: { width: number, height: number }, req: TilingRequest, s: TilingSettings): TilePlan | null {
  const mode = req.tiles ?? (req.tileSize !== undefined ? 'auto' : s.default)
  if (mode === 'off') return null
  const overlap = req.overlap ?? s.overlap
  let plan: TilePlan
  if (typeof mode === 'number') {
    if (req.tileSize !== undefined) throw new InvalidQuery('give tiles=<n> or tile_size, not both')
    const long = Math.max(width, height)
    const side = Math.ceil(long / (mode - (mode - 1) * overlap))
    if (side < MIN_TILE_SIZE) throw new InvalidQuery(`tiles=${mode} would cut ${width}×${height} into tiles under ${MIN_TILE_SIZE} pixels`)
    plan = tileGrid(width, height, side, overlap)
  } else {
    const shrink = Math.max(width / input.width, height / input.height)
    if (shrink <= s.autoScale) return null
    if (req.tileSize !== undefined) plan = tileGrid(width, height, req.tileSize, overlap) // as asked
    else plan = tileGrid(width, height, autoTileSize(width, height, s.tileSize ?? Math.min(input.width, input.height), overlap, s.maxTiles), overlap)
  }
  if (plan.tiles.length === 1) return null // the one tile is the whole image: the plain pass
  if (plan.tiles.length > s.maxTiles) {
    throw new TooManyTiles(`${plan.xs.length}×${plan.ys.length} = ${plan.tiles.length}`, s.maxTiles)
  }
  return plan
}

/**
 * One tile of a decoded image, prepared for the model. Its original size is the tile's, so the
 * worker answers in tile pixels (merge-tiles.ts shifts them). A tile already at the model's
 * letterbox size (the default tile) is copied row by row from the decoded pixels into its own
 * buffer (transferable to the worker, no copy there); any other size goes through the model's
 * resize (prepareDecoded).
 */
export async function cutTile (img: DecodedImage, t: TileRect, model: Pick<ModelSpec, 'input' | 'preprocess'>): Promise<PreparedImage> {
  const pixels = Buffer.allocUnsafeSlow(t.width * t.height * 3)
  const row = t.width * 3
  for (let y = 0; y < t.height; y++) {
    const from = ((t.y + y) * img.width + t.x) * 3
    img.pixels.copy(pixels, y * row, from, from + row)
  }
  const { input, preprocess } = model
  if (preprocess.resize.mode === 'letterbox' && Math.min(input.width / t.width, input.height / t.height) === 1) {
    return { pixels, width: t.width, height: t.height, originalWidth: t.width, originalHeight: t.height }
  }
  return await prepareDecoded({ pixels, width: t.width, height: t.height }, model)
}
