// Asynchronous jobs on NATS JetStream (issue 21):   npm run bench:jobs → bench/results/jobs.{md,json}
// Debian's nats-server (-js, temporary store) and three Switchyard replicas in child processes,
// the classifier alone, one CPU worker each, made unequal by injected per-batch delays
// (SWITCHYARD_FAULTS slow: 0, 250 and 750 ms), and a fourth that only takes submissions
// (jobs.pull false). Phases, in one run on the same processes:
//   1. 2,000 images as jobs (40 jobs of 50) submitted before any replica runs; the three start
//      together; counted from the moment all three listen (results carry their time) → one
//      stored result per image, each replica's share, images/s through jobs
//   2. HTTP baseline: every replica saturated with throughput-class POST /classify (closed
//      loop, 16 connections each) → images/s per replica (its capacity share) and in all
//   3. SIGKILL: 400 images as jobs, replica r2 killed by SIGKILL once it has stored 30 → still
//      one result per image (those it held are delivered again after ack_wait, 5 s here)
//   4. two keys 20:1: the small key's 30 images alone, then submitted right after the big
//      key's 600 → how long the small key's job takes in each case
// The machine has 2 cores shared with other work: the replicas compete for them (as pods on a
// node would), so capacities are measured in the same run and only ratios are quoted.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { startNatsServer } from '../src/test-support/nats-server.js'
import { startReplica, type Replica } from '../src/test-support/replica.js'
import { multipart, REPO, SHARED_IMAGES, SHARED_MODELS } from '../src/test-support/server.js'

const PHOTOS = ['dog.jpg', 'eagle.jpg', 'horses.jpg', 'person.jpg', 'scream.jpg'].map((p) => readFileSync(join(SHARED_IMAGES, p)))
const SLOW_MS = [0, 250, 750]
const HTTP_SECONDS = Number(process.env.BENCH_JOBS_HTTP_SECONDS ?? 20)
const KILL_IMAGES = 400
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex')
const BIG = `sy_${randomBytes(24).toString('base64url')}`
const SMALL = `sy_${randomBytes(24).toString('base64url')}`
const auth = (k: string): Record<string, string> => ({ authorization: `Bearer ${k}` })
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const nats = await startNatsServer()
const replicas: Replica[] = []
const log = (s: string): void => { process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`) }
try {
  const replicaConfig = (name: string, pull: boolean): Record<string, unknown> => ({
    server: { host: '127.0.0.1', port: 0, logLevel: 'info', shutdownDelayMs: 0 },
    models: { localDir: SHARED_MODELS, download: false, enabled: ['mobilenetv2'] },
    routes: { detect: 'mobilenetv2' },
    routing: { calibrationRuns: 1 },
    devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 1, intraOpThreads: 1, maxBatchSize: 8, maxQueue: 1024 }],
    auth: { apiKeys: [{ name: 'big', sha256: sha256(BIG) }, { name: 'small', sha256: sha256(SMALL) }] },
    jobs: { replica: name, pull, maxImages: 1000, maxOutstandingPerKey: 100000, nats: { url: nats.url, ackWaitMs: 5000 } }
  })
  const front = startReplica(replicaConfig('api', false))
  replicas.push(front)
  const api = await front.api
  const submit = async (key: string, n: number, offset = 0): Promise<string> => {
    const form = multipart(Array.from({ length: n }, (_, i) => ({ name: 'image', filename: `${offset + i}.jpg`, type: 'image/jpeg', data: PHOTOS[(offset + i) % PHOTOS.length]! })))
    const res = await fetch(`${api}/jobs`, { method: 'POST', body: new Uint8Array(form.payload), headers: { ...form.headers, ...auth(key) } })
    if (res.status !== 202) throw new Error(`POST /jobs: ${res.status} ${await res.text()}`)
    return ((await res.json()) as { id: string }).id
  }
  /** n jobs of 50, four submissions at a time, ids in order */
  const submitMany = async (key: string, jobs: number): Promise<string[]> => {
    const ids: string[] = new Array(jobs)
    let next = 0
    await Promise.all(Array.from({ length: 4 }, async () => { while (next < jobs) { const j = next++; ids[j] = await submit(key, 50, j * 50) } }))
    return ids
  }

  log('jobs: submitting 2,000 images (40 × 50) before any replica runs')
  const s0 = performance.now()
  const ids = await submitMany(BIG, 40)
  const submitSeconds = (performance.now() - s0) / 1000
  log(`jobs: submitted in ${submitSeconds.toFixed(1)} s; starting r1–r3 together`)
  for (let i = 0; i < 3; i++) {
    replicas.push(startReplica(replicaConfig(`r${i + 1}`, true), SLOW_MS[i]! > 0 ? { SWITCHYARD_FAULTS: JSON.stringify([{ device: 'cpu', mode: 'slow', delayMs: SLOW_MS[i] }]) } : {}))
  }
  const apis = await Promise.all(replicas.slice(1).map((r) => r.api))
  const allUp = Date.now()
  log(`replicas ${apis.join(' ')}`)
  interface Result { index: number, ok: boolean, replica: string, storedAt: string }
  interface Job { state: string, done: number, images: number, results: Result[] }
  const get = async (api: string, key: string, id: string): Promise<Job> => {
    const res = await fetch(`${api}/jobs/${id}`, { headers: auth(key) })
    if (res.status !== 200) throw new Error(`GET /jobs/${id}: ${res.status}`)
    return (await res.json()) as Job
  }
  /** waits until every job is done, checking one job per tick; resolves with the finish times */
  const waitAll = async (api: string, key: string, ids: string[]): Promise<number> => {
    const open = new Set(ids)
    while (open.size > 0) {
      for (const id of [...open]) {
        if ((await get(api, key, id)).state === 'done') open.delete(id)
        else break
      }
      if (open.size > 0) await sleep(100)
    }
    return performance.now()
  }
  const check = async (api: string, key: string, ids: string[], perJob: number): Promise<{ images: number, results: number, oneEach: boolean, ok: number, perReplica: Record<string, number>, list: Result[] }> => {
    const perReplica: Record<string, number> = {}
    let results = 0; let ok = 0; let oneEach = true
    const list: Result[] = []
    for (const id of ids) {
      const job = await get(api, key, id)
      results += job.results.length
      list.push(...job.results)
      const idx = new Set(job.results.map((r) => r.index))
      if (idx.size !== perJob || job.results.length !== perJob) oneEach = false
      for (const r of job.results) { perReplica[r.replica] = (perReplica[r.replica] ?? 0) + 1; if (r.ok) ok++ }
    }
    return { images: ids.length * perJob, results, oneEach, ok, perReplica, list }
  }

  // 1. 2,000 images as jobs, counted from the moment all three replicas listen
  await waitAll(api, BIG, ids)
  const all = await check(api, BIG, ids, 50)
  const counted = all.list.filter((r) => Date.parse(r.storedAt) >= allUp)
  const lastAt = Math.max(...all.list.map((r) => Date.parse(r.storedAt)))
  const jobsSeconds = (lastAt - allUp) / 1000
  const jobsRps = counted.length / jobsSeconds
  const perReplicaCounted = [1, 2, 3].map((i) => counted.filter((r) => r.replica === `r${i}`).length)
  const jobShare = perReplicaCounted.map((n) => n / counted.length)
  log(`jobs: ${counted.length} images in ${jobsSeconds.toFixed(1)} s after all three listened = ${jobsRps.toFixed(2)} images/s; ${all.list.length - counted.length} ran before`)

  // 2. HTTP baseline
  log(`HTTP: throughput class, 16 connections per replica, ${HTTP_SECONDS} s`)
  const httpCounts = [0, 0, 0]
  let httpErrors = 0
  const until = Date.now() + HTTP_SECONDS * 1000
  await Promise.all(apis.flatMap((api, r) => Array.from({ length: 16 }, async (_, c) => {
    let n = c
    while (Date.now() < until) {
      const res = await fetch(`${api}/classify`, { method: 'POST', body: new Uint8Array(PHOTOS[n++ % PHOTOS.length]!), headers: { 'content-type': 'image/jpeg', 'x-switchyard-policy': 'throughput', ...auth(BIG) } })
      await res.arrayBuffer()
      if (res.status === 200) httpCounts[r]!++
      else { httpErrors++; await sleep(50) }
    }
  })))
  const httpRps = httpCounts.map((n) => n / HTTP_SECONDS)
  const httpTotal = httpRps.reduce((a, b) => a + b, 0)
  const capacityShare = httpRps.map((x) => x / httpTotal)
  log(`HTTP: ${httpRps.map((x) => x.toFixed(1)).join(' / ')} images/s, ${httpTotal.toFixed(1)} in all (${httpErrors} refused)`)

  const shareDeviation = jobShare.map((x, i) => (x - capacityShare[i]!) / capacityShare[i]!)
  log(`jobs vs HTTP: ${(jobsRps / httpTotal).toFixed(2)}×; shares ${jobShare.map((x) => x.toFixed(3)).join(' / ')} vs capacity ${capacityShare.map((x) => x.toFixed(3)).join(' / ')}`)

  // 3. SIGKILL mid-run
  log(`kill: ${KILL_IMAGES} images, r2 killed by SIGKILL after it stored 30 of them`)
  const metric = async (api: string, name: string): Promise<number> => {
    const text = await (await fetch(`${api}/metrics`)).text()
    return text.split('\n').filter((l) => l.startsWith(name)).reduce((a, l) => a + Number(l.split(' ').pop()), 0)
  }
  const r2Before = await metric(apis[1]!, 'switchyard_jobs_done_images_total')
  const killIds: string[] = []
  const submitting = submitMany(BIG, KILL_IMAGES / 50).then((x) => { killIds.push(...x) })
  while ((await metric(apis[1]!, 'switchyard_jobs_done_images_total')) - r2Before < 30) await sleep(50)
  const redeliveredBefore = (await metric(apis[0]!, 'switchyard_jobs_redelivered_images_total')) + (await metric(apis[2]!, 'switchyard_jobs_redelivered_images_total'))
  replicas[2]!.proc.kill('SIGKILL')
  await replicas[2]!.exited
  await submitting
  await waitAll(api, BIG, killIds)
  const killed = await check(api, BIG, killIds, 50)
  const redelivered = (await metric(apis[0]!, 'switchyard_jobs_redelivered_images_total')) + (await metric(apis[2]!, 'switchyard_jobs_redelivered_images_total')) - redeliveredBefore
  log(`kill: ${killed.results} results for ${killed.images} images, one each: ${killed.oneEach}, redelivered ${redelivered}`)

  // 4. two keys, 20:1 (on the two replicas left)
  log('fairness: the small key alone (30 images), then after the big key (600)')
  const a0 = performance.now()
  const aloneId = await submit(SMALL, 30)
  const aloneMs = (await waitAll(api, SMALL, [aloneId])) - a0
  const bigIds = await submitMany(BIG, 12)
  const backlog = await metric(api, 'switchyard_jobs_queued_images')
  const s1 = performance.now()
  const sharedId = await submit(SMALL, 30)
  const sharedMs = (await waitAll(api, SMALL, [sharedId])) - s1
  const bigDoneMs = (await waitAll(api, BIG, bigIds)) - s1
  log(`fairness: small key ${(aloneMs / 1000).toFixed(2)} s alone, ${(sharedMs / 1000).toFixed(2)} s with ${backlog} of the big key's images queued (big key done ${(bigDoneMs / 1000).toFixed(1)} s)`)

  const results = {
    command: 'npm run bench:jobs',
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, note: 'shared 2-core machine; three replicas and nats-server compete for the cores' },
    setup: { replicas: 3, slowMsPerBatch: SLOW_MS, workersPerReplica: 1, maxBatchSize: 8, model: 'mobilenetv2', ackWaitMs: 5000, natsServer: '2.9.10', natsClient: 'nats@2.29.3' },
    http: { seconds: HTTP_SECONDS, imagesPerSecond: httpRps.map(round1), total: round1(httpTotal), refused: httpErrors, capacityShare: capacityShare.map(round3) },
    jobs: { images: 2000, submitSeconds: round1(submitSeconds), results: all.results, ok: all.ok, oneResultPerImage: all.oneEach, perReplicaAll: all.perReplica, countedFromAllListening: counted.length, countedSeconds: round1(jobsSeconds), imagesPerSecond: round2(jobsRps), vsHttp: round3(jobsRps / httpTotal), perReplicaCounted, share: jobShare.map(round3), shareDeviationFromCapacity: shareDeviation.map(round3) },
    kill: { images: killed.images, results: killed.results, ok: killed.ok, oneResultPerImage: killed.oneEach, perReplica: killed.perReplica, redeliveredToOthers: redelivered },
    fairness: { smallImages: 30, bigImages: 600, bigQueuedWhenSmallSubmitted: backlog, smallAloneSeconds: round2(aloneMs / 1000), smallBesideBigSeconds: round2(sharedMs / 1000), ratio: round2(sharedMs / aloneMs), bigDoneSeconds: round1(bigDoneMs / 1000) }
  }
  const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`
  const md = [
    '# Jobs on NATS JetStream: `npm run bench:jobs`',
    '',
    `${results.machine.model}, ${results.machine.cpus} cores (shared with other work), Node ${results.machine.node}; nats-server 2.9.10 (Debian), client nats@2.29.3.`,
    `Three replicas (child processes), mobilenetv2, one CPU worker each, batches of up to 8, injected per-batch delay ${SLOW_MS.join(' / ')} ms (SWITCHYARD_FAULTS slow).`,
    '',
    '| replica | slow ms/batch | HTTP images/s (capacity) | capacity share | job images (counted) | job share | share vs capacity |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...[0, 1, 2].map((i) => `| r${i + 1} | ${SLOW_MS[i]} | ${httpRps[i]!.toFixed(1)} | ${capacityShare[i]!.toFixed(3)} | ${perReplicaCounted[i]} | ${jobShare[i]!.toFixed(3)} | ${pct(shareDeviation[i]!)} |`),
    '',
    `- **Throughput**: jobs ${jobsRps.toFixed(2)} images/s (${counted.length} images stored from the moment all three replicas listened to the last result, ${jobsSeconds.toFixed(1)} s; the other ${all.list.length - counted.length} ran while the later replicas were still starting); HTTP saturated afterwards on the same processes (throughput class, 16 connections per replica, ${HTTP_SECONDS} s) ${httpTotal.toFixed(2)} images/s → **${(jobsRps / httpTotal).toFixed(2)}×** (target ≥ 0.9×). Submitting the 2,000 (40 POSTs of 50, four at a time, to the fourth, submission-only replica) took ${submitSeconds.toFixed(1)} s before the replicas started.`,
    `- **One result per image**: ${all.results} results for 2,000 images, one per image: ${all.oneEach}, ok: ${all.ok}; per replica ${JSON.stringify(all.perReplica)}.`,
    `- **SIGKILL**: ${KILL_IMAGES} images, r2 killed after storing 30 of them: ${killed.results} results, one per image: ${killed.oneEach}, ok ${killed.ok}; ${redelivered} images delivered again to r1/r3; per replica ${JSON.stringify(killed.perReplica)}.`,
    `- **Two keys 20:1** (r1 and r3): the small key's 30 images took ${(aloneMs / 1000).toFixed(2)} s alone and ${(sharedMs / 1000).toFixed(2)} s submitted right after the big key's 600 (${backlog} of them still queued then) = **${(sharedMs / aloneMs).toFixed(2)}×** (target ≤ 2×); the big key's 600 were done after ${(bigDoneMs / 1000).toFixed(1)} s.`,
    ''
  ].join('\n')
  writeFileSync(join(REPO, 'bench/results/jobs.md'), md)
  writeFileSync(join(REPO, 'bench/results/jobs.json'), JSON.stringify(results, null, 2))
  process.stdout.write(md)
} finally {
  await Promise.all(replicas.map((r) => r.stop()))
  await nats.stop()
}

function round1 (x: number): number { return Math.round(x * 10) / 10 }
function round2 (x: number): number { return Math.round(x * 100) / 100 }
function round3 (x: number): number { return Math.round(x * 1000) / 1000 }
