// The Open Inference Protocol (KServe v2) on the real models: requests built the way
// tritonclient.http (binary tensor data) and KServe's REST clients (JSON) build them, answers
// checked against /classify and /detect on the same photo and against an independent
// implementation of MODEL.md's preprocessing; every malformed request is a 4xx `{ error }`.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { referenceInput, referenceLogits } from '../../test-support/reference-classifier.js'
import { SHARED_IMAGES, startServer } from '../../test-support/server.js'
import { MAX_ITEMS, MAX_JSON_ITEMS } from './model-io.js'
import { MAX_DEPTH } from './wire.js'

const server = await startServer(t)
const { app } = server
const photo = (name: string): Buffer => readFileSync(join(SHARED_IMAGES, name))
const DOG = photo('dog.jpg')

// ── clients ────────────────────────────────────────────────────────────────────────────

interface Tensor { name: string, datatype: string, shape: number[], data: Buffer | unknown[] }
interface Output { name: string, binary?: boolean }

/** tritonclient.http's _get_inference_request: JSON header, then every binary input's bytes. */
function tritonRequest (inputs: Tensor[], outputs?: Output[], parameters: Record<string, unknown> = {}): { payload: Buffer, headers: Record<string, string> } {
  const binaries: Buffer[] = []
  const req: Record<string, unknown> = {
    inputs: inputs.map((i) => {
      if (!Buffer.isBuffer(i.data)) return { name: i.name, shape: i.shape, datatype: i.datatype, data: i.data }
      binaries.push(i.data)
      return { name: i.name, shape: i.shape, datatype: i.datatype, parameters: { binary_data_size: i.data.length } }
    })
  }
  // no outputs named: tritonclient asks for every output in binary
  if (outputs) req.outputs = outputs.map((o) => ({ name: o.name, parameters: { binary_data: o.binary ?? true } }))
  else parameters = { ...parameters, binary_data_output: true }
  if (Object.keys(parameters).length > 0) req.parameters = parameters
  const json = Buffer.from(JSON.stringify(req))
  if (binaries.length === 0) return { payload: json, headers: {} }
  return { payload: Buffer.concat([json, ...binaries]), headers: { 'inference-header-content-length': String(json.length) } }
}

/** tritonclient's BYTES serialisation: 4-byte little-endian length, then the bytes, per element. */
function bytesTensor (elements: Buffer[]): Buffer {
  return Buffer.concat(elements.flatMap((e) => {
    const len = Buffer.alloc(4)
    len.writeUInt32LE(e.length)
    return [len, e]
  }))
}

function fp32Bytes (values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength)
}

interface Decoded { name: string, datatype: string, shape: number[], values: number[] | string[] }

/** tritonclient's InferResult: JSON header, binary outputs sliced in order by binary_data_size. */
function readResponse (res: { headers: Record<string, unknown>, rawPayload: Buffer }): { head: Record<string, unknown>, outputs: Map<string, Decoded> } {
  const len = res.headers['inference-header-content-length']
  const body = res.rawPayload
  const headLen = len === undefined ? body.length : Number(len)
  const head = JSON.parse(body.subarray(0, headLen).toString()) as { outputs: Array<{ name: string, datatype: string, shape: number[], data?: number[] | string[], parameters?: { binary_data_size: number } }> }
  let at = headLen
  const outputs = new Map<string, Decoded>()
  for (const o of head.outputs) {
    let values: number[] | string[]
    if (o.parameters?.binary_data_size !== undefined) {
      const b = body.subarray(at, at + o.parameters.binary_data_size)
      at += b.length
      if (o.datatype === 'FP32') values = Array.from(new Float32Array(new Uint8Array(b).buffer))
      else if (o.datatype === 'INT32') values = Array.from(new Int32Array(new Uint8Array(b).buffer))
      else {
        const strings: string[] = []
        for (let p = 0; p < b.length;) { const l = b.readUInt32LE(p); strings.push(b.subarray(p + 4, p + 4 + l).toString()); p += 4 + l }
        values = strings
      }
    } else {
      values = o.data!
    }
    outputs.set(o.name, { name: o.name, datatype: o.datatype, shape: o.shape, values })
  }
  if (at !== body.length) throw new Error(`${body.length - at} bytes after the last binary output`)
  return { head: head as unknown as Record<string, unknown>, outputs }
}

const infer = (model: string, r: { payload: Buffer | string, headers?: Record<string, string> }) =>
  app.inject({ method: 'POST', url: `/v2/models/${model}/infer`, payload: r.payload, headers: r.headers ?? {} })

const CLS = 'mobilenetv2'
const DET = 'yolox-nano'

// ── server and model metadata ──────────────────────────────────────────────────────────

t.test('server metadata, health and readiness', async (t) => {
  const meta = await app.inject({ method: 'GET', url: '/v2' })
  t.equal(meta.statusCode, 200)
  t.match(meta.json(), { name: 'switchyard', version: /^\d+\.\d+\.\d+/, extensions: ['binary_tensor_data'] })
  t.same((await app.inject({ method: 'GET', url: '/v2/health/live' })).json(), { live: true })
  const ready = await app.inject({ method: 'GET', url: '/v2/health/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { ready: true })
  for (const url of [`/v2/models/${CLS}/ready`, `/v2/models/${DET}/versions/1/ready`]) {
    const r = await app.inject({ method: 'GET', url })
    t.equal(r.statusCode, 200, url)
    t.equal(r.json().ready, true, url)
  }
})

t.test('model metadata gives the sessions\' real input and output names, types and shapes', async (t) => {
  const cls = await app.inject({ method: 'GET', url: `/v2/models/${CLS}` })
  t.equal(cls.statusCode, 200)
  t.same(cls.json(), {
    name: CLS,
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }, { name: 'encoded_image', datatype: 'BYTES', shape: [-1] }],
    outputs: [
      { name: 'output', datatype: 'FP32', shape: [-1, 1000] },
      { name: 'scores', datatype: 'FP32', shape: [-1, -1] },
      { name: 'indices', datatype: 'INT32', shape: [-1, -1] },
      { name: 'labels', datatype: 'BYTES', shape: [-1, -1] }
    ]
  })
  const det = await app.inject({ method: 'GET', url: `/v2/models/${DET}/versions/1` })
  t.equal(det.statusCode, 200)
  t.same(det.json().inputs[0], { name: 'images', datatype: 'FP32', shape: [-1, 3, 416, 416] }, 'a batch exported as 1, freed at load, is shown as -1')
  t.same(det.json().outputs.map((o: { name: string, shape: number[] }) => [o.name, o.shape]), [
    ['output', [-1, 3549, 85]], ['num_detections', [-1]], ['boxes', [-1, -1, 4]], ['scores', [-1, -1]], ['classes', [-1, -1]], ['labels', [-1, -1]]
  ])
  // the same shapes /models reports from the sessions
  const models = (await app.inject({ method: 'GET', url: '/models' })).json().models as Array<{ name: string, input: { shape: Array<number | string> } }>
  for (const m of models) {
    const meta = (await app.inject({ method: 'GET', url: `/v2/models/${m.name}` })).json()
    t.same(meta.inputs[0].shape, m.input.shape.map((d) => typeof d === 'number' ? d : -1), `${m.name}: the session's input shape`)
  }
})

// ── inference on encoded images ────────────────────────────────────────────────────────

t.test('JSON infer with a base64 image gives /classify\'s answer, plus the raw logits', async (t) => {
  const classify = (await app.inject({ method: 'POST', url: '/classify?top_k=3', payload: DOG, headers: { 'content-type': 'image/jpeg' } })).json()
  // KServe's REST client: application/json, data inline
  const res = await infer(CLS, {
    payload: JSON.stringify({ id: 'dog-1', parameters: { top_k: 3 }, inputs: [{ name: 'encoded_image', shape: [1], datatype: 'BYTES', data: [DOG.toString('base64')] }] }),
    headers: { 'content-type': 'application/json' }
  })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.headers['content-type'], /^application\/json/)
  t.equal(res.headers['x-switchyard-device'], 'cpu')
  t.match(res.headers['server-timing'], /decode;dur=[\d.]+, queue;dur=[\d.]+, inference;dur=[\d.]+/)
  const { head, outputs } = readResponse(res)
  t.match(head, { model_name: CLS, model_version: '1', id: 'dog-1' })
  t.same(outputs.get('labels'), { name: 'labels', datatype: 'BYTES', shape: [1, 3], values: classify.predictions.map((p: { label: string }) => p.label) })
  t.same(outputs.get('indices')!.values, classify.predictions.map((p: { index: number }) => p.index))
  t.same(outputs.get('scores')!.values, classify.predictions.map((p: { score: number }) => Math.fround(p.score)))
  const logits = outputs.get('output')!
  t.same([logits.datatype, logits.shape], ['FP32', [1, 1000]])
  const top = (logits.values as number[]).indexOf(Math.max(...(logits.values as number[])))
  t.equal(top, classify.predictions[0].index, 'the raw logits\' argmax is the top label')
})

t.test('binary infer as tritonclient builds it: an image in, every output in binary', async (t) => {
  const detect = (await app.inject({ method: 'POST', url: '/detect', payload: DOG, headers: { 'content-type': 'image/jpeg' } })).json()
  const res = await infer(DET, tritonRequest([{ name: 'encoded_image', datatype: 'BYTES', shape: [1, 1], data: bytesTensor([DOG]) }]))
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.headers['content-type'], 'application/octet-stream')
  t.ok(Number(res.headers['inference-header-content-length']) > 0)
  const { outputs } = readResponse(res)
  const n = detect.detections.length
  t.same(outputs.get('num_detections')!.values, [n])
  t.same(outputs.get('boxes')!.shape, [1, n, 4])
  t.same(outputs.get('boxes')!.values, detect.detections.flatMap((d: { box: { x1: number, y1: number, x2: number, y2: number } }) => [d.box.x1, d.box.y1, d.box.x2, d.box.y2].map(Math.fround)))
  t.same(outputs.get('labels')!.values, detect.detections.map((d: { label: string }) => d.label))
  t.same(outputs.get('classes')!.values, detect.detections.map((d: { index: number }) => d.index))
  t.same(outputs.get('output')!.shape, [1, 3549, 85])
})

t.test('N images in one request: N items, answers in order, detections padded to the longest', async (t) => {
  const names = ['dog.jpg', 'kite.jpg', 'eagle.jpg']
  const single = await Promise.all(names.map(async (n) => (await app.inject({ method: 'POST', url: '/detect', payload: photo(n), headers: { 'content-type': 'image/jpeg' } })).json()))
  const res = await infer(DET, tritonRequest([{ name: 'encoded_image', datatype: 'BYTES', shape: [3], data: bytesTensor(names.map(photo)) }],
    [{ name: 'num_detections', binary: false }, { name: 'labels' }, { name: 'scores' }]))
  t.equal(res.statusCode, 200, res.body)
  const { outputs } = readResponse(res)
  t.same([...outputs.keys()], ['num_detections', 'labels', 'scores'], 'only the outputs asked for, in that order')
  const counts = single.map((s) => s.detections.length)
  t.same(outputs.get('num_detections')!.values, counts)
  const d = Math.max(...counts)
  t.same(outputs.get('scores')!.shape, [3, d])
  const labels = outputs.get('labels')!.values as string[]
  single.forEach((s, i) => {
    t.same(labels.slice(i * d, i * d + counts[i]!), s.detections.map((x: { label: string }) => x.label), names[i])
    t.ok(labels.slice(i * d + counts[i]!, (i + 1) * d).every((l) => l === ''), `${names[i]}: padded with empty labels`)
  })
})

t.test('the items of one request are admitted and queued together, as the tiles of a /detect are: one batch', async (t) => {
  // bug: a /v2 request was admitted as one item, then each image dispatched as soon as it was
  // decoded, so the first ran alone on the idle worker (batch sizes 1,1,1 or 1,2,2)
  const res = await infer(CLS, tritonRequest([{ name: 'encoded_image', datatype: 'BYTES', shape: [3], data: bytesTensor([DOG, DOG, DOG]) }], [{ name: 'labels' }]))
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.headers['x-switchyard-batch-size'], '3,3,3', 'three items, one batch')
})

// ── inference on the model's own input tensor ──────────────────────────────────────────

t.test('a raw FP32 tensor gives the same logits as the image route\'s tensor for the same photo', async (t) => {
  for (const name of ['dog.jpg', 'eagle.jpg', 'scream.jpg']) {
    const file = join(SHARED_IMAGES, name)
    const x = await referenceInput(file) // MODEL.md's preprocessing, written independently
    const viaImage = readResponse(await infer(CLS, tritonRequest([{ name: 'encoded_image', datatype: 'BYTES', shape: [1], data: bytesTensor([photo(name)]) }], [{ name: 'output' }])))
    const tensorRes = await infer(CLS, tritonRequest([{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224], data: fp32Bytes(x) }], [{ name: 'output' }, { name: 'labels', binary: false }]))
    t.equal(tensorRes.statusCode, 200, tensorRes.body)
    t.equal(tensorRes.headers['server-timing']!.toString().split(',')[0], 'decode;dur=0.00', `${name}: nothing decoded`)
    const viaTensor = readResponse(tensorRes)
    t.same(viaTensor.outputs.get('output')!.values, viaImage.outputs.get('output')!.values, `${name}: identical logits`)
    const ref = await referenceLogits(file)
    const drift = Math.max(...(viaTensor.outputs.get('output')!.values as number[]).map((v, i) => Math.abs(v - ref[i]!)))
    t.ok(drift <= 1e-4, `${name}: logits within 1e-4 of onnxruntime run in the test (${drift})`)
  }
})

t.test('the tensor may travel as JSON, flat or nested, and in a batch', async (t) => {
  const a = await referenceInput(join(SHARED_IMAGES, 'dog.jpg'))
  const b = await referenceInput(join(SHARED_IMAGES, 'kite.jpg'))
  const binary = readResponse(await infer(CLS, tritonRequest([{ name: 'input', datatype: 'FP32', shape: [2, 3, 224, 224], data: fp32Bytes(Float32Array.from([...a, ...b])) }], [{ name: 'output' }])))
  t.same(binary.outputs.get('output')!.shape, [2, 1000])
  const flat = readResponse(await infer(CLS, { payload: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: Array.from(a) }], outputs: [{ name: 'output' }] }), headers: { 'content-type': 'application/json' } }))
  const nest = (v: Float32Array): number[][][][] => [[0, 1, 2].map((c) => Array.from({ length: 224 }, (_, y) => Array.from(v.subarray(c * 50176 + y * 224, c * 50176 + (y + 1) * 224))))]
  const nested = readResponse(await infer(CLS, { payload: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: nest(a) }], outputs: [{ name: 'output' }] }) }))
  const first = (binary.outputs.get('output')!.values as number[]).slice(0, 1000)
  t.same(flat.outputs.get('output')!.values, first, 'JSON flat = binary (item 0 of the batch)')
  t.same(nested.outputs.get('output')!.values, first, 'JSON nested = binary')
})

t.test('a detector takes its own tensor too: boxes in the tensor\'s pixels', async (t) => {
  // a 416×416 mid-grey input (114 everywhere, the letterbox fill): nothing to find
  const x = new Float32Array(3 * 416 * 416).fill(114)
  const res = await infer(DET, tritonRequest([{ name: 'images', datatype: 'FP32', shape: [1, 3, 416, 416], data: fp32Bytes(x) }], [{ name: 'num_detections', binary: false }, { name: 'output' }]))
  t.equal(res.statusCode, 200, res.body)
  const { outputs } = readResponse(res)
  t.same(outputs.get('num_detections')!.values, [0])
  t.same(outputs.get('output')!.shape, [1, 3549, 85])
})

// ── malformed requests: 4xx, `{ error }`, never a 500 ─────────────────────────────────

const bytesInput = (data: unknown[], shape = [data.length]) => ({ name: 'encoded_image', shape, datatype: 'BYTES', data })
const json = (o: unknown) => ({ payload: JSON.stringify(o), headers: { 'content-type': 'application/json' } })
const tensorHeader = (size: number, shape = [1, 3, 224, 224], extra: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape, datatype: 'FP32', parameters: { binary_data_size: size } }], ...extra }))
const withHeader = (head: Buffer, rest: Buffer, length: string = String(head.length)) => ({ payload: Buffer.concat([head, rest]), headers: { 'inference-header-content-length': length } })
const ZEROS = Buffer.alloc(3 * 224 * 224 * 4)

const malformed: Array<[string, { payload: Buffer | string, headers?: Record<string, string> }, number, string]> = [
  ['an empty body', { payload: '' }, 400, 'SY_INVALID_INFER_REQUEST'],
  ['not JSON', { payload: '{"inputs": [' }, 400, 'SY_INVALID_INFER_REQUEST'],
  ['a JSON array', json([1, 2]), 400, 'SY_INVALID_INFER_REQUEST'],
  ['no inputs', json({ outputs: [] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['an unknown input', json({ inputs: [{ name: 'pixels', shape: [1], datatype: 'BYTES', data: ['x'] }] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['two inputs', json({ inputs: [bytesInput([DOG.toString('base64')]), { name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: [0] }] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['a datatype not in the protocol', json({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FLOAT', data: [0] }] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['the wrong datatype', json({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP64', data: [0] }] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['the wrong shape', json({ inputs: [{ name: 'input', shape: [1, 3, 416, 416], datatype: 'FP32', data: [0] }] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['a negative dimension', json({ inputs: [{ name: 'input', shape: [-1, 3, 224, 224], datatype: 'FP32', data: [0] }] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['too few values', json({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: [1, 2, 3] }] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['strings as FP32', json({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: ['1'] }] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['a batch of zero', json({ inputs: [bytesInput([], [0])] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['more images than the shape says', json({ inputs: [bytesInput(['AAAA', 'AAAA'], [1])] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['an image that is not base64', json({ inputs: [bytesInput(['not base64!'])] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['an image that is not an image', json({ inputs: [bytesInput([Buffer.from('hello world').toString('base64')])] }), 400, 'SY_INVALID_IMAGE'],
  ['an empty image', json({ inputs: [bytesInput([''])] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['an unknown output', json({ inputs: [bytesInput([DOG.toString('base64')])], outputs: [{ name: 'logits' }] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['the classification extension', json({ inputs: [bytesInput([DOG.toString('base64')])], outputs: [{ name: 'output', parameters: { classification: 3 } }] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['top_k out of range', json({ parameters: { top_k: 0 }, inputs: [bytesInput([DOG.toString('base64')])] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['binary_data not a boolean', json({ inputs: [bytesInput([DOG.toString('base64')])], outputs: [{ name: 'output', parameters: { binary_data: 'yes' } }] }), 400, 'SY_INVALID_INFER_REQUEST'],
  [`more than ${MAX_ITEMS} items`, json({ inputs: [bytesInput(Array.from({ length: MAX_ITEMS + 1 }, () => 'AAAA'))] }), 413, 'SY_TOO_MANY_ITEMS'],
  [`JSON nested deeper than ${MAX_DEPTH}`, { payload: `{"inputs":[{"name":"input","shape":[1],"datatype":"FP32","data":${'['.repeat(200_000)}${']'.repeat(200_000)}}]}` }, 400, 'SY_INVALID_INFER_REQUEST'],
  ['a huge array (4 M numbers, refused before parsing)', { payload: `{"inputs":[{"name":"input","shape":[1,3,224,224],"datatype":"FP32","data":[${'0,'.repeat(4_000_000)}0]}]}` }, 400, 'SY_INVALID_INFER_REQUEST'],
  [`a JSON tensor of more than ${MAX_JSON_ITEMS} rows`, json({ inputs: [{ name: 'input', shape: [MAX_JSON_ITEMS + 1, 3, 224, 224], datatype: 'FP32', data: Array.from({ length: (MAX_JSON_ITEMS + 1) * 150528 }, () => 0) }] }), 400, 'SY_INVALID_INFER_REQUEST'],
  ['a __proto__ key', { payload: '{"inputs":[{"name":"encoded_image","shape":[1],"datatype":"BYTES","data":["AAAA"],"__proto__":{"x":1}}]}' }, 400, 'SY_INVALID_INFER_REQUEST'],
  ['a binary size that disagrees with the shape', withHeader(tensorHeader(ZEROS.length - 4), ZEROS.subarray(4)), 400, 'SY_INVALID_INFER_REQUEST'],
  ['a binary size past the body\'s end', withHeader(tensorHeader(ZEROS.length + 4), ZEROS), 400, 'SY_INVALID_INFER_REQUEST'],
  ['bytes after the binary inputs', withHeader(tensorHeader(ZEROS.length), Buffer.concat([ZEROS, Buffer.alloc(8)])), 400, 'SY_INVALID_INFER_REQUEST'],
  ['binary bytes no input claims', withHeader(Buffer.from(JSON.stringify({ inputs: [bytesInput(['AAAA'])] })), Buffer.alloc(16)), 400, 'SY_INVALID_INFER_REQUEST'],
  ['a header length past the body', withHeader(tensorHeader(ZEROS.length), ZEROS, String(10 * ZEROS.length)), 400, 'SY_INVALID_INFER_REQUEST'],
  ['a header length that cuts the JSON', withHeader(tensorHeader(ZEROS.length), ZEROS, '20'), 400, 'SY_INVALID_INFER_REQUEST'],
  ['a header length that is not a number', withHeader(tensorHeader(ZEROS.length), ZEROS, '-5'), 400, 'SY_INVALID_INFER_REQUEST'],
  ['a truncated BYTES length prefix', withHeader(Buffer.from(JSON.stringify({ inputs: [{ name: 'encoded_image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 2 } }] })), Buffer.alloc(2)), 400, 'SY_INVALID_INFER_REQUEST'],
  ['a BYTES length past its tensor', withHeader(Buffer.from(JSON.stringify({ inputs: [{ name: 'encoded_image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 8 } }] })), Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4])), 400, 'SY_INVALID_INFER_REQUEST'],
  ['NaN in a binary tensor', withHeader(tensorHeader(ZEROS.length), Buffer.concat([fp32Bytes(Float32Array.of(NaN)), ZEROS.subarray(4)])), 400, 'SY_INVALID_INFER_REQUEST'],
  ['a bad routing header', { ...json({ inputs: [bytesInput([DOG.toString('base64')])] }), headers: { 'x-switchyard-policy': 'fastest' } }, 400, 'SY_INVALID_HEADER'],
  ['a body over images.maxBodyBytes', { payload: Buffer.alloc(16 * 1024 * 1024 + 1, 0x20) }, 413, 'SY_PAYLOAD_TOO_LARGE']
]

for (const [what, request, status, code] of malformed) {
  t.test(`${what} → ${status} ${code}`, async (t) => {
    const res = await infer(CLS, request)
    t.equal(res.statusCode, status, res.body.slice(0, 300))
    t.equal(res.headers['x-switchyard-error'], code)
    t.same(Object.keys(res.json()), ['error'], 'the protocol\'s error body')
    t.type(res.json().error, 'string')
  })
}

t.test('unknown models, versions and paths under /v2: 404 { error }', async (t) => {
  for (const [method, url, code] of [
    ['GET', '/v2/models/nope', 'SY_MODEL_NOT_FOUND'],
    ['GET', `/v2/models/${CLS}/versions/2`, 'SY_MODEL_VERSION_NOT_FOUND'],
    ['GET', '/v2/models/nope/ready', 'SY_MODEL_NOT_FOUND'],
    ['POST', '/v2/models/nope/infer', 'SY_MODEL_NOT_FOUND'],
    ['POST', `/v2/models/${'x'.repeat(300)}/infer`, 'SY_MODEL_NOT_FOUND'],
    ['GET', '/v2/repository/index', 'SY_ROUTE_NOT_FOUND']
  ] as const) {
    const res = await app.inject({ method, url, ...(method === 'POST' ? json({ inputs: [bytesInput(['AAAA'])] }) : {}) })
    t.equal(res.statusCode, 404, url.slice(0, 60))
    t.equal(res.headers['x-switchyard-error'], code, url.slice(0, 60))
    t.same(Object.keys(res.json()), ['error'])
  }
  const old = await app.inject({ method: 'GET', url: '/nope' })
  t.same(Object.keys(old.json()).sort(), ['error', 'message', 'statusCode'], 'the rest of the server keeps its own error body')
})

t.test('requests and their stages are counted like /classify\'s', async (t) => {
  await infer(CLS, json({ inputs: [bytesInput([DOG.toString('base64')])] }))
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /switchyard_http_requests_total\{route="\/v2\/models\/:model\/infer",model="mobilenetv2",device="cpu",variant="int8",status="200"\} [1-9]/)
  t.match(metrics, /switchyard_http_requests_total\{route="\/v2\/models\/:model\/infer",model="mobilenetv2",device="",variant="",status="400"\} [1-9]/)
})

t.test('over HTTP, with no Content-Type, as tritonclient sends it', async (t) => {
  const { api } = await server.listen()
  const r = tritonRequest([{ name: 'encoded_image', datatype: 'BYTES', shape: [1], data: bytesTensor([DOG]) }], [{ name: 'labels' }])
  const res = await fetch(`${api}/v2/models/${CLS}/infer`, { method: 'POST', body: new Uint8Array(r.payload), headers: r.headers })
  t.equal(res.status, 200)
  const raw = Buffer.from(await res.arrayBuffer())
  const { outputs } = readResponse({ headers: { 'inference-header-content-length': res.headers.get('inference-header-content-length') ?? undefined }, rawPayload: raw })
  t.equal((outputs.get('labels')!.values as string[])[0], 'malamute, malemute, Alaskan malamute')
})

t.test('overload is answered in the protocol\'s shape, with Retry-After', async (t) => {
  // one decode slot and nobody may wait: the second image of a two-image request is refused
  const s = await startServer(t, { decode: { slots: 1, bulkSlots: 1, maxWaiting: 0 } })
  const res = await s.app.inject({ method: 'POST', url: `/v2/models/${CLS}/infer`, ...json({ inputs: [bytesInput([DOG.toString('base64'), DOG.toString('base64')])] }) })
  t.equal(res.statusCode, 429)
  t.equal(res.headers['retry-after'], '1')
  t.equal(res.headers['x-switchyard-error'], 'SY_OVERLOADED')
  t.same(Object.keys(res.json()), ['error'])
})

t.test('API keys guard infer as they guard /classify; metadata and health stay open', async (t) => {
  const key = `sy_${randomBytes(24).toString('base64url')}`
  const detectorOnly = `sy_${randomBytes(24).toString('base64url')}`
  const s = await startServer(t, {
    auth: {
      apiKeys: [
        { name: 'all', sha256: createHash('sha256').update(key).digest('hex'), models: ['*'] },
        { name: 'det', sha256: createHash('sha256').update(detectorOnly).digest('hex'), models: [DET] }
      ]
    }
  })
  const body = json({ inputs: [bytesInput([DOG.toString('base64')])], outputs: [{ name: 'labels' }] })
  for (const url of [`/v2/models/${CLS}/infer`, `/v2/models/${CLS}/versions/1/infer`]) {
    const none = await s.app.inject({ method: 'POST', url, ...body })
    t.equal(none.statusCode, 401, url)
    t.equal(none.headers['x-switchyard-error'], 'SY_UNAUTHORIZED')
    t.same(Object.keys(none.json()), ['error'])
    const wrongModel = await s.app.inject({ method: 'POST', url, payload: body.payload, headers: { ...body.headers, 'x-api-key': detectorOnly } })
    t.equal(wrongModel.statusCode, 403, url)
    const ok = await s.app.inject({ method: 'POST', url, payload: body.payload, headers: { ...body.headers, authorization: `Bearer ${key}` } })
    t.equal(ok.statusCode, 200, url)
  }
  for (const url of ['/v2', '/v2/health/ready', `/v2/models/${CLS}`, `/v2/models/${CLS}/ready`]) {
    t.equal((await s.app.inject({ method: 'GET', url })).statusCode, 200, `${url} needs no key`)
  }
})

t.test('a tensor item whose worker dies mid-batch is prepared again and retried on another device', async (t) => {
  // the tensor's buffer was moved to the dead worker: the retry copies it from the request again
  const s = await startServer(t, {
    devices: [{ id: 'cpu-a', kind: 'cpu', required: true, workers: 1 }, { id: 'cpu-b', kind: 'cpu', required: true, workers: 1 }]
  }, { deviceOptions: { allowFaults: true, restartBackoffMs: { initial: 50, max: 500 } } })
  const x = await referenceInput(join(SHARED_IMAGES, 'eagle.jpg'))
  const request = tritonRequest([{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224], data: fp32Bytes(x) }], [{ name: 'output' }])
  const expected = readResponse(await s.app.inject({ method: 'POST', url: `/v2/models/${CLS}/infer`, ...request })).outputs.get('output')!.values
  s.devices.get('cpu-a')!.injectFault('exit')
  const res = await s.app.inject({ method: 'POST', url: `/v2/models/${CLS}/infer`, payload: request.payload, headers: { ...request.headers, 'x-switchyard-device': 'cpu-a' } })
  t.equal(res.statusCode, 200, res.body.slice(0, 200))
  t.equal(res.headers['x-switchyard-device'], 'cpu-b', 'retried on the other device')
  t.same(readResponse(res).outputs.get('output')!.values, expected, 'with the same logits')
  t.match((await s.app.inject('/metrics')).body, /switchyard_batch_retries_total\{device="cpu-a",model="mobilenetv2"\} 1/)
})
