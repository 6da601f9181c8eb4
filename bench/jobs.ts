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
//   2b. the same comparison interleaved: jobs for 12 s with every replica busy, then saturated
//      HTTP for 12 s, twice (load on a shared machine drifts over the minutes phase 1 takes).
//      Each jobs segment's backlog is submitted while r1–r3 are stopped (SIGSTOP), so the queue
//      is full when the window starts and (checked, reported) still holds images when it ends
//   4. latency probe on r1 (two workers, one reserved for latency-class work): a latency-class
//      POST /classify every 100 ms while r1 runs jobs, then while it gets the same rate of
//      throughput-class HTTP requests (open loop, the rate its jobs ran at just before),
//      alternated twice → the probe's latency beside each
//   5. two keys 20:1: the small key's 30 images alone, then submitted right after the big
//      key's 600 → how long the small key's job takes in each case (twice, alternated)
// BENCH_JOBS_BULK_SLOTS=n sets the replicas' decode.bulkSlots (default 2).
// BENCH_JOBS_DECODE_SLOTS=n sets the replicas' jobs.decodeSlots (default auto).
// BENCH_JOBS_PROBE_SECONDS / BENCH_JOBS_PROBE_ROUNDS: the probe's segments (8 s, twice); BENCH_JOBS_PROBE_SUBMIT=during
// submits the probe's jobs while the replicas run (default: before, with r1–r3 stopped).
// BENCH_JOBS_ONLY=probe,fairness runs only those phases (2,000 images are not run) and writes
// /tmp/switchyard-bench-jobs.md instead of bench/results/.
// The machine has 2 cores: the replicas compete for them (as pods on a node would), so
// capacities are measured in the same run and only ratios are quoted. Other work on the machine
// (cores busy, /proc/stat, less the benchmark's own processes) is measured over the run and in
// each probe segment and reported beside the numbers: the probe's ratio moved 0.8–1.5 between
// rounds on a machine shared with other sessions' simulations (bench/results/jobs-nice.md).
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { startNatsServer } from '../src/test-support/nats-server.js'
import { otherWork, preferProcess, preferThisBench, processSeconds, withDescendants } from './cpu-priority.js'
import { serverTiming } from '../src/sim/open-loop.js'
import { startReplica, type Replica } from '../src/test-support/replica.js'
import { multipart, REPO, SHARED_IMAGES, SHARED_MODELS } from '../src/test-support/server.js'

const PHOTOS = ['dog.jpg', 'eagle.jpg', 'horses.jpg', 'person.jpg', 'scream.jpg'].map((p) => readFileSync(join(SHARED_IMAGES, p)))
const SLOW_MS = [0, 250, 750]
const HTTP_SECONDS = Number(process.env.BENCH_JOBS_HTTP_SECONDS ?? 20)
const PROBE_SECONDS = Number(process.env.BENCH_JOBS_PROBE_SECONDS ?? 8)
/** how many times the probe alternates beside jobs and beside HTTP */
const PROBE_ROUNDS = Number(process.env.BENCH_JOBS_PROBE_ROUNDS ?? 2)
const RATE_SECONDS = Number(process.env.BENCH_JOBS_RATE_SECONDS ?? 12)
/** images per second the rate phase's backlog is sized for (it must not run dry in the window) */
const RATE_BACKLOG_RPS = Number(process.env.BENCH_JOBS_RATE_BACKLOG_RPS ?? 90)
/** when the probe phase submits its jobs: 'before' the replicas run (default) or 'during' */
const PROBE_SUBMIT = process.env.BENCH_JOBS_PROBE_SUBMIT === 'during' ? 'during' : 'before'
const ONLY = process.env.BENCH_JOBS_ONLY?.split(',').map((x) => x.trim()) ?? null
const phase = (name: string): boolean => ONLY === null || ONLY.includes(name)
const KILL_IMAGES = 400
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex')
const BIG = `sy_${randomBytes(24).toString('base64url')}`
const SMALL = `sy_${randomBytes(24).toString('base64url')}`
const auth = (k: string): Record<string, string> => ({ authorization: `Bearer ${k}` })
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const priority = preferThisBench()
// what else the machine ran meanwhile (cores), over the whole run and in each probe segment
const otherDuringRun = otherWork()
/** BENCH_JOBS_GROUPS=own: each replica and nats-server in a scheduling group of its own, as pods on a node; default: all in the benchmark's */
const OWN_GROUPS = process.env.BENCH_JOBS_GROUPS === 'own'
const grouped: string[] = []
const ownGroup = <T extends { pid?: number }>(what: string, p: T): T => {
  if (OWN_GROUPS && p.pid !== undefined) grouped.push(preferProcess(p.pid) ? what : `${what} (its group's nice not set)`)
  return p
}
const nats = ownGroup('nats-server', await startNatsServer({ ownSession: OWN_GROUPS }))
const replicas: Replica[] = []
const log = (s: string): void => { process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`) }
try {
  // r1 also has a worker reserved for latency-class work (the probe's); it takes no bulk work
  const replicaConfig = (name: string, pull: boolean): Record<string, unknown> => ({
    server: { host: '127.0.0.1', port: 0, logLevel: 'info', shutdownDelayMs: 0 },
    models: { localDir: SHARED_MODELS, download: false, enabled: ['mobilenetv2'] },
    routes: { detect: 'mobilenetv2' },
    routing: { calibrationRuns: 1 },
    devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: name === 'r1' ? 2 : 1, latencyWorkers: name === 'r1' ? 1 : 0, intraOpThreads: 1, maxBatchSize: 8, maxQueue: 1024 }],
    auth: { apiKeys: [{ name: 'big', sha256: sha256(BIG) }, { name: 'small', sha256: sha256(SMALL) }] },
    ...(process.env.BENCH_JOBS_BULK_SLOTS !== undefined ? { decode: { bulkSlots: Number(process.env.BENCH_JOBS_BULK_SLOTS) } } : {}),
    jobs: { replica: name, pull, maxImages: 1000, maxOutstandingPerKey: 100000, nats: { url: nats.url, ackWaitMs: 5000 }, ...(process.env.BENCH_JOBS_DECODE_SLOTS !== undefined ? { decodeSlots: Number(process.env.BENCH_JOBS_DECODE_SLOTS) } : {}), ...(process.env.BENCH_JOBS_DECODE_NICE !== undefined ? { decodeNice: process.env.BENCH_JOBS_DECODE_NICE === 'off' ? null : Number(process.env.BENCH_JOBS_DECODE_NICE) } : {}) }
  })
  const front = startReplica(replicaConfig('api', false), {}, { ownSession: OWN_GROUPS })
  ownGroup('api', front.proc)
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
  const metric = async (api: string, name: string): Promise<number> => {
    const text = await (await fetch(`${api}/metrics`)).text()
    return text.split('\n').filter((l) => l.startsWith(name)).reduce((a, l) => a + Number(l.split(' ').pop()), 0)
  }
  /** CPU seconds (user + system) used so far by the processes and their live descendants, e.g. a replica's background decoder (Linux /proc; clock ticks of 10 ms) */
  const cpuSeconds = (pids: number[]): number => withDescendants(pids).reduce((sum, pid) => sum + processSeconds(pid, false), 0)
  const classify = async (api: string, policy: string, n: number): Promise<number> => {
    const res = await fetch(`${api}/classify`, { method: 'POST', body: new Uint8Array(PHOTOS[n % PHOTOS.length]!), headers: { 'content-type': 'image/jpeg', 'x-switchyard-policy': policy, ...auth(BIG) } })
    await res.arrayBuffer()
    return res.status
  }

  // 1. 2,000 images as jobs, counted from the moment all three replicas listen
  let ids: string[] = []
  let submitSeconds = 0
  if (phase('throughput')) {
    log('jobs: submitting 2,000 images (40 × 50) before any replica runs')
    const s0 = performance.now()
    ids = await submitMany(BIG, 40)
    submitSeconds = (performance.now() - s0) / 1000
    log(`jobs: submitted in ${submitSeconds.toFixed(1)} s; starting r1–r3 together`)
  }
  for (let i = 0; i < 3; i++) {
    replicas.push(startReplica(replicaConfig(`r${i + 1}`, true), SLOW_MS[i]! > 0 ? { SWITCHYARD_FAULTS: JSON.stringify([{ device: 'cpu', mode: 'slow', delayMs: SLOW_MS[i] }]) } : {}, { ownSession: OWN_GROUPS }))
    ownGroup(`r${i + 1}`, replicas[replicas.length - 1]!.proc)
  }
  const apis = await Promise.all(replicas.slice(1).map((r) => r.api))
  const allUp = Date.now()
  log(`replicas ${apis.join(' ')}`)

  let throughput: Record<string, unknown> | null = null
  let md1: string[] = []
  if (phase('throughput')) {
    await waitAll(api, BIG, ids)
    const all = await check(api, BIG, ids, 50)
    const counted = all.list.filter((r) => Date.parse(r.storedAt) >= allUp)
    const lastAt = Math.max(...all.list.map((r) => Date.parse(r.storedAt)))
    const jobsSeconds = (lastAt - allUp) / 1000
    const jobsRps = counted.length / jobsSeconds
    const perReplicaCounted = [1, 2, 3].map((i) => counted.filter((r) => r.replica === `r${i}`).length)
    const jobShare = perReplicaCounted.map((n) => n / counted.length)
    // each replica's batches so far (all of them job batches: nothing else ran yet): a slow
    // replica whose batches start half full runs half its capacity (jobs-probe.md)
    const batches = await Promise.all(apis.map(async (a) => {
      const text = await (await fetch(`${a}/metrics`)).text()
      const m = (name: string): number => metricSum(text, name)
      return { count: m('switchyard_batch_size_count'), mean: m('switchyard_batch_size_sum') / Math.max(1, m('switchyard_batch_size_count')) }
    }))
    log(`jobs: batches per replica ${batches.map((b) => `${b.count} of ${b.mean.toFixed(2)}`).join(' / ')}`)
    log(`jobs: ${counted.length} images in ${jobsSeconds.toFixed(1)} s after all three listened = ${jobsRps.toFixed(2)} images/s; ${all.list.length - counted.length} ran before`)

    // 2. HTTP baseline
    log(`HTTP: throughput class, 16 connections per replica, ${HTTP_SECONDS} s`)
    const httpCounts = [0, 0, 0]
    let httpErrors = 0
    const until = Date.now() + HTTP_SECONDS * 1000
    await Promise.all(apis.flatMap((api, r) => Array.from({ length: 16 }, async (_, c) => {
      let n = c
      while (Date.now() < until) {
        if (await classify(api, 'throughput', n++) === 200) httpCounts[r]!++
        else { httpErrors++; await sleep(50) }
      }
    })))
    const httpRps = httpCounts.map((n) => n / HTTP_SECONDS)
    const httpTotal = httpRps.reduce((a, b) => a + b, 0)
    const capacityShare = httpRps.map((x) => x / httpTotal)
    log(`HTTP: ${httpRps.map((x) => x.toFixed(1)).join(' / ')} images/s, ${httpTotal.toFixed(1)} in all (${httpErrors} refused)`)
    const shareDeviation = jobShare.map((x, i) => (x - capacityShare[i]!) / capacityShare[i]!)
    log(`jobs vs HTTP: ${(jobsRps / httpTotal).toFixed(2)}×; shares ${jobShare.map((x) => x.toFixed(3)).join(' / ')} vs capacity ${capacityShare.map((x) => x.toFixed(3)).join(' / ')}`)
    throughput = {
      http: { seconds: HTTP_SECONDS, imagesPerSecond: httpRps.map(round1), total: round1(httpTotal), refused: httpErrors, capacityShare: capacityShare.map(round3) },
      jobs: { images: 2000, submitSeconds: round1(submitSeconds), results: all.results, ok: all.ok, oneResultPerImage: all.oneEach, perReplicaAll: all.perReplica, countedFromAllListening: counted.length, countedSeconds: round1(jobsSeconds), imagesPerSecond: round2(jobsRps), vsHttp: round3(jobsRps / httpTotal), perReplicaCounted, batches: batches.map((b) => ({ count: b.count, meanSize: round2(b.mean) })), share: jobShare.map(round3), shareDeviationFromCapacity: shareDeviation.map(round3) }
    }
    md1 = [
      '| replica | slow ms/batch | HTTP images/s (capacity) | capacity share | job images (counted) | job batches (mean size) | job share | share vs capacity |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...[0, 1, 2].map((i) => `| r${i + 1} | ${SLOW_MS[i]} | ${httpRps[i]!.toFixed(1)} | ${capacityShare[i]!.toFixed(3)} | ${perReplicaCounted[i]} | ${batches[i]!.count} (${batches[i]!.mean.toFixed(2)}) | ${jobShare[i]!.toFixed(3)} | ${pct(shareDeviation[i]!)} |`),
      '',
      `- **Throughput**: jobs ${jobsRps.toFixed(2)} images/s (${counted.length} images stored from the moment all three replicas listened to the last result, ${jobsSeconds.toFixed(1)} s; the other ${all.list.length - counted.length} ran while the later replicas were still starting); HTTP saturated afterwards on the same processes (throughput class, 16 connections per replica, ${HTTP_SECONDS} s) ${httpTotal.toFixed(2)} images/s → **${(jobsRps / httpTotal).toFixed(2)}×** (target ≥ 0.9×). Submitting the 2,000 (40 POSTs of 50, four at a time, to the fourth, submission-only replica) took ${submitSeconds.toFixed(1)} s before the replicas started.`,
      `- **One result per image**: ${all.results} results for 2,000 images, one per image: ${all.oneEach}, ok: ${all.ok}; per replica ${JSON.stringify(all.perReplica)}.`
    ]
  }

  // 2b. the same comparison interleaved in short segments (machine load drifts over minutes):
  // jobs, then saturated throughput-class HTTP, twice, each counted over RATE_SECONDS
  let rate: Record<string, unknown> | null = null
  let md2: string[] = []
  if (phase('rate')) {
    interface Seg { jobs: number, http: number, jobsBatch: number, httpBatch: number, jobsPer: number[], httpPer: number[], jobsBusy: number[], httpBusy: number[], jobsCpu: number[], httpCpu: number[], backlog: number, submitSeconds: number, queuedAtStart: number, queuedAtEnd: number }
    /** CPU seconds so far of r1, r2, r3, the submission-only replica, nats-server, this process (the load client) */
    const cpuNow = (): number[] => [...[1, 2, 3, 0].map((i) => cpuSeconds([replicas[i]!.proc.pid!])), cpuSeconds([nats.pid]), (process.cpuUsage().user + process.cpuUsage().system) / 1e6]
    const cores = (a: number[], b: number[], seconds: number): number[] => b.map((x, i) => (x - a[i]!) / seconds)
    const segs: Seg[] = []
    /** per replica: job images stored, Σ batch sizes, batches, Σ worker seconds of its batches (busy time) */
    const snap = async (): Promise<Array<[number, number, number, number]>> => Promise.all(apis.map(async (a) => {
      const text = await (await fetch(`${a}/metrics`)).text()
      const m = (name: string): number => metricSum(text, name)
      return [m('switchyard_jobs_done_images_total'), m('switchyard_batch_size_sum'), m('switchyard_batch_size_count'), m('switchyard_batch_duration_seconds_sum')] as [number, number, number, number]
    }))
    type Snap = Awaited<ReturnType<typeof snap>>
    const meanBatch = (a: Snap, b: Snap): number => b.reduce((x, r, i) => x + r[1] - a[i]![1], 0) / Math.max(1, b.reduce((x, r, i) => x + r[2] - a[i]![2], 0))
    const busy = (a: Snap, b: Snap, seconds: number): number[] => b.map((r, i) => (r[3] - a[i]![3]) / seconds)
    for (let round = 0; round < 2; round++) {
      // the backlog is submitted while r1–r3 are stopped (SIGSTOP; they hold nothing now: the
      // previous segment ended with every job done): running, they took the images as fast as
      // they were submitted, the queue never filled, and the window measured the submission's
      // tail and then an empty queue. Enough for the lead-in and the window at RATE_BACKLOG_RPS.
      const pulling = replicas.slice(1, 4)
      for (const r of pulling) r.proc.kill('SIGSTOP')
      let jobIds: string[]
      const sub0 = performance.now()
      try { jobIds = await submitMany(BIG, Math.ceil((RATE_SECONDS + 2) * RATE_BACKLOG_RPS / 50)) } finally { for (const r of pulling) r.proc.kill('SIGCONT') }
      const subSeconds = (performance.now() - sub0) / 1000
      await sleep(2000) // every replica is at work
      const q0 = await metric(api, 'switchyard_jobs_queued_images')
      const s0 = await snap(); const t0 = performance.now(); const jc0 = cpuNow()
      await sleep(RATE_SECONDS * 1000)
      const jc1 = cpuNow(); const s1 = await snap(); const jt = (performance.now() - t0) / 1000
      const q1 = await metric(api, 'switchyard_jobs_queued_images')
      const jobsCpu = cores(jc0, jc1, jt)
      const jobsPer = s1.map((r, i) => (r[0] - s0[i]![0]) / jt)
      const jobs = jobsPer.reduce((x, y) => x + y, 0)
      const jobsBatch = meanBatch(s0, s1)
      const jobsBusy = busy(s0, s1, jt)
      await waitAll(api, BIG, jobIds)
      const per = apis.map(() => 0)
      const h0 = performance.now()
      const hEnd = Date.now() + (RATE_SECONDS + 2) * 1000
      let counting = false; let c0 = 0
      let hb0: Promise<Snap> = snap()
      let hc0 = cpuNow()
      const counter = setTimeout(() => { counting = true; c0 = performance.now(); hb0 = snap(); hc0 = cpuNow() }, 2000)
      await Promise.all(apis.flatMap((a, r) => Array.from({ length: 16 }, async (_, c) => {
        let k = c
        while (Date.now() < hEnd) { const st = await classify(a, 'throughput', k++); if (st === 200 && counting) per[r]!++; else if (st !== 200) await sleep(50) }
      })))
      clearTimeout(counter)
      const ht = (performance.now() - (counting ? c0 : h0)) / 1000
      const httpCpu = cores(hc0, cpuNow(), ht)
      const hs1 = await snap()
      const httpPer = per.map((n) => n / ht)
      const http = httpPer.reduce((x, y) => x + y, 0)
      const httpBatch = meanBatch(await hb0, hs1)
      const httpBusy = busy(await hb0, hs1, ht)
      segs.push({ jobs, http, jobsBatch, httpBatch, jobsPer, httpPer, jobsBusy, httpBusy, jobsCpu, httpCpu, backlog: jobIds.length * 50, submitSeconds: subSeconds, queuedAtStart: q0, queuedAtEnd: q1 })
      const f = (xs: number[], d = 1): string => xs.map((x) => x.toFixed(d)).join(' / ')
      log(`rate ${round + 1}: ${jobIds.length * 50} images submitted in ${subSeconds.toFixed(1)} s, queued ${q0} → ${q1} over the window; jobs ${jobs.toFixed(1)} images/s (${f(jobsPer)}; mean batch ${jobsBatch.toFixed(1)}; workers busy ${f(jobsBusy, 2)}), HTTP ${http.toFixed(1)} images/s (${f(httpPer)}; mean batch ${httpBatch.toFixed(1)}; busy ${f(httpBusy, 2)}) = ${(jobs / http).toFixed(2)}×; cores r1 / r2 / r3 / api / nats / client: jobs ${f(jobsCpu, 2)}, HTTP ${f(httpCpu, 2)}`)
    }
    const j = segs.reduce((a, x) => a + x.jobs, 0); const h = segs.reduce((a, x) => a + x.http, 0)
    rate = { seconds: RATE_SECONDS, rounds: segs.map((x) => ({ jobsImagesPerSecond: round1(x.jobs), httpImagesPerSecond: round1(x.http), ratio: round2(x.jobs / x.http), jobsMeanBatch: round1(x.jobsBatch), httpMeanBatch: round1(x.httpBatch), jobsPerReplica: x.jobsPer.map(round1), httpPerReplica: x.httpPer.map(round1), jobsWorkerBusy: x.jobsBusy.map(round2), httpWorkerBusy: x.httpBusy.map(round2), jobsCores: x.jobsCpu.map(round2), httpCores: x.httpCpu.map(round2), backlog: x.backlog, submitSeconds: round1(x.submitSeconds), queuedAtStart: x.queuedAtStart, queuedAtEnd: x.queuedAtEnd })), ratio: round2(j / h) }
    md2 = [
      `- **Throughput, interleaved** (jobs for ${RATE_SECONDS} s with every replica busy, then saturated throughput-class HTTP for ${RATE_SECONDS} s, twice): ${segs.map((x) => `${x.jobs.toFixed(1)} vs ${x.http.toFixed(1)} images/s (mean batch ${x.jobsBatch.toFixed(1)} vs ${x.httpBatch.toFixed(1)})`).join('; ')} → **${(j / h).toFixed(2)}×** (target ≥ 0.9×).`,
      `- Backlog: ${segs.map((x, i) => `round ${i + 1}: ${x.backlog} images submitted in ${x.submitSeconds.toFixed(1)} s while r1–r3 were stopped (SIGSTOP), ${x.queuedAtStart} still queued when the window began and ${x.queuedAtEnd} when it ended`).join('; ')}${segs.some((x) => x.queuedAtEnd === 0) ? ' — **the queue ran dry in a window: its jobs rate is a lower bound**' : ' (the queue never ran dry)'}.`,
      `- Per replica r1 / r2 / r3 (images/s, and the share of the time its bulk worker ran batches — switchyard_batch_duration_seconds, which includes the injected delay): ${segs.map((x, i) => `round ${i + 1}: jobs ${x.jobsPer.map((v) => v.toFixed(1)).join(' / ')} (busy ${x.jobsBusy.map((v) => v.toFixed(2)).join(' / ')}), HTTP ${x.httpPer.map((v) => v.toFixed(1)).join(' / ')} (busy ${x.httpBusy.map((v) => v.toFixed(2)).join(' / ')})`).join('; ')}.`,
      `- CPU (cores, /proc) of r1 / r2 / r3 / the submission-only replica / nats-server / the load client: ${segs.map((x, i) => `round ${i + 1}: jobs ${x.jobsCpu.map((v) => v.toFixed(2)).join(' / ')}, HTTP ${x.httpCpu.map((v) => v.toFixed(2)).join(' / ')}`).join('; ')}.`
    ]
  }

  // 3. latency probe on r1: beside jobs, then beside the same rate of throughput-class HTTP
  let probe: Record<string, unknown> | null = null
  let md3: string[] = []
  if (phase('probe')) {
    const r1 = apis[0]!
    const pctl = (xs: number[], q: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN }
    /** a latency-class request every 100 ms (one at a time) for `seconds`; its latencies, ms */
    // with where each answer's time went, by its Server-Timing: decode, queue + inference +
    // postprocess on the server, and the rest (before the server's clock starts and after it
    // ends: the main thread's turn, the body's upload, the network)
    const runProbe = async (seconds: number): Promise<{ ms: number[], refused: number, decode: number[], device: number[], rest: number[] }> => {
      const ms: number[] = []
      const decode: number[] = []
      const device: number[] = []
      const rest: number[] = []
      let refused = 0
      const end = performance.now() + seconds * 1000
      for (let n = 0; performance.now() < end; n++) {
        const t0 = performance.now()
        const res = await fetch(`${r1}/classify`, { method: 'POST', body: new Uint8Array(PHOTOS[n % PHOTOS.length]!), headers: { 'content-type': 'image/jpeg', 'x-switchyard-policy': 'latency', ...auth(BIG) } })
        await res.arrayBuffer()
        const dt = performance.now() - t0
        if (res.status === 200) {
          ms.push(dt)
          const st = res.headers.get('server-timing')
          const or0 = (v: number): number => (Number.isNaN(v) ? 0 : v)
          decode.push(serverTiming(st, 'decode'))
          device.push(or0(serverTiming(st, 'queue')) + or0(serverTiming(st, 'inference')) + or0(serverTiming(st, 'postprocess')))
          rest.push(dt - serverTiming(st, 'total'))
        } else refused++
        await sleep(Math.max(0, 100 - dt))
      }
      return { ms, refused, decode, device, rest }
    }
    type Probed = Awaited<ReturnType<typeof runProbe>>
    const rounds: Array<{ queued: [number, number], jobsRate: number[], jobs: Probed, httpRate: number[], http: Probed, httpRefused: number, cpuJobs: number, cpuHttp: number, otherBesideJobs: number, otherBesideHttp: number, decodeSlots: number[] }> = []
    // the server processes: the replicas, the submission-only one, nats-server
    const pids = [...replicas.map((r) => r.proc.pid!), nats.pid]
    const live = apis
    const doneNow = (): Promise<number[]> => Promise.all(live.map((a) => metric(a, 'switchyard_jobs_done_images_total')))
    for (let round = 0; round < PROBE_ROUNDS; round++) {
      // beside jobs: enough queued to keep every replica busy for the whole probe. By default
      // (PROBE_SUBMIT 'before') the backlog is submitted while r1–r3 are stopped, as in the
      // rate phase: the probe then sits beside the jobs being run, not beside their upload
      // (four 50-image POST /jobs at a time into the object store, which the HTTP side has no
      // counterpart of at that moment). 'during' submits while the replicas run (the earlier
      // measurement): the probe then also competes with the submission, and the replicas run
      // jobs only as fast as they arrive.
      log(`probe ${round + 1}: beside jobs (submitted ${PROBE_SUBMIT} the replicas run), ${PROBE_SECONDS} s`)
      let jobIds: string[]
      if (PROBE_SUBMIT === 'before') {
        const pulling = replicas.slice(1, 4)
        for (const r of pulling) r.proc.kill('SIGSTOP')
        try { jobIds = await submitMany(BIG, Math.ceil((PROBE_SECONDS + 2) * RATE_BACKLOG_RPS / 50)) } finally { for (const r of pulling) r.proc.kill('SIGCONT') }
      } else {
        jobIds = await submitMany(BIG, Math.ceil((PROBE_SECONDS + 1) * 32 / 50) + 1)
      }
      await sleep(1000) // the replicas have started on them
      const queued0 = await metric(api, 'switchyard_jobs_queued_images')
      const done0 = await doneNow()
      const t0 = performance.now()
      const c0 = cpuSeconds(pids)
      const otherJobs = otherWork()
      const jobs = await runProbe(PROBE_SECONDS)
      const cpuJobs = (cpuSeconds(pids) - c0) / ((performance.now() - t0) / 1000)
      const otherBesideJobs = otherJobs.read()
      const done1 = await doneNow()
      const queued1 = await metric(api, 'switchyard_jobs_queued_images')
      // job images each replica decoded at once at the end of the segment (jobs.decodeSlots auto)
      const decodeSlots = await Promise.all(live.map((a) => metric(a, 'switchyard_jobs_decode_slots{model="mobilenetv2"}')))
      const jobsRate = done1.map((d, i) => (d - done0[i]!) / ((performance.now() - t0) / 1000))
      await waitAll(api, BIG, jobIds)
      // beside throughput-class HTTP: each replica gets the rate it ran jobs at (open loop)
      log(`probe ${round + 1}: beside throughput-class HTTP at ${jobsRate.map((r) => r.toFixed(1)).join(' / ')} requests/s, ${PROBE_SECONDS} s`)
      let httpRefused = 0
      const sent = live.map(() => 0)
      const inflight: Array<Promise<void>> = []
      const h0 = performance.now()
      let stop = false
      const senders = live.map(async (a, i) => {
        while (!stop && jobsRate[i]! > 0) {
          const wait = h0 + (sent[i]! * 1000) / jobsRate[i]! - performance.now()
          if (wait > 0) { await sleep(wait); continue }
          inflight.push(classify(a, 'throughput', sent[i]!++).then((st) => { if (st !== 200) httpRefused++ }))
        }
      })
      await sleep(1000) // the same lead-in as the jobs had
      const hc0 = cpuSeconds(pids)
      const ht0 = performance.now()
      const otherHttp = otherWork()
      const http = await runProbe(PROBE_SECONDS)
      const cpuHttp = (cpuSeconds(pids) - hc0) / ((performance.now() - ht0) / 1000)
      const otherBesideHttp = otherHttp.read()
      stop = true
      await Promise.all(senders)
      const httpRate = sent.map((n) => n / ((performance.now() - h0) / 1000))
      await Promise.all(inflight)
      rounds.push({ queued: [queued0, queued1], jobsRate, jobs, httpRate, http, httpRefused, cpuJobs, cpuHttp, otherBesideJobs, otherBesideHttp, decodeSlots })
      log(`probe ${round + 1}: p50/p95 ${pctl(jobs.ms, 0.5).toFixed(0)}/${pctl(jobs.ms, 0.95).toFixed(0)} ms beside jobs, ${pctl(http.ms, 0.5).toFixed(0)}/${pctl(http.ms, 0.95).toFixed(0)} ms beside HTTP; the servers used ${cpuJobs.toFixed(2)} vs ${cpuHttp.toFixed(2)} cores`)
    }
    const all = (which: 'jobs' | 'http'): number[] => rounds.flatMap((r) => r[which].ms)
    const summary = (xs: number[]): { n: number, p50: number, p95: number, p99: number, max: number } => ({ n: xs.length, p50: round1(pctl(xs, 0.5)), p95: round1(pctl(xs, 0.95)), p99: round1(pctl(xs, 0.99)), max: round1(Math.max(...xs)) })
    const sj = summary(all('jobs')); const sh = summary(all('http'))
    // each round's own p95 ratio: the spread between rounds is what a difference between two runs has to beat
    const perRound = rounds.map((r) => round2(pctl(r.jobs.ms, 0.95) / pctl(r.http.ms, 0.95)))
    const medianRound = round2(pctl(perRound, 0.5))
    const part = (which: 'jobs' | 'http', k: 'decode' | 'device' | 'rest'): string => { const xs = rounds.flatMap((r) => r[which][k]).filter(Number.isFinite); return `${pctl(xs, 0.5).toFixed(1)} / ${pctl(xs, 0.95).toFixed(1)}` }
    const parts = (['decode', 'device', 'rest'] as const).map((k) => ({ k, jobs: part('jobs', k), http: part('http', k) }))
    probe = {
      replica: 'r1 (two workers, one reserved for latency-class work)',
      seconds: PROBE_SECONDS,
      submitted: PROBE_SUBMIT === 'before' ? 'before the replicas ran (they were stopped)' : 'while the replicas ran',
      rounds: rounds.map((r) => ({ queuedAtStartAndEnd: r.queued, jobsImagesPerSecond: r.jobsRate.map(round1), httpRequestsPerSecond: r.httpRate.map(round1), httpRefused: r.httpRefused, serverCoresBesideJobs: round2(r.cpuJobs), serverCoresBesideHttp: round2(r.cpuHttp), otherWorkCoresBesideJobs: round2(r.otherBesideJobs), otherWorkCoresBesideHttp: round2(r.otherBesideHttp), jobDecodeSlots: r.decodeSlots, besideJobs: summary(r.jobs.ms), besideHttp: summary(r.http.ms), probeRefused: r.jobs.refused + r.http.refused })),
      besideJobs: sj,
      besideHttp: sh,
      p95Ratio: round2(sj.p95 / sh.p95),
      p95RatioPerRound: perRound,
      whereTheTimeWent: Object.fromEntries(parts.map((p) => [p.k, { besideJobsP50P95: p.jobs, besideHttpP50P95: p.http }]))
    }
    md3 = [
      `- **Latency probe** (r1: two workers, one reserved for latency-class work; a latency-class \`POST /classify\` every 100 ms, one at a time, ${PROBE_SECONDS} s per segment, alternated ${PROBE_ROUNDS === 2 ? 'twice' : `${PROBE_ROUNDS} times`}: beside jobs (${PROBE_SUBMIT === 'before' ? `their backlog submitted while r1–r3 were stopped; images queued when each segment began / ended: ${rounds.map((r) => r.queued.join(' / ')).join('; ')}` : 'submitted while the replicas ran: the probe also competes with the upload'}), then beside throughput-class HTTP sent open-loop to each replica at the rate it had just run jobs at — r1 / r2 / r3 ${rounds.map((r) => `${r.jobsRate.map((x) => x.toFixed(1)).join(' / ')} → ${r.httpRate.map((x) => x.toFixed(1)).join(' / ')} per s`).join('; ')}): p50 / p95 / p99 / max **${sj.p50} / ${sj.p95} / ${sj.p99} / ${sj.max} ms beside jobs** (${sj.n} probes) vs **${sh.p50} / ${sh.p95} / ${sh.p99} / ${sh.max} ms beside HTTP** (${sh.n}); p95 ratio ${(sj.p95 / sh.p95).toFixed(2)} (target: no worse; per round ${perRound.map((x) => x.toFixed(2)).join(', ')}, median ${medianRound.toFixed(2)}). CPU used by the server processes (the replicas, the submission-only one, nats-server; /proc) during the probe: ${rounds.map((r) => `${r.cpuJobs.toFixed(2)} cores beside jobs vs ${r.cpuHttp.toFixed(2)} beside HTTP`).join('; ')} — for the same images per second. Other work on the machine in the same segments (/proc/stat less the benchmark's processes), cores beside jobs / HTTP: ${rounds.map((r) => `${r.otherBesideJobs.toFixed(2)} / ${r.otherBesideHttp.toFixed(2)}`).join('; ')}. Job images decoded at once (\`switchyard_jobs_decode_slots\`, r1 / r2 / r3, end of each jobs segment): ${rounds.map((r) => r.decodeSlots.join(' / ')).join('; ')}. Where the probe's time went (p50 / p95 ms, from its Server-Timing — decode; queue + inference + postprocess; the rest of the round trip: before the server's clock starts and after it ends): ${parts.map((p) => `${p.k} ${p.jobs} beside jobs vs ${p.http} beside HTTP`).join('; ')}.`
    ]
  }

  // 4. SIGKILL mid-run
  let kill: Record<string, unknown> | null = null
  let md4: string[] = []
  if (phase('kill')) {
    log(`kill: ${KILL_IMAGES} images, r2 killed by SIGKILL after it stored 30 of them`)
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
    kill = { images: killed.images, results: killed.results, ok: killed.ok, oneResultPerImage: killed.oneEach, perReplica: killed.perReplica, redeliveredToOthers: redelivered }
    md4 = [`- **SIGKILL**: ${KILL_IMAGES} images, r2 killed after storing 30 of them: ${killed.results} results, one per image: ${killed.oneEach}, ok ${killed.ok}; ${redelivered} images delivered again to r1/r3; per replica ${JSON.stringify(killed.perReplica)}.`]
  }

  // 5. two keys, 20:1 (on the replicas left), twice: alone, then beside the big key
  let fairness: Record<string, unknown> | null = null
  let md5: string[] = []
  if (phase('fairness')) {
    const rounds: Array<{ aloneMs: number, sharedMs: number, aloneAcceptedMs: number, sharedAcceptedMs: number, backlog: number, bigDoneMs: number }> = []
    for (let round = 0; round < 2; round++) {
      log(`fairness ${round + 1}: the small key alone (30 images), then after the big key (600)`)
      const a0 = performance.now()
      const aloneId = await submit(SMALL, 30)
      const a202 = performance.now()
      const aloneEnd = await waitAll(api, SMALL, [aloneId])
      const aloneMs = aloneEnd - a0
      const aloneAcceptedMs = aloneEnd - a202
      const bigIds = await submitMany(BIG, 12)
      const backlog = await metric(api, 'switchyard_jobs_queued_images')
      const s1 = performance.now()
      const sharedId = await submit(SMALL, 30)
      const s202 = performance.now()
      const sharedEnd = await waitAll(api, SMALL, [sharedId])
      const sharedMs = sharedEnd - s1
      const sharedAcceptedMs = sharedEnd - s202
      const sharedJob = await get(api, SMALL, sharedId)
      const wall1 = Date.now() - (performance.now() - s1)
      const byReplica: Record<string, number[]> = {}
      for (const r of sharedJob.results) (byReplica[r.replica] ??= []).push(Math.round((Date.parse(r.storedAt) - wall1)))
      log(`fairness ${round + 1}: the small key's results beside the big key, ms after submission, per replica: ${JSON.stringify(Object.fromEntries(Object.entries(byReplica).map(([k, v]) => [k, v.sort((a, b) => a - b)])))}`)
      const bigDoneMs = (await waitAll(api, BIG, bigIds)) - s1
      rounds.push({ aloneMs, sharedMs, aloneAcceptedMs, sharedAcceptedMs, backlog, bigDoneMs })
      log(`fairness ${round + 1}: small key ${(aloneMs / 1000).toFixed(2)} s alone, ${(sharedMs / 1000).toFixed(2)} s with ${backlog} of the big key's images queued = ${(sharedMs / aloneMs).toFixed(2)}×; from the 202: ${(aloneAcceptedMs / 1000).toFixed(2)} s and ${(sharedAcceptedMs / 1000).toFixed(2)} s = ${(sharedAcceptedMs / aloneAcceptedMs).toFixed(2)}× (big key done ${(bigDoneMs / 1000).toFixed(1)} s)`)
    }
    const alone = rounds.reduce((a, r) => a + r.aloneMs, 0)
    const shared = rounds.reduce((a, r) => a + r.sharedMs, 0)
    const aloneAcc = rounds.reduce((a, r) => a + r.aloneAcceptedMs, 0)
    const sharedAcc = rounds.reduce((a, r) => a + r.sharedAcceptedMs, 0)
    fairness = { smallImages: 30, bigImages: 600, rounds: rounds.map((r) => ({ bigQueuedWhenSmallSubmitted: r.backlog, smallAloneSeconds: round2(r.aloneMs / 1000), smallBesideBigSeconds: round2(r.sharedMs / 1000), ratio: round2(r.sharedMs / r.aloneMs), fromAccepted: { aloneSeconds: round2(r.aloneAcceptedMs / 1000), besideBigSeconds: round2(r.sharedAcceptedMs / 1000), ratio: round2(r.sharedAcceptedMs / r.aloneAcceptedMs) }, bigDoneSeconds: round1(r.bigDoneMs / 1000) })), ratio: round2(shared / alone), ratioFromAccepted: round2(sharedAcc / aloneAcc) }
    md5 = [`- **Two keys 20:1** (${phase('kill') ? 'r1 and r3' : 'r1–r3'}; twice, alternated): the small key's 30 images took ${rounds.map((r) => `${(r.aloneMs / 1000).toFixed(2)} s alone and ${(r.sharedMs / 1000).toFixed(2)} s submitted right after the big key's 600 (${r.backlog} of them still queued then) = ${(r.sharedMs / r.aloneMs).toFixed(2)}×`).join('; ')} — **${(shared / alone).toFixed(2)}×** over both, counted from the POST (target ≤ 2×); counted from the 202 (the submission itself, 30 images read, checked and stored, is slower on a machine whose cores the replicas keep busy): ${rounds.map((r) => `${(r.aloneAcceptedMs / 1000).toFixed(2)} s vs ${(r.sharedAcceptedMs / 1000).toFixed(2)} s`).join('; ')} = **${(sharedAcc / aloneAcc).toFixed(2)}×**; the big key's 600 were done after ${rounds.map((r) => `${(r.bigDoneMs / 1000).toFixed(1)} s`).join(' and ')}.`]
  }

  const results = {
    command: `${['BENCH_JOBS_BULK_SLOTS', 'BENCH_JOBS_DECODE_SLOTS', 'BENCH_JOBS_DECODE_NICE', 'BENCH_JOBS_GROUPS', 'BENCH_JOBS_PROBE_SECONDS', 'BENCH_JOBS_PROBE_ROUNDS'].filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]!} `).join('')}${ONLY === null ? '' : `BENCH_JOBS_ONLY=${ONLY.join(',')} `}npm run bench:jobs`,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, note: 'three replicas and nats-server compete for the cores', otherWorkCores: round2(otherDuringRun.read()), priority },
    setup: { replicas: 3, slowMsPerBatch: SLOW_MS, workersPerReplica: [2, 1, 1], latencyWorkers: [1, 0, 0], maxBatchSize: 8, model: 'mobilenetv2', ackWaitMs: 5000, natsServer: '2.9.10', natsClient: 'nats@2.29.3' },
    ...(throughput ?? {}),
    ...(rate !== null ? { rate } : {}),
    ...(probe !== null ? { probe } : {}),
    ...(kill !== null ? { kill } : {}),
    ...(fairness !== null ? { fairness } : {})
  }
  const md = [
    `# Jobs on NATS JetStream: \`${results.command}\``,
    '',
    `${results.machine.model}, ${results.machine.cpus} cores (other work on the machine during the run: ${results.machine.otherWorkCores.toFixed(2)} cores on average, /proc/stat less the benchmark's processes; ${priority}; ${OWN_GROUPS ? `each replica and nats-server in a scheduling group of its own (a session of its own, as pods on a node would each have a CPU share), at the same nice: ${grouped.join(', ')}` : 'the replicas and nats-server in the benchmark\'s group'}), Node ${results.machine.node}; nats-server 2.9.10 (Debian), client nats@2.29.3.`,
    `Three replicas (child processes), mobilenetv2, one CPU worker taking bulk work each (r1 has a second, reserved for latency-class work), batches of up to 8, injected per-batch delay ${SLOW_MS.join(' / ')} ms (SWITCHYARD_FAULTS slow).`,
    '',
    ...md1, ...md2, ...md3, ...md4, ...md5,
    ''
  ].join('\n')
  const out = ONLY === null ? join(REPO, 'bench/results') : '/tmp'
  writeFileSync(join(out, ONLY === null ? 'jobs.md' : 'switchyard-bench-jobs.md'), md)
  writeFileSync(join(out, ONLY === null ? 'jobs.json' : 'switchyard-bench-jobs.json'), JSON.stringify(results, null, 2))
  process.stdout.write(md)
} finally {
  await Promise.all(replicas.map((r) => r.stop()))
  await nats.stop()
}

/** the sum of every series of a metric (all its labels) in a Prometheus text exposition */
function metricSum (text: string, name: string): number {
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((x, l) => x + Number(l.split(' ').pop()), 0)
}
function pct (x: number): string { return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %` }
function round1 (x: number): number { return Math.round(x * 10) / 10 }
function round2 (x: number): number { return Math.round(x * 100) / 100 }
function round3 (x: number): number { return Math.round(x * 1000) / 1000 }
