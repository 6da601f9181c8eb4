// Faults under load: nothing accepted goes unanswered, and a device comes back.
//   npm run bench:faults       → bench/results/faults.{md,json}
// One server, two CPU devices: cpu-t (worker threads) and cpu-p (process isolation, watchdog
// max(2 s, 4 × predicted)). A saturating mixed load for BENCH_SECONDS (default 60): throughput
// class from autocannon (6 connections, deadline 10 s) and a latency-class probe (open loop,
// 4 req/s, deadline 2 s), /classify. During it cpu-p is made to hang mid-batch, to crash
// natively mid-batch, and to fail its next two restarts (then exit), through POST /admin/faults.
// Counted: every request sent is answered (200, or an error with an SY_ code); the longest
// answer against its deadline plus the watchdog limit; /readyz naming cpu-p unhealthy while
// it is down; cpu-p healthy and serving again once the faults are spent.
import { writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { REPO, image, runLoad, startBenchServer, table } from './harness.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60)
const WATCHDOG = { factor: 4, floorMs: 2000 }
const DEADLINE = { latency: 2000, throughput: 10_000 }
const device = { kind: 'cpu', required: true, workers: 1, intraOpThreads: 1, maxBatchSize: 4, watchdog: WATCHDOG }

// every answer, seen by the server: status, SY_ code (for errors), ms, class
const answers: Array<{ status: number, code: string | null, ms: number, policy: string }> = []
const { server, url } = await startBenchServer({
  server: { logLevel: 'error' },
  faults: { allow: true },
  devices: [{ ...device, id: 'cpu-t', isolation: 'thread' }, { ...device, id: 'cpu-p', isolation: 'process' }]
}, (s) => {
  s.app.addHook('onSend', async (request, reply, payload) => {
    if (request.method !== 'POST' || !request.url.startsWith('/classify')) return payload
    const code = reply.statusCode >= 400 && typeof payload === 'string' ? /"error":"(SY_[A-Z_]+)"/.exec(payload)?.[1] ?? null : null
    answers.push({ status: reply.statusCode, code, ms: reply.elapsedTime, policy: String(request.headers['x-switchyard-policy'] ?? '') })
    return payload
  })
})
const cpuP = server.devices.get('cpu-p')!
const inject = async (body: Record<string, unknown>): Promise<number> =>
  (await fetch(`${url}/admin/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).status
const readyz = async (): Promise<Record<string, string>> => ((await (await fetch(`${url}/readyz`)).json()) as { devices: Record<string, string> }).devices

// /readyz sampled every 250 ms: what it said about cpu-p, and when
const readiness: Array<{ t: number, cpuP: string }> = []
const t0 = Date.now()
const sampler = setInterval(() => { void readyz().then((d) => readiness.push({ t: Date.now() - t0, cpuP: d['cpu-p']! })) }, 250)
const events: Array<{ t: number, event: string }> = []
const at = (fraction: number, event: string, fn: () => Promise<unknown>): Promise<void> =>
  new Promise((resolve) => setTimeout(() => { void fn().then((r) => { events.push({ t: Date.now() - t0, event: `${event} → ${String(r)}` }); resolve() }) }, fraction * SECONDS * 1000))
const exits: number[] = []
let closing = false
for (const w of cpuP.scheduler.workers) w.executor?.on('exit', (c: number) => exits.push(c))
cpuP.scheduler.on('health', (h: boolean) => {
  if (closing) return
  events.push({ t: Date.now() - t0, event: `cpu-p ${h ? 'healthy' : 'unhealthy'}` })
  if (h) for (const w of cpuP.scheduler.workers) w.executor?.on('exit', (c: number) => exits.push(c))
})

const faults = Promise.all([
  at(0.15, 'hang', () => inject({ device: 'cpu-p', mode: 'hang' })),
  at(0.45, 'crash', () => inject({ device: 'cpu-p', mode: 'crash' })),
  at(0.7, 'fail-start ×2, then exit', async () => [await inject({ device: 'cpu-p', mode: 'fail-start', count: 2 }), await inject({ device: 'cpu-p', mode: 'exit' })].join(','))
])
const load = await runLoad({
  url,
  image: image('dog.jpg'),
  seconds: SECONDS,
  bulk: { path: '/classify', connections: 6, timeoutS: 60, headers: { 'x-switchyard-policy': 'throughput', 'x-switchyard-deadline-ms': String(DEADLINE.throughput) } },
  probe: { path: '/classify', rate: 4, timeoutS: 60, headers: { 'x-switchyard-policy': 'latency', 'x-switchyard-deadline-ms': String(DEADLINE.latency) } }
})
await faults
// the faults spent: cpu-p comes back by itself
const recoverFrom = Date.now()
while (!cpuP.scheduler.healthy && Date.now() - recoverFrom < 180_000) await new Promise((resolve) => setTimeout(resolve, 250))
const recoveredAfterLoadMs = Date.now() - recoverFrom
clearInterval(sampler)
const answeredDuringLoad = answers.length
const pinned = await fetch(`${url}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg', 'x-switchyard-device': 'cpu-p' }, body: (await import('node:fs')).readFileSync(image('dog.jpg')) })
const finalReady = await readyz()
closing = true
await server.close()

const bulk = load.bulk!
const probe = load.probe!
const sent = bulk.sent + probe.sent
const clientAnswered = Object.entries(bulk.statuses).reduce((a, [, n]) => a + n, 0) + Object.entries(probe.statuses).filter(([k]) => /^\d+$/.test(k)).reduce((a, [, n]) => a + n, 0)
const loadAnswers = answers.slice(0, answeredDuringLoad)
// autocannon stops at its duration with a request in flight on each connection and counts
// those as sent but not answered: the server's own count of answers (every /classify answer
// it sent during the load) is what "answered" means here
const withoutCode = loadAnswers.filter((a) => a.status !== 200 && a.code === null).length
const byStatus: Record<string, number> = {}
for (const a of loadAnswers) { const k = a.status === 200 ? '200' : `${a.status} ${a.code}`; byStatus[k] = (byStatus[k] ?? 0) + 1 }
const maxMs = (policy: string): number => Math.round(Math.max(0, ...loadAnswers.filter((a) => a.policy === policy).map((a) => a.ms)))
// the watchdog's limit for the slowest batch it could have watched: 4 × predicted, at least 2 s
const predictedMax = Math.max(...server.devices.schedulers.flatMap((s) => [...s.lanes.values()].map((l) => l.cost.predict(l.maxBatchSize))))
const watchdogMs = Math.max(WATCHDOG.floorMs, WATCHDOG.factor * predictedMax)
const unhealthySeen = readiness.filter((r) => r.cpuP === 'unhealthy').length
const summary = {
  seconds: SECONDS,
  sent,
  answeredAtClient: clientAnswered,
  clientErrorsOrTimeouts: bulk.errors + bulk.timeouts + (probe.statuses.error ?? 0) + (probe.statuses.timeout ?? 0),
  answeredAtServer: answeredDuringLoad,
  errorsWithoutSyCode: withoutCode,
  byStatus,
  maxMs: { latency: maxMs('latency'), throughput: maxMs('throughput') },
  boundMs: { latency: Math.round(DEADLINE.latency + watchdogMs), throughput: Math.round(DEADLINE.throughput + watchdogMs) },
  cpuPExitCodes: exits,
  readyzSamples: readiness.length,
  readyzUnhealthySamples: unhealthySeen,
  recoveredAfterLoadMs,
  finalReadyz: finalReady,
  pinnedAfterwards: { status: pinned.status, device: pinned.headers.get('x-switchyard-device') },
  events
}
const ok = answeredDuringLoad === sent && withoutCode === 0 && summary.maxMs.latency <= summary.boundMs.latency && summary.maxMs.throughput <= summary.boundMs.throughput && unhealthySeen > 0 && finalReady['cpu-p'] === 'healthy' && pinned.status === 200
const md = [
  `# Faults under load — ${new Date().toISOString().slice(0, 10)}, ${availableParallelism()} × ${cpus()[0]?.model}, Node ${process.version}`,
  '',
  `Command: \`npm run bench:faults\` (BENCH_SECONDS=${SECONDS}). Two CPU devices, 1 worker each: cpu-t (threads), cpu-p (process isolation, watchdog max(${WATCHDOG.floorMs} ms, ${WATCHDOG.factor} × predicted)). /classify, dog.jpg: throughput class from 6 connections (deadline ${DEADLINE.throughput} ms) and a latency-class probe at 4 req/s (deadline ${DEADLINE.latency} ms), for ${SECONDS} s. cpu-p made to hang mid-batch at ${0.15 * SECONDS} s, crash natively (process.abort()) at ${0.45 * SECONDS} s, fail its next two starts and exit at ${0.7 * SECONDS} s. The machine was shared with other jobs (load average ${loadavg().map((x) => x.toFixed(0)).join(' / ')} at the end).`,
  '',
  `- sent **${sent}**, answered by the server **${answeredDuringLoad}** (the clients saw ${clientAnswered}: autocannon stops at its duration with one request in flight on each of its 6 connections; client errors or timeouts: ${summary.clientErrorsOrTimeouts}); error answers without an SY_ code: **${withoutCode}**.`,
  `- answers: ${Object.entries(byStatus).map(([k, v]) => `${k}: ${v}`).join(', ')}.`,
  `- longest answer: latency ${summary.maxMs.latency} ms (bound: deadline + watchdog = ${summary.boundMs.latency} ms), throughput ${summary.maxMs.throughput} ms (bound ${summary.boundMs.throughput} ms).`,
  `- cpu-p's worker exits: ${exits.join(', ')} (137 SIGKILL by the watchdog, 134 SIGABRT, 70 exit); /readyz named cpu-p unhealthy in ${unhealthySeen} of ${readiness.length} samples (every 250 ms).`,
  `- after the load, cpu-p healthy again within ${recoveredAfterLoadMs} ms; a request pinned to it: ${pinned.status} from ${pinned.headers.get('x-switchyard-device')}; final /readyz: ${JSON.stringify(finalReady)}.`,
  `- verdict: **${ok ? 'every target met' : 'a target missed (see above)'}**.`,
  '',
  table(events.map((e) => ({ 's': (e.t / 1000).toFixed(1), event: e.event }))),
  ''
].join('\n')
process.stdout.write(md + '\n')
writeFileSync(join(REPO, 'bench/results/faults.md'), md)
writeFileSync(join(REPO, 'bench/results/faults.json'), JSON.stringify({ summary, load }, null, 2))
