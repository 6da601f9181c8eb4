// The hostile and odd input corpus (issue 4): every kind of bad or unusual upload the server
// must answer sensibly, each with the status (and, for errors, the `error` code) it must get.
// Built at test time from the shared photos and from bytes crafted here: nothing binary is
// committed. docs/input-limits.md tables the same kinds; src/http/hostile-input.test.ts sends
// every entry through a real server.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { deflateSync, gzipSync } from 'node:zlib'
import sharp, { type Sharp } from 'sharp'
import { SHARED_IMAGES, multipart } from './server.js'

export interface CorpusRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  url: string
  /** sent as given: no content-type here means none is sent; an array is a repeated header */
  headers: Record<string, string | string[]>
  payload?: Buffer
}

/** What a /detect answer to an accepted image must be. */
export interface Answer {
  /** the size the answer reports: the image as displayed (after EXIF orientation) */
  width: number
  height: number
  /** labels found with score ≥ 0.5 */
  finds?: string[]
  /** labels not found with score ≥ 0.5 (e.g. what only a later GIF frame shows) */
  misses?: string[]
  /**
   * decodes to the same pixels as this kind's image (both PNG or TIFF: no shrink-on-load):
   * identical answers from both models
   */
  sameAs?: string
  /** displayed (EXIF orientation applied), it is this kind's image: the same detections within a few px */
  uprightAs?: string
}

export interface CorpusEntry {
  kind: string
  /** one line for docs/input-limits.md */
  what: string
  request: CorpusRequest
  status: number
  /** the `error` of the JSON body, for every status ≥ 400 */
  code?: string
  /** for accepted images (status 200 on /detect); the image is also sent to /classify */
  answer?: Answer
  /** a known gap whose fix lies outside the input-handling files: what must change, where */
  todo?: string
}

export interface CorpusLimits {
  maxBodyBytes: number
  maxPixels: number
  maxDimension: number
}

export interface CorpusOptions {
  /** an http URL the external-reference SVG points at (the test counts fetches of it) */
  externalUrl: string
}

/** The photo the image kinds are made from: dog.jpg (768×576; dog, bicycle, car/truck). */
export const PHOTO = 'dog.jpg'
const PHOTO_LABELS = ['dog', 'bicycle']

const IMAGE_JPEG = { 'content-type': 'image/jpeg' } as const

export async function buildCorpus (limits: CorpusLimits, opts: CorpusOptions): Promise<CorpusEntry[]> {
  const photo = readFileSync(join(SHARED_IMAGES, PHOTO))
  const meta = await sharp(photo).metadata()
  const W = meta.width
  const H = meta.height
  const png = await sharp(photo).png().toBuffer()
  const entries: CorpusEntry[] = []
  const bad = (kind: string, what: string, request: CorpusRequest, status: number, code: string, todo?: string): void => {
    entries.push({ kind, what, request, status, code, ...(todo === undefined ? {} : { todo }) })
  }
  const raw = (payload: Buffer, type = 'image/jpeg', url = '/detect'): CorpusRequest =>
    ({ method: 'POST', url, headers: { 'content-type': type }, payload })
  const ok = (kind: string, what: string, payload: Buffer, type: string, answer: Answer): void => {
    entries.push({ kind, what, request: raw(payload, type), status: 200, answer })
  }

  // ── bodies that are not images ──────────────────────────────────────────────────────────
  bad('empty-body', 'empty body, Content-Type image/jpeg', raw(Buffer.alloc(0)), 400, 'SY_EMPTY_BODY')
  bad('random-bytes', '4 KiB of (seeded) random bytes as image/jpeg', raw(randomBytes(4096, 1)), 400, 'SY_INVALID_IMAGE')
  bad('text-as-image', 'plain text sent as image/png', raw(Buffer.from('hello, this is not an image\n'), 'image/png'), 400, 'SY_INVALID_IMAGE')
  bad('html-as-image', 'an HTML page sent as image/jpeg', raw(Buffer.from('<!doctype html><html><body><img src="x.jpg"></body></html>')), 400, 'SY_INVALID_IMAGE')
  bad('json-as-octet-stream', 'a JSON document sent as application/octet-stream', raw(Buffer.from('{"image":"dog.jpg"}'), 'application/octet-stream'), 400, 'SY_INVALID_IMAGE')
  bad('jpeg-soi-only', 'the three JPEG start bytes FF D8 FF and nothing else', raw(Buffer.from([0xff, 0xd8, 0xff])), 400, 'SY_INVALID_IMAGE')
  bad('png-signature-only', 'the 8-byte PNG signature and nothing else', raw(PNG_SIGNATURE, 'image/png'), 400, 'SY_INVALID_IMAGE')
  bad('truncated-jpeg-header', `${PHOTO} cut to its first 600 bytes (headers, no scan data)`, raw(photo.subarray(0, 600)), 400, 'SY_INVALID_IMAGE')
  bad('truncated-jpeg-half', `${PHOTO} cut in half`, raw(photo.subarray(0, photo.length >> 1)), 400, 'SY_INVALID_IMAGE')
  bad('truncated-png-half', `a sharp-made PNG of ${PHOTO} cut in half`, raw(png.subarray(0, png.length >> 1), 'image/png'), 400, 'SY_INVALID_IMAGE')
  bad('png-bad-crc', 'a PNG whose IDAT CRC is wrong', raw(corruptIdatCrc(await sharp(photo).resize(64).png().toBuffer()), 'image/png'), 400, 'SY_INVALID_IMAGE')
  bad('body-over-limit', `a raw body of maxBodyBytes + 1 (${limits.maxBodyBytes + 1}) bytes`, raw(Buffer.concat([photo.subarray(0, 4), Buffer.alloc(limits.maxBodyBytes + 1 - 4)])), 413, 'SY_PAYLOAD_TOO_LARGE')

  // ── formats that are not accepted ───────────────────────────────────────────────────────
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="red"/></svg>'
  bad('svg', 'a plain SVG (svg is not in images.formats)', raw(Buffer.from(svg), 'image/svg+xml'), 415, 'SY_UNSUPPORTED_IMAGE_FORMAT')
  bad('svg-xml-prolog', 'an SVG with an XML prolog and a DOCTYPE, sent as image/png', raw(Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n${svg}`), 'image/png'), 415, 'SY_UNSUPPORTED_IMAGE_FORMAT')
  bad('svg-external-ref', 'an SVG whose <image> references an external URL (never fetched)', raw(Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64"><image href="${opts.externalUrl}" xlink:href="${opts.externalUrl}" width="64" height="64"/></svg>`), 'image/svg+xml'), 415, 'SY_UNSUPPORTED_IMAGE_FORMAT')
  bad('svgz', 'a gzip-compressed SVG (any gzip stream counts as svg)', raw(gzipSync(Buffer.from(svg)), 'image/svg+xml'), 415, 'SY_UNSUPPORTED_IMAGE_FORMAT')
  bad('bmp', 'a 2×2 BMP (no BMP decoder is offered)', raw(bmp2x2(), 'image/bmp'), 415, 'SY_UNSUPPORTED_IMAGE_FORMAT')
  bad('pdf', 'a minimal PDF document sent as application/octet-stream', raw(Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n'), 'application/octet-stream'), 415, 'SY_UNSUPPORTED_IMAGE_FORMAT')

  // ── sizes refused from the header, before any decoding ──────────────────────────────────
  bad('png-pixel-bomb', 'a hand-made PNG whose IHDR declares 100000×100000 (10 gigapixels), valid CRCs, 1 KiB of data', raw(pngHeaderBomb(100_000, 100_000), 'image/png'), 422, 'SY_IMAGE_TOO_LARGE')
  const side = Math.min(limits.maxDimension, Math.ceil(Math.sqrt(limits.maxPixels)) + 1)
  bad('png-over-max-pixels', `a hand-made PNG declaring ${side}×${side}: every side within maxDimension, pixels over maxPixels`, raw(pngHeaderBomb(side, side), 'image/png'), 422, 'SY_IMAGE_TOO_LARGE')
  bad('jpeg-pixel-bomb', 'a small JPEG whose SOF header is patched to declare 65000×65000', raw(jpegWithSize(await sharp(photo).resize(16, 16).jpeg().toBuffer(), 65000, 65000)), 422, 'SY_IMAGE_TOO_LARGE')
  bad('tiff-pixel-bomb', 'a small TIFF whose ImageWidth/ImageLength tags are patched to 100000×100000', raw(tiffWithSize(await sharp(photo).resize(16, 16).tiff().toBuffer(), 100_000, 100_000), 'image/tiff'), 422, 'SY_IMAGE_TOO_LARGE')
  bad('webp-pixel-bomb', 'a small lossless WebP whose VP8L header is patched to 10000×10000', raw(webpWithSize(await sharp(photo).resize(16, 16).webp({ lossless: true }).toBuffer(), 10000, 10000), 'image/webp'), 422, 'SY_IMAGE_TOO_LARGE')
  bad('over-max-dimension-wide', `a real ${limits.maxDimension + 1}×1 PNG (wider than maxDimension)`, raw(await solid(limits.maxDimension + 1, 1).png().toBuffer(), 'image/png'), 422, 'SY_IMAGE_TOO_LARGE')
  bad('over-max-dimension-tall', `a real 1×${limits.maxDimension + 1} PNG (taller than maxDimension)`, raw(await solid(1, limits.maxDimension + 1).png().toBuffer(), 'image/png'), 422, 'SY_IMAGE_TOO_LARGE')

  // ── odd but valid images: accepted ──────────────────────────────────────────────────────
  ok('png-rgb', `${PHOTO} as a lossless 8-bit RGB PNG (the reference for the lossless kinds)`, png, 'image/png', { width: W, height: H, finds: PHOTO_LABELS })
  ok('png-16bit', `${PHOTO} as a 16-bit RGB PNG (resized at 16 bits, so close to, not equal to, png-rgb)`, await sharp(photo).toColourspace('rgb16').png().toBuffer(), 'image/png', { width: W, height: H, finds: PHOTO_LABELS })
  ok('png-alpha-opaque', `${PHOTO} as an RGBA PNG, fully opaque`, await sharp(photo).ensureAlpha(1).png().toBuffer(), 'image/png', { width: W, height: H, sameAs: 'png-rgb' })
  const { transparent, white } = await leftHalf(photo, W, H)
  ok('png-left-half-white', `${PHOTO} as an RGB PNG with its left half painted white (the reference for png-alpha-transparent)`, white, 'image/png', { width: W, height: H, finds: ['bicycle'] })
  ok('png-alpha-transparent', `${PHOTO} as an RGBA PNG with alpha 0 on its left half (composed onto white)`, transparent, 'image/png', { width: W, height: H, sameAs: 'png-left-half-white' })
  ok('png-palette', `${PHOTO} as a 256-colour palette PNG`, await sharp(photo).png({ palette: true, colours: 256, effort: 1, dither: 0 }).toBuffer(), 'image/png', { width: W, height: H, finds: PHOTO_LABELS })
  ok('png-grey-alpha', `${PHOTO} as a grey + alpha PNG`, await sharp(photo).greyscale().ensureAlpha(1).png().toBuffer(), 'image/png', { width: W, height: H, finds: ['dog'] })
  ok('jpeg-greyscale', `${PHOTO} as a one-channel greyscale JPEG`, await sharp(photo).greyscale().jpeg({ quality: 95 }).toBuffer(), 'image/jpeg', { width: W, height: H, finds: ['dog'] })
  ok('jpeg-cmyk', `${PHOTO} as a CMYK JPEG`, await sharp(photo).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer(), 'image/jpeg', { width: W, height: H, finds: PHOTO_LABELS })
  ok('jpeg-progressive', `${PHOTO} as a progressive JPEG`, await sharp(photo).jpeg({ quality: 95, progressive: true }).toBuffer(), 'image/jpeg', { width: W, height: H, finds: PHOTO_LABELS })
  ok('jpeg-trailing-garbage', `${PHOTO} with 4 KiB of random bytes after its EOI marker`, Buffer.concat([photo, randomBytes(4096, 2)]), 'image/jpeg', { width: W, height: H, finds: PHOTO_LABELS })
  const reencoded = await sharp(photo).jpeg({ quality: 95 }).toBuffer()
  ok('jpeg-reencoded', `${PHOTO} re-encoded at quality 95, EXIF orientation 1 (the reference for exif-orientation-6)`, reencoded, 'image/jpeg', { width: W, height: H, finds: PHOTO_LABELS })
  ok('exif-orientation-6', `${PHOTO} stored turned 90° anticlockwise (${H}×${W}) with EXIF orientation 6: displayed upright`, await sharp(photo).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer(), 'image/jpeg', { width: W, height: H, uprightAs: 'jpeg-reencoded' })
  ok('webp-lossless', `${PHOTO} as lossless WebP (same pixels as png-rgb, but sharp shrinks WebP while loading: close, not equal)`, await sharp(photo).webp({ lossless: true, effort: 0 }).toBuffer(), 'image/webp', { width: W, height: H, finds: PHOTO_LABELS })
  ok('webp-lossy', `${PHOTO} as lossy WebP`, await sharp(photo).webp({ quality: 90 }).toBuffer(), 'image/webp', { width: W, height: H, finds: PHOTO_LABELS })
  ok('tiff', `${PHOTO} as an LZW TIFF`, await sharp(photo).tiff({ compression: 'lzw' }).toBuffer(), 'image/tiff', { width: W, height: H, sameAs: 'png-rgb' })
  ok('avif', `${PHOTO} as AVIF`, await sharp(photo).avif({ quality: 80, effort: 0 }).toBuffer(), 'image/avif', { width: W, height: H, finds: ['dog'] })
  ok('gif-animated', `an animated GIF: frame 1 is ${PHOTO}, frame 2 is eagle.jpg (the first frame is used)`, await animatedGif(photo, readFileSync(join(SHARED_IMAGES, 'eagle.jpg')), W, H), 'image/gif', { width: W, height: H, finds: ['dog'], misses: ['bird'] })
  ok('gif-huge-screen', 'a 16×16 GIF whose logical screen is patched to 65535×65535 (libvips sizes a GIF by its frames: no bomb)', gifWithScreen(await sharp(photo).resize(16, 16).gif().toBuffer(), 65535, 65535), 'image/gif', { width: 16, height: 16 })
  ok('one-pixel', 'a 1×1 PNG', await solid(1, 1).png().toBuffer(), 'image/png', { width: 1, height: 1 })
  ok('aspect-1x4000', 'a 1×4000 PNG (extreme aspect ratio, tall)', await solid(1, 4000).png().toBuffer(), 'image/png', { width: 1, height: 4000 })
  ok('aspect-4000x1', 'a 4000×1 PNG (extreme aspect ratio, wide)', await solid(4000, 1).png().toBuffer(), 'image/png', { width: 4000, height: 1 })
  ok('at-max-dimension', `a ${limits.maxDimension}×1 PNG (exactly maxDimension: allowed)`, await solid(limits.maxDimension, 1).png().toBuffer(), 'image/png', { width: limits.maxDimension, height: 1 })
  ok('content-type-lies', `${PHOTO} (a JPEG) sent as image/png: the bytes decide`, photo, 'image/png', { width: W, height: H, finds: PHOTO_LABELS })
  ok('octet-stream', `${PHOTO} sent as application/octet-stream`, photo, 'application/octet-stream', { width: W, height: H, finds: PHOTO_LABELS })
  ok('content-type-params', `${PHOTO} sent as "IMAGE/JPEG; charset=binary"`, photo, 'IMAGE/JPEG; charset=binary', { width: W, height: H, finds: PHOTO_LABELS })

  // ── content types ───────────────────────────────────────────────────────────────────────
  bad('content-type-text-plain', `${PHOTO} sent as text/plain`, raw(photo, 'text/plain'), 415, 'SY_UNSUPPORTED_MEDIA_TYPE')
  bad('content-type-json', 'a JSON body sent as application/json', raw(Buffer.from('{"url":"http://example.com/dog.jpg"}'), 'application/json'), 415, 'SY_UNSUPPORTED_MEDIA_TYPE')
  bad('content-type-json-invalid', 'a malformed JSON body sent as application/json', raw(Buffer.from('{"url": '), 'application/json'), 415, 'SY_UNSUPPORTED_MEDIA_TYPE')
  bad('content-type-form-urlencoded', 'application/x-www-form-urlencoded', raw(Buffer.from('image=abc'), 'application/x-www-form-urlencoded'), 415, 'SY_UNSUPPORTED_MEDIA_TYPE')
  bad('empty-body-no-content-type', 'no body and no Content-Type', { method: 'POST', url: '/detect', headers: {} }, 400, 'SY_EMPTY_BODY')
  bad('content-type-missing', `${PHOTO} with no Content-Type header`, { method: 'POST', url: '/detect', headers: {}, payload: photo }, 415, 'SY_UNSUPPORTED_MEDIA_TYPE')
  bad('content-type-malformed', `${PHOTO} with Content-Type "image/"`, raw(photo, 'image/'), 415, 'SY_UNSUPPORTED_MEDIA_TYPE')
  bad('multipart-mixed', 'a multipart/mixed body', mp([{ name: 'file', filename: 'dog.jpg', type: 'image/jpeg', data: photo }], 'multipart/mixed'), 415, 'SY_UNSUPPORTED_MEDIA_TYPE')

  // ── multipart/form-data ─────────────────────────────────────────────────────────────────
  entries.push({ kind: 'multipart-odd-field-name', what: 'one file part under an unexpected field name ("whatever")', request: mp([{ name: 'whatever', filename: 'x.bin', type: 'application/octet-stream', data: photo }]), status: 200, answer: { width: W, height: H, finds: PHOTO_LABELS } })
  entries.push({ kind: 'multipart-file-and-fields', what: 'text fields around the one file part (text fields are ignored)', request: mp([{ name: 'a', data: 'x' }, { name: 'image', filename: 'dog.jpg', type: 'image/jpeg', data: photo }, { name: 'b', data: 'y' }]), status: 200, answer: { width: W, height: H, finds: PHOTO_LABELS } })
  entries.push({ kind: 'multipart-filename-traversal', what: 'the file part named "../../etc/passwd" (file names are ignored)', request: mp([{ name: 'image', filename: '../../etc/passwd', type: 'image/jpeg', data: photo }]), status: 200, answer: { width: W, height: H, finds: PHOTO_LABELS } })
  entries.push({ kind: 'multipart-huge-text-field', what: 'a 100 KiB text field beside the file (over fieldSize: truncated, ignored)', request: mp([{ name: 'note', data: 'x'.repeat(100 * 1024) }, { name: 'image', filename: 'dog.jpg', type: 'image/jpeg', data: photo }]), status: 200, answer: { width: W, height: H, finds: PHOTO_LABELS } })
  bad('multipart-many-fields', '20 text fields before the file (over the parser\'s field limit of 16)', mp([...Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: 'x' })), { name: 'image', filename: 'dog.jpg', type: 'image/jpeg', data: photo }]), 413, 'SY_TOO_MANY_PARTS')
  bad('multipart-proto-field', 'a text field named __proto__', mp([{ name: '__proto__', data: '{}' }, { name: 'image', filename: 'dog.jpg', type: 'image/jpeg', data: photo }]), 400, 'SY_INVALID_MULTIPART')
  bad('multipart-json-field-invalid', 'a text field declared application/json holding invalid JSON', mp([{ name: 'meta', type: 'application/json', data: '{"a":' }, { name: 'image', filename: 'dog.jpg', type: 'image/jpeg', data: photo }]), 400, 'SY_INVALID_MULTIPART')
  bad('multipart-no-parts', 'multipart/form-data with no parts at all', mp([]), 400, 'SY_MISSING_FILE')
  bad('multipart-text-only', 'multipart/form-data with only a text field', mp([{ name: 'image', data: 'dog.jpg' }]), 400, 'SY_MISSING_FILE')
  bad('multipart-two-files', 'two file parts', mp([{ name: 'a', filename: 'a.jpg', type: 'image/jpeg', data: photo }, { name: 'b', filename: 'b.jpg', type: 'image/jpeg', data: photo }]), 400, 'SY_TOO_MANY_FILES')
  bad('multipart-three-files', 'three small file parts (over the parser\'s file limit)', mp([1, 2, 3].map((i) => ({ name: `f${i}`, filename: `${i}.jpg`, type: 'image/jpeg', data: photo.subarray(0, 100) }))), 400, 'SY_TOO_MANY_FILES')
  bad('multipart-empty-file', 'one file part with no bytes', mp([{ name: 'image', filename: 'empty.jpg', type: 'image/jpeg', data: Buffer.alloc(0) }]), 400, 'SY_EMPTY_BODY')
  bad('multipart-file-not-image', 'one file part holding text', mp([{ name: 'image', filename: 'notes.txt', type: 'text/plain', data: 'not an image' }]), 400, 'SY_INVALID_IMAGE')
  bad('multipart-file-over-limit', `one file part of maxBodyBytes + 1 (${limits.maxBodyBytes + 1}) bytes`, mp([{ name: 'image', filename: 'big.jpg', type: 'image/jpeg', data: Buffer.alloc(limits.maxBodyBytes + 1) }]), 413, 'SY_PAYLOAD_TOO_LARGE')
  const cut = mp([{ name: 'image', filename: 'dog.jpg', type: 'image/jpeg', data: photo }])
  bad('multipart-truncated', 'a multipart body cut before its closing boundary', { ...cut, payload: cut.payload!.subarray(0, cut.payload!.length >> 1) }, 400, 'SY_INVALID_MULTIPART')
  bad('multipart-no-boundary', 'Content-Type multipart/form-data without a boundary parameter', raw(photo, 'multipart/form-data'), 400, 'SY_INVALID_MULTIPART')
  bad('multipart-garbage', 'multipart/form-data whose body is random bytes', raw(randomBytes(2048, 3), 'multipart/form-data; boundary=xyz'), 400, 'SY_INVALID_MULTIPART')

  // ── query strings ───────────────────────────────────────────────────────────────────────
  const query = (kind: string, what: string, url: string): void => bad(kind, what, { ...raw(photo, 'image/jpeg', url) }, 400, 'SY_INVALID_QUERY')
  query('top-k-zero', 'top_k=0', '/classify?top_k=0')
  query('top-k-negative', 'top_k=-5', '/classify?top_k=-5')
  query('top-k-too-big', 'top_k=1001', '/classify?top_k=1001')
  query('top-k-huge', 'top_k=99999999999999999999999', '/classify?top_k=99999999999999999999999')
  query('top-k-fraction', 'top_k=2.5', '/classify?top_k=2.5')
  query('top-k-not-a-number', 'top_k=five', '/classify?top_k=five')
  bad('top-k-infinity', 'top_k=Infinity', raw(photo, 'image/jpeg', '/classify?top_k=Infinity'), 400, 'SY_INVALID_QUERY')
  bad('top-k-minus-infinity', 'top_k=-1e400 (parses to -Infinity)', raw(photo, 'image/jpeg', '/classify?top_k=-1e400'), 400, 'SY_INVALID_QUERY')
  query('top-k-empty', 'top_k= (empty)', '/classify?top_k=')
  query('top-k-repeated', 'top_k=1&top_k=2', '/classify?top_k=1&top_k=2')
  query('score-threshold-negative', 'score_threshold=-0.1', '/detect?score_threshold=-0.1')
  query('score-threshold-over-one', 'score_threshold=1.5', '/detect?score_threshold=1.5')
  query('score-threshold-nan', 'score_threshold=NaN', '/detect?score_threshold=NaN')
  bad('score-threshold-infinity', 'score_threshold=Infinity', raw(photo, 'image/jpeg', '/detect?score_threshold=Infinity'), 400, 'SY_INVALID_QUERY')
  bad('iou-threshold-overflow', 'iou_threshold=-1e400 (parses to -Infinity)', raw(photo, 'image/jpeg', '/detect?iou_threshold=-1e400'), 400, 'SY_INVALID_QUERY')
  query('iou-threshold-not-a-number', 'iou_threshold=abc', '/detect?iou_threshold=abc')
  query('iou-threshold-huge', 'iou_threshold=1e308', '/detect?iou_threshold=1e308')

  // ── headers ─────────────────────────────────────────────────────────────────────────────
  const header = (kind: string, what: string, headers: Record<string, string | string[]>, status = 400, code = 'SY_INVALID_HEADER'): void =>
    bad(kind, what, { method: 'POST', url: '/classify', headers: { ...IMAGE_JPEG, ...headers }, payload: photo }, status, code)
  header('policy-invalid', 'X-Switchyard-Policy: fastest', { 'x-switchyard-policy': 'fastest' })
  header('policy-empty', 'X-Switchyard-Policy: (empty)', { 'x-switchyard-policy': '' })
  header('policy-list', 'X-Switchyard-Policy: latency,throughput', { 'x-switchyard-policy': 'latency,throughput' })
  header('policy-repeated', 'X-Switchyard-Policy sent twice (latency, latency)', { 'x-switchyard-policy': ['latency', 'latency'] })
  header('deadline-zero', 'X-Switchyard-Deadline-Ms: 0', { 'x-switchyard-deadline-ms': '0' })
  header('deadline-negative', 'X-Switchyard-Deadline-Ms: -100', { 'x-switchyard-deadline-ms': '-100' })
  header('deadline-too-big', 'X-Switchyard-Deadline-Ms: 3600001', { 'x-switchyard-deadline-ms': '3600001' })
  header('deadline-huge', 'X-Switchyard-Deadline-Ms: 1e400', { 'x-switchyard-deadline-ms': '1e400' })
  header('deadline-not-a-number', 'X-Switchyard-Deadline-Ms: soon', { 'x-switchyard-deadline-ms': 'soon' })
  header('deadline-fraction', 'X-Switchyard-Deadline-Ms: 250.5', { 'x-switchyard-deadline-ms': '250.5' })
  header('deadline-repeated', 'X-Switchyard-Deadline-Ms sent twice (100, 200)', { 'x-switchyard-deadline-ms': ['100', '200'] })
  header('device-invalid', 'X-Switchyard-Device: "cpu; rm -rf /"', { 'x-switchyard-device': 'cpu; rm -rf /' })
  header('device-repeated', 'X-Switchyard-Device sent twice (cpu, cpu)', { 'x-switchyard-device': ['cpu', 'cpu'] })
  header('device-unknown', 'X-Switchyard-Device: tpu:7 (well-formed, no such device)', { 'x-switchyard-device': 'tpu:7' }, 404, 'SY_DEVICE_NOT_FOUND')
  header('policy-cost-typo', 'X-Switchyard-Policy: cheapest', { 'x-switchyard-policy': 'cheapest' })
  header('variant-invalid', 'X-Switchyard-Variant: "int8; drop"', { 'x-switchyard-variant': 'int8; drop' })
  header('variant-repeated', 'X-Switchyard-Variant sent twice (int8, int8)', { 'x-switchyard-variant': ['int8', 'int8'] })
  header('variant-unknown', 'X-Switchyard-Variant: fp16 (well-formed, the model has no such variant)', { 'x-switchyard-variant': 'fp16' }, 404, 'SY_VARIANT_NOT_FOUND')

  // ── paths and methods ───────────────────────────────────────────────────────────────────
  const path = (kind: string, what: string, method: CorpusRequest['method'], url: string, code: string, status = 404, todo?: string): void =>
    bad(kind, what, method === 'GET' ? { method, url, headers: {} } : { ...raw(photo, 'image/jpeg', url), method }, status, code, todo)
  path('model-unknown', 'POST /classify/no-such-model', 'POST', '/classify/no-such-model', 'SY_MODEL_NOT_FOUND')
  path('model-wrong-task', 'POST /classify/yolox-nano (a detector)', 'POST', '/classify/yolox-nano', 'SY_MODEL_NOT_FOUND')
  path('model-traversal', 'POST /detect/..%2F..%2Fetc%2Fpasswd', 'POST', '/detect/..%2F..%2Fetc%2Fpasswd', 'SY_MODEL_NOT_FOUND')
  path('model-name-too-long', 'POST /detect/<300 × "a"> (longer than the router\'s maxParamLength, 100)', 'POST', `/detect/${'a'.repeat(300)}`, 'SY_MODEL_NOT_FOUND', 404)
  path('url-bad-encoding', 'POST /classify/%E0%A4%A (broken percent-encoding)', 'POST', '/classify/%E0%A4%A', 'SY_BAD_REQUEST', 400)
  path('route-unknown', 'POST /segment', 'POST', '/segment', 'SY_ROUTE_NOT_FOUND')
  path('route-too-deep', 'POST /classify/mobilenetv2-12-int8/extra', 'POST', '/classify/mobilenetv2-12-int8/extra', 'SY_ROUTE_NOT_FOUND')
  path('get-classify', 'GET /classify (404, not 405: only POST is routed)', 'GET', '/classify', 'SY_ROUTE_NOT_FOUND')
  path('put-detect', 'PUT /detect', 'PUT', '/detect', 'SY_ROUTE_NOT_FOUND')

  const kinds = new Set<string>()
  for (const e of entries) {
    if (kinds.has(e.kind)) throw new Error(`corpus kind ${e.kind} is declared twice`)
    kinds.add(e.kind)
  }
  return entries
}

// ── byte crafting ───────────────────────────────────────────────────────────────────────

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

/** Deterministic bytes (mulberry32), so a failure names the same bytes every run. */
export function randomBytes (n: number, seed: number): Buffer {
  const out = Buffer.alloc(n)
  let a = seed >>> 0
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff
  }
  return out
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

/** CRC-32 as PNG computes it (ISO 3309), over a chunk's type and data. */
export function crc32 (buf: Buffer): number {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

export function pngChunk (type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([len, body, crc])
}

/**
 * A well-formed PNG header declaring width×height 8-bit RGB, followed by 1 KiB of pixel data
 * (far less than the declaration): refusing it with 422 rather than 400 proves the size was
 * judged from the header, before any decoding.
 */
export function pngHeaderBomb (width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // colour type: RGB
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.alloc(1024))), pngChunk('IEND', Buffer.alloc(0))])
}

function corruptIdatCrc (png: Buffer): Buffer {
  const out = Buffer.from(png)
  let at = 8
  while (at < out.length) {
    const len = out.readUInt32BE(at)
    if (out.toString('latin1', at + 4, at + 8) === 'IDAT') {
      const crc = at + 8 + len
      out.writeUInt32BE((out.readUInt32BE(crc) ^ 0xdeadbeef) >>> 0, crc)
      return out
    }
    at += 12 + len
  }
  throw new Error('no IDAT chunk')
}

/** A JPEG with its SOF0/SOF2 frame size overwritten. */
export function jpegWithSize (jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg)
  let at = 2
  while (at + 4 < out.length) {
    if (out[at] !== 0xff) throw new Error(`no JPEG marker at ${at}`)
    const marker = out[at + 1]!
    const len = out.readUInt16BE(at + 2)
    if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) {
      out.writeUInt16BE(height, at + 5)
      out.writeUInt16BE(width, at + 7)
      return out
    }
    at += 2 + len
  }
  throw new Error('no SOF marker')
}

/** A little-endian TIFF with its first IFD's ImageWidth/ImageLength overwritten (as LONGs). */
function tiffWithSize (tiff: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(tiff)
  if (out.toString('latin1', 0, 4) !== 'II*\0') throw new Error('not a little-endian TIFF')
  const ifd = out.readUInt32LE(4)
  const n = out.readUInt16LE(ifd)
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12
    const tag = out.readUInt16LE(e)
    if (tag !== 256 && tag !== 257) continue
    out.writeUInt16LE(4, e + 2) // type LONG
    out.writeUInt32LE(1, e + 4)
    out.writeUInt32LE(tag === 256 ? width : height, e + 8)
  }
  return out
}

/** A lossless WebP (simple format, VP8L) with the 14-bit sizes in its header overwritten. */
function webpWithSize (webp: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(webp)
  if (out.toString('latin1', 12, 16) !== 'VP8L' || out[20] !== 0x2f) throw new Error('not a simple lossless WebP')
  const bits = out.readUInt32LE(21)
  out.writeUInt32LE(((bits & ~0x0fffffff) | ((width - 1) & 0x3fff) | (((height - 1) & 0x3fff) << 14)) >>> 0, 21)
  return out
}

function gifWithScreen (gif: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(gif)
  out.writeUInt16LE(width, 6)
  out.writeUInt16LE(height, 8)
  return out
}

function bmp2x2 (): Buffer {
  const pixels = Buffer.from([0, 0, 255, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0]) // 2 rows of 2 BGR pixels, padded to 8 bytes
  const head = Buffer.alloc(54)
  head.write('BM', 0, 'latin1')
  head.writeUInt32LE(54 + pixels.length, 2)
  head.writeUInt32LE(54, 10)
  head.writeUInt32LE(40, 14)
  head.writeInt32LE(2, 18)
  head.writeInt32LE(2, 22)
  head.writeUInt16LE(1, 26)
  head.writeUInt16LE(24, 28)
  head.writeUInt32LE(pixels.length, 34)
  return Buffer.concat([head, pixels])
}

function solid (width: number, height: number): Sharp {
  return sharp({ create: { width, height, channels: 3, background: { r: 120, g: 130, b: 140 } } })
}

/** The photo with alpha 0 on its left half, and the same with that half painted white instead. */
async function leftHalf (photo: Buffer, width: number, height: number): Promise<{ transparent: Buffer, white: Buffer }> {
  const rgb = await sharp(photo).raw().toBuffer()
  const alpha = Buffer.alloc(width * height, 255)
  const painted = Buffer.from(rgb)
  for (let y = 0; y < height; y++) {
    alpha.fill(0, y * width, y * width + (width >> 1))
    painted.fill(255, y * width * 3, (y * width + (width >> 1)) * 3)
  }
  const raw = { width, height, channels: 3 } as const
  return {
    transparent: await sharp(rgb, { raw }).joinChannel(alpha, { raw: { width, height, channels: 1 } }).png().toBuffer(),
    white: await sharp(painted, { raw }).png().toBuffer()
  }
}

async function animatedGif (first: Buffer, second: Buffer, width: number, height: number): Promise<Buffer> {
  const a = await sharp(first).raw().toBuffer()
  const b = await sharp(second).resize({ width, height, fit: 'fill' }).removeAlpha().raw().toBuffer()
  return sharp(Buffer.concat([a, b]), { raw: { width, height: height * 2, channels: 3, pageHeight: height } })
    .gif({ loop: 0, delay: [100, 100], effort: 1, dither: 0 })
    .toBuffer()
}

function mp (parts: Parameters<typeof multipart>[0], type = 'multipart/form-data'): CorpusRequest {
  const { payload, headers } = multipart(parts)
  return { method: 'POST', url: '/detect', headers: { 'content-type': headers['content-type']!.replace('multipart/form-data', type) }, payload }
}
