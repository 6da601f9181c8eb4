// The Open Inference Protocol's REST body, both ways, with the binary tensor data extension:
// a JSON header, then (when `Inference-Header-Content-Length` says the header ends before the
// body does) the raw bytes of every input whose parameters carry `binary_data_size`, in input
// order. Nothing here knows about models: it checks the protocol (types, shapes, sizes, the
// binary layout) and hands back tensors; what fits which model is plan.ts's business.
//
// Everything a client sends is bounded before any allocation it could size: the body by the
// route's bodyLimit (images.maxBodyBytes); JSON nesting and the number of JSON values by a
// byte scan before JSON.parse — a `[[[[…` bomb or a `[0,0,0,…` array larger than the model
// could take costs one pass over its bytes, never the parser's stack, its time (JSON.parse
// spends about 0.1 s per million numbers, on the main thread) or its memory; arrays by their
// counts (inputs, outputs, dimensions); and a declared shape by the bytes that could carry it:
// data is never allocated from a shape, only after its element count is checked against the
// values actually present.
import sjson from 'secure-json-parse'
import { endianness } from 'node:os'
import { InvalidInferRequest } from '../../errors.js'
import { clip } from '../../util/format.js'

/** JSON nesting allowed: request → inputs → input → data → up to 8 tensor dimensions, with room */
export const MAX_DEPTH = 16
const MAX_TENSORS = 8
const MAX_RANK = 8
const MAX_NAME = 128

// binary tensor data is little-endian; copying it straight into a Float32Array needs a host that is too
if (endianness() !== 'LE') throw new Error('the binary tensor data extension needs a little-endian host')

export type Datatype = 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64' | 'FP16' | 'FP32' | 'FP64' | 'BYTES'
const DATATYPES: ReadonlySet<string> = new Set(['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'])

export type Parameters = Record<string, unknown>

export interface RequestInput {
  name: string
  datatype: Datatype
  shape: number[]
  parameters: Parameters
  /** the JSON `data` (flat or nested), when the tensor travels in JSON */
  data?: unknown
  /** the tensor's bytes, when it travels in binary (a view into the body) */
  binary?: Buffer
}

export interface RequestOutput { name: string, parameters: Parameters }

export interface InferRequest {
  id?: string
  parameters: Parameters
  inputs: RequestInput[]
  /** absent: every output the model has */
  outputs?: RequestOutput[]
}

const bad = (why: string): Error => new InvalidInferRequest(why)

/**
 * Splits and checks a request body; `headerLength` is the Inference-Header-Content-Length
 * header, `maxJsonValues` the most values (numbers, strings, …) its JSON may hold.
 */
export function parseInferRequest (body: Buffer, headerLength: string | string[] | undefined, maxJsonValues = Infinity): InferRequest {
  let jsonEnd = body.length
  if (headerLength !== undefined) {
    const v = Array.isArray(headerLength) ? headerLength[0] ?? '' : headerLength
    if (!/^\d{1,12}$/.test(v.trim())) throw bad(`Inference-Header-Content-Length must be a byte count, got "${clip(v)}"`)
    jsonEnd = Number(v.trim())
    if (jsonEnd > body.length) throw bad(`Inference-Header-Content-Length is ${jsonEnd} but the body has ${body.length} bytes`)
  }
  if (jsonEnd === 0) throw bad('the body carries no JSON inference request')
  const root = parseJson(body.subarray(0, jsonEnd), maxJsonValues)
  if (!isObject(root)) throw bad('the inference request must be a JSON object')

  const id = root.id
  if (id !== undefined && typeof id !== 'string') throw bad('id must be a string')
  const parameters = params(root.parameters, 'parameters')
  if (!Array.isArray(root.inputs) || root.inputs.length === 0) throw bad('inputs must be a non-empty array')
  if (root.inputs.length > MAX_TENSORS) throw bad(`at most ${MAX_TENSORS} inputs`)

  let offset = jsonEnd
  const inputs = root.inputs.map((raw: unknown, i: number): RequestInput => {
    if (!isObject(raw)) throw bad(`inputs[${i}] must be an object`)
    const name = tensorName(raw.name, `inputs[${i}].name`)
    if (typeof raw.datatype !== 'string' || !DATATYPES.has(raw.datatype)) throw bad(`input ${name}: datatype must be one of ${[...DATATYPES].join(', ')}`)
    const shape = tensorShape(raw.shape, `input ${name}`)
    const p = params(raw.parameters, `input ${name} parameters`)
    const input: RequestInput = { name, datatype: raw.datatype as Datatype, shape, parameters: p }
    const size = p.binary_data_size
    if (size !== undefined) {
      if (!Number.isSafeInteger(size) || (size as number) < 0) throw bad(`input ${name}: binary_data_size must be a byte count`)
      if (raw.data !== undefined) throw bad(`input ${name} has both data and binary_data_size`)
      const end = offset + (size as number)
      if (end > body.length) throw bad(`input ${name}: binary_data_size ${size as number} runs past the body's end (${body.length - offset} binary bytes left)`)
      input.binary = body.subarray(offset, end)
      offset = end
    } else {
      if (raw.data === undefined) throw bad(`input ${name} has neither data nor binary_data_size`)
      input.data = raw.data
    }
    return input
  })
  if (new Set(inputs.map((t) => t.name)).size !== inputs.length) throw bad('an input is named twice')
  if (offset !== body.length) throw bad(`the body has ${body.length - offset} bytes after the JSON header and the binary_data_size of its inputs`)

  let outputs: RequestOutput[] | undefined
  if (root.outputs !== undefined) {
    if (!Array.isArray(root.outputs)) throw bad('outputs must be an array')
    if (root.outputs.length > 2 * MAX_TENSORS) throw bad(`at most ${2 * MAX_TENSORS} outputs`)
    outputs = root.outputs.map((raw: unknown, i: number): RequestOutput => {
      if (!isObject(raw)) throw bad(`outputs[${i}] must be an object`)
      const name = tensorName(raw.name, `outputs[${i}].name`)
      return { name, parameters: params(raw.parameters, `output ${name} parameters`) }
    })
    if (new Set(outputs.map((t) => t.name)).size !== outputs.length) throw bad('an output is named twice')
  }
  return { ...(id !== undefined ? { id } : {}), parameters, inputs, ...(outputs ? { outputs } : {}) }
}

/**
 * JSON.parse behind three guards: nesting deeper than MAX_DEPTH and more than `maxValues`
 * values (counted by their separating commas) are refused by a scan of the bytes (strings
 * skipped), and `__proto__` / `constructor.prototype` keys are refused as Fastify's own parser
 * does (secure-json-parse).
 */
export function parseJson (bytes: Buffer, maxValues = Infinity): unknown {
  let depth = 0
  let commas = 0
  let inString = false
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x2c) {
      if (++commas > maxValues) throw bad(`the JSON holds more than ${maxValues} values: send a tensor this large as binary data (Inference-Header-Content-Length)`)
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DEPTH) throw bad(`JSON nested deeper than ${MAX_DEPTH} levels`)
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
  try {
    return sjson.parse(bytes.toString('utf8'), null, { protoAction: 'error', constructorAction: 'error' })
  } catch (err) {
    throw bad(`the JSON header does not parse: ${clip((err as Error).message, 120)}`)
  }
}

/** Product of a shape's dimensions, or Infinity past 2^53 (refused by every caller's count check). */
export function elementCount (shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return Number.isSafeInteger(n) ? n : Infinity
}

/**
 * An FP32 tensor's values: `expected` of them, from binary (little-endian, exactly expected·4
 * bytes) or from JSON data, flat or nested, row-major. Only finite numbers.
 */
export function fp32Values (t: RequestInput, expected: number): Float32Array {
  let out: Float32Array
  if (t.binary !== undefined) {
    if (t.binary.length !== expected * 4) throw bad(`input ${t.name}: binary_data_size is ${t.binary.length} bytes; shape [${t.shape.join(',')}] of FP32 needs ${expected * 4}`)
    out = new Float32Array(expected)
    new Uint8Array(out.buffer).set(t.binary) // a byte copy: the body's offset need not be 4-aligned
  } else {
    // counted first, so the buffer is sized by values present, never by a claimed shape alone
    let n = 0
    flatten(t, (v) => {
      if (typeof v !== 'number') throw bad(`input ${t.name}: FP32 data must be numbers`)
      if (n === expected) throw bad(`input ${t.name}: more values than shape [${t.shape.join(',')}] holds (${expected})`)
      n++
    })
    if (n !== expected) throw bad(`input ${t.name}: ${n} values; shape [${t.shape.join(',')}] needs ${expected}`)
    out = new Float32Array(expected)
    n = 0
    flatten(t, (v) => { out[n++] = v as number })
  }
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]!)) throw bad(`input ${t.name}: value ${i} is not a finite FP32 number`)
  }
  return out
}

/**
 * A BYTES tensor's elements: `expected` of them. In binary, each is a 4-byte little-endian
 * length and its bytes; in JSON, a string. JSON cannot carry arbitrary bytes, so a JSON string
 * is read as base64 when `base64` is set (the encoded-image input), as UTF-8 otherwise.
 */
export function bytesElements (t: RequestInput, expected: number, base64: boolean): Buffer[] {
  const out: Buffer[] = []
  if (t.binary !== undefined) {
    const b = t.binary
    let at = 0
    while (at < b.length) {
      if (out.length === expected) throw bad(`input ${t.name}: more BYTES elements than shape [${t.shape.join(',')}] holds`)
      if (at + 4 > b.length) throw bad(`input ${t.name}: BYTES element ${out.length} has a truncated length prefix`)
      const len = b.readUInt32LE(at)
      if (at + 4 + len > b.length) throw bad(`input ${t.name}: BYTES element ${out.length} says ${len} bytes, ${b.length - at - 4} remain`)
      out.push(b.subarray(at + 4, at + 4 + len))
      at += 4 + len
    }
  } else {
    flatten(t, (v) => {
      if (typeof v !== 'string') throw bad(`input ${t.name}: BYTES data must be strings`)
      if (out.length === expected) throw bad(`input ${t.name}: more BYTES elements than shape [${t.shape.join(',')}] holds`)
      if (base64 && !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw bad(`input ${t.name}: element ${out.length} is not base64`)
      out.push(Buffer.from(v, base64 ? 'base64' : 'utf8'))
    })
  }
  if (out.length !== expected) throw bad(`input ${t.name}: ${out.length} BYTES elements; shape [${t.shape.join(',')}] needs ${expected}`)
  return out
}

/** Visits JSON data row-major, flat or nested, without recursion (depth is bounded anyway). */
export function flatten (t: RequestInput, visit: (v: unknown) => void): void {
  if (!Array.isArray(t.data)) throw bad(`input ${t.name}: data must be an array`)
  const stack: Array<{ a: unknown[], i: number }> = [{ a: t.data, i: 0 }]
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!
    if (top.i === top.a.length) { stack.pop(); continue }
    const v = top.a[top.i++]
    if (Array.isArray(v)) stack.push({ a: v, i: 0 })
    else visit(v)
  }
}

// ── the response ────────────────────────────────────────────────────────────────────────

export interface ResponseTensor {
  name: string
  datatype: Datatype
  shape: number[]
  /** BYTES: strings; otherwise the typed array of the datatype (FP16 as its Uint16 bits, BOOL as Uint8) */
  data: ArrayBufferView | string[]
  /** sent as binary data after the JSON header */
  binary: boolean
}

export interface EncodedResponse {
  body: Buffer
  /** set when binary parts follow the JSON: the Inference-Header-Content-Length to send */
  headerLength: number | null
}

/** The response body: JSON, then the binary outputs' bytes in output order. */
export function encodeInferResponse (head: { model_name: string, model_version: string, id?: string }, outputs: ResponseTensor[]): EncodedResponse {
  const parts: Buffer[] = []
  const json = {
    ...head,
    outputs: outputs.map((o) => {
      const base = { name: o.name, datatype: o.datatype, shape: o.shape }
      if (!o.binary) return { ...base, data: Array.isArray(o.data) ? o.data : jsonValues(o.datatype, o.data) }
      const bytes = binaryOf(o)
      parts.push(bytes)
      return { ...base, parameters: { binary_data_size: bytes.length } }
    })
  }
  const header = Buffer.from(JSON.stringify(json))
  if (parts.length === 0) return { body: header, headerLength: null }
  return { body: Buffer.concat([header, ...parts]), headerLength: header.length }
}

/** A typed array as JSON values: 64-bit integers as numbers, BOOL as booleans, FP16 bits as numbers. */
function jsonValues (datatype: Datatype, data: ArrayBufferView): unknown[] {
  const values = Array.from(data as unknown as ArrayLike<number | bigint>)
  if (datatype === 'BOOL') return values.map((v) => v !== 0)
  if (datatype === 'FP16') return values.map((v) => halfToFloat(Number(v)))
  if (datatype === 'INT64' || datatype === 'UINT64') return values.map(Number)
  return values
}

function halfToFloat (h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >> 10) & 0x1f
  const frac = h & 0x3ff
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024)
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN
  return sign * 2 ** (exp - 15) * (1 + frac / 1024)
}

function binaryOf (o: ResponseTensor): Buffer {
  if (!Array.isArray(o.data)) return Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength)
  const chunks: Buffer[] = []
  for (const s of o.data) {
    const b = Buffer.from(s, 'utf8')
    const len = Buffer.alloc(4)
    len.writeUInt32LE(b.length)
    chunks.push(len, b)
  }
  return Buffer.concat(chunks)
}

// ── small checks ────────────────────────────────────────────────────────────────────────

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function params (v: unknown, where: string): Parameters {
  if (v === undefined) return {}
  if (!isObject(v)) throw bad(`${where} must be an object`)
  return v
}

function tensorName (v: unknown, where: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME) throw bad(`${where} must be a name of 1 to ${MAX_NAME} characters`)
  return v
}

function tensorShape (v: unknown, where: string): number[] {
  if (!Array.isArray(v) || v.length > MAX_RANK) throw bad(`${where}: shape must be an array of at most ${MAX_RANK} dimensions`)
  for (const d of v) {
    if (!Number.isSafeInteger(d) || (d as number) < 0) throw bad(`${where}: shape [${clip(v.join(','))}] must hold whole numbers ≥ 0`)
  }
  return v as number[]
}
