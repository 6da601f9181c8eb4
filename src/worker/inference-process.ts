// Entry of an inference worker in a child process (process isolation): the worker
// (inference-worker.ts) on the IPC channel to the server. The first message is the init; a crash
// here (a native abort, a segfault in a provider) ends this process only, and the server
// replaces it.
import type { MainToWorker, WorkerInit, WorkerToMain } from './protocol.js'
import { serveWorker } from './inference-worker.js'

if (process.send === undefined) throw new Error('inference-process must be started with an IPC channel (child_process.fork)')

const send = (msg: WorkerToMain): void => { process.send!(msg) }
process.once('message', (init: WorkerInit) => {
  serveWorker({
    isolation: 'process',
    send,
    onMessage: (listener) => process.on('message', (msg: MainToWorker) => listener(msg)),
    close: () => process.disconnect()
  }, init)
})
// the server gone (its end of the channel closed): nothing left to serve
process.on('disconnect', () => process.exit(0))
