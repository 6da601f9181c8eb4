// Jobs on NATS JetStream with the real nats-server (Debian's 2.9, started here with -js on a
// free loopback port and a temporary store) and three Switchyard servers: one in this process
// that only takes submissions and answers status (jobs.pull false), and two replicas in child
// processes that run the images. Two keys submit (one 20 times the other's images) before
// any replica runs, so the order in which results are stored shows the fair share; then one
// replica is killed with SIGKILL while it holds images, and nothing is lost: every image ends
// with exactly one stored result, those it held are delivered again and answered by the other.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { InjectOptions } from 'fastify'
import { AckPolicy, connect, type KV } from 'nats'
import type { Log } from '../util/log.js'
import { startNatsServer } from '../test-support/nats-server.js'
import { startReplica, type Replica } from '../test-support/replica.js'
import { multipart, SHARED_IMAGES, SHARED_MODELS, startServer } from '../test-support/server.js'

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex')
const ALICE = `sy_${randomBytes(24).toString('base64url')}`
const BOB = `sy_${randomBytes(24).toString('base64url')}`
const keys = [{ name: 'alice', sha256: sha256(ALICE), models: ['*'] }, { name: 'bob', sha256: sha256(BOB), models: ['*'] }]
const alice = { authorization: `Bearer ${ALICE}` }
const bob = { authorization: `Bearer ${BOB}` }
const SMALL = ['dog.jpg', 'eagle.jpg', 'horses.jpg', 'person.jpg', 'scream.jpg']
const photos = SMALL.map((p) => readFileSync(join(SHARED_IMAGES, p)))

const nats = await startNatsServer()
t.teardown(() => nats.stop())
const common = {
  // the classifier alone (a 2-core machine starts three servers): /detect names it too, unused
  models: { localDir: SHARED_MODELS, download: false, enabled: ['mobilenetv2'] },
  routes: { detect: 'mobilenetv2' },
  routing: { calibrationRuns: 1 },
  auth: { apiKeys: keys }
}
const api = await startServer(t, { ...common, jobs: { pull: false, replica: 'api', nats: { url: nats.url, ackWaitMs: 2000 } } })
const app = api.app
const nc = await connect({ servers: nats.url })
t.teardown(() => nc.close())
const jsm = await nc.jetstreamManager()
const kv: KV = await nc.jetstream().views.kv('SWITCHYARD_JOBS_KV')

function replica (name: string): Replica {
  const r = startReplica({
    server: { host: '127.0.0.1', port: 0, logLevel: 'info', shutdownDelayMs: 0 },
    ...common,
    devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 1, maxBatchSize: 4, intraOpThreads: 1 }],
    jobs: { replica: name, nats: { url: nats.url, ackWaitMs: 2000 } }
  })
  t.teardown(() => { if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill('SIGKILL') })
  return r
}

function batch (n: number): { payload: Buffer, headers: Record<string, string> } {
  return multipart(Array.from({ length: n }, (_, i) => ({ name: 'image', filename: `${i}-${SMALL[i % SMALL.length]!}`, type: 'image/jpeg', data: photos[i % photos.length]! })))
}

async function status (id: string, headers: Record<string, string>): Promise<Record<string, any>> {
  const res = await app.inject({ method: 'GET', url: `/jobs/${id}`, headers })
  if (res.statusCode !== 200) throw new Error(`GET /jobs/${id}: ${res.statusCode} ${res.body}`)
  return res.json()
}

async function until (id: string, headers: Record<string, string>, done: (job: Record<string, any>) => boolean): Promise<Record<string, any>> {
  for (;;) {
    const job = await status(id, headers)
    if (done(job)) return job
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** stream sequence of each stored result of a job, by image index */
async function stored (id: string): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>()
  for await (const e of await kv.history({ key: `res.${id}.*` })) {
    if (e?.operation !== 'PUT') continue
    const index = Number(e.key.split('.').pop())
    out.set(index, [...(out.get(index) ?? []), e.revision])
  }
  return out
}

const queuedInStream = async (): Promise<number> => (await jsm.streams.info('SWITCHYARD_JOBS')).state.messages

t.test('bad submissions are refused before anything reaches the queue', async (t) => {
  const jpeg = { 'content-type': 'image/jpeg', ...alice }
  const cases: Array<[string, InjectOptions, number, string]> = [
    ['unknown model', { method: 'POST', url: '/jobs/nope', payload: photos[0], headers: jpeg }, 404, 'SY_MODEL_NOT_FOUND'],
    ['not an image', { method: 'POST', url: '/jobs', payload: Buffer.from('plain text'), headers: jpeg }, 400, 'SY_INVALID_IMAGE'],
    ['a URL to a host not allowed', { method: 'POST', url: '/jobs', payload: { urls: ['http://example.com/a.jpg'] }, headers: alice }, 400, 'SY_URL_NOT_ALLOWED']
  ]
  for (const [what, req, code, error] of cases) {
    const res = await app.inject(req)
    t.equal(res.statusCode, code, `${what}: ${res.body}`)
    t.equal(res.json().error, error, what)
  }
  t.equal(await queuedInStream(), 0, 'the stream holds nothing')
})

t.test('two keys, two replicas, one killed: one result per image, the small key served alongside', async (t) => {
  const BIG = 120
  const SMALL_JOB = 6
  // both submitted while no replica runs images: the stream holds them in submission order
  const big = await app.inject({ method: 'POST', url: '/jobs', ...withKey(batch(BIG), alice) })
  t.equal(big.statusCode, 202, big.body)
  const small = await app.inject({ method: 'POST', url: '/jobs', ...withKey(batch(SMALL_JOB), bob) })
  t.equal(small.statusCode, 202, small.body)
  const bigId = big.json().id as string
  const smallId = small.json().id as string
  t.equal(await queuedInStream(), BIG + SMALL_JOB, 'every image is one message in the stream')
  t.match(await status(bigId, alice), { state: 'queued', done: 0 })

  const a = replica('a')
  const b = replica('b')
  const [apiA, apiB] = await Promise.all([a.api, b.api])

  // fair share: the small key's six results are stored among the first ones, not after the
  // big key's 120 (first come, first served would put them last)
  await until(smallId, bob, (j) => j.state === 'done')
  const smallSeqs = [...(await stored(smallId)).values()].flat()
  const lastSmall = Math.max(...smallSeqs)
  const bigBefore = [...(await stored(bigId)).values()].flat().filter((s) => s < lastSmall).length
  t.ok(bigBefore <= 24, `the big key had ${bigBefore} results stored before the small key finished (of ${BIG})`)

  // replica a dies by SIGKILL while it holds images (it always holds its next batch)
  await until(bigId, alice, (j) => j.results.filter((r: { replica: string }) => r.replica === 'a').length >= 4)
  a.proc.kill('SIGKILL')
  t.match(await a.exited, { signal: 'SIGKILL' })
  const job = await until(bigId, alice, (j) => j.state === 'done')

  t.equal(job.results.length, BIG, 'a result for every image')
  t.same(job.results.map((r: { index: number }) => r.index), Array.from({ length: BIG }, (_, i) => i), 'one per index')
  t.ok(job.results.every((r: { ok: boolean }) => r.ok), 'all answered')
  const perIndex = await stored(bigId)
  t.equal(perIndex.size, BIG)
  t.ok([...perIndex.values()].every((seqs) => seqs.length === 1), 'exactly one stored result per image')
  const byReplica = (r: string): number => job.results.filter((x: { replica: string }) => x.replica === r).length
  t.ok(byReplica('a') > 0 && byReplica('b') > 0, `both replicas ran images (a ${byReplica('a')}, b ${byReplica('b')})`)
  // the same photo, the same top-1 wherever and whenever it ran
  for (let p = 0; p < SMALL.length; p++) {
    const top1 = new Set(job.results.filter((r: { index: number }) => r.index % SMALL.length === p).map((r: { predictions: Array<{ index: number }> }) => r.predictions[0]!.index))
    t.equal(top1.size, 1, `${SMALL[p]!}: one top-1 across replicas`)
  }
  const metricsB = await (await fetch(`${apiB}/metrics`)).text()
  const redelivered = Number(/^switchyard_jobs_redelivered_images_total\{model="mobilenetv2"\} (\d+)/m.exec(metricsB)?.[1] ?? 0)
  t.ok(redelivered > 0, `the images replica a held were delivered again to b (${redelivered})`)
  t.equal(await queuedInStream(), 0, 'every message acknowledged')

  // any replica answers; only the submitting key sees the job
  const fromB = await fetch(`${apiB}/jobs/${bigId}`, { headers: alice })
  t.equal(fromB.status, 200)
  t.equal(((await fromB.json()) as { done: number }).done, BIG, 'replica b answers GET for a job submitted elsewhere')
  t.equal((await app.inject({ method: 'GET', url: `/jobs/${bigId}`, headers: bob })).statusCode, 404, 'another key does not see it')
  t.equal((await fetch(`${apiB}/jobs/${smallId}`, { headers: alice })).status, 404)
  void apiA
  await b.stop()
})

function withKey (f: { payload: Buffer, headers: Record<string, string> }, key: Record<string, string>): { payload: Buffer, headers: Record<string, string> } {
  return { payload: f.payload, headers: { ...f.headers, ...key } }
}

t.test('take() from the real server: at most what each key may still hold here, weighted by backlog', async (t) => {
  const { NatsBackend } = await import('./nats-backend.js')
  const quiet: Log = { info: () => {}, warn: () => {} }
  const b = await NatsBackend.connect({ url: nats.url, prefix: 'TAKE', ackWaitMs: 30_000, retentionMs: 60_000, models: ['m'], log: quiet })
  t.teardown(() => b.close())
  const meta = (id: string, key: string, images: number) => ({ id, key, model: 'm', task: 'classify' as const, policy: 'throughput' as const, params: {}, images, names: Array.from({ length: images }, (_, i) => `${i}`), createdAt: 0, callback: null })
  await b.submit(meta('big', 'big', 12), Array.from({ length: 12 }, () => Buffer.from([1])))
  await b.submit(meta('small', 'small', 3), Array.from({ length: 3 }, () => Buffer.from([2])))
  const first = await b.take('m', 8, (k) => (k === 'big' ? 2 : 8))
  t.same(first.map((d) => d.key).sort(), ['big', 'big', 'small', 'small', 'small'], 'the big key only the two it may still hold; the small key all it has')
  t.equal(b.backlog('m', 'big'), 12, 'backlogs as seen before this take')
  t.equal(b.backlog('m', 'small'), 3)
  t.same(await b.take('m', 8, () => 0), [], 'no key may take any')
  const second = await b.take('m', 4)
  t.same(second.map((d) => d.key), ['big', 'big', 'big', 'big'])
  t.equal(b.backlog('m', 'big'), 10)
  t.equal(b.backlog('m', 'small'), 0)
  for (const d of [...first, ...second]) await d.complete({ index: d.index, ok: true, replica: 'r', at: 0 })
})

t.test('image bytes read back whole and checked, one chunk or several', async (t) => {
  const { NatsBackend } = await import('./nats-backend.js')
  const quiet: Log = { info: () => {}, warn: () => {} }
  const b = await NatsBackend.connect({ url: nats.url, prefix: 'BYTES', ackWaitMs: 30_000, retentionMs: 60_000, models: ['m'], log: quiet })
  t.teardown(() => b.close())
  // chunks as large as the server's max payload (1 MiB by default): three, one, one
  const images = [randomBytes(2_500_000), Buffer.from([7]), photos[0]!]
  await b.submit({ id: 'j', key: 'k', model: 'm', task: 'classify', policy: 'throughput', params: {}, images: 3, names: ['a', 'b', 'c'], createdAt: 0, callback: null }, images)
  const os = await nc.jetstream().views.os('BYTES_IMAGES')
  t.equal((await os.info('j/0'))?.chunks, 3, 'the large image in three chunks')
  t.equal((await os.info('j/2'))?.chunks, 1, 'a photo in one')
  const got = await b.take('m', 3)
  t.equal(got.length, 3)
  for (const d of got) t.ok((await d.bytes()).equals(images[d.index]!), `image ${d.index}: the bytes submitted (${images[d.index]!.length})`)
  // completed together: exactly one of them finishes the job, whatever turns the server's replies land in
  const writes = async (): Promise<number> => (await jsm.streams.info('KV_BYTES_JOBS_KV')).state.last_seq
  const before = await writes()
  const done = await Promise.all(got.map((d) => d.complete({ index: d.index, ok: true, replica: 'r', at: 0 })))
  t.same(done.map((x) => x.stored), [true, true, true])
  t.equal(done.filter((x) => x.finished !== null).length, 1, 'one completion saw the job finish')
  t.equal(done.find((x) => x.finished !== null)!.finished!.results.length, 3)
  const count = await (await nc.jetstream().views.kv('BYTES_JOBS_KV')).get('count.j')
  t.equal(new TextDecoder().decode(count!.value), '3')
  // three results and the finish, and the counter once per event-loop turn in which stored results
  // came back: once where the server's three replies land in one turn (the usual case), up to three
  // times on a loaded machine where they straddle turns (CI saw 2). Its value is exact either way.
  const counterWrites = await writes() - before - 3 - 1
  t.ok(counterWrites >= 1 && counterWrites <= 3, `written: three results, the finish, the counter ${counterWrites} time(s), at most once per result`)
  // the bytes are removed once the results are stored (not awaited by complete(): poll)
  for (let i = 0; i < 100 && (await os.info('j/0') !== null || await os.info('j/2') !== null); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(await os.info('j/0'), null, 'the large image\'s object is gone')
  t.equal(await os.info('j/2'), null)
  const si = await jsm.streams.info('OBJ_BYTES_IMAGES')
  t.equal(si.state.messages, 0, 'no chunk and no metadata left in the object store')
})

t.test('an image queued before messages named their chunks (no `o`) is read through the object store\'s info', async (t) => {
  const { NatsBackend } = await import('./nats-backend.js')
  const quiet: Log = { info: () => {}, warn: () => {} }
  const b = await NatsBackend.connect({ url: nats.url, prefix: 'LEGACY', ackWaitMs: 30_000, retentionMs: 60_000, models: ['m'], log: quiet })
  t.teardown(() => b.close())
  const js = nc.jetstream()
  const os = await js.views.os('LEGACY_IMAGES')
  const kvL = await js.views.kv('LEGACY_JOBS_KV')
  const meta = { id: 'old', key: 'k', model: 'm', task: 'classify', policy: 'throughput', params: {}, images: 1, names: ['a'], createdAt: 0, callback: null }
  await kvL.put('meta.old', new TextEncoder().encode(JSON.stringify(meta)))
  await jsm.consumers.add('LEGACY_JOBS', { durable_name: `${Buffer.from('m').toString('hex')}_${Buffer.from('k').toString('hex')}`, filter_subject: `LEGACY.jobs.${Buffer.from('m').toString('hex')}.${Buffer.from('k').toString('hex')}`, ack_policy: AckPolicy.Explicit })
  await os.putBlob({ name: 'old/0' }, photos[1]!)
  await js.publish(`LEGACY.jobs.${Buffer.from('m').toString('hex')}.${Buffer.from('k').toString('hex')}`, new TextEncoder().encode(JSON.stringify({ j: 'old', i: 0, k: 'k', m: 'm' })))
  const [d] = await b.take('m', 1)
  t.ok((await d!.bytes()).equals(photos[1]!), 'the bytes submitted')
  const done = await d!.complete({ index: 0, ok: true, replica: 'r', at: 0 })
  t.ok(done.stored)
  t.not(done.finished, null)
  for (let i = 0; i < 100 && (await os.info('old/0'))?.deleted === false; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok((await os.info('old/0'))?.deleted ?? true, 'and removed once answered')
})
