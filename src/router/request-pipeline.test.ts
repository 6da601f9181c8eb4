// The request pipeline the HTTP routes and the simulator share: admit → decode gate → decode →
// dispatch, on a virtual clock with simulated devices and an injected decoder. Pins the order
// (nothing is decoded for a refused request), the gate's 429, that a decoder answering null
// dispatches nothing, and that several images are placed together (one batch).
import t from 'tap'
import type { PreparedImage } from '../core/items.js'
import { VirtualClock } from '../devices/clock.js'
import { DecodeGate } from '../preprocess/decode-gate.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { ArrivalRecord } from './arrival-record.js'
import { Dispatcher } from './dispatcher.js'
import { RequestPipeline, type Decode, type PipelineAnswer } from './request-pipeline.js'

const IMAGE: PreparedImage = { pixels: new Uint8Array(4), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }

function setup (o: { slots?: number, maxWaiting?: number | null, maxQueue?: number, record?: ArrivalRecord } = {}) {
  const clock = new VirtualClock()
  // t(n) = 10 + n ms, batches of up to 8; latency batches wait for nothing
  const device = new SimDevice({ id: 'gpu', kind: 'cuda', workers: 1, maxQueue: o.maxQueue ?? 256, models: { m: { a: 10, b: 1, maxBatchSize: 8 } } }, clock, seededRandom(1)).scheduler
  const refused: string[] = []
  const observer = { decision () {}, rejected (_d: string, _m: string, _p: string, reason: string) { refused.push(reason) }, retry () {}, predictionError () {} }
  const dispatcher = new Dispatcher({ devices: [device], get: () => device }, observer, clock)
  const gate = new DecodeGate(o.slots ?? 4, o.slots ?? 4, { maxWaiting: o.maxWaiting === undefined ? 16 : o.maxWaiting, now: () => clock.now() })
  return { clock, device, refused, gate, pipeline: new RequestPipeline(dispatcher, gate, observer, clock, o.record) }
}

/** decodes in `ms` of virtual time, counting the calls */
function decoder<D> (clock: VirtualClock, ms: number, value: D | null, calls: { n: number }): Decode<D> {
  return (done) => { calls.n++; clock.setTimer(clock.now() + ms, () => done(null, value)) }
}

interface Outcome<D> { at: number, err: Error | null, answer?: PipelineAnswer<D> | null | undefined }

t.test('one image: admitted, decoded under a slot, dispatched; decode time on the pipeline\'s clock', async (t) => {
  const { clock, pipeline, gate } = setup()
  const calls = { n: 0 }
  const out: Array<Outcome<PreparedImage>> = []
  pipeline.run<PreparedImage>({ model: 'm', opts: { policy: 'latency', deadline: 1000 }, params: {}, decode: decoder(clock, 3, IMAGE, calls), images: (im) => im },
    (err, answer) => out.push({ at: clock.now(), err, answer }))
  clock.advance(100)
  t.equal(calls.n, 1)
  t.equal(out.length, 1, 'answered once')
  t.equal(out[0]!.err, null)
  t.equal(out[0]!.answer!.decodeMs, 3)
  t.equal(out[0]!.answer!.items.length, 1)
  t.equal(out[0]!.answer!.items[0]!.batchSize, 1)
  t.equal(out[0]!.at, 3 + 11, 'decode 3 ms, then t(1) = 11 ms')
  t.equal(gate.waiting, 0)
})

t.test('several images are placed together: one batch, answered once every image has settled', async (t) => {
  const { clock, pipeline } = setup()
  const calls = { n: 0 }
  const out: Array<Outcome<PreparedImage[]>> = []
  const tiles = [IMAGE, IMAGE, IMAGE, IMAGE, IMAGE]
  pipeline.run<PreparedImage[]>({ model: 'm', opts: { policy: 'latency', deadline: 1000 }, params: {}, items: 5, decode: decoder(clock, 2, tiles, calls), images: (d) => d },
    (err, answer) => out.push({ at: clock.now(), err, answer }))
  clock.advance(100)
  t.equal(out.length, 1)
  t.equal(out[0]!.answer!.items.length, 5)
  t.same(out[0]!.answer!.items.map((it) => it.batchSize), [5, 5, 5, 5, 5], 'queued together: one batch of five, not one and then four')
  t.equal(out[0]!.at, 2 + 15, 'decode 2 ms, then t(5) = 15 ms')
})

t.test('a refused request is never decoded', async (t) => {
  const { clock, pipeline, refused } = setup()
  const calls = { n: 0 }
  const out: Array<Outcome<PreparedImage>> = []
  pipeline.run<PreparedImage>({ model: 'm', opts: { policy: 'latency', deadline: 5 }, params: {}, decode: decoder(clock, 1, IMAGE, calls), images: (im) => im },
    (err) => out.push({ at: clock.now(), err }))
  clock.advance(100)
  t.equal(calls.n, 0, 'not decoded')
  t.equal(out.length, 1)
  t.match(out[0]!.err, { code: 'SY_DEADLINE_UNMEETABLE' })
  t.same(refused, ['deadline'])
})

t.test('too many waiting for a decode slot: 429 with Retry-After, counted as decode-queue-full', async (t) => {
  const { clock, pipeline, refused } = setup({ slots: 1, maxWaiting: 1 })
  const calls = { n: 0 }
  const out: Array<Outcome<PreparedImage>> = []
  for (let i = 0; i < 3; i++) {
    pipeline.run<PreparedImage>({ model: 'm', opts: { policy: 'throughput', deadline: 10_000 }, params: {}, decode: decoder(clock, 5, IMAGE, calls), images: (im) => im },
      (err) => out.push({ at: clock.now(), err }))
  }
  t.equal(out.length, 1, 'the third is answered at once: one decodes, one waits')
  t.match(out[0]!.err, { statusCode: 429, code: 'SY_OVERLOADED', retryAfter: 1 })
  t.same(refused, ['decode-queue-full'])
  clock.advance(1000)
  t.equal(calls.n, 2)
  t.same(out.slice(1).map((o) => o.err), [null, null], 'the other two are served')
})

t.test('no count on the waiting room (maxWaiting null): a burst waits for decode slots as its deadlines allow, and only a request whose wait would not leave it time is refused', async (t) => {
  const { clock, pipeline, refused } = setup({ slots: 1, maxWaiting: null })
  const calls = { n: 0 }
  const out: Array<Outcome<PreparedImage>> = []
  const send = (deadline: number): void => pipeline.run<PreparedImage>({ model: 'm', opts: { policy: 'throughput', deadline }, params: {}, decode: decoder(clock, 5, IMAGE, calls), images: (im) => im },
    (err) => out.push({ at: clock.now(), err }))
  send(10_000)
  clock.advance(100) // one decode held the slot 5 ms: the gate's mean hold
  for (let i = 0; i < 10; i++) send(100 + 10_000)
  t.same(refused, [], 'ten at once, one slot: nine wait, none refused (a count of 1 would refuse eight)')
  // nine wait: the next waits (9 + 1) / 1 × 5 = 50 ms
  send(100 + 40)
  t.same(refused, ['decode-queue-full'], 'a 50 ms wait where its deadline leaves 40 ms: refused before it waits')
  t.match(out.at(-1)!.err, { statusCode: 429, code: 'SY_OVERLOADED' })
  send(100 + 60)
  t.same(refused, ['decode-queue-full'], 'where it leaves 60 ms: it waits')
  send(100 + 10_000)
  clock.advance(10_000)
  t.equal(calls.n, 13, 'every request the gate let wait was decoded')
  const errs = out.map((o) => (o.err as { code?: string } | null)?.code ?? null)
  t.equal(errs.filter((e) => e === null).length, 12, 'twelve answered')
  t.same(errs.filter((e) => e !== null), ['SY_OVERLOADED', 'SY_DEADLINE_UNMEETABLE'],
    'the one let wait with 60 ms left is decoded by 155 ms, and admission, run again, finds its finish on the device past 160: the wait was within its deadline, the device\'s queue was not')
})

t.test('no count: a waiter whose turn comes too late (latency work that came later went first) is refused then, not decoded (drop at dequeue)', async (t) => {
  const { clock, pipeline, refused } = setup({ slots: 1, maxWaiting: null })
  const calls = { n: 0 }
  const out: Array<Outcome<PreparedImage>> = []
  const send = (policy: 'latency' | 'throughput', deadline: number): void => pipeline.run<PreparedImage>({ model: 'm', opts: { policy, deadline }, params: {}, decode: decoder(clock, 5, IMAGE, calls), images: (im) => im },
    (err) => out.push({ at: clock.now(), err }))
  send('throughput', 10_000)
  clock.advance(100) // a mean hold of 5 ms
  send('throughput', 10_000) // holds the slot until 105
  send('throughput', 100 + 25) // admitted (t(1) = 11 ms on the device); predicted wait (0 + 1) / 1 × 5 = 5 ms: waits, due by 125
  t.same(refused, [], 'let wait')
  for (let i = 0; i < 4; i++) send('latency', 10_000) // come later, go first: the slot until 125
  clock.advance(1_000)
  t.same(refused, ['decode-queue-full'], 'at its turn, 125 ms, its deadline would pass before a 5 ms decode ended: refused')
  t.equal(calls.n, 6, 'and never decoded: six decodes, not seven')
  t.equal(out.filter((o) => o.err === null).length, 6)
})

t.test('a decoder that finds nothing to dispatch answers null and frees its slot; a failed decode frees it too', async (t) => {
  const { clock, pipeline, gate } = setup({ slots: 1, maxWaiting: 4 })
  const out: Array<Outcome<PreparedImage>> = []
  pipeline.admit('m', { policy: 'latency', deadline: 1000 })
  const p = pipeline.process<PreparedImage>({ model: 'm', opts: { policy: 'latency', deadline: 1000 }, params: {}, decode: decoder<PreparedImage>(clock, 1, null, { n: 0 }), images: (im) => im })
  const failing: Decode<PreparedImage> = () => { throw new Error('not an image') }
  pipeline.decodeAndDispatch<PreparedImage>({ model: 'm', opts: { policy: 'latency', deadline: 1000 }, params: {}, decode: failing, images: (im) => im }, (err, answer) => out.push({ at: clock.now(), err, answer }))
  clock.advance(10)
  t.equal(await p, null)
  t.equal(out.length, 1)
  t.match(out[0]!.err, { message: 'not an image' })
  t.equal(gate.waiting, 0)
  const after: Array<Outcome<PreparedImage>> = []
  pipeline.decodeAndDispatch<PreparedImage>({ model: 'm', opts: { policy: 'latency', deadline: 1000 }, params: {}, decode: decoder(clock, 1, IMAGE, { n: 0 }), images: (im) => im }, (err, answer) => after.push({ at: clock.now(), err, answer }))
  clock.advance(100)
  t.equal(after[0]?.err, null, 'the slot was free again')
})

t.test('a request whose items are prepared each on its own (/v2): an image per slot, a tensor without one, then placed together', async (t) => {
  const { clock, pipeline, gate } = setup({ slots: 2 })
  const calls = { n: 0 }
  const out: Array<{ err: Error | null, answer?: { items: Array<{ batchSize: number }>, decodeMs: number[] } | undefined }> = []
  pipeline.decodeEachAndDispatch({
    model: 'm',
    opts: { policy: 'latency', deadline: 1000 },
    params: {},
    items: [
      { gated: true, decode: decoder(clock, 4, IMAGE, calls) },
      { gated: false, decode: (done) => done(null, IMAGE) },
      { gated: true, decode: decoder(clock, 6, IMAGE, calls) }
    ]
  }, (err, answer) => out.push({ err, answer }))
  t.equal(gate.waiting, 0, 'two images, two slots: both decode at once')
  clock.advance(100)
  t.equal(calls.n, 2)
  t.equal(out.length, 1)
  t.same(out[0]!.answer!.decodeMs, [4, 0, 6], 'each image\'s own decode time; none for the tensor')
  t.same(out[0]!.answer!.items.map((it) => it.batchSize), [3, 3, 3], 'placed together once the last is decoded')
})

t.test('items prepared each on their own: every item settles, then the first error by index; nothing is dispatched', async (t) => {
  const { clock, pipeline, refused, device } = setup({ slots: 1, maxWaiting: 1 })
  const calls = { n: 0 }
  const out: Array<{ err: Error | null }> = []
  let batches = 0
  device.on('batch', () => { batches++ })
  pipeline.decodeEachAndDispatch({
    model: 'm',
    opts: { policy: 'throughput', deadline: 10_000 },
    params: {},
    items: [
      { gated: true, decode: decoder(clock, 5, IMAGE, calls) }, // decodes
      { gated: false, decode: (done) => done(new Error('element 1 is empty')) },
      { gated: true, decode: decoder(clock, 5, IMAGE, calls) }, // waits for the slot
      { gated: true, decode: decoder(clock, 5, IMAGE, calls) } // refused: one already waits
    ]
  }, (err) => out.push({ err }))
  t.same(refused, ['decode-queue-full'])
  t.equal(out.length, 0, 'not answered while items still decode')
  clock.advance(100)
  t.equal(calls.n, 2, 'the accepted images were decoded')
  t.equal(out.length, 1)
  t.match(out[0]!.err, { message: 'element 1 is empty' }, 'the first error by index')
  t.equal(batches, 0, 'nothing ran')
})

t.test('runEach (the simulator\'s multi-item /v2 request): admitted counting every item, refused before any decoding', async (t) => {
  const { clock, pipeline, refused } = setup({ slots: 2 })
  const calls = { n: 0 }
  const out: Array<{ at: number, err: Error | null, answer?: { items: Array<{ batchSize: number }>, decodeMs: number[] } | undefined }> = []
  const items = (k: number) => Array.from({ length: k }, () => ({ gated: true, decode: decoder(clock, 4, IMAGE, calls) }))
  pipeline.runEach({ model: 'm', opts: { policy: 'latency', deadline: 1000 }, params: {}, items: items(3) }, (err, answer) => out.push({ at: clock.now(), err, answer }))
  clock.advance(100)
  t.equal(out[0]!.err, null)
  t.same(out[0]!.answer!.decodeMs, [4, 4, 4], 'each under a slot of its own')
  t.equal(out[0]!.at, 4 + 4 + 13, 'two slots: two decode, then the third; then one batch of three, t(3) = 13 ms')
  // a 12 ms deadline: one image (t(1) = 11 ms) would fit, three (t(3) = 13 ms) do not
  pipeline.runEach({ model: 'm', opts: { policy: 'latency', deadline: clock.now() + 12 }, params: {}, items: items(1) }, (err) => out.push({ at: clock.now(), err }))
  pipeline.runEach({ model: 'm', opts: { policy: 'latency', deadline: clock.now() + 12 }, params: {}, items: items(3) }, (err) => out.push({ at: clock.now(), err }))
  t.equal(out.length, 2, 'three images refused at once')
  t.match(out[1]!.err, { code: 'SY_DEADLINE_UNMEETABLE' })
  t.same(refused, ['deadline'])
  t.equal(calls.n, 3 + 1, 'the refused request was never decoded; the one-image request was admitted and decodes')
})

t.test('with a record (routing.select): every arrival at admission, refused ones too, how its images are decoded; decode ms and image bytes per model', async (t) => {
  const record = new ArrivalRecord(16)
  const { clock, pipeline } = setup({ record })
  const calls = { n: 0 }
  clock.advance(5)
  pipeline.run<PreparedImage[]>({ model: 'm', opts: { policy: 'throughput', deadline: 30_005 }, params: {}, items: 3, decode: decoder(clock, 2, [IMAGE, IMAGE, IMAGE], calls), images: (d) => d }, () => {})
  pipeline.runEach({ model: 'm', opts: { policy: 'latency', deadline: 1005 }, params: {}, items: [{ gated: true, decode: decoder(clock, 4, IMAGE, calls) }, { gated: true, decode: decoder(clock, 4, IMAGE, calls) }] }, () => {})
  t.throws(() => pipeline.admit('m', { policy: 'latency', deadline: 1 }), 'refused: its deadline has passed')
  clock.advance(100)
  t.same(record.classes, [
    { model: 'm', policy: 'throughput', deadlineMs: 30_000, items: 3, itemsDecode: 'together' },
    { model: 'm', policy: 'latency', deadlineMs: 1000, items: 2, itemsDecode: 'each' },
    { model: 'm', policy: 'latency', deadlineMs: 0, items: 1, itemsDecode: 'together' }
  ], 'a tiled request\'s images decoded once, a /v2 request\'s each; the refused one recorded too')
  t.same([...record.window(0, 10).workload.at], [5, 5, 5], 'at admission, on the pipeline\'s clock')
  t.equal(record.costs.get('m')!.imageBytes, 4, 'the prepared image\'s bytes')
  t.ok(record.costs.get('m')!.decodeMs >= 2 && record.costs.get('m')!.decodeMs <= 4, 'decode ms under the slots')
})

t.test('with a record: a request whose decoder makes several images (a tiled /detect) is recorded with them once decoded', async (t) => {
  const record = new ArrivalRecord(16)
  const { clock, pipeline } = setup({ record })
  const calls = { n: 0 }
  const opts = { policy: 'throughput' as const, deadline: 30_000 }
  const arrival = pipeline.admit('m', opts)
  t.same(record.classes.map((c) => c.items), [1], 'admitted as one image: its tiles are not known yet')
  const answer = pipeline.process<PreparedImage[]>({ model: 'm', opts, params: {}, decode: decoder(clock, 2, [IMAGE, IMAGE, IMAGE, IMAGE], calls), images: (d) => d, arrival })
  clock.advance(100)
  t.equal((await answer)!.items.length, 4)
  t.same([...record.window(0, 1).workload.cls].map((k) => record.classes[k]!.items), [4], 'the whole image and three tiles: four')
  const plain = pipeline.admit('m', opts)
  pipeline.resized(plain, 2, 'each')
  t.same(record.classes[record.window(100, 101).workload.cls[0]!], { model: 'm', policy: 'throughput', deadlineMs: 30_000, items: 2, itemsDecode: 'each' }, 'resized(): a /v2 request to a plain model, its two rows')
  t.equal(setup().pipeline.admit('m', opts), -1, 'no record kept: no arrival')
})
