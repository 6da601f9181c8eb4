// dispatchMany: the images of one request dispatched together; what ran where.
// The dispatcher is a fake here: it answers each image after a delay this test controls.
import t from 'tap'
import type { Dispatched, Dispatcher } from './dispatcher.js'
import { dispatchMany } from './dispatch-many.js'
import type { PreparedImage } from '../worker/protocol.js'

const img = (n: number): PreparedImage => ({ pixels: new Uint8Array([n]), width: 1, height: 1, originalWidth: 1, originalHeight: 1 })
const opts = { policy: 'latency' as const, deadline: Infinity }

function done (device: string, batchSize: number, inferenceMs: number, tag: number): Dispatched {
  return { result: { kind: 'detect', width: tag, height: 1, detections: [] }, device, batchSize, queueMs: 0, inferenceMs, postprocessMs: 1, predictedMs: 5, routeReason: 'test', attempts: 1 }
}

/** a fake whose answer for image n is plan[n], settled when `go` is called */
function fake (plan: Array<Dispatched | Error>): { dispatcher: Dispatcher, go: () => void, one: (n: number) => void, settled: number[] } {
  const waiting: Array<() => void> = []
  const byImage = new Map<number, () => void>()
  const settled: number[] = []
  const dispatcher = {
    dispatch: (_m: string, image: PreparedImage) => new Promise<Dispatched>((resolve, reject) => {
      const n = image.pixels[0]!
      const settle = (): void => { if (settled.includes(n)) return; settled.push(n); const p = plan[n]!; if (p instanceof Error) reject(p); else resolve(p) }
      waiting.push(settle)
      byImage.set(n, settle)
    })
  } as unknown as Dispatcher
  return { dispatcher, go: () => { for (const w of waiting.reverse()) w() }, one: (n) => byImage.get(n)!(), settled }
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

t.test('a failure is answered only once every image has settled', async (t) => {
  const { dispatcher, one, settled } = fake([done('cpu', 1, 10, 0), new Error('429'), done('cpu', 1, 11, 2)])
  const p = dispatchMany(dispatcher, 'm', [0, 1, 2].map(img), {}, opts, async (i) => img(i))
  let answered = false
  p.catch(() => { answered = true })
  one(1)
  one(0)
  await new Promise((resolve) => setImmediate(resolve))
  t.notOk(answered, 'image 2 is still running: no answer yet')
  one(2)
  await t.rejects(p, { message: '429' })
  t.same(settled.sort(), [0, 1, 2], 'nothing of the refused request still running')
})
