// Entry of an inference worker thread (thread isolation): the worker (inference-worker.ts) on the
// thread's MessagePort. Buffers in the transfer list move or, when V8 cannot detach them
// (sharp's native memory), are copied once.
import { parentPort, workerData } from 'node:worker_threads'
import type { MainToWorker, WorkerInit } from './protocol.js'
import { serveWorker } from './inference-worker.js'

const port = parentPort!
serveWorker({
  isolation: 'thread',
  send: (msg, transfer = []) => port.postMessage(msg, transfer),
  onMessage: (listener) => port.on('message', (msg: MainToWorker) => listener(msg)),
  close: () => port.close()
}, workerData as WorkerInit)
