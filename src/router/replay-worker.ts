// The replay thread (src/router/replay-thread.ts): runs each snapshot it is sent under both
// rules in the simulator's engine (src/sim/replay-select.ts pickOnSnapshot) and answers the
// rule the replay chose. A replay of 15 s of traffic takes tens of milliseconds of CPU: here,
// off the server's event loop. Stopped by a message (the thread exits between two replays), never
// terminated while it runs.
import { parentPort } from 'node:worker_threads'
import type { ReplaySnapshot } from '../sim/learned-replay.js'
import { pickOnSnapshot } from '../sim/replay-select.js'

export type ReplayRequest = { kind: 'replay', id: number, snapshot: ReplaySnapshot } | { kind: 'stop' }
export type ReplayAnswer = { id: number, rule: 'switchyard' | 'shared-queue' } | { id: number, error: string }

const port = parentPort
if (port !== null) {
  port.on('message', (m: ReplayRequest) => {
    if (m.kind === 'stop') process.exit(0) // in a worker thread: ends this thread, between two replays
    let answer: ReplayAnswer
    try {
      answer = { id: m.id, rule: pickOnSnapshot(m.snapshot) }
    } catch (err) {
      answer = { id: m.id, error: (err as Error).message }
    }
    port.postMessage(answer)
  })
}
