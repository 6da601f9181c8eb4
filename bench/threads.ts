// Intra-op threads on a CPU device that also decodes images (the `intraOpThreads: 0` default).
//   npm run bench:threads       → bench/results/threads.{md,json}
// The shipped CPU device (2 workers, one kept for latency work), 8 connections, 8 s per route:
// every core per session (onnxruntime's own default) vs auto (half the cores shared by the workers).
import { writeFileSync } from 'node:fs'
import { availableParallelism, cpus } from 'node:os'
import { join } from 'node:path'
import { REPO, image, runLoad, startBenchServer, table } from './harness.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const cores = availableParallelism()
const variants: Array<[string, number]> = [[`${cores} (every core, onnxruntime's default)`, cores], ['0 (auto)', 0]]
const rows: Array<Record<string, string | number>> = []
for (const [label, threads] of variants) {
  const { server, url } = await startBenchServer({ devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 2, latencyWorkers: 1, intraOpThreads: threads, maxBatchSize: 8 }] })
  try {
    const row: Record<string, string | number> = { intraOpThreads: label }
    for (const route of ['classify', 'detect']) {
      process.stderr.write(`${label}: ${route}…\n`)
      const r = await runLoad({ url, image: image('dog.jpg'), seconds: SECONDS, bulk: { path: `/${route}`, connections: 8, headers: {} } })
      row[`${route} req/s`] = r.bulk!.rps
      row[`${route} p99 ms`] = r.bulk!.p99
    }
    rows.push(row)
  } finally {
    await server.close()
  }
}
const ratio = (k: string): number => Math.round(Number(rows[1]![k]) / Number(rows[0]![k]) * 100) / 100
const md = [
  `# Intra-op threads — ${new Date().toISOString().slice(0, 10)}, ${cores} × ${cpus()[0]?.model}, Node ${process.version}`,
  '',
  `Command: \`npm run bench:threads\` — CPU device with 2 workers (1 kept for latency work), 8 connections, ${SECONDS} s per route, dog.jpg.`,
  '',
  table(rows),
  '',
  `auto / every core: classify **${ratio('classify req/s')}×**, detect **${ratio('detect req/s')}×** requests per second.`,
  ''
].join('\n')
process.stdout.write(md + '\n')
writeFileSync(join(REPO, 'bench/results/threads.md'), md)
writeFileSync(join(REPO, 'bench/results/threads.json'), JSON.stringify(rows, null, 2))
