// What each interface costs against POST /classify for the same photo, in one run (issue 12):
//   npm run bench:interfaces   → bench/results/interfaces.{md,json}
// One CPU device, dog.jpg. Each interface is probed open-loop at a low rate (an idle server:
// this is the cost of one request, not throughput), from a child process, several passes in
// rotation so that machine noise spreads over all of them; medians over every pass.
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { REPO, image, runLoad, startBenchServer, table } from './harness.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const PASSES = Number(process.env.BENCH_PASSES ?? 3)
const RATE = Number(process.env.BENCH_RATE ?? 3)

const INTERFACES: Array<{ name: string, path: string, method?: 'GET', headers?: Record<string, string> }> = [
  { name: 'POST /classify (JSON)', path: '/classify' },
  { name: 'POST /detect (JSON)', path: '/detect' },
  { name: 'POST /detect, Accept: image/png', path: '/detect', headers: { accept: 'image/png' } },
  { name: 'POST /detect?format=jpeg', path: '/detect?format=jpeg' },
  { name: 'GET /openapi.json', path: '/openapi.json', method: 'GET' },
  { name: 'GET /docs/ (Swagger UI page)', path: '/docs/', method: 'GET' },
  { name: 'GET / (playground page)', path: '/', method: 'GET' },
  { name: 'GET /playground/playground.js', path: '/playground/playground.js', method: 'GET' },
  { name: 'GET /models', path: '/models', method: 'GET' },
  { name: 'GET /metrics', path: '/metrics', method: 'GET' }
]

const { server, url } = await startBenchServer({ devices: [{ id: 'cpu', kind: 'cpu', required: true }] })
const samples = new Map<string, Array<{ p50: number, p99: number, server: Record<string, number>, ok: number, sent: number }>>()
try {
  for (let pass = 1; pass <= PASSES; pass++) {
    for (const i of INTERFACES) {
      process.stderr.write(`pass ${pass}/${PASSES}: ${i.name}…\n`)
      const r = await runLoad({ url, image: image('dog.jpg'), seconds: SECONDS, probe: { path: i.path, rate: RATE, headers: i.headers ?? {}, ...(i.method ? { method: i.method } : {}) } })
      const p = r.probe!
      if (p.ok !== p.sent) throw new Error(`${i.name}: ${p.sent - p.ok} of ${p.sent} requests failed: ${JSON.stringify(p.statuses)}`)
      samples.set(i.name, [...(samples.get(i.name) ?? []), { p50: p.p50, p99: p.p99, server: p.server, ok: p.ok, sent: p.sent }])
    }
  }
} finally {
  await server.close()
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const base = median(samples.get(INTERFACES[0]!.name)!.map((s) => s.p50))
const rows = INTERFACES.map((i) => {
  const s = samples.get(i.name)!
  const p50 = median(s.map((x) => x.p50))
  const draw = s.map((x) => x.server.draw).filter((v): v is number => v !== undefined)
  const inference = s.map((x) => x.server.inference).filter((v): v is number => v !== undefined)
  return {
    interface: i.name,
    requests: s.reduce((n, x) => n + x.ok, 0),
    'p50 ms': p50,
    'p99 ms (worst pass)': Math.max(...s.map((x) => x.p99)),
    'server inference ms': inference.length ? median(inference) : '–',
    'server draw ms': draw.length ? median(draw) : '–',
    '× /classify p50': (p50 / base).toFixed(2)
  }
})
const md = [
  `# Interfaces against POST /classify — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}`,
  '',
  `Command: \`npm run bench:interfaces\` — one CPU device, models from ../shared/models, dog.jpg (768×576, 160 KB) as a raw body; each interface probed open-loop at ${RATE} requests/s for ${SECONDS} s from a child process, ${PASSES} passes in rotation; p50 is the median of the passes' medians, client-side (send to full response). Server inference and draw: medians of the Server-Timing parts.`,
  '',
  table(rows),
  '',
  'The shared 2-core development machine was busy with other engineers\' work while this ran: absolute times are noisy; compare rows of this run only.',
  ''
].join('\n')
process.stdout.write(md + '\n')
writeFileSync(join(REPO, 'bench/results/interfaces.md'), md)
writeFileSync(join(REPO, 'bench/results/interfaces.json'), JSON.stringify({ machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, seconds: SECONDS, passes: PASSES, rate: RATE, samples: Object.fromEntries(samples) }, null, 2))
