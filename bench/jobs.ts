// Asynchronous jobs on NATS JetStream (issue 21):   npm run bench:jobs → bench/results/jobs.{md,json}
// Debian's nats-server (-js, temporary store) and three Switchyard replicas in child processes,
// the classifier alone, one CPU worker each, made unequal by injected per-batch delays
// (SWITCHYARD_FAULTS slow: 0, 30 and 90 ms). Phases, in one run on the same processes:
//   1. HTTP baseline: every replica saturated with throughput-class POST /classify (closed
//      loop, 16 connections each) → images/s per replica (its capacity) and in all
//   2. 2,000 images as jobs (40 jobs of 50, submitted through replica r1) → one stored result
//      per image, each replica's share against its capacity share, images/s through jobs
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
const SLOW_MS = [0, 30, 90]
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
  for (let i = 0; i < 3; i++) {
    replicas.push(startReplica({
      server: { host: '127.0.0.1', port: 0, logLevel: 'info', shutdownDelayMs: 0 },
      models: { localDir: SHARED_MODELS, download: false, enabled: ['mobilenetv2'] },
      routes: { detect: 'mobilenetv2' },
      routing: { calibrationRuns: 1 },
      devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 1, intraOpThreads: 1, maxBatchSize: 8, maxQueue: 1024 }],
      auth: { apiKeys: [{ name: 'big', sha256: sha256(BIG) }, { name: 'small', sha256: sha256(SMALL) }] },
      jobs: { replica: `r${i + 1}`, maxImages: 1000, maxOutstandingPerKey: 100000, nats: { url: nats.url, ackWaitMs: 5000 } }
    }, SLOW_MS[i]! > 0 ? { SWITCHYARD_FAULTS: JSON.stringify([{ device: 'cpu', mode: 'slow', delayMs: SLOW_MS[i] }]) } : {}))
    await replicas[i]!.api // one at a time: each calibrates with the machine to itself
  }
  const apis = await Promise.all(replicas.map((r) => r.api))
  log(`replicas ${apis.join(' ')}`)

  // 1. HTTP baseline
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

  const submit = async (api: string, key: string, n: number, offset = 0): Promise<string> => {
    const form = multipart(Array.from({ length: n }, (_, i) => ({ name: 'image', filename: `${offset + i}.jpg`, type: 'image/jpeg', data: PHOTOS[(offset + i) % PHOTOS.length]! })))
    const res = await fetch(`${api}/jobs`, { method: 'POST', body: new Uint8Array(form.payload), headers: { ...form.headers, ...auth(key) } })
    if (res.status !== 202) throw new Error(`POST /jobs: ${res.status} ${await res.text()}`)
    return ((await res.json()) as { id: string }).id
  }
  interface Job { state: string, done: number, images: number, results: Array<{ index: number, ok: boolean, replica: string }> }
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
  const check = async (api: string, key: string, ids: string[], perJob: number): Promise<{ images: number, results: number, oneEach: boolean, ok: number, perReplica: Record<string, number> }> => {
    const perReplica: Record<string, number> = {}
    let results = 0; let ok = 0; let oneEach = true
    for (const id of ids) {
      const job = await get(api, key, id)
      results += job.results.length
      const idx = new Set(job.results.map((r) => r.index))
      if (idx.size !== perJob || job.results.length !== perJob) oneEach = false
      for (const r of job.results) { perReplica[r.replica] = (perReplica[r.replica] ?? 0) + 1; if (r.ok) ok++ }
    }
    return { images: ids.length * perJob, results, oneEach, ok, perReplica }
  }

  // 2. 2,000 images as jobs
  log('jobs: 2,000 images (40 × 50) through r1')
  const t0 = performance.now()
  const ids: string[] = []
  for (let j = 0; j < 40; j++) ids.push(await submit(apis[0]!, BIG, 50, j * 50))
  const submittedMs = performance.now() - t0
  const t1 = await waitAll(apis[0]!, BIG, ids)
  const jobsSeconds = (t1 - t0) / 1000
  const jobsRps = 2000 / jobsSeconds
  const main = await check(apis[0]!, BIG, ids, 50)
  const jobShare = [1, 2, 3].map((i) => (main.perReplica[`r${i}`] ?? 0) / 2000)
  const shareDeviation = jobShare.map((s, i) => (s - capacityShare[i]!) / capacityShare[i]!)
  log(`jobs: ${jobsRps.toFixed(1)} images/s (${(jobsRps / httpTotal).toFixed(2)}× HTTP), shares ${jobShare.map((s) => s.toFixed(3)).join(' / ')} vs capacity ${capacityShare.map((s) => s.toFixed(3)).join(' / ')}`)

  // 3. SIGKILL mid-run
  log(`kill: ${KILL_IMAGES} images, r2 killed by SIGKILL after it stored 30 of them`)
  const metric = async (api: string, name: string): Promise<number> => {
    const text = await (await fetch(`${api}/metrics`)).text()
    return text.split('\n').filter((l) => l.startsWith(name)).reduce((a, l) => a + Number(l.split(' ').pop()), 0)
  }
  const r2Before = await metric(apis[1]!, 'switchyard_jobs_done_images_total')
  const killIds: string[] = []
  const submitting = (async () => { for (let j = 0; j < KILL_IMAGES / 50; j++) killIds.push(await submit(apis[0]!, BIG, 50, j * 50)) })()
  while ((await metric(apis[1]!, 'switchyard_jobs_done_images_total')) - r2Before < 30) await sleep(50)
  const redeliveredBefore = (await metric(apis[0]!, 'switchyard_jobs_redelivered_images_total')) + (await metric(apis[2]!, 'switchyard_jobs_redelivered_images_total'))
  replicas[1]!.proc.kill('SIGKILL')
  await replicas[1]!.exited
  await submitting
  await waitAll(apis[0]!, BIG, killIds)
  const killed = await check(apis[0]!, BIG, killIds, 50)
  const redelivered = (await metric(apis[0]!, 'switchyard_jobs_redelivered_images_total')) + (await metric(apis[2]!, 'switchyard_jobs_redelivered_images_total')) - redeliveredBefore
  log(`kill: ${killed.results} results for ${killed.images} images, one each: ${killed.oneEach}, redelivered ${redelivered}`)

  // 4. two keys, 20:1 (on the two replicas left)
  log('fairness: the small key alone (30 images), then after the big key (600)')
  const s0 = performance.now()
  const aloneId = await submit(apis[0]!, SMALL, 30)
  const aloneMs = (await waitAll(apis[0]!, SMALL, [aloneId])) - s0
  const bigIds: string[] = []
  for (let j = 0; j < 12; j++) bigIds.push(await submit(apis[0]!, BIG, 50, j * 50))
  const s1 = performance.now()
  const sharedId = await submit(apis[0]!, SMALL, 30)
  const sharedMs = (await waitAll(apis[0]!, SMALL, [sharedId])) - s1
  const bigDoneMs = (await waitAll(apis[0]!, BIG, bigIds)) - s1
  log(`fairness: small key ${(aloneMs / 1000).toFixed(2)} s alone, ${(sharedMs / 1000).toFixed(2)} s beside 600 (big key done ${(bigDoneMs / 1000).toFixed(1)} s)`)

  const results = {
    command: 'npm run bench:jobs',
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, note: 'shared 2-core machine; three replicas and nats-server compete for the cores' },
    setup: { replicas: 3, slowMsPerBatch: SLOW_MS, workersPerReplica: 1, maxBatchSize: 8, model: 'mobilenetv2', ackWaitMs: 5000, natsServer: '2.9.10', natsClient: 'nats@2.29.3' },
    http: { seconds: HTTP_SECONDS, imagesPerSecond: httpRps.map(round1), total: round1(httpTotal), refused: httpErrors, capacityShare: capacityShare.map(round3) },
    jobs: { images: 2000, seconds: round1(jobsSeconds), submitSeconds: round1(submittedMs / 1000), imagesPerSecond: round1(jobsRps), vsHttp: round3(jobsRps / httpTotal), results: main.results, ok: main.ok, oneResultPerImage: main.oneEach, perReplica: main.perReplica, share: jobShare.map(round3), shareDeviationFromCapacity: shareDeviation.map(round3) },
    kill: { images: killed.images, results: killed.results, ok: killed.ok, oneResultPerImage: killed.oneEach, perReplica: killed.perReplica, redeliveredToOthers: redelivered },
    fairness: { smallImages: 30, bigImages: 600, smallAloneSeconds: round2(aloneMs / 1000), smallBesideBigSeconds: round2(sharedMs / 1000), ratio: round2(sharedMs / aloneMs), bigDoneSeconds: round1(bigDoneMs / 1000) }
  }
  const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`
  const md = [
    '# Jobs on NATS JetStream: `npm run bench:jobs`',
    '',
    `${results.machine.model}, ${results.machine.cpus} cores (shared with other work), Node ${results.machine.node}; nats-server 2.9.10 (Debian), client nats@2.29.3.`,
    `Three replicas (child processes), mobilenetv2, one CPU worker each, batches of up to 8, injected per-batch delay ${SLOW_MS.join(' / ')} ms (SWITCHYARD_FAULTS slow).`,
    '',
    '| replica | slow ms/batch | HTTP images/s (capacity) | capacity share | job images (of 2,000) | job share | share vs capacity |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...[0, 1, 2].map((i) => `| r${i + 1} | ${SLOW_MS[i]} | ${httpRps[i]!.toFixed(1)} | ${capacityShare[i]!.toFixed(3)} | ${main.perReplica[`r${i + 1}`] ?? 0} | ${jobShare[i]!.toFixed(3)} | ${pct(shareDeviation[i]!)} |`),
    '',
    `- **Throughput**: HTTP saturated (throughput class, 16 connections per replica, ${HTTP_SECONDS} s) ${httpTotal.toFixed(1)} images/s; jobs ${jobsRps.toFixed(1)} images/s from the first submission to the last result (${jobsSeconds.toFixed(1)} s, submissions took ${(submittedMs / 1000).toFixed(1)} s of it) = **${(jobsRps / httpTotal).toFixed(2)}×** (target ≥ 0.9×).`,
    `- **One result per image**: ${main.results} results for 2,000 images, one per image: ${main.oneEach}, ok: ${main.ok}.`,
    `- **SIGKILL**: ${KILL_IMAGES} images, r2 killed after storing 30 of them: ${killed.results} results, one per image: ${killed.oneEach}, ok ${killed.ok}; ${redelivered} images delivered again to r1/r3; per replica ${JSON.stringify(killed.perReplica)}.`,
    `- **Two keys 20:1** (r1 and r3): the small key's 30 images took ${(aloneMs / 1000).toFixed(2)} s alone and ${(sharedMs / 1000).toFixed(2)} s submitted right after the big key's 600 = **${(sharedMs / aloneMs).toFixed(2)}×** (target ≤ 2×); the big key's 600 were done after ${(bigDoneMs / 1000).toFixed(1)} s.`,
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
