// The protocol's body both ways, without a server: where the JSON header ends, which bytes
// belong to which input, what is refused before anything is allocated, and the response's
// binary layout.
import t from 'tap'
import { MAX_DEPTH, bytesElements, encodeInferResponse, fp32Values, parseInferRequest, parseJson } from './wire.js'

const lp = (...parts: string[]): Buffer => Buffer.concat(parts.flatMap((p) => {
  const len = Buffer.alloc(4)
  len.writeUInt32LE(Buffer.byteLength(p))
  return [len, Buffer.from(p)]
}))

t.test('the JSON nesting scan counts brackets outside strings only', async (t) => {
  const deepString = `{"a":"${'['.repeat(1000)}\\"${'{'.repeat(1000)}"}`
  t.same(parseJson(Buffer.from(deepString)), { a: `${'['.repeat(1000)}"${'{'.repeat(1000)}` })
  const ok = `${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}`
  t.ok(Array.isArray(parseJson(Buffer.from(ok))), `${MAX_DEPTH} levels parse`)
  t.throws(() => parseJson(Buffer.from(`[${ok}]`)), { code: 'SY_INVALID_INFER_REQUEST', message: /nested deeper/ })
  t.throws(() => parseJson(Buffer.from('{"constructor":{"prototype":{"x":1}}}')), { code: 'SY_INVALID_INFER_REQUEST' })
})

t.test('the number of JSON values is bounded before parsing; commas inside strings do not count', async (t) => {
  t.same(parseJson(Buffer.from('[1,2,3]'), 2), [1, 2, 3])
  t.throws(() => parseJson(Buffer.from('[1,2,3,4]'), 2), { code: 'SY_INVALID_INFER_REQUEST', message: /more than 2 values.*binary/ })
  t.same(parseJson(Buffer.from('["a,b,c,d,e", 1]'), 1), ['a,b,c,d,e', 1])
})

t.test('binary inputs take their bytes in input order; JSON inputs take none', async (t) => {
  const a = Buffer.from(Float32Array.of(1.5, -2).buffer)
  const b = lp('hello', '')
  const head = Buffer.from(JSON.stringify({
    id: 'x',
    inputs: [
      { name: 'a', shape: [2], datatype: 'FP32', parameters: { binary_data_size: a.length } },
      { name: 'j', shape: [1], datatype: 'BYTES', data: ['inline'] },
      { name: 'b', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: b.length } }
    ],
    outputs: [{ name: 'o', parameters: { binary_data: true } }]
  }))
  const req = parseInferRequest(Buffer.concat([head, a, b]), String(head.length))
  t.equal(req.id, 'x')
  t.same(Array.from(fp32Values(req.inputs[0]!, 2)), [1.5, -2])
  t.same(bytesElements(req.inputs[1]!, 1, false).map(String), ['inline'])
  t.same(bytesElements(req.inputs[2]!, 2, false).map(String), ['hello', ''])
  t.same(req.outputs, [{ name: 'o', parameters: { binary_data: true } }])
})

t.test('an odd header length leaves the binary data unaligned: still read exactly', async (t) => {
  const x = Float32Array.of(0.25, 3, -7.5)
  const head = Buffer.from(JSON.stringify({ inputs: [{ name: 'a', shape: [3], datatype: 'FP32', parameters: { binary_data_size: 12 } }] }) + ' ')
  t.equal(head.length % 4 !== 0, true)
  const req = parseInferRequest(Buffer.concat([head, Buffer.from(x.buffer)]), String(head.length))
  t.same(Array.from(fp32Values(req.inputs[0]!, 3)), [0.25, 3, -7.5])
})

t.test('a shape is never trusted for an allocation', async (t) => {
  const req = parseInferRequest(Buffer.from(JSON.stringify({ inputs: [{ name: 'a', shape: [1e9, 1e9], datatype: 'FP32', data: [1, 2] }] })), undefined)
  t.throws(() => fp32Values(req.inputs[0]!, Infinity), { code: 'SY_INVALID_INFER_REQUEST', message: /2 values/ })
  t.throws(() => parseInferRequest(Buffer.from('{"inputs":[{"name":"a","shape":[1.5],"datatype":"FP32","data":[1]}]}'), undefined), { message: /whole numbers/ })
  t.throws(() => parseInferRequest(Buffer.from('{"inputs":[{"name":"a","shape":[1,1,1,1,1,1,1,1,1],"datatype":"FP32","data":[1]}]}'), undefined), { message: /at most 8 dimensions/ })
})

t.test('the response: JSON outputs inline, binary ones after the header in output order', async (t) => {
  const { body, headerLength } = encodeInferResponse({ model_name: 'm', model_version: '1' }, [
    { name: 'f', datatype: 'FP32', shape: [2], data: Float32Array.of(1, 2), binary: true },
    { name: 'i', datatype: 'INT32', shape: [1], data: Int32Array.of(7), binary: false },
    { name: 's', datatype: 'BYTES', shape: [2], data: ['ab', 'é'], binary: true }
  ])
  t.ok(headerLength !== null)
  const head = JSON.parse(body.subarray(0, headerLength!).toString())
  t.same(head, {
    model_name: 'm',
    model_version: '1',
    outputs: [
      { name: 'f', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } },
      { name: 'i', datatype: 'INT32', shape: [1], data: [7] },
      { name: 's', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 4 + 2 + 4 + 2 } }
    ]
  })
  const rest = body.subarray(headerLength!)
  t.same(Array.from(new Float32Array(new Uint8Array(rest.subarray(0, 8)).buffer)), [1, 2])
  t.same(rest.subarray(8), lp('ab', 'é'))
  const plain = encodeInferResponse({ model_name: 'm', model_version: '1' }, [{ name: 'i', datatype: 'INT32', shape: [1], data: Int32Array.of(7), binary: false }])
  t.equal(plain.headerLength, null, 'no binary part: plain JSON')
})
