// dispatchMany's report: what ran where, in which batches. The dispatcher is a fake here; the
// placement itself, and that a failed request answers only once all its images settled, are
// pinned on simulated devices in dispatcher.test.ts.
import t from 'tap'
import type { Dispatched, Dispatcher } from './dispatcher.js'
import { dispatchMany } from './dispatch-many.js'
import type { PreparedImage } from '../worker/protocol.js'

const img = (n: number): PreparedImage => ({ pixels: new Uint8Array([n]), width: 1, height: 1, originalWidth: 1, originalHeight: 1 })
const opts = { policy: 'latency' as const, deadline: Infinity }

function done (device: string, batchSize: number, inferenceMs: number, tag: number): Dispatched {
  return { result: { kind: 'detect', width: tag, height: 1, detections: [] }, device, batchSize, queueMs: 0, inferenceMs, postprocessMs: 1, predictedMs: 5 }
}

/** a fake whose dispatchMany answers image n with plan[n] */
function fake (plan: Dispatched[]): { dispatcher: Dispatcher, go: () => void } {
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const dispatcher = {
    dispatchMany: async (_m: string, images: PreparedImage[]) => { await gate; return images.map((image) => plan[image.pixels[0]!]!) }
  } as unknown as Dispatcher
  return { dispatcher, go: () => release() }
}

t.test('answers in the order given, counting images per device and per batch', async (t) => {
  const { dispatcher, go } = fake([done('cpu', 1, 10, 0), done('cpu', 2, 20, 1), done('cpu', 2, 20, 2), done('gpu', 2, 20, 3), done('gpu', 2, 20, 4)])
  const p = dispatchMany(dispatcher, 'm', [0, 1, 2, 3, 4].map(img), {}, opts, async (i) => img(i))
  go()
  const r = await p
  t.same(r.items.map((x) => x.result.kind === 'detect' && x.result.width), [0, 1, 2, 3, 4], 'in order, though answered in reverse')
  t.same(r.devices, { cpu: 3, gpu: 2 })
  t.same(r.batches.map((b) => [b.device, b.size, b.items]), [['cpu', 1, 1], ['cpu', 2, 2], ['gpu', 2, 2]])
})

