// HAProxy in front of three Switchyard replicas on loopback, one slowed by an injected
// per-batch delay (fault injection, mode 'slow'): the shipped configuration (policy ACLs,
// agent-check weights from each replica's predicted finish, leastconn for latency) against the
// same file balanced by plain `roundrobin` and by plain `leastconn` (agent checks removed).
//   npm run bench:haproxy       → bench/results/haproxy.{md,json}
// Per configuration, interleaved over rounds on the same replicas (HAProxy restarted between):
// a mixed load for BENCH_HAPROXY_SECONDS — latency-class requests open loop at a fixed rate,
// throughput-class requests closed loop at a fixed concurrency — after a short warm-up.
// Reported: latency-class p50/p99 (ms, send to answer, through HAProxy), throughput-class
// goodput (200 answers per second), where each class went, and agent / baseline per round (the
// same round: the same machine load, as near as a shared machine allows).
//   BENCH_HAPROXY_FROM=bench/results/haproxy.json npm run bench:haproxy   re-renders the table only
//   BENCH_HAPROXY_BULK_RATE=0 BENCH_HAPROXY_OUT=haproxy-saturated npm run bench:haproxy   bulk closed loop
//     (every replica saturated) → bench/results/haproxy-saturated.{md,json}
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { closedLoop, haproxyConfig, openLoop, SHARED, startHaproxy, startReplicas, stopReplicas, tempDir, type Answer, type Balancing } from '../docker/haproxy-fleet.js'
import { preferThisBench } from './cpu-priority.js'
import { REPO, table } from './harness.js'

const SECONDS = Number(process.env.BENCH_HAPROXY_SECONDS ?? 20)
const ROUNDS = Number(process.env.BENCH_HAPROXY_ROUNDS ?? 6)
// The slow replica: 200 ms more per batch, a fifth of a fast replica's speed for a latency
// request — a CPU-only pod beside faster ones. Each replica reserves one worker for latency work
// (latencyWorkers: 1, the deployment docs' advice for mixed traffic): without it a latency
// request's time is mostly the wait for the bulk batch running where it lands, which no balancer
// can see (the 2026-12-02 run, 40 ms and no reserved worker: every rule within the noise).
const SLOW_MS = Number(process.env.BENCH_HAPROXY_SLOW_MS ?? 200)
const LATENCY_WORKERS = Number(process.env.BENCH_HAPROXY_LATENCY_WORKERS ?? 1)
const LATENCY_RATE = Number(process.env.BENCH_HAPROXY_LATENCY_RATE ?? 4)
const BULK_CONNECTIONS = Number(process.env.BENCH_HAPROXY_BULK ?? 6)
// throughput class open loop at this rate (images/s) instead of closed loop (0: closed loop)
const BULK_RATE = Number(process.env.BENCH_HAPROXY_BULK_RATE ?? 20)
const bulk = (port: number, seconds: number): Promise<Answer[]> => BULK_RATE > 0
  ? openLoop(port, BULK_RATE, seconds, { 'x-switchyard-policy': 'throughput' }, image)
  : closedLoop(port, Infinity, BULK_CONNECTIONS, { 'x-switchyard-policy': 'throughput' }, image, seconds)
const BALANCINGS: Balancing[] = ['roundrobin', 'leastconn', 'agent']
const image = readFileSync(join(SHARED, 'images', 'dog.jpg'))
class Skip extends Error {}

function pct (xs: number[], q: number): number {
  if (xs.length === 0) return NaN
  const a = [...xs].sort((x, y) => x - y)
  return Math.round(a[Math.min(a.length - 1, Math.max(0, Math.ceil(q * a.length) - 1))]! * 10) / 10
}
const share = (as: Answer[]): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const a of as) out[a.replica || 'none'] = (out[a.replica || 'none'] ?? 0) + 1
  return out
}

type Run = { balancing: Balancing, round: number, latency: { n: number, ok: number, p50: number, p99: number, byReplica: Record<string, number>, ms?: number[] }, throughput: { ok: number, goodputPerS: number, p50: number, p99?: number, n?: number, byReplica: Record<string, number> } }
const from = process.env.BENCH_HAPROXY_FROM
const runs: Run[] = from !== undefined ? (JSON.parse(readFileSync(from, 'utf8')) as { runs: Run[] }).runs : []
const priority = from !== undefined ? (JSON.parse(readFileSync(from, 'utf8')) as { priority?: string }).priority ?? '' : preferThisBench()
const tmp = tempDir()
const replicas = from !== undefined ? [] : await startReplicas([{ latencyWorkers: LATENCY_WORKERS }, { latencyWorkers: LATENCY_WORKERS }, { slowMs: SLOW_MS, latencyWorkers: LATENCY_WORKERS }], tmp.dir)
try {
  if (from !== undefined) throw new Skip()
  for (let round = 1; round <= ROUNDS; round++) {
    for (const balancing of BALANCINGS) {
      const h = await startHaproxy(haproxyConfig(balancing), replicas, tmp.dir)
      try {
        process.stderr.write(`round ${round}, ${balancing}: warm-up 3 s, then ${SECONDS} s…\n`)
        await Promise.all([openLoop(h.port, LATENCY_RATE, 3, { 'x-switchyard-policy': 'latency' }, image), bulk(h.port, 3)])
        const [lat, thr] = await Promise.all([
          openLoop(h.port, LATENCY_RATE, SECONDS, { 'x-switchyard-policy': 'latency' }, image),
          bulk(h.port, SECONDS)
        ])
        const latOk = lat.filter((a) => a.status === 200)
        const thrOk = thr.filter((a) => a.status === 200)
        runs.push({
          balancing,
          round,
          latency: { n: lat.length, ok: latOk.length, p50: pct(latOk.map((a) => a.ms), 0.5), p99: pct(latOk.map((a) => a.ms), 0.99), byReplica: share(latOk), ms: latOk.map((a) => Math.round(a.ms * 10) / 10) },
          throughput: { ok: thrOk.length, n: thr.length, goodputPerS: Math.round(thrOk.length / SECONDS * 10) / 10, p50: pct(thrOk.map((a) => a.ms), 0.5), p99: pct(thrOk.map((a) => a.ms), 0.99), byReplica: share(thrOk) }
        })
        process.stderr.write(`  ${JSON.stringify(runs.at(-1))}\n`)
      } finally {
        await h.stop()
      }
    }
  }
} catch (e) {
  if (!(e instanceof Skip)) throw e
} finally {
  await stopReplicas(replicas)
  tmp.remove()
}
const rounds = Math.max(...runs.map((r) => r.round))

// pooled over rounds: every latency answer of a configuration, every throughput answer
const pooled = BALANCINGS.map((b) => {
  const rs = runs.filter((r) => r.balancing === b)
  const all = rs.flatMap((r) => r.latency.ms ?? [])
  const refused = rs.reduce((a, r) => a + r.latency.n - r.latency.ok, 0)
  return { balancing: b, latencyP99: pct(all, 0.99), latencyP50: pct(all, 0.5), latencyAnswers: all.length, latencyRefused: refused, worstRoundP99: Math.max(...rs.map((r) => r.latency.p99)), latencyP99PerRound: rs.map((r) => r.latency.p99), goodput: Math.round(rs.reduce((a, r) => a + r.throughput.goodputPerS, 0) / rs.length * 10) / 10 }
})
const of = (b: Balancing) => pooled.find((p) => p.balancing === b)!
const ratioRr = Math.round(of('agent').latencyP99 / of('roundrobin').latencyP99 * 100) / 100
const ratioLc = Math.round(of('agent').latencyP99 / of('leastconn').latencyP99 * 100) / 100
const r2 = (x: number): number => Math.round(x * 100) / 100
const perRound = Array.from({ length: rounds }, (_, i) => {
  const at = (b: Balancing): Run => runs.find((r) => r.round === i + 1 && r.balancing === b)!
  return { round: i + 1, rr: r2(at('agent').latency.p99 / at('roundrobin').latency.p99), lc: r2(at('agent').latency.p99 / at('leastconn').latency.p99), goodput: r2(at('agent').throughput.goodputPerS / at('roundrobin').throughput.goodputPerS) }
})
const machine = { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }
const md = [
  `# HAProxy in front of three replicas, one slowed — ${new Date().toISOString().slice(0, 10)}, ${machine.cpus} × ${machine.model}, Node ${machine.node}`,
  '',
  `Command: \`npm run bench:haproxy\` (Debian's haproxy 2.6; three \`node dist/main.js\` replicas on loopback, each one CPU device with one bulk worker${LATENCY_WORKERS > 0 ? ` and ${LATENCY_WORKERS} reserved for latency-class work (latencyWorkers)` : ''}, one intra-op thread each; replica sy3 with \`SWITCHYARD_FAULTS=[{"device":"cpu","mode":"slow","delayMs":${SLOW_MS}}]\`; set by BENCH_HAPROXY_SLOW_MS and BENCH_HAPROXY_LATENCY_WORKERS). ` +
    `Per configuration and round: ${LATENCY_RATE} latency-class requests/s open loop plus ${BULK_RATE > 0 ? `throughput-class requests open loop at ${BULK_RATE}/s (BENCH_HAPROXY_BULK_RATE; 0: closed loop)` : `${BULK_CONNECTIONS} throughput-class connections closed loop`}, ${SECONDS} s after a 3 s warm-up; configurations interleaved over ${rounds} rounds on the same replicas. The machine has 2 cores shared with other jobs: the three replicas, HAProxy and the client compete for them, so absolute times are noisy; compare within this run. CPU priority: ${priority}.`,
  '',
  table(runs.map((r) => ({
    round: r.round,
    balancing: r.balancing,
    'latency p50 ms': r.latency.p50,
    'latency p99 ms': r.latency.p99,
    'latency ok': `${r.latency.ok}/${r.latency.n}`,
    'latency sy1/sy2/sy3 (slow)': ['sy1', 'sy2', 'sy3'].map((s) => r.latency.byReplica[s] ?? 0).join('/'),
    'throughput goodput /s': r.throughput.goodputPerS,
    'throughput p99 ms': r.throughput.p99 ?? '',
    'throughput sy1/sy2/sy3 (slow)': ['sy1', 'sy2', 'sy3'].map((s) => r.throughput.byReplica[s] ?? 0).join('/')
  }))),
  '',
  `Latency-class p99 of the run (every answer of a configuration, all rounds pooled): agent weights ${of('agent').latencyP99} ms, roundrobin ${of('roundrobin').latencyP99} ms, leastconn ${of('leastconn').latencyP99} ms — agent / roundrobin = ${ratioRr} (target ≤ 0.7), agent / leastconn = ${ratioLc} (target ≤ 1); p50 agent ${of('agent').latencyP50} ms, roundrobin ${of('roundrobin').latencyP50} ms, leastconn ${of('leastconn').latencyP50} ms; latency requests refused or failed: ${BALANCINGS.map((b) => `${b} ${of(b).latencyRefused}`).join(', ')}. ` +
    `Worst round's p99: agent ${of('agent').worstRoundP99} ms, roundrobin ${of('roundrobin').worstRoundP99} ms, leastconn ${of('leastconn').worstRoundP99} ms. ` +
    `Mean throughput-class goodput: agent ${of('agent').goodput}/s, roundrobin ${of('roundrobin').goodput}/s, leastconn ${of('leastconn').goodput}/s.`,
  '',
  `Same round, agent weights over the baselines: latency p99 / roundrobin ${perRound.map((p) => p.rr).join(', ')}; / leastconn ${perRound.map((p) => p.lc).join(', ')}; throughput goodput / roundrobin ${perRound.map((p) => p.goodput).join(', ')} (rounds 1–${rounds}).`,
  ''
].join('\n')
process.stdout.write(md + '\n')
const OUT = process.env.BENCH_HAPROXY_OUT ?? 'haproxy'
writeFileSync(join(REPO, `bench/results/${OUT}.md`), md)
if (from === undefined) writeFileSync(join(REPO, `bench/results/${OUT}.json`), JSON.stringify({ machine, priority, seconds: SECONDS, rounds, latencyRate: LATENCY_RATE, bulkConnections: BULK_CONNECTIONS, bulkRate: BULK_RATE, slowMs: SLOW_MS, latencyWorkers: LATENCY_WORKERS, runs, pooled, ratios: { agentOverRoundrobin: ratioRr, agentOverLeastconn: ratioLc, perRound } }, null, 2))
