// Overload benchmark (issue 4): bounded queues everywhere.
//   npm run bench:overload      → bench/results/overload.{md,json}
// 1. saturation: classify, closed loop, 8 connections, 10 s → S req/s
// 2. overload: 2·S req/s offered (autocannon overallRate over 256 connections) for 60 s
// Every request must be answered — 200, or 429/503 with Retry-After — with no timeouts;
// server RSS at start and end; event-loop delay during the overload.
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { REPO, image, startBenchServer, table, withLoopDelay, runLoad } from './harness.js'

const SECONDS = Number(process.env.BENCH_OVERLOAD_SECONDS ?? 60)
const { server, url } = await startBenchServer({ devices: [{ id: 'cpu', kind: 'cpu', required: true, maxBatchSize: 8 }] })
try {
  process.stderr.write('saturation: 8 connections, 10 s…\n')
  const sat = await runLoad({ url, image: image('dog.jpg'), seconds: 10, bulk: { path: '/classify', connections: 8, headers: {} } })
  const S = sat.bulk!.rps
  const rate = Math.round(2 * S)
  global.gc?.()
  const rssStart = process.memoryUsage().rss
  const rss: number[] = []
  const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 1000)
  process.stderr.write(`overload: ${rate} req/s offered (2 × ${S}), ${SECONDS} s…\n`)
  const run = await withLoopDelay(() => runLoad({ url, image: image('dog.jpg'), seconds: SECONDS, bulk: { path: '/classify', connections: 256, headers: {}, rate, timeoutS: 30 } }))
  clearInterval(sampler)
  const rssEnd = process.memoryUsage().rss
  const r = run.value.bulk!
  const statuses = r.statuses
  const answered = Object.values(statuses).reduce((a, b) => a + b, 0)
  const results = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    saturationRps: S, offeredRps: rate, seconds: SECONDS,
    sent: r.sent, answered, statuses, timeouts: r.timeouts, errors: r.errors,
    latencyMs: { p50: r.p50, p99: r.p99, max: r.max },
    rssMiB: { start: Math.round(rssStart / 1048576), end: Math.round(rssEnd / 1048576), max: Math.round(Math.max(...rss) / 1048576) },
    eventLoopMs: run.loop
  }
  const md = [
    `# Overload benchmark — ${new Date().toISOString().slice(0, 10)}, ${results.machine.cpus} × ${results.machine.model}, Node ${results.machine.node}`,
    '',
    'Command: `npm run bench:overload` (server in the bench process, autocannon in a child process, loopback).',
    '',
    table([{ 'saturation req/s': S, 'offered req/s': rate, seconds: SECONDS, sent: results.sent, answered, '200': statuses['200'] ?? 0, '429': statuses['429'] ?? 0, '503': statuses['503'] ?? 0, other: answered - (statuses['200'] ?? 0) - (statuses['429'] ?? 0) - (statuses['503'] ?? 0), timeouts: r.timeouts, errors: r.errors }]),
    '',
    `Latency of all answers: p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms. Served throughput under overload: ${Math.round((statuses['200'] ?? 0) / SECONDS * 10) / 10} req/s (${Math.round((statuses['200'] ?? 0) / SECONDS / S * 100) / 100}× saturation).`,
    `Server RSS: ${results.rssMiB.start} MiB at start, ${results.rssMiB.end} MiB at end (max ${results.rssMiB.max}). Server event-loop delay during the overload: p50 ${run.loop.p50} ms, p99 ${run.loop.p99} ms, max ${run.loop.max} ms.`,
    ''
  ].join('\n')
  process.stdout.write(md + '\n')
  writeFileSync(join(REPO, 'bench/results/overload.md'), md)
  writeFileSync(join(REPO, 'bench/results/overload.json'), JSON.stringify(results, null, 2))
} finally {
  await server.close()
}
