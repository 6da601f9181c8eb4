// Process isolation (devices[].isolation: 'process') on the real models, beside a device of
// worker threads, and the faults that only a process boundary survives. Every request is
// pinned where placement matters; every wait is on an event (a device's 'health' and 'batch'
// events, a worker's 'exit'), never on a time.
//   cpu-t: worker threads, started slow (faults.inject: +100 ms a batch, from its calibration
//          on); the default watchdog (5 s)
//   cpu-p: one worker in a child process; its watchdog fires after 2 s (4 × predicted if more: far beyond any batch
//          here but a hung one, whatever the machine's load)
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { Worker } from 'node:worker_threads'
import t from 'tap'
import { SHARED_IMAGES, startServer } from '../test-support/server.js'
import type { BatchEvent, Device } from './device.js'
import type { Executor } from './executor.js'
import { ProcessHandle } from './process-handle.js'
import type { WorkerHandle } from './worker-handle.js'

const photo = (name: string): Buffer => readFileSync(join(SHARED_IMAGES, name))
const jpeg = { 'content-type': 'image/jpeg' }
const SLOW_MS = 100

const logs: Array<Record<string, unknown>> = []
const logStream = new Writable({ write (chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) logs.push(JSON.parse(l) as Record<string, unknown>); cb() } })

const device = { kind: 'cpu', required: true, workers: 1, intraOpThreads: 1, maxBatchSize: 4, batchDelayMs: { latency: 0, throughput: 0 } }
const server = await startServer(t, {
  server: { logLevel: 'warn' },
  faults: { allow: true, inject: [{ device: 'cpu-t', mode: 'slow', delayMs: SLOW_MS }] },
  devices: [{ ...device, id: 'cpu-t', isolation: 'thread' }, { ...device, id: 'cpu-p', isolation: 'process', watchdog: { factor: 4, floorMs: 2000 } }]
}, { logStream, deviceOptions: { restartBackoffMs: { initial: 20, max: 1000 } } })
const { app, devices } = server
const cpuT = devices.get('cpu-t')!
const cpuP = devices.get('cpu-p')!

const post = (url: string, name: string, device: string) => app.inject({ method: 'POST', url, payload: photo(name), headers: { ...jpeg, 'x-switchyard-device': device } })
const executorOf = (d: Device): Executor => d.scheduler.workers[0]!.executor!
async function healthy (d: Device): Promise<void> {
  while (!d.scheduler.healthy) await once(d.scheduler, 'health')
}
/** the next batch the device runs, as its 'batch' event reports it */
const nextBatch = (d: Device): Promise<BatchEvent> => once(d.scheduler, 'batch').then(([e]) => e as BatchEvent)

t.test('process isolation serves /classify and /detect exactly as worker threads do', async (t) => {
  t.equal(cpuP.isolation, 'process')
  t.equal(cpuT.isolation, 'thread')
  t.ok(executorOf(cpuP) instanceof ProcessHandle, 'cpu-p runs its worker in a child process')
  t.not((executorOf(cpuP) as ProcessHandle).pid, process.pid)
  for (const name of ['dog.jpg', 'person.jpg', 'kite.jpg']) {
    for (const [url, key] of [['/classify', 'predictions'], ['/detect', 'detections']] as const) {
      const [a, b] = [await post(url, name, 'cpu-t'), await post(url, name, 'cpu-p')]
      t.equal(a.statusCode, 200)
      t.equal(b.statusCode, 200)
      t.equal(b.headers['x-switchyard-device'], 'cpu-p')
      t.same(b.json()[key], a.json()[key], `${url} ${name}: the same answer from a child process`)
    }
  }
})

t.test('a slow-down configured at startup holds from the calibration on, and can be cleared', async (t) => {
  t.ok(cpuT.scheduler.lanes.get('mobilenetv2')!.cost.predict(1) >= SLOW_MS, 'the calibrated cost model already includes the delay')
  const batch = nextBatch(cpuT)
  t.equal((await post('/classify', 'dog.jpg', 'cpu-t')).statusCode, 200)
  t.ok((await batch).serviceMs >= SLOW_MS, 'the worker reports the delay as service time')
  t.same(cpuT.faults, { slowMs: SLOW_MS, failStarts: 0 })
})

t.test("'slow' at run time adds its delay to every batch of a process-isolated device, replacements included, until cleared", async (t) => {
  cpuP.injectFault({ mode: 'slow', delayMs: 300 })
  for (let i = 0; i < 2; i++) {
    const batch = nextBatch(cpuP)
    t.equal((await post('/classify', 'dog.jpg', 'cpu-p')).statusCode, 200)
    t.ok((await batch).serviceMs >= 300, `batch ${i + 1}: service time includes the 300 ms`)
  }
  // the slow-down belongs to the device: a replacement worker starts slow
  executorOf(cpuP).kill!()
  await once(cpuP.scheduler, 'health') // false: its only worker is gone
  await healthy(cpuP)
  const batch = nextBatch(cpuP)
  t.equal((await post('/classify', 'dog.jpg', 'cpu-p')).statusCode, 200)
  t.ok((await batch).serviceMs >= 300, 'the replacement is slow too')
  cpuP.clearFaults()
  t.same(cpuP.faults, { slowMs: 0, failStarts: 0 })
})

t.test("'crash' aborts a child process mid-batch: the request is answered elsewhere, the device is replaced and serves again", async (t) => {
  const before = executorOf(cpuP) as ProcessHandle
  const reference = (await post('/classify', 'person.jpg', 'cpu-t')).json().predictions
  const exited = once(before, 'exit')
  cpuP.injectFault('crash')
  const res = await post('/classify', 'person.jpg', 'cpu-p')
  t.equal(res.statusCode, 200, 'answered')
  t.equal(res.headers['x-switchyard-device'], 'cpu-t', 'by the retry on the other device')
  t.same(res.json().predictions, reference)
  t.same(await exited, [134], 'the child died of SIGABRT (process.abort()), and only the child')
  await healthy(cpuP)
  const after = executorOf(cpuP) as ProcessHandle
  t.not(after.pid, before.pid, 'a new child process')
  const again = await post('/classify', 'person.jpg', 'cpu-p')
  t.equal(again.statusCode, 200)
  t.equal(again.headers['x-switchyard-device'], 'cpu-p', 'the device serves again')
  t.same(again.json().predictions, reference)
})

t.test("'crash' is refused for worker threads (it would end the server)", async (t) => {
  t.throws(() => cpuT.injectFault('crash'), /isolation 'process'/)
  t.equal((await post('/classify', 'dog.jpg', 'cpu-t')).statusCode, 200, 'and nothing was injected')
})

t.test("'hang': a child process whose run never returns is killed, its request answered, the device replaced", async (t) => {
  const hung = executorOf(cpuP) as ProcessHandle
  // observe the batch reaching the child (the scheduler's own call), then end it by force
  const sent = new Promise<void>((resolve) => {
    const run = hung.run.bind(hung)
    hung.run = (model, items, done) => { run(model, items, done); resolve() }
  })
  cpuP.injectFault('hang')
  const answer = post('/classify', 'dog.jpg', 'cpu-p')
  await sent
  const exited = once(hung, 'exit')
  hung.kill()
  t.same(await exited, [137], 'SIGKILL')
  const res = await answer
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-switchyard-device'], 'cpu-t', 'retried on the other device')
  await healthy(cpuP)
  t.equal((await post('/classify', 'dog.jpg', 'cpu-p')).headers['x-switchyard-device'], 'cpu-p', 'the device serves again')
})

t.test("'hang' under the watchdog: the hung child is killed, the request retried elsewhere, the device replaced", async (t) => {
  const hung = executorOf(cpuP) as ProcessHandle
  const exited = once(hung, 'exit')
  logs.length = 0
  cpuP.injectFault('hang')
  const res = await post('/classify', 'eagle.jpg', 'cpu-p')
  t.equal(res.statusCode, 200, 'answered')
  t.equal(res.headers['x-switchyard-device'], 'cpu-t', 'by the retry on the other device')
  t.same(await exited, [137], 'the watchdog killed the child (SIGKILL)')
  t.ok(logs.some((l) => l.device === 'cpu-p' && /watchdog/.test(String(l.msg))), 'and said so')
  await healthy(cpuP)
  t.not((executorOf(cpuP) as ProcessHandle).pid, hung.pid, 'a new child process')
  t.equal((await post('/classify', 'eagle.jpg', 'cpu-p')).headers['x-switchyard-device'], 'cpu-p', 'the device serves again')
})

t.test("'hang' in a worker thread: the watchdog abandons it, and the thread, released, ends instead of wedging the process", async (t) => {
  const hung = executorOf(cpuT) as WorkerHandle
  // the thread itself (private: a thread is never killed, so nothing else needs it)
  const thread = (hung as unknown as { worker: Worker }).worker
  const ended = once(thread, 'exit')
  cpuT.injectFault('hang')
  const res = await post('/classify', 'giraffe.jpg', 'cpu-t')
  t.equal(res.statusCode, 200, 'answered')
  t.equal(res.headers['x-switchyard-device'], 'cpu-p', 'by the retry on the other device')
  await ended // without the release the thread would block in Atomics.wait for good
  t.pass('the abandoned thread ended')
  await healthy(cpuT)
  t.equal((await post('/classify', 'giraffe.jpg', 'cpu-t')).headers['x-switchyard-device'], 'cpu-t', 'the device serves again')
})

t.test("'fail-start': the next replacement starts fail, and the backoff goes on until one starts", async (t) => {
  logs.length = 0
  cpuP.injectFault({ mode: 'fail-start', count: 2 })
  t.same(cpuP.faults, { slowMs: 0, failStarts: 2 })
  cpuP.injectFault('exit')
  const res = await post('/classify', 'dog.jpg', 'cpu-p')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['x-switchyard-device'], 'cpu-t')
  await healthy(cpuP)
  const failed = logs.filter((l) => l.device === 'cpu-p' && l.msg === 'replacement worker failed to start')
  t.equal(failed.length, 2, 'two starts failed')
  t.match(failed[0], { err: /injected fault: worker start failed/, retryInMs: 20 })
  t.match(failed[1], { retryInMs: 40 }, 'with the backoff doubling')
  t.same(cpuP.faults, { slowMs: 0, failStarts: 0 })
  t.equal((await post('/classify', 'dog.jpg', 'cpu-p')).headers['x-switchyard-device'], 'cpu-p', 'the third start serves')
})
