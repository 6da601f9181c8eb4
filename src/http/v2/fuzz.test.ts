// Property-based fuzzing of POST /v2/models/{name}/infer, as http/fuzz.test.ts does for the
// upload routes: fast-check mutates valid protocol requests (JSON and binary; bit flips,
// truncations, insertions, deletions, overwrites, a wrong Inference-Header-Content-Length) and
// asserts that every answer is a 200 or a documented 4xx (429 under overload) in the
// protocol's `{ error }` shape — never a 5xx, never a crash. Bounded: a fixed seed and 120 runs
// (SWITCHYARD_FUZZ_SEED, SWITCHYARD_FUZZ_RUNS override them).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import sharp from 'sharp'
import t from 'tap'
import { SHARED_IMAGES, startServer } from '../../test-support/server.js'

const SEED = Number(process.env.SWITCHYARD_FUZZ_SEED ?? 20261127)
const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 120)

const DOCUMENTED: Record<number, readonly string[]> = {
  200: [],
  400: ['SY_INVALID_INFER_REQUEST', 'SY_INVALID_IMAGE'],
  413: ['SY_TOO_MANY_ITEMS', 'SY_PAYLOAD_TOO_LARGE'],
  415: ['SY_UNSUPPORTED_IMAGE_FORMAT'],
  422: ['SY_IMAGE_TOO_LARGE'],
  429: ['SY_OVERLOADED', 'SY_DEADLINE_UNMEETABLE']
}

const { app } = await startServer(t, { images: { maxPixels: 4_000_000 } })
const small = await sharp(readFileSync(join(SHARED_IMAGES, 'dog.jpg'))).resize(160).jpeg().toBuffer()

function binary (head: object, data: Buffer): { body: Buffer, headerLength: number } {
  const json = Buffer.from(JSON.stringify(head))
  return { body: Buffer.concat([json, data]), headerLength: json.length }
}
const lengthPrefixed = (b: Buffer): Buffer => { const l = Buffer.alloc(4); l.writeUInt32LE(b.length); return Buffer.concat([l, b]) }
const tensor = Buffer.from(new Float32Array(3 * 224 * 224).fill(0.5).buffer)

const BASES: Array<{ name: string, body: Buffer, headerLength: number | null }> = [
  { name: 'JSON image', body: Buffer.from(JSON.stringify({ id: 'a', parameters: { top_k: 2 }, inputs: [{ name: 'encoded_image', shape: [1], datatype: 'BYTES', data: [small.toString('base64')] }], outputs: [{ name: 'labels' }] })), headerLength: null },
  { name: 'binary image', ...binary({ inputs: [{ name: 'encoded_image', shape: [1, 1], datatype: 'BYTES', parameters: { binary_data_size: small.length + 4 } }], outputs: [{ name: 'scores', parameters: { binary_data: true } }] }, lengthPrefixed(small)) },
  { name: 'binary tensor', ...binary({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', parameters: { binary_data_size: tensor.length } }], parameters: { binary_data_output: true } }, tensor) },
  { name: 'JSON nested', body: Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3, 2, 2], datatype: 'FP32', data: [[[[1, 2], [3, 4]]]] }] })), headerLength: null }
]

type Mutation =
  | { op: 'flip', at: number, bit: number }
  | { op: 'truncate', at: number }
  | { op: 'insert', at: number, bytes: Uint8Array }
  | { op: 'delete', at: number, length: number }
  | { op: 'overwrite', at: number, bytes: Uint8Array }

// mostly inside the JSON header, where the protocol's structure is
const position = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 400 }) }, { weight: 1, arbitrary: fc.nat({ max: 1 << 20 }) })
const someBytes = fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 16 }), fc.constantFrom(...['[', ']', '{', '}', '"', ',', ':', '-1', '1e400', '99999999999', 'null', '"FP64"', '"BYTES"', '[0]'].map((s) => Buffer.from(s))))
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }) },
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat({ max: 1 << 20 }) }),
  fc.record({ op: fc.constant('insert' as const), at: position, bytes: someBytes }),
  fc.record({ op: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('overwrite' as const), at: position, bytes: someBytes }) }
)

function mutate (input: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = input
  for (const m of mutations) {
    const at = m.at % (b.length + 1)
    switch (m.op) {
      case 'flip': if (b.length > 0) { b = Buffer.from(b); b[at % b.length]! ^= 1 << m.bit } break
      case 'truncate': b = b.subarray(0, at); break
      case 'insert': b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]); break
      case 'delete': b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]); break
      case 'overwrite': b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at + m.bytes.length)]); break
    }
  }
  return b
}

t.test(`mutated protocol requests: 200 or a documented 4xx { error } (seed ${SEED}, ${RUNS} runs)`, async (t) => {
  const seen: Record<string, number> = {}
  await fc.assert(fc.asyncProperty(
    fc.nat({ max: BASES.length - 1 }),
    fc.array(mutation, { minLength: 1, maxLength: 3 }),
    fc.option(fc.integer({ min: -40, max: 40 }), { nil: undefined }),
    async (which, mutations, headerShift) => {
      const base = BASES[which]!
      const body = mutate(base.body, mutations)
      const headers: Record<string, string> = {}
      if (base.headerLength !== null) headers['inference-header-content-length'] = String(base.headerLength + (headerShift ?? 0))
      const res = await app.inject({ method: 'POST', url: '/v2/models/mobilenetv2/infer', payload: body, headers })
      const code = res.headers['x-switchyard-error'] as string | undefined
      seen[`${res.statusCode} ${code ?? ''}`.trim()] = (seen[`${res.statusCode} ${code ?? ''}`.trim()] ?? 0) + 1
      const allowed = DOCUMENTED[res.statusCode]
      if (allowed === undefined) throw new Error(`${base.name}: undocumented status ${res.statusCode}: ${res.body.slice(0, 200)}`)
      if (res.statusCode !== 200) {
        if (!allowed.includes(code ?? '')) throw new Error(`${base.name}: ${res.statusCode} with code ${code}: ${res.body.slice(0, 200)}`)
        const keys = Object.keys(res.json() as object)
        if (keys.length !== 1 || keys[0] !== 'error') throw new Error(`${base.name}: error body ${res.body.slice(0, 200)}`)
      }
    }
  ), { seed: SEED, numRuns: RUNS, endOnFailure: true })
  t.comment(`answers: ${JSON.stringify(seen)}`)
  t.ok(Object.keys(seen).some((k) => k.startsWith('400')), 'mutations were refused')
  t.ok((seen['200'] ?? 0) > 0, 'some mutations still made a valid request')
})
