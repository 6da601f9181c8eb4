// Mechanism for choosing the rule by replay in the server: one worker thread
// (src/router/replay-worker.ts) that replays snapshots (src/sim/learned-replay.ts) under both
// rules, one at a time, and answers the rule each chose. What to replay and when to switch is
// the loop's (rule-select-loop.ts); this only moves the work off the event loop.
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { ReplaySnapshot } from '../sim/learned-replay.js'
import type { ReplayAnswer, ReplayRequest } from './replay-worker.js'
import type { Rule } from './rule-select.js'

// source (.ts under the test loader) or build output (.js), as the inference worker is found
const WORKER_URL = new URL(`./replay-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)

export class ReplayThread {
  /** the thread now; null after it ended by itself (a new one starts with the next replay) */
  private worker: Worker | null = null
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (r: Rule) => void, reject: (e: Error) => void }>()
  private closed = false
  /** threads started so far: 1, and one more each time one ended by itself */
  starts = 0

  constructor () {
    this.start()
  }

  /**
   * The rule the snapshot's replay chose. The snapshot's typed arrays are moved to the thread, not
   * copied. A thread that ended by itself (it crashed, or ran out of memory) fails the replays it
   * held and is started again here.
   */
  choose (snapshot: ReplaySnapshot): Promise<Rule> {
    if (this.closed) return Promise.reject(new Error('the replay thread is closed'))
    const worker = this.worker ?? this.start()
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      const m: ReplayRequest = { kind: 'replay', id, snapshot }
      worker.postMessage(m, [snapshot.workload.at.buffer as ArrayBuffer, snapshot.workload.cls.buffer as ArrayBuffer])
    })
  }

  /** Asks the thread to stop (by message: it ends after the replay it is running) and waits until it has. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const worker = this.worker
    if (worker === null) return
    worker.ref() // until it has ended
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    const m: ReplayRequest = { kind: 'stop' }
    worker.postMessage(m)
    await exited
  }

  private start (): Worker {
    const worker = new Worker(WORKER_URL, { name: 'switchyard-replay' })
    this.starts++
    worker.unref() // a replay in flight does not keep the process up
    worker.on('message', (a: ReplayAnswer) => {
      const w = this.waiting.get(a.id)
      if (w === undefined) return
      this.waiting.delete(a.id)
      if ('error' in a) w.reject(new Error(`replay failed: ${a.error}`))
      else w.resolve(a.rule)
    })
    let ended = false
    const end = (err: Error): void => {
      if (ended) return
      ended = true
      if (this.worker === worker) this.worker = null
      for (const w of this.waiting.values()) w.reject(err)
      this.waiting.clear()
    }
    worker.on('error', end)
    worker.on('exit', (code) => end(new Error(`the replay thread exited (code ${code})`)))
    this.worker = worker
    return worker
  }
}
