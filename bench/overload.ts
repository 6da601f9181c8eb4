// Overload benchmark (issue 4): bounded queues everywhere.
//   npm run bench:overload      → bench/results/overload.{md,json}
// 1. saturation: classify, closed loop (autocannon), 8 connections, 10 s → S req/s
// 2. overload: an open-loop client offers 2·S req/s (a request every 1/(2S) s whether or not
//    earlier ones were answered; 30 s client timeout) for 60 s, and waits for every answer.
// Every request must be answered — 200, or 429/503 with Retry-After — with no timeouts;
// server RSS at start and end; the server's event-loop delay during the overload.
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { REPO, image, startBenchServer, table, withLoopDelay, runLoad } from './harness.js'

const SECONDS = Number(process.env.BENCH_OVERLOAD_SECONDS ?? 60)
const { server, url } = await startBenchServer({ devices: [{ id: 'cpu', kind: 'cpu', required: true, intraOpThreads: 1, maxBatchSize: 8 }] })
try {
  process.stderr.write('saturation: 8 connections, 10 s…\n')
  const sat = await runLoad({ url, image: image('dog.jpg'), seconds: 10, bulk: { path: '/classify', connections: 8, headers: {} } })
  const S = sat.bulk!.rps
  const rate = Math.round(2 * S)
  const rssStart = process.memoryUsage().rss
  const rss: number[] = []
  const heap: number[] = []
  const sampler = setInterval(() => { const m = process.memoryUsage(); rss.push(m.rss); heap.push(m.heapUsed + m.external) }, 1000)
  process.stderr.write(`overload: ${rate} req/s offered (2 × ${S}), ${SECONDS} s…\n`)
  const run = await withLoopDelay(() => runLoad({ url, image: image('dog.jpg'), seconds: SECONDS, probe: { path: '/classify', rate, headers: {}, timeoutS: 30 } }))
  clearInterval(sampler)
  const rssEnd = process.memoryUsage().rss
  const p = run.value.probe!
  const st = p.statuses
  const answered = Object.entries(st).filter(([k]) => /^\d+$/.test(k)).reduce((a, [, v]) => a + v, 0)
  const shed = (st['429'] ?? 0) + (st['503'] ?? 0)
  const results = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    saturationRps: S, offeredRps: rate, seconds: SECONDS,
    sent: p.sent, answered, statuses: st, shedWithRetryAfter: p.retryAfter,
    latencyMs: { okP50: p.p50, okP99: p.p99, allP99: p.p99All },
    rssMiB: { start: Math.round(rssStart / 1048576), end: Math.round(rssEnd / 1048576), max: Math.round(Math.max(...rss) / 1048576), every10s: rss.filter((_, i) => i % 10 === 9).map((b) => Math.round(b / 1048576)), jsHeapAndExternalEvery10s: heap.filter((_, i) => i % 10 === 9).map((b) => Math.round(b / 1048576)) },
    eventLoopMs: run.loop
  }
  const md = [
    `# Overload benchmark — ${new Date().toISOString().slice(0, 10)}, ${results.machine.cpus} × ${results.machine.model}, Node ${results.machine.node}`,
    '',
    'Command: `npm run bench:overload` (server in the bench process; load from child processes on loopback: autocannon for saturation, an open-loop client for the overload).',
    '',
    table([{ 'saturation req/s': S, 'offered req/s': rate, seconds: SECONDS, sent: p.sent, answered, 'ok (200)': st['200'] ?? 0, 'shed (429)': st['429'] ?? 0, 'unavailable (503)': st['503'] ?? 0, 'other status': answered - (st['200'] ?? 0) - shed, timeouts: st.timeout ?? 0, 'connection errors': st.error ?? 0 }]),
    '',
    `Every 429/503 carried Retry-After: ${p.retryAfter} of ${shed}. Served under overload: ${Math.round((st['200'] ?? 0) / SECONDS * 10) / 10} req/s (${Math.round((st['200'] ?? 0) / SECONDS / S * 100) / 100}× saturation). Latency: 200s p50 ${p.p50} ms, p99 ${p.p99} ms; all answers p99 ${p.p99All} ms.`,
    '',
    `Server RSS: ${results.rssMiB.start} MiB at start, ${results.rssMiB.end} MiB at end (max ${results.rssMiB.max}; every 10 s: ${results.rssMiB.every10s.join(', ')}; JS heap + external buffers every 10 s: ${results.rssMiB.jsHeapAndExternalEvery10s.join(', ')}). Server event-loop delay during the overload: p50 ${run.loop.p50} ms, p99 ${run.loop.p99} ms, max ${run.loop.max} ms.`,
    ''
  ].join('\n')
  process.stdout.write(md + '\n')
  writeFileSync(join(REPO, 'bench/results/overload.md'), md)
  writeFileSync(join(REPO, 'bench/results/overload.json'), JSON.stringify(results, null, 2))
} finally {
  await server.close()
}
