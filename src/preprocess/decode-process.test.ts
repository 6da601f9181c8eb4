// The background decoder: the server's own decode, in a child process at a lower CPU priority.
import { readdirSync, readFileSync } from 'node:fs'
import { getPriority } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { decodeImage } from './decode-image.js'
import { DecodeProcess } from './decode-process.js'
import { SHARED_IMAGES } from '../test-support/server.js'

const classifier = {
  input: { name: 'input', width: 224, height: 224, channelOrder: 'RGB' as const },
  preprocess: { resize: { mode: 'center-crop' as const, shorterSide: 256 }, scale: 1 / 255, mean: [0.485, 0.456, 0.406] as [number, number, number], std: [0.229, 0.224, 0.225] as [number, number, number] }
}
const limits = { maxPixels: 40_000_000, maxDimension: 16384, formats: ['png', 'jpeg'] }
const dog = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))
const quiet = { warn: () => {}, info: () => {} }

t.test('decodes exactly what the server process decodes', async (t) => {
  const d = new DecodeProcess(10, quiet)
  t.teardown(() => d.close())
  const [here, there] = await Promise.all([decodeImage(dog, classifier, limits), d.decode(dog, classifier, limits)])
  t.same([there.width, there.height, there.originalWidth, there.originalHeight], [here.width, here.height, here.originalWidth, here.originalHeight])
  t.ok(Buffer.isBuffer(there.pixels) && there.pixels.equals(here.pixels), 'the same pixels, as a Buffer')
  t.equal(there.pixels.byteOffset, 0)
  t.equal(there.pixels.buffer.byteLength, there.pixels.byteLength, 'its own buffer, so the worker can take it without a copy')
})

t.test('runs at the nice value it was given, every thread of it', async (t) => {
  const d = new DecodeProcess(7, quiet)
  t.teardown(() => d.close())
  await d.decode(dog, classifier, limits) // started, and its decode threads too
  const pid = d.pid!
  t.equal(getPriority(pid), 7)
  let tasks: string[] = []
  try { tasks = readdirSync(`/proc/${pid}/task`) } catch { t.comment('no /proc here: the threads are not checked'); return }
  t.ok(tasks.length > 1)
  t.same(tasks.filter((tid) => getPriority(Number(tid)) !== 7), [], 'no thread left at another priority')
})

t.test('a bad image is the same 4xx error as in the server process', async (t) => {
  const d = new DecodeProcess(10, quiet)
  t.teardown(() => d.close())
  const junk = Buffer.concat([dog.subarray(0, 200), Buffer.alloc(500)])
  const here = await decodeImage(junk, classifier, limits).then(() => null, (e: Error & { statusCode?: number, code?: string }) => e)
  const there = await d.decode(junk, classifier, limits).then(() => null, (e: Error & { statusCode?: number, code?: string }) => e)
  t.ok(here !== null && there !== null)
  t.match(there, { statusCode: here!.statusCode, code: here!.code, message: here!.message })
  t.equal(there!.statusCode, 400)
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')
  t.match(await d.decode(svg, classifier, limits).catch((e: unknown) => e), { statusCode: 415 }, 'refused unread, as here')
})

t.test('a decoder that dies fails what it held as retryable, and the next decode starts a new one', async (t) => {
  const d = new DecodeProcess(10, quiet)
  t.teardown(() => d.close())
  await d.decode(dog, classifier, limits)
  const first = d.pid!
  process.kill(first, 'SIGKILL') // after kill() returns the child runs no more code
  t.match(await d.decode(dog, classifier, limits).catch((e: unknown) => e), { statusCode: 503, code: 'SY_DECODER_UNAVAILABLE' }, 'held when it died: 503, so a job image goes back to the queue')
  const again = await d.decode(dog, classifier, limits)
  t.equal(Buffer.compare(again.pixels, (await decodeImage(dog, classifier, limits)).pixels), 0, 'decoded')
  t.not(d.pid, first, 'a new process')
})

t.test('closed: the child ends, and decodes are refused as retryable', async (t) => {
  const d = new DecodeProcess(10, quiet)
  await d.decode(dog, classifier, limits)
  const pid = d.pid!
  await d.close()
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the process is gone')
  t.match(await d.decode(dog, classifier, limits).catch((e: unknown) => e), { statusCode: 503, code: 'SY_DECODER_UNAVAILABLE' })
})

t.test('a decoder that never starts: three tries, then decodes in the server process', async (t) => {
  const warned: string[] = []
  const d = new DecodeProcess(10, { warn: (_o, msg) => { warned.push(msg) }, info: () => {} }, join(import.meta.dirname ?? '.', 'no-such-decoder.js'))
  t.teardown(() => d.close())
  t.ok(d.separate, 'decodes meant for a child of its own')
  for (let i = 0; i < 3; i++) t.match(await d.decode(dog, classifier, limits).catch((e: unknown) => e), { statusCode: 503, code: 'SY_DECODER_UNAVAILABLE' }, `start ${i + 1} fails: retryable`)
  const here = await d.decode(dog, classifier, limits)
  t.equal(Buffer.compare(here.pixels, (await decodeImage(dog, classifier, limits)).pixels), 0, 'then decoded here')
  t.equal(d.pid, undefined, 'no child')
  t.notOk(d.separate, 'said, so the caller gates them as its own decodes (src/jobs/puller.ts)')
  t.match(warned.at(-1), /never started; decoding in the server process/)
})
