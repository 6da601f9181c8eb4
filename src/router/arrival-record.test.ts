// The record of what arrived, which a replay of the last seconds of traffic reads: each arrival's
// time and class in a ring, the classes with their shares in a window, and per model the decode
// time and image bytes the pipeline measured.
import t from 'tap'
import { ArrivalRecord, twoDigits } from './arrival-record.js'

t.test('a window: the arrivals in [from, to), times from its start, every class with its share', async (t) => {
  const r = new ArrivalRecord(16)
  r.arrived(100, 'm', 'latency', 10_000, 1, 'together')
  r.arrived(250, 'm', 'throughput', 30_000, 1, 'together')
  r.arrived(300, 'm', 'throughput', 30_000, 1, 'together')
  r.arrived(420, 'y', 'latency', 10_000, 4, 'together')
  r.arrived(500, 'm', 'throughput', 30_000, 1, 'together')
  const w = r.window(200, 500)
  t.same([...w.workload.at], [50, 100, 220], 'from 200 up to, not at, 500')
  t.same([...w.workload.cls], [1, 1, 2])
  t.equal(w.workload.count, 3)
  t.same(w.traffic, [
    { model: 'm', policy: 'latency', share: 0, deadlineMs: 10_000 },
    { model: 'm', policy: 'throughput', share: 2 / 3, deadlineMs: 30_000 },
    { model: 'y', policy: 'latency', share: 1 / 3, deadlineMs: 10_000, items: 4, itemsDecode: 'together' }
  ], 'a class seen before the window is still listed, with no share; a request of several images says how they are decoded')
  t.equal(r.window(600, 700).workload.count, 0, 'nothing after the last arrival')
})

t.test('classes: deadlines to two significant digits, a /v2 request\'s images apart from a tiled one\'s', async (t) => {
  t.same([12_345, 95, 1_049, 0, -3, Infinity].map(twoDigits), [12_000, 95, 1_000, 0, 0, Infinity])
  const r = new ArrivalRecord(16)
  r.arrived(0, 'm', 'throughput', 29_990, 1, 'together')
  r.arrived(1, 'm', 'throughput', 30_004, 1, 'together')
  r.arrived(2, 'm', 'throughput', 30_000, 3, 'together')
  r.arrived(3, 'm', 'throughput', 30_000, 3, 'each')
  t.equal(r.classes.length, 3, 'two deadlines a few ms apart are one class; 3 images decoded once and 3 decoded each are two')
  t.same(r.classes.map((c) => [c.items, c.itemsDecode]), [[1, 'together'], [3, 'together'], [3, 'each']])
})

t.test('a ring: past its capacity the oldest arrivals go', async (t) => {
  const r = new ArrivalRecord(4)
  for (let i = 0; i < 10; i++) r.arrived(i * 10, 'm', 'latency', 100, 1, 'together')
  t.equal(r.length, 4)
  t.same([...r.window(0, 1000).workload.at], [60, 70, 80, 90], 'the last four, oldest first')
  t.same([...r.window(75, 1000).workload.at], [5, 15])
  t.equal(r.heldSinceMs, 60, 'every arrival since 60 ms is held')
  t.equal(new ArrivalRecord(4).heldSinceMs, -Infinity, 'until the ring first fills, all of them')
  t.throws(() => new ArrivalRecord(0), RangeError)
})

t.test('at most 256 classes: past them a request counts in the nearest class of its model and policy', async (t) => {
  const r = new ArrivalRecord(1024)
  for (const model of ['a', 'b', 'c', 'd']) for (let ms = 10; ms < 74; ms++) r.arrived(0, model, 'throughput', ms, 1, 'together')
  t.equal(r.classes.length, 256)
  r.arrived(300, 'a', 'latency', 50, 1, 'together') // new, and no class of its model and policy: the first
  r.arrived(301, 'a', 'throughput', 20, 1, 'together') // that class exists
  r.arrived(302, 'b', 'throughput', 99_000, 1, 'together') // new: b's longest deadline, 73 ms, is nearest
  t.equal(r.classes.length, 256, 'no class added')
  t.same([...r.window(300, 400).workload.cls], [0, 10, 64 + 63])
})

t.test('per model: decode ms, exponentially weighted, and the bytes of a prepared image', async (t) => {
  const r = new ArrivalRecord(4)
  r.decoded('m', 10)
  t.equal(r.costs.get('m')!.decodeMs, 10, 'the first measurement as it is')
  r.decoded('m', 30)
  t.equal(r.costs.get('m')!.decodeMs, 11, 'then 5 % of each new one')
  r.prepared('m', 150_528)
  t.same(r.costs.get('m'), { decodeMs: 11, imageBytes: 150_528 })
})

t.test('an arrival whose images are known only later (tiles, a /v2 request\'s rows) is moved to the class of those images, while the ring holds it', async (t) => {
  const r = new ArrivalRecord(4)
  const first = r.arrived(0, 'm', 'throughput', 30_000, 1, 'together')
  const second = r.arrived(10, 'm', 'throughput', 30_000, 1, 'together')
  t.same([first, second], [0, 1], 'ids in arrival order')
  r.resized(first, 5, 'together')
  t.same(r.classes[r.window(0, 1).workload.cls[0]!], { model: 'm', policy: 'throughput', deadlineMs: 30_000, items: 5, itemsDecode: 'together' }, 'its model, policy and deadline, with its five images')
  t.equal(r.window(10, 11).workload.cls[0], 0, 'the other keeps its class')
  r.resized(second, 3, 'each')
  t.same(r.window(0, 100).traffic.map((c) => [c.items ?? 1, c.itemsDecode ?? 'together', c.share]), [[1, 'together', 0], [5, 'together', 0.5], [3, 'each', 0.5]])
  for (let i = 0; i < 4; i++) r.arrived(20 + i, 'm', 'throughput', 30_000, 1, 'together')
  r.resized(first, 9, 'together')
  r.resized(-1, 9, 'together')
  r.resized(99, 9, 'together')
  t.equal(r.classes.length, 3, 'an id the ring overwrote, or none, changes nothing')
  t.same([...r.window(0, 100).workload.cls], [0, 0, 0, 0])
})
