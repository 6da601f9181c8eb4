// What choosing the rule by replay costs a live server (routing.select; issue 17): the router
// benchmark's mixed load on detect — 8 throughput-class connections saturating the CPU, a
// latency-class probe at 5 req/s — on the same server config with routing.select off, on at its
// defaults (a replay of the last 15 s every 5 s) and on every second, in interleaved rounds. The
// replays run in a worker thread on the same cores as inference and decoding: what they take shows
// in bulk throughput and the probe's p99. From the server's /metrics: how many windows were
// replayed, what they chose, how long a replay took, the rule in force at the end.
//   npm run bench:rule-select            → bench/results/rule-select-live.{md,json}
//   BENCH_SECONDS (default 20), BENCH_ROUNDS (default 3)
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { REPO, image, runLoad, startBenchServer, table, withLoopDelay } from './harness.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const base = {
  models: { enabled: ['mobilenetv2', 'yolox-nano-dynamic'] },
  routes: { detect: 'yolox-nano-dynamic' },
  decode: { slots: 4, bulkSlots: 2 },
  devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 2, latencyWorkers: 1, intraOpThreads: 1, maxBatchSize: 8, batchDelayMs: { latency: 0, throughput: 4 } }]
}
const CONFIGS: Array<{ label: string, select: Record<string, unknown> | null }> = [
  { label: 'off', select: null },
  { label: 'every 5 s, last 15 s (defaults)', select: { enabled: true } },
  { label: 'every 1 s, last 15 s', select: { enabled: true, everyMs: 1000 } }
]

interface Sample { bulkRps: number, probeP50: number, probeP99: number, probeOk: number, probeSent: number, loopP99: number, replays: Record<string, number>, replayMeanMs: number | null, rule: string | null }

/** The rule's series from /metrics text. */
function ruleMetrics (text: string): Pick<Sample, 'replays' | 'replayMeanMs' | 'rule'> {
  const replays: Record<string, number> = {}
  for (const m of text.matchAll(/^switchyard_routing_rule_replays_total\{outcome="([^"]+)"\} (\S+)$/gm)) replays[m[1]!] = Number(m[2])
  const sum = Number(/^switchyard_routing_rule_replay_duration_seconds_sum (\S+)$/m.exec(text)?.[1] ?? NaN)
  const count = Number(/^switchyard_routing_rule_replay_duration_seconds_count (\S+)$/m.exec(text)?.[1] ?? NaN)
  const rule = /^switchyard_routing_rule\{rule="([^"]+)"\} 1$/m.exec(text)?.[1] ?? null
  return { replays, replayMeanMs: count > 0 ? Math.round(sum / count * 1000 * 10) / 10 : null, rule }
}

async function phase (select: Record<string, unknown> | null): Promise<Sample> {
  const { server, url } = await startBenchServer(select === null ? base : { ...base, routing: { select } })
  try {
    const { value, loop } = await withLoopDelay(() => runLoad({
      url,
      image: image('dog.jpg'),
      seconds: SECONDS,
      bulk: { path: '/detect', connections: 8, headers: { 'x-switchyard-policy': 'throughput' } },
      probe: { path: '/detect', rate: 5, headers: { 'x-switchyard-policy': 'latency' } }
    }))
    const metrics = await (await fetch(`${url}/metrics`)).text()
    return { bulkRps: value.bulk!.rps, probeP50: value.probe!.p50, probeP99: value.probe!.p99, probeOk: value.probe!.ok, probeSent: value.probe!.sent, loopP99: loop.p99, ...ruleMetrics(metrics) }
  } finally {
    await server.close()
  }
}

const samples: Sample[][] = CONFIGS.map(() => [])
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, c] of CONFIGS.entries()) {
    process.stderr.write(`round ${r + 1}/${ROUNDS}: ${c.label}…\n`)
    samples[i]!.push(await phase(c.select))
  }
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }
const spread = (xs: number[]): string => `${Math.min(...xs)}–${Math.max(...xs)}`
const off = samples[0]!
const rows = CONFIGS.map((c, i) => {
  const s = samples[i]!
  const replays: Record<string, number> = {}
  for (const x of s) for (const [k, v] of Object.entries(x.replays)) replays[k] = (replays[k] ?? 0) + v
  return {
    'routing.select': c.label,
    'bulk req/s (median; range)': `${median(s.map((x) => x.bulkRps))} (${spread(s.map((x) => x.bulkRps))})`,
    'vs off': Math.round(median(s.map((x) => x.bulkRps)) / median(off.map((x) => x.bulkRps)) * 100) / 100,
    'probe p50 ms': median(s.map((x) => x.probeP50)),
    'probe p99 ms (median; range)': `${median(s.map((x) => x.probeP99))} (${spread(s.map((x) => x.probeP99))})`,
    'loop p99 ms': median(s.map((x) => x.loopP99)),
    'windows (all rounds)': c.select === null ? '–' : Object.entries(replays).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', '),
    'replay mean ms': c.select === null ? '–' : s.map((x) => x.replayMeanMs ?? '–').join(' / '),
    'rule at the end': c.select === null ? '–' : s.map((x) => x.rule ?? '–').join(' / ')
  }
})

const machine = { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }
const md = [
  `# What choosing the rule by replay costs a live server — ${new Date().toISOString().slice(0, 10)}, ${machine.cpus} × ${machine.model}, Node ${machine.node}`,
  '',
  `Command: \`npm run bench:rule-select\` (${ROUNDS} interleaved rounds of ${SECONDS} s per config; server in the bench process, load from child processes on loopback).`,
  '',
  'Load: 8 throughput-class connections on `/detect` (YOLOX-Nano, dynamic batch) and a latency-class probe at 5 req/s, on one CPU device (2 workers, one reserved for latency; batches ≤ 8).',
  '',
  table(rows),
  ''
].join('\n')
process.stdout.write(`${md}\n`)
writeFileSync(join(REPO, 'bench/results/rule-select-live.md'), md)
writeFileSync(join(REPO, 'bench/results/rule-select-live.json'), `${JSON.stringify({ machine, seconds: SECONDS, rounds: ROUNDS, configs: CONFIGS.map((c) => c.label), samples }, null, 2)}\n`)
