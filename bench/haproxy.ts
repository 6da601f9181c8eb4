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
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { closedLoop, haproxyConfig, openLoop, SHARED, startHaproxy, startReplicas, stopReplicas, tempDir, type Answer, type Balancing } from '../docker/haproxy-fleet.js'
import { REPO, table } from './harness.js'

const SECONDS = Number(process.env.BENCH_HAPROXY_SECONDS ?? 20)
const ROUNDS = Number(process.env.BENCH_HAPROXY_ROUNDS ?? 4)
const SLOW_MS = 40
const LATENCY_RATE = Number(process.env.BENCH_HAPROXY_LATENCY_RATE ?? 4)
const BULK_CONNECTIONS = Number(process.env.BENCH_HAPROXY_BULK ?? 6)
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

type Run = { balancing: Balancing, round: number, latency: { n: number, ok: number, p50: number, p99: number, byReplica: Record<string, number> }, throughput: { ok: number, goodputPerS: number, p50: number, byReplica: Record<string, number> } }
const from = process.env.BENCH_HAPROXY_FROM
const runs: Run[] = from !== undefined ? (JSON.parse(readFileSync(from, 'utf8')) as { runs: Run[] }).runs : []
const tmp = tempDir()
const replicas = from !== undefined ? [] : await startReplicas([{}, {}, { slowMs: SLOW_MS }], tmp.dir)
try {
  if (from !== undefined) throw new Skip()
  for (let round = 1; round <= ROUNDS; round++) {
    for (const balancing of BALANCINGS) {
      const h = await startHaproxy(haproxyConfig(balancing), replicas, tmp.dir)
      try {
        process.stderr.write(`round ${round}, ${balancing}: warm-up 3 s, then ${SECONDS} s…\n`)
        await Promise.all([openLoop(h.port, LATENCY_RATE, 3, { 'x-switchyard-policy': 'latency' }, image), closedLoop(h.port, Infinity, BULK_CONNECTIONS, { 'x-switchyard-policy': 'throughput' }, image, 3)])
        const [lat, thr] = await Promise.all([
          openLoop(h.port, LATENCY_RATE, SECONDS, { 'x-switchyard-policy': 'latency' }, image),
          closedLoop(h.port, Infinity, BULK_CONNECTIONS, { 'x-switchyard-policy': 'throughput' }, image, SECONDS)
        ])
        const latOk = lat.filter((a) => a.status === 200)
        const thrOk = thr.filter((a) => a.status === 200)
        runs.push({
          balancing,
          round,
          latency: { n: lat.length, ok: latOk.length, p50: pct(latOk.map((a) => a.ms), 0.5), p99: pct(latOk.map((a) => a.ms), 0.99), byReplica: share(latOk) },
          throughput: { ok: thrOk.length, goodputPerS: Math.round(thrOk.length / SECONDS * 10) / 10, p50: pct(thrOk.map((a) => a.ms), 0.5), byReplica: share(thrOk) }
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
  return { balancing: b, latencyP99: Math.max(...rs.map((r) => r.latency.p99)), latencyP99PerRound: rs.map((r) => r.latency.p99), goodput: Math.round(rs.reduce((a, r) => a + r.throughput.goodputPerS, 0) / rs.length * 10) / 10 }
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
  'Command: `npm run bench:haproxy` (Debian\'s haproxy 2.6; three `node dist/main.js` replicas on loopback, each one CPU device, one worker, one intra-op thread; replica sy3 with `SWITCHYARD_FAULTS=[{"device":"cpu","mode":"slow","delayMs":40}]`). ' +
    `Per configuration and round: ${LATENCY_RATE} latency-class requests/s open loop plus ${BULK_CONNECTIONS} throughput-class connections closed loop, ${SECONDS} s after a 3 s warm-up; configurations interleaved over ${rounds} rounds on the same replicas. The machine has 2 cores shared with other jobs: the three replicas, HAProxy and the client compete for them, so absolute times are noisy; compare within this run.`,
  '',
  table(runs.map((r) => ({
    round: r.round,
    balancing: r.balancing,
    'latency p50 ms': r.latency.p50,
    'latency p99 ms': r.latency.p99,
    'latency ok': `${r.latency.ok}/${r.latency.n}`,
    'latency sy1/sy2/sy3 (slow)': ['sy1', 'sy2', 'sy3'].map((s) => r.latency.byReplica[s] ?? 0).join('/'),
    'throughput goodput /s': r.throughput.goodputPerS,
    'throughput sy1/sy2/sy3 (slow)': ['sy1', 'sy2', 'sy3'].map((s) => r.throughput.byReplica[s] ?? 0).join('/')
  }))),
  '',
  `Worst latency-class p99 over the rounds: agent weights ${of('agent').latencyP99} ms, roundrobin ${of('roundrobin').latencyP99} ms, leastconn ${of('leastconn').latencyP99} ms — agent / roundrobin = ${ratioRr} (target ≤ 0.7), agent / leastconn = ${ratioLc} (target ≤ 1). ` +
    `Mean throughput-class goodput: agent ${of('agent').goodput}/s, roundrobin ${of('roundrobin').goodput}/s, leastconn ${of('leastconn').goodput}/s.`,
  '',
  `Same round, agent weights over the baselines: latency p99 / roundrobin ${perRound.map((p) => p.rr).join(', ')}; / leastconn ${perRound.map((p) => p.lc).join(', ')}; throughput goodput / roundrobin ${perRound.map((p) => p.goodput).join(', ')} (rounds 1–${rounds}).`,
  ''
].join('\n')
process.stdout.write(md + '\n')
writeFileSync(join(REPO, 'bench/results/haproxy.md'), md)
if (from === undefined) writeFileSync(join(REPO, 'bench/results/haproxy.json'), JSON.stringify({ machine, seconds: SECONDS, rounds, latencyRate: LATENCY_RATE, bulkConnections: BULK_CONNECTIONS, slowMs: SLOW_MS, runs, pooled, ratios: { agentOverRoundrobin: ratioRr, agentOverLeastconn: ratioLc, perRound } }, null, 2))
