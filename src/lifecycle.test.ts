// The process as an operator runs it: `node dist/main.js` (built by `npm test`), configured by
// the environment.
//  - SIGTERM under load: readiness flips and new requests get a 503 or find the port closed,
//    every request the server had accepted still finishes with 200, and the process exits 0
//    within server.shutdownGraceMs.
//  - Startup failures say what is wrong: an invalid config exits 78 naming the field, a
//    required model that is missing or whose weights are corrupt exits 1 naming the model; an
//    optional model that fails leaves the server up, reporting it not ready and unavailable.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { connect } from 'node:net'
import { REPO, SHARED_IMAGES, SHARED_MODELS, startServer } from './test-support/server.js'

const MAIN = join(REPO, 'dist/main.js')
const GRACE_MS = 15000
const dog = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))
const eagle = readFileSync(join(SHARED_IMAGES, 'eagle.jpg'))
const TMP = mkdtempSync(join(tmpdir(), 'switchyard-lifecycle-'))
t.teardown(() => rmSync(TMP, { recursive: true, force: true }))

interface Child {
  proc: ChildProcess
  /** stdout, one parsed pino line each */
  logs: Array<Record<string, unknown>>
  stderr: () => string
  /** resolves with the API address once 'switchyard listening' is logged */
  listening: Promise<string>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null, at: number }>
}

function start (env: Record<string, string>): Child {
  const proc = spawn(process.execPath, [MAIN], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      SWITCHYARD_DEVICES: 'cpu',
      SWITCHYARD_MODELS_DIR: SHARED_MODELS,
      SWITCHYARD_CACHE_DIR: join(TMP, 'cache'),
      SWITCHYARD_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const logs: Array<Record<string, unknown>> = []
  let err = ''
  let out = ''
  let onListening: (api: string) => void = () => {}
  const listening = new Promise<string>((resolve) => { onListening = resolve })
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString('utf8')
    let nl
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl)
      out = out.slice(nl + 1)
      try {
        const entry = JSON.parse(line) as Record<string, unknown>
        logs.push(entry)
        if (entry.msg === 'switchyard listening') onListening(entry.api as string)
      } catch {
        logs.push({ raw: line })
      }
    }
  })
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString('utf8') })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null, at: number }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() }))
  })
  return { proc, logs, stderr: () => err, listening, exited }
}

/** Starts, then fails the test (instead of hanging) if it neither listens nor exits in time. */
async function startListening (t: Test, env: Record<string, string>): Promise<{ child: Child, api: string }> {
  const child = start(env)
  t.teardown(() => { if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL') })
  const api = await Promise.race([
    child.listening,
    child.exited.then((e) => { throw new Error(`exited ${e.code} before listening: ${child.stderr()}`) }),
    new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('did not listen within 60 s')), 60000).unref())
  ])
  return { child, api }
}

async function exitOf (child: Child, withinMs = 60000): Promise<{ code: number | null, signal: NodeJS.Signals | null, at: number }> {
  return Promise.race([
    child.exited,
    new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`still running after ${withinMs} ms`)), withinMs).unref())
  ])
}

interface Answer { status: number | null, body: string, error: string | null, sentAt: number, doneAt: number, sentSeq: number, doneSeq: number, retryAfter?: string | undefined }

/**
 * Events of this test process in the order they happened (a request sent, an answer received,
 * the signal sent): what was before what, exactly — milliseconds tie when a batch's answers
 * arrive together in the millisecond the signal is sent.
 */
let seq = 0

function request (agent: http.Agent, api: string, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const sentAt = Date.now()
  const sentSeq = ++seq
  return new Promise((resolve) => {
    const req = http.request(`${api}${path}`, { method, agent, headers: { ...(body ? { 'content-type': 'image/jpeg', 'content-length': String(body.length) } : {}), ...headers } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { text += d })
      res.on('end', () => resolve({ status: res.statusCode ?? null, body: text, error: null, sentAt, doneAt: Date.now(), sentSeq, doneSeq: ++seq, retryAfter: res.headers['retry-after'] }))
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ status: res.statusCode ?? null, body: text, error: e.code ?? e.message, sentAt, doneAt: Date.now(), sentSeq, doneSeq: ++seq }))
    })
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: null, body: '', error: e.code ?? e.message, sentAt, doneAt: Date.now(), sentSeq, doneSeq: ++seq }))
    req.end(body)
  })
}

t.before(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`)
})

t.test('SIGTERM under load: accepted requests finish, new ones are refused, exit 0 within the grace period', async (t) => {
  const { child, api } = await startListening(t, {})
  const CLIENTS = 8
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS })
  const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy(); probeAgent.destroy() })

  let signalAt = Infinity
  let signalSeq = Infinity
  const answers: Answer[] = []
  const readyz: Answer[] = []
  const client = async (): Promise<void> => {
    const until = Date.now() + 60000
    while (Date.now() < until) {
      // a generous deadline: admission control (429) on a busy CI machine is not what is tested here
      const a = await request(agent, api, 'POST', '/detect', dog, { 'x-switchyard-deadline-ms': '120000' })
      answers.push(a)
      if (a.status !== 200 && a.sentSeq > signalSeq) return // refused after SIGTERM: this client is done
      if (a.status !== 200) return // a failure before SIGTERM: reported below
    }
  }
  const prober = async (): Promise<void> => {
    while (child.proc.exitCode === null && child.proc.signalCode === null) {
      const a = await request(probeAgent, api, 'GET', '/readyz')
      readyz.push(a)
      if (a.error === 'ECONNREFUSED') return
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  const probing = prober()
  const clients = Array.from({ length: CLIENTS }, client)
  // let the load build up, then ask the process to stop while requests are queued and running
  const loadDeadline = Date.now() + 60000
  while (answers.filter((a) => a.status === 200).length < 2 * CLIENTS && !answers.some((a) => a.status !== 200) && Date.now() < loadDeadline) {
    await new Promise((r) => setTimeout(r, 20))
  }
  signalAt = Date.now()
  signalSeq = ++seq
  child.proc.kill('SIGTERM')
  const exit = await exitOf(child, GRACE_MS + 10000)
  await Promise.all(clients)
  await probing

  t.equal(exit.code, 0, 'exit status 0')
  t.equal(exit.signal, null, 'exited by itself, not killed by the signal')
  t.ok(exit.at - signalAt < GRACE_MS, `exited ${exit.at - signalAt} ms after SIGTERM, within the grace period of ${GRACE_MS} ms`)
  t.ok(child.logs.some((l) => l.msg === 'shutdown complete'), 'logged "shutdown complete"')
  t.notOk(child.logs.some((l) => l.msg === 'shutdown grace period exceeded; exiting'))

  const before = answers.filter((a) => a.doneSeq < signalSeq)
  t.ok(before.length >= 2 * CLIENTS && before.every((a) => a.status === 200), `all ${before.length} requests answered before SIGTERM were 200`,
    { failures: before.filter((a) => a.status !== 200).slice(0, 3) })
  const inFlight = answers.filter((a) => a.sentSeq < signalSeq && a.doneSeq > signalSeq)
  t.ok(inFlight.some((a) => a.status === 200), `requests in flight at SIGTERM finished with 200 (${inFlight.filter((a) => a.status === 200).length} of ${inFlight.length})`)

  // every answer is a 200, a 503 with a JSON error body, or a connection that was refused or
  // closed before the server accepted the request
  const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'socket hang up', 'UND_ERR_SOCKET'])
  // (one assertion each over however many answers of each kind there were: the mix is the machine's)
  // the server's own error (bug: Fastify's bare 503, without an SY_ code or Retry-After)
  const ownError = (body: string): boolean => {
    const b = JSON.parse(body) as Record<string, unknown>
    return Object.keys(b).length === 3 && b.statusCode === 503 && b.error === 'SY_SHUTTING_DOWN' && b.message === 'The server is shutting down'
  }
  t.same(answers.filter((a) => a.status === 503 && !(a.retryAfter === '1' && a.doneSeq > signalSeq && ownError(a.body))), [],
    'every 503 came once shutting down, with the server\'s JSON error body and Retry-After: 1')
  t.same(answers.filter((a) => !(a.status === 200 && a.error === null) && a.status !== 503 && !(a.status === null && a.error !== null && REFUSED.has(a.error) && a.doneSeq > signalSeq))
    .map((a) => ({ status: a.status, error: a.error, afterSignalMs: a.doneAt - signalAt })), [], 'every other answer that is not a 200 is a refused or closed connection, after SIGTERM')
  const refused = answers.filter((a) => a.status !== 200)
  t.equal(refused.length, CLIENTS, 'each client ended on a 503 or a refused connection')

  // what the server accepted (its access log) is exactly what the clients got as 200
  const served = child.logs.filter((l) => l.msg === 'inference')
  t.ok(served.every((l) => l.status === 200), 'every request the server accepted finished with 200')
  t.equal(served.length, answers.filter((a) => a.status === 200).length, 'and every one of those 200s reached its client')

  // readiness: once it stops answering 200 it never answers 200 again
  const firstDown = readyz.findIndex((a) => a.status !== 200)
  t.ok(firstDown > 0, 'readyz answered 200 under load, then stopped')
  t.ok(readyz.slice(firstDown).every((a) => a.status !== 200), 'and never came back')
  // one assertion over however many polls landed after the flip (their number is the machine's)
  const unexplained = readyz.slice(firstDown).filter((a) => a.status === 503
    ? !(JSON.parse(a.body).status === 'not ready' && JSON.parse(a.body).shuttingDown === true)
    : !(a.status === null && a.error !== null && REFUSED.has(a.error)))
  t.same(unexplained, [], 'after it, every readyz answer is a 503 saying why (not ready, shutting down) or a closed port')
  // readiness flips first: for server.shutdownDelayMs the port stays open answering 503
  t.equal(readyz[firstDown]?.status, 503, 'readyz flipped to 503 before the port closed')
  t.ok(answers.some((a) => a.status === 503 && JSON.parse(a.body).error === 'SY_SHUTTING_DOWN'), 'new inference requests were answered 503 SY_SHUTTING_DOWN')
})

t.test('a request arriving while the server closes gets the server\'s own 503: SY_SHUTTING_DOWN with Retry-After', async (t) => {
  // bug: once Fastify was closing it answered itself, a bare 503 without SY_ code or Retry-After.
  // One connection, two pipelined requests: the first is accepted before shutdown and holds the
  // connection open (its body not yet sent), the second arrives while the server closes.
  const s = await startServer(t)
  await s.listen()
  const server = s.app.server
  const socket = connect((server.address() as { port: number }).port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  let text = ''
  socket.setEncoding('utf8')
  socket.on('data', (d: string) => { text += d })
  const ended = once(socket, 'close')
  const accepted = once(server, 'request')
  socket.write(`POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${dog.length}\r\n\r\n`)
  socket.write(dog.subarray(0, 100))
  await accepted
  const closing = s.close()
  while (server.listening) await new Promise((resolve) => setImmediate(resolve)) // Fastify is closing
  socket.write(dog.subarray(100))
  socket.write(`POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${dog.length}\r\n\r\n`)
  socket.write(dog)
  await ended
  await closing
  const [first, second] = text.split(/(?=HTTP\/1\.1 )/)
  t.match(first, /^HTTP\/1\.1 200 /, 'the request accepted before shutdown finished with 200')
  t.match(second, /^HTTP\/1\.1 503 /, 'the one that arrived while closing: 503')
  t.match(second, /\r\nretry-after: 1\r\n/i, 'with Retry-After')
  t.match(second, /\r\nconnection: close\r\n/i, 'and Connection: close')
  t.same(JSON.parse(second!.slice(second!.indexOf('\r\n\r\n') + 4)), { statusCode: 503, error: 'SY_SHUTTING_DOWN', message: 'The server is shutting down' })
})

t.test('an invalid config exits 78 naming the field and where it came from', async (t) => {
  const child = start({ PORT: 'abc' })
  const exit = await exitOf(child)
  t.equal(exit.code, 78)
  t.match(child.stderr(), /^switchyard: invalid config at \/server\/port: .+ \(from PORT\)\n$/)

  const keys = start({ SWITCHYARD_API_KEYS: 'ops:not-a-hash' })
  t.equal((await exitOf(keys)).code, 78)
  t.match(keys.stderr(), /^switchyard: invalid config at \/auth\/apiKeys\/0\/sha256: .+ \(from SWITCHYARD_API_KEYS\)\n$/)
})

t.test('a required model that does not exist exits 1 naming it', async (t) => {
  const child = start({ SWITCHYARD_MODELS: 'mobilenetv2,nope-model', SWITCHYARD_DETECT_MODEL: 'nope-model' })
  const exit = await exitOf(child)
  t.equal(exit.code, 1)
  t.match(child.stderr(), /^switchyard: startup failed: model nope-model: no .*nope-model\/model\.json/)
})

/** A models repository whose mobilenetv2-12-int8 weights are garbage with a matching sha256. */
function corruptRepository (): string {
  const repo = join(TMP, 'models')
  const garbage = join(TMP, 'garbage.onnx')
  const bytes = Buffer.from('this is not an ONNX model '.repeat(1000))
  writeFileSync(garbage, bytes)
  for (const name of ['mobilenetv2-12-int8', 'yolox-nano']) {
    mkdirSync(join(repo, name), { recursive: true })
    copyFileSync(join(REPO, 'models', name, 'labels.txt'), join(repo, name, 'labels.txt'))
    const spec = JSON.parse(readFileSync(join(REPO, 'models', name, 'model.json'), 'utf8'))
    if (name === 'mobilenetv2-12-int8') {
      spec.weights = { file: garbage, url: null, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length }
    }
    writeFileSync(join(repo, name, 'model.json'), JSON.stringify(spec, null, 2))
  }
  return repo
}

function configFile (name: string, models: Record<string, unknown>): string {
  const file = join(TMP, name)
  writeFileSync(file, JSON.stringify({
    models: { localDir: SHARED_MODELS, download: false, enabled: ['mobilenetv2-12-int8', 'yolox-nano'], ...models },
    routes: { classify: 'mobilenetv2-12-int8' },
    routing: { calibrationRuns: 1 }
  }))
  return file
}

t.test('corrupt weights for a required model: exit 1 naming the model', async (t) => {
  const repository = corruptRepository()
  const child = start({ SWITCHYARD_CONFIG: configFile('required.json', { repository }) })
  const exit = await exitOf(child)
  t.equal(exit.code, 1)
  t.match(child.stderr(), /^switchyard: startup failed: .*model mobilenetv2-12-int8 could not be loaded/)
})

t.test('corrupt weights for an optional model: the server runs without it and says so', async (t) => {
  const repository = corruptRepository()
  const { child, api } = await startListening(t, { SWITCHYARD_CONFIG: configFile('optional.json', { repository, optional: ['mobilenetv2-12-int8'] }) })
  t.ok(child.logs.some((l) => l.level === 40 && l.model === 'mobilenetv2-12-int8' && /optional model mobilenetv2-12-int8 is not available/.test(String(l.msg))), 'a warning names the model')

  const agent = new http.Agent({ keepAlive: false })
  const ready = await request(agent, api, 'GET', '/readyz')
  t.equal(ready.status, 503)
  t.match(JSON.parse(ready.body), { status: 'not ready', models: { 'mobilenetv2-12-int8': false, 'yolox-nano': true } })

  const models = JSON.parse((await request(agent, api, 'GET', '/models')).body)
  t.match(models.unavailable, { 'mobilenetv2-12-int8': String })
  t.same(models.models.filter((m: { ready: boolean }) => m.ready).map((m: { name: string }) => m.name), ['yolox-nano'])

  const detect = await request(agent, api, 'POST', '/detect', dog)
  t.equal(detect.status, 200, 'the other model serves')
  t.ok(JSON.parse(detect.body).detections.some((d: { label: string }) => d.label === 'dog'))
  const classify = await request(agent, api, 'POST', '/classify', eagle)
  t.equal(classify.status, 503, 'the unavailable model answers 503')
  t.match(JSON.parse(classify.body), { statusCode: 503, error: String })

  child.proc.kill('SIGTERM')
  t.equal((await exitOf(child, GRACE_MS + 5000)).code, 0)
})
