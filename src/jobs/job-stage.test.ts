// The stage between the job queue and the devices (job-stage.ts): what each key may take, and
// which ready images go to the devices when a worker is free. The scenario at the end runs the
// puller's decisions against the server's own Scheduler (a SimDevice's) on a virtual clock.
import t from 'tap'
import { VirtualClock } from '../devices/clock.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { freeThroughputSlots, startableSlots } from './capacity.js'
import { FairQueue } from './fair-queue.js'
import { JobStage, STARVE_AFTER } from './job-stage.js'

t.test('one key holds one batch ahead; a key arriving beside it may take its own at once', async (t) => {
  const s = new JobStage<string>()
  t.same(s.allowance(8).total, 16)
  t.equal(s.allowance(8).perKey('big'), 8, 'a key alone: as many as the free slots')
  for (let i = 0; i < 8; i++) s.hold('big')
  const a = s.allowance(8)
  t.equal(a.perKey('big'), 0, 'the big key holds its batch: it takes no more')
  t.equal(a.perKey('small'), 8, 'a newly arrived key may still take a batch')
  for (let i = 0; i < 8; i++) s.hold('small')
  t.equal(s.allowance(8).total, 0, 'never more than two batches ahead in all')
  t.equal(s.allowance(0).total, 0, 'no free slot (the devices are busy with HTTP work): nothing is taken')
  for (let i = 0; i < 8; i++) s.drop('small')
  t.equal(s.heldBy('small'), 0)
  t.throws(() => s.drop('small'), /nothing held/)
})

t.test('release: only what was made ready, the smallest backlog first, oldest first within a key', async (t) => {
  const s = new JobStage<string>()
  for (let i = 0; i < 8; i++) { s.hold('big'); s.ready('big', `b${i}`) }
  for (let i = 0; i < 8; i++) s.hold('small')
  for (let i = 0; i < 5; i++) s.ready('small', `s${i}`)
  t.same(s.release(0, () => 0), [], 'no idle worker: nothing')
  const backlog = (k: string): number => (k === 'big' ? 592 : 22)
  t.same(s.release(4, backlog), ['s0', 's1', 's2', 's3'], 'the small key (the smaller backlog) first')
  t.equal(s.held, 12)
  t.equal(s.readyCount, 9)
  t.same(s.release(8, backlog), ['s4', 'b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6'], 'the small key has one ready: the big key takes what is left')
  t.equal(s.heldBy('small'), 3, 'three of the small key are still being prepared')
  t.same(s.drain(), ['b7'])
  t.equal(s.held, 3)
})

t.test('a key passed over three releases in a row gets one in the next', async (t) => {
  const s = new JobStage<string>()
  const backlog = (k: string): number => (k === 'big' ? 1000 : 1)
  s.hold('big'); s.ready('big', 'b0')
  const got: string[][] = []
  for (let r = 0; r < 4; r++) {
    for (let i = 0; i < 2; i++) { s.hold(`small${r}`); s.ready(`small${r}`, `s${r}.${i}`) }
    got.push(s.release(2, backlog))
  }
  t.same(got, [['s0.0', 's0.1'], ['s1.0', 's1.1'], ['s2.0', 's2.1'], ['s3.0', 'b0']], 'small keys keep arriving; the big key still runs')
  t.equal(STARVE_AFTER, 3)
})

t.test('decode turns: the key with the smaller backlog first, so many at once', async (t) => {
  const s = new JobStage<string>()
  const started: string[] = []
  const backlog = (k: string): number => (k === 'big' ? 500 : 20)
  for (let i = 0; i < 4; i++) { s.hold('big'); s.queueTurn('big', () => started.push(`b${i}`)) }
  for (const go of s.nextTurns(2, backlog)) go()
  t.same(started, ['b0', 'b1'], 'two at once')
  for (let i = 0; i < 2; i++) { s.hold('small'); s.queueTurn('small', () => started.push(`s${i}`)) }
  t.same(s.nextTurns(2, backlog), [], 'no turn free')
  s.endTurn()
  for (const go of s.nextTurns(2, backlog)) go()
  t.same(started, ['b0', 'b1', 's0'], 'the newly arrived key is next, ahead of the big key\'s older images')
  s.endTurn(); s.endTurn()
  for (const go of s.nextTurns(2, backlog)) go()
  t.same(started, ['b0', 'b1', 's0', 's1', 'b2'])
  t.throws(() => { s.endTurn(); s.endTurn(); s.endTurn() }, /no preparation/)
})

interface Img { key: string, n: number }

/**
 * One replica on a virtual clock: a FairQueue (the embedded job queue), one worker with batches
 * of 8 (t(n) = 100 + 50·n ms) and the puller's decisions, with a fetch + decode of 20 ms per
 * pull. `staged`: the JobStage (ready images wait until a worker is idle); otherwise the design
 * before it: take up to the free slots, each image into the device queue once decoded.
 * Returns when each key's last image finished.
 */
function run (staged: boolean, submissions: Array<{ at: number, key: string, images: number }>, decodeMs = 0): Map<string, number> {
  const clock = new VirtualClock()
  const device = new SimDevice({ id: 'cpu', workers: 1, models: { m: { a: 100, b: 50, maxBatchSize: 8 } }, batchDelayMs: { latency: 0, throughput: 5 } }, clock, seededRandom(1)).scheduler
  const queue = new FairQueue<Img>()
  const stage = new JobStage<Img>()
  const left = new Map<string, number>()
  const finished = new Map<string, number>()
  let preparing = 0
  const slots = [0, 0]
  const IMAGE = { pixels: new Uint8Array(1), width: 1, height: 1, originalWidth: 1, originalHeight: 1 }
  const toDevice = (img: Img): void => {
    device.enqueue('m', {
      image: IMAGE, params: {}, policy: 'throughput', deadline: clock.now() + 600_000, enqueuedAt: clock.now(),
      resolve: () => {
        const n = left.get(img.key)! - 1
        left.set(img.key, n)
        if (n === 0) finished.set(img.key, clock.now())
      },
      reject: (e) => { throw e }
    })
  }
  const release = (): void => {
    for (const img of stage.release(startableSlots([device], 'm'), (k) => queue.sizeOf(k))) toDevice(img)
  }
  const pull = (): void => {
    let taken: Img[]
    if (staged) {
      release()
      const { total, perKey } = stage.allowance(freeThroughputSlots([device], 'm'))
      taken = queue.take(total, perKey)
      for (const img of taken) stage.hold(img.key)
    } else {
      taken = queue.take(freeThroughputSlots([device], 'm') - preparing)
      preparing += taken.length
    }
    if (taken.length === 0) return
    if (decodeMs > 0) {
      // each image decoded on its own, two at a time (the decode gate's throughput slots)
      for (const img of taken) {
        const slot = slots[0]! <= slots[1]! ? 0 : 1
        slots[slot] = Math.max(clock.now() + 20, slots[slot]!) + decodeMs
        clock.setTimer(slots[slot]!, () => {
          if (staged) { stage.ready(img.key, img); release() } else { preparing--; toDevice(img) }
          pull()
        })
      }
      return
    }
    clock.setTimer(clock.now() + 20, () => {
      if (staged) { for (const img of taken) stage.ready(img.key, img); release() } else { preparing -= taken.length; for (const img of taken) toDevice(img) }
      pull()
    })
  }
  // the puller wakes when a batch ends (its handler runs before the device looks at its queue again) and on a submission
  device.on('batch', () => { if (staged) release(); clock.setTimer(clock.now(), pull) })
  for (const s of submissions) {
    clock.setTimer(s.at, () => {
      for (let i = 0; i < s.images; i++) queue.push(s.key, { key: s.key, n: i })
      left.set(s.key, (left.get(s.key) ?? 0) + s.images)
      pull()
    })
  }
  clock.runUntil(600_000)
  return finished
}

t.test('two keys 20:1 — the small key finishes within 2× its time alone, since it waits only for the running batch', async (t) => {
  const small = { key: 'small', images: 30 }
  for (const staged of [true, false]) {
    const alone = run(staged, [{ at: 1000, ...small }]).get('small')! - 1000
    // submitted mid-way through one of the big key's batches
    const beside = run(staged, [{ at: 0, key: 'big', images: 600 }, { at: 1250, ...small }])
    const ratio = (beside.get('small')! - 1250) / alone
    if (staged) {
      t.equal(alone, 1925, 'alone: 20 ms to fetch, batches of 8, 8, 8 (500 ms each), then 6 (400 ms, after the 5 ms batch delay)')
      t.ok(ratio <= 2, `beside the big key: ${ratio.toFixed(2)}× its time alone`)
      t.ok(beside.get('big')! > beside.get('small')!, 'the big key kept going and finished later')
    } else {
      t.ok(ratio > 2, `without the stage (the design before): ${ratio.toFixed(2)}× — its images queued behind a full batch of the big key's`)
    }
  }
})

t.test('the stage costs no throughput: one key alone runs as fast as before', async (t) => {
  const big = [{ at: 0, key: 'big', images: 600 }]
  const staged = run(true, big).get('big')!
  const before = run(false, big).get('big')!
  t.ok(staged <= before, `600 images in ${staged} ms with the stage, ${before} ms without`)
  for (const decodeMs of [40, 70, 100, 150, 250]) {
    const s = run(true, big, decodeMs).get('big')!
    const b = run(false, big, decodeMs).get('big')!
    t.ok(s <= b * 1.02, `decoding ${decodeMs} ms an image, two at a time: ${s} ms with the stage, ${b} ms without`)
  }
})
