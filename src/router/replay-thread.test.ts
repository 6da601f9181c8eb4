// The replay thread (replay-thread.ts, replay-worker.ts): a real worker thread runs a snapshot's
// replay under both rules and answers what the same replay answers inline; it is stopped by a
// message. The snapshot is taken from a simulated server mid-run (learned-replay.ts).
import type { Worker } from 'node:worker_threads'
import t from 'tap'
import { runScenario } from '../sim/engine.js'
import { takeSnapshot, type ReplaySnapshot } from '../sim/learned-replay.js'
import { pickOnSnapshot, replayHostOf } from '../sim/replay-select.js'
import { randomScenario } from '../sim/random-scenario.js'
import { capacity } from '../sim/scenario.js'
import { ReplayThread } from './replay-thread.js'

/** Snapshots of generated scenarios' first 5 s at 90 % load, as a server's loop would take them. */
function snapshots (seeds: number[]): ReplaySnapshot[] {
  return seeds.map((seed) => {
    const s = randomScenario(seed, { durationS: 30, maxRequests: 20000, minDurationS: 15 })
    let snap: ReplaySnapshot | null = null
    runScenario(s, { strategy: 'switchyard', ratePerS: 0.9 * capacity(s), durationMs: 5000, select: { everyMs: 5000, windowMs: 5000, choose: (_w, from, ms, live) => { snap = takeSnapshot(live.devices, live.record, replayHostOf(s.host), from, from + ms, s.slo, seed); return null } } })
    return snap!
  })
}

const copy = (s: ReplaySnapshot): ReplaySnapshot => structuredClone(s)
const SNAPS = snapshots([3, 8])

t.test('a thread answers what the replay answers inline, in order; an error comes back and the thread goes on; one that ended by itself is started again; a message stops it', async (t) => {
  const inline = SNAPS.map((s) => pickOnSnapshot(copy(s)))
  const thread = new ReplayThread() // one thread for the whole test: each starts the engine's modules anew
  const answers = await Promise.all(SNAPS.map((s) => thread.choose(copy(s))))
  t.same(answers, inline)
  const bad = copy(SNAPS[0]!); bad.traffic = [{ ...bad.traffic[0]!, model: 'nobody-serves-this' }]
  await t.rejects(thread.choose(bad), /replay failed/, 'a snapshot the replay cannot run')
  t.equal(await thread.choose(copy(SNAPS[1]!)), inline[1], 'the next is answered')
  // a thread that ends by itself (here: told to stop behind the thread's back, as a crash would end it)
  const first = (thread as unknown as { worker: Worker }).worker
  first.ref() // kept up until it has ended
  const gone = new Promise((resolve) => first.once('exit', resolve))
  first.postMessage({ kind: 'stop' })
  await gone
  t.equal(await thread.choose(copy(SNAPS[0]!)), inline[0], 'a thread that ended by itself is started again with the next replay')
  t.equal(thread.starts, 2)
  await thread.close()
  await t.rejects(thread.choose(copy(SNAPS[0]!)), /replay thread is closed/, 'closed: a replay asked afterwards is refused')
  await thread.close() // a second close does nothing
})
