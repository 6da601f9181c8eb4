// What response schemas change in serialising an answer (issue 12):
//   npm run bench:serialization   → bench/results/serialization.{md,json}
// Fastify serialises a route's answer with fast-json-stringify when the route declares a
// response schema (src/http/schemas.ts), and with JSON.stringify when it does not. Both are
// timed here on real answers (the server's own /classify and /detect answers for shared
// photos), interleaved in rounds so machine noise hits both alike; the medians are compared.
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import fastJson from 'fast-json-stringify'
import { ClassifyAnswer, DetectAnswer } from '../dist/http/schemas.js'
import { REPO, image, runLoad, startBenchServer, table } from './harness.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15)
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20_000)

// End to end (below): the same server, its routes serialising with their response schemas or,
// with `plain` set, with JSON.stringify (reply.serializer overrides the schema's serialiser).
let plain = false
const { server, url } = await startBenchServer({ devices: [{ id: 'cpu', kind: 'cpu', required: true }] }, (s) => {
  s.app.addHook('onRequest', async (_request, reply) => { if (plain) reply.serializer(JSON.stringify) })
})
const answer = async (path: string, photo: string): Promise<Record<string, unknown>> =>
  (await fetch(url + path, { method: 'POST', body: readFileSync(image(photo)), headers: { 'content-type': 'image/jpeg' } })).json() as Promise<Record<string, unknown>>
const cases = [
  { name: 'classify, top 5 (dog.jpg)', schema: ClassifyAnswer, value: await answer('/classify', 'dog.jpg') },
  { name: 'classify, top 100 (dog.jpg)', schema: ClassifyAnswer, value: await answer('/classify?top_k=100', 'dog.jpg') },
  { name: 'detect (dog.jpg)', schema: DetectAnswer, value: await answer('/detect', 'dog.jpg') },
  { name: 'detect, score ≥ 0.05 (horses.jpg)', schema: DetectAnswer, value: await answer('/detect?score_threshold=0.05', 'horses.jpg') }
]

// End to end: alternating runs of autocannon from a child process, req/s compared per route.
const E2E_SECONDS = Number(process.env.BENCH_SECONDS ?? 6)
const E2E_PASSES = Number(process.env.BENCH_PASSES ?? 4)
const e2e: Record<string, { schema: number[], stringify: number[] }> = {}
try {
  const check = await fetch(url + '/classify', { method: 'POST', body: readFileSync(image('dog.jpg')), headers: { 'content-type': 'image/jpeg' } })
  if (check.status !== 200) throw new Error(`/classify answered ${check.status}`)
  for (let pass = 0; pass < E2E_PASSES; pass++) {
    for (const mode of pass % 2 === 0 ? ['schema', 'stringify'] as const : ['stringify', 'schema'] as const) {
      plain = mode === 'stringify'
      for (const path of ['/classify', '/detect']) {
        process.stderr.write(`end to end, ${mode}: ${path}, 4 connections, ${E2E_SECONDS} s…\n`)
        const r = await runLoad({ url, image: image('dog.jpg'), seconds: E2E_SECONDS, bulk: { path, connections: 4, headers: {} } })
        if (r.bulk!.non2xx > 0 || r.bulk!.errors > 0) throw new Error(`${path}: ${r.bulk!.non2xx} non-2xx, ${r.bulk!.errors} errors`)
        const e = e2e[path] ??= { schema: [], stringify: [] }
        e[mode].push(r.bulk!.rps)
      }
    }
  }
} finally {
  await server.close()
}

function time (fn: (v: unknown) => string, value: unknown): number {
  let bytes = 0
  const t0 = performance.now()
  for (let i = 0; i < ITERATIONS; i++) bytes += fn(value).length
  const ns = ((performance.now() - t0) * 1e6) / ITERATIONS
  if (bytes === 0) throw new Error('nothing serialised')
  return ns
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const rows: Array<Record<string, string | number>> = []
const results: Record<string, unknown> = { machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, rounds: ROUNDS, iterations: ROUNDS * ITERATIONS }
for (const c of cases) {
  const fjs = fastJson(c.schema as never) as (v: unknown) => string
  const a = JSON.stringify(c.value)
  const b = fjs(c.value)
  if (JSON.stringify(JSON.parse(b)) !== a) throw new Error(`${c.name}: fast-json-stringify's answer differs from JSON.stringify's:\n${a}\n${b}`)
  const json: number[] = []
  const fast: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    json.push(time(JSON.stringify, c.value))
    fast.push(time(fjs, c.value))
  }
  const j = median(json)
  const f = median(fast)
  results[c.name] = { bytes: a.length, jsonStringifyNs: j, fastJsonStringifyNs: f, json, fast }
  rows.push({ answer: c.name, bytes: a.length, 'JSON.stringify µs': (j / 1000).toFixed(2), 'fast-json-stringify µs': (f / 1000).toFixed(2), 'JSON.stringify / fjs': (j / f).toFixed(2) })
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
const e2eRows = Object.entries(e2e).map(([path, e]) => ({
  route: `POST ${path}`,
  'req/s, response schema': e.schema.map((x) => x.toFixed(1)).join(', '),
  'req/s, JSON.stringify': e.stringify.map((x) => x.toFixed(1)).join(', '),
  'schema / stringify (means)': (mean(e.schema) / mean(e.stringify)).toFixed(3)
}))
results.endToEnd = { seconds: E2E_SECONDS, passes: E2E_PASSES, connections: 4, ...e2e }

const md = [
  `# Serialisation of the answers — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}`,
  '',
  `Command: \`npm run bench:serialization\` — real answers from the server (models from ../shared/models), each serialised ${ITERATIONS} times per round, ${ROUNDS} rounds alternating JSON.stringify (a route without a response schema) and fast-json-stringify compiled from src/http/schemas.ts (what Fastify does with the response schemas); medians per call. Both outputs are checked to be the same JSON first.`,
  '',
  table(rows),
  '',
  `End to end, the same server in the same run: its routes serialising with their response schemas, or (a hook setting \`reply.serializer(JSON.stringify)\`) without; autocannon, 4 connections, ${E2E_SECONDS} s per run, ${E2E_PASSES} passes alternating the order, dog.jpg.`,
  '',
  table(e2eRows),
  '',
  'The shared 2-core development machine was busy with other work while this ran: the absolute times are noisy; the ratios come from interleaved rounds of the same run.',
  ''
].join('\n')
process.stdout.write(md + '\n')
writeFileSync(join(REPO, 'bench/results/serialization.md'), md)
writeFileSync(join(REPO, 'bench/results/serialization.json'), JSON.stringify(results, null, 2))
