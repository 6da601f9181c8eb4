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
  private readonly worker: Worker
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (r: Rule) => void, reject: (e: Error) => void }>()
  private ended: Error | null = null

  constructor () {
    this.worker = new Worker(WORKER_URL, { name: 'switchyard-replay' })
    this.worker.unref() // a replay in flight does not keep the process up
    this.worker.on('message', (a: ReplayAnswer) => {
      const w = this.waiting.get(a.id)
      if (w === undefined) return
      this.waiting.delete(a.id)
      if ('error' in a) w.reject(new Error(`replay failed: ${a.error}`))
      else w.resolve(a.rule)
    })
    const end = (err: Error): void => {
      this.ended ??= err
      for (const w of this.waiting.values()) w.reject(this.ended)
      this.waiting.clear()
    }
    this.worker.on('error', end)
    this.worker.on('exit', (code) => end(new Error(`the replay thread exited (code ${code})`)))
  }

  /** The rule the snapshot's replay chose. The snapshot's typed arrays are moved to the thread, not copied. */
  choose (snapshot: ReplaySnapshot): Promise<Rule> {
    if (this.ended !== null) return Promise.reject(this.ended)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      const m: ReplayRequest = { kind: 'replay', id, snapshot }
      this.worker.postMessage(m, [snapshot.workload.at.buffer as ArrayBuffer, snapshot.workload.cls.buffer as ArrayBuffer])
    })
  }

  /** Asks the thread to stop (by message: it ends after the replay it is running) and waits until it has. */
  async close (): Promise<void> {
    if (this.ended !== null) return
    this.worker.ref() // until it has ended
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()))
    const m: ReplayRequest = { kind: 'stop' }
    this.worker.postMessage(m)
    await exited
  }
}
