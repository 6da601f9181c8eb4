// One autocannon run per route on the default configuration (issue 2):
//   npm run bench:routes        → bench/results/routes.{md,json}
// 8 connections, 10 s, dog.jpg as a raw body, default policy; server in this process.
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { REPO, image, runLoad, startBenchServer, table, withLoopDelay } from './harness.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const { server, url } = await startBenchServer({})
const rows: Array<Record<string, string | number>> = []
const results: Record<string, unknown> = { machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, seconds: SECONDS }
try {
  for (const route of ['classify', 'detect']) {
    process.stderr.write(`${route}: 8 connections, ${SECONDS} s…\n`)
    const { value, loop } = await withLoopDelay(() => runLoad({ url, image: image('dog.jpg'), seconds: SECONDS, bulk: { path: `/${route}`, connections: 8, headers: {} } }))
    const b = value.bulk!
    results[route] = { ...b, loop }
    rows.push({ route: `POST /${route}`, 'req/s': b.rps, requests: b.requests, p50_ms: b.p50, p99_ms: b.p99, non2xx: b.non2xx, errors: b.errors, 'loop p99 ms': loop.p99 })
  }
} finally {
  await server.close()
}
const md = [
  `# Routes benchmark — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}`,
  '',
  `Command: \`npm run bench:routes\` — default config (devices cpu + cuda:0, which is absent here), models from ../shared/models, autocannon with 8 connections for ${SECONDS} s per route in a child process, dog.jpg (768×576, 160 KB) as a raw body.`,
  '',
  table(rows),
  ''
].join('\n')
process.stdout.write(md + '\n')
writeFileSync(join(REPO, 'bench/results/routes.md'), md)
writeFileSync(join(REPO, 'bench/results/routes.json'), JSON.stringify(results, null, 2))
