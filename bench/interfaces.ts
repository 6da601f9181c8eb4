// What each interface costs against POST /classify for the same photo, one run: the Open
// Inference Protocol (JSON, binary, raw tensor) and drawn detections (PNG, JPEG) —
//   npm run bench:interfaces          → bench/results/interfaces.{md,json}
// The server runs in this process (default config, models from ../shared/models); a child
// process sends sequential requests — one at a time, the cases interleaved round by round (in
// an order shuffled each round) so each sees the same machine — WARMUP per case, then ROUNDS
// timed, send to full body read.
// To add a case (another route, another encoding), append to CASES: a name and a request.
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../dist/config/load-config.js'
import { readModelSpec } from '../dist/models/model-repository.js'
import { decodeImage } from '../dist/preprocess/decode-image.js'
import { TensorLayout } from '../dist/worker/tensor-layout.js'
import { round } from '../dist/util/format.js'
import { REPO, SHARED, image, startBenchServer, table } from './harness.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 200)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 20)
const PHOTO = 'dog.jpg'
const MODEL = 'mobilenetv2'

interface Request { path: string, body: Buffer, headers: Record<string, string> }
interface Case { name: string, what: string, request: () => Promise<Request> }

const jpeg = readFileSync(image(PHOTO))
const infer = `/v2/models/${MODEL}/infer`

/** tritonclient.http's body: JSON header, then the binary inputs' bytes. */
function binaryBody (head: unknown, binary: Buffer): Request {
  const json = Buffer.from(JSON.stringify(head))
  return { path: infer, body: Buffer.concat([json, binary]), headers: { 'inference-header-content-length': String(json.length) } }
}

/** The classifier's input tensor for the photo, made exactly as the server makes it. */
async function tensor (): Promise<Float32Array> {
  const spec = await readModelSpec(join(REPO, 'models'), MODEL)
  const config = loadConfig({ file: join(REPO, 'config/default.json'), env: {}, root: REPO })
  const layout = new TensorLayout(spec.input, spec.preprocess)
  const out = new Float32Array(3 * layout.plane)
  layout.write(await decodeImage(jpeg, spec, config.images), out, 0)
  return out
}

const decoded = [{ name: 'labels' }, { name: 'scores' }, { name: 'indices' }]
const CASES: Case[] = [
  {
    name: 'POST /classify',
    what: 'the JPEG as the raw body; JSON answer (top-5)',
    request: async () => ({ path: '/classify', body: jpeg, headers: { 'content-type': 'image/jpeg' } })
  },
  {
    name: 'v2 infer, JSON, encoded_image',
    what: 'base64 JPEG in JSON; labels, scores, indices in JSON (top-5)',
    request: async () => ({
      path: infer,
      body: Buffer.from(JSON.stringify({ inputs: [{ name: 'encoded_image', shape: [1], datatype: 'BYTES', data: [jpeg.toString('base64')] }], outputs: decoded })),
      headers: { 'content-type': 'application/json' }
    })
  },
  {
    name: 'v2 infer, binary, encoded_image',
    what: 'JPEG as a length-prefixed BYTES element; labels, scores, indices in binary (tritonclient)',
    request: async () => {
      const len = Buffer.alloc(4)
      len.writeUInt32LE(jpeg.length)
      const data = Buffer.concat([len, jpeg])
      return binaryBody({ inputs: [{ name: 'encoded_image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: data.length } }], outputs: decoded.map((o) => ({ ...o, parameters: { binary_data: true } })) }, data)
    }
  },
  {
    name: 'v2 infer, binary, FP32 tensor',
    what: 'the 1×3×224×224 input tensor (602 KB), no decoding; raw logits in binary',
    request: async () => {
      const x = await tensor()
      const data = Buffer.from(x.buffer, x.byteOffset, x.byteLength)
      return binaryBody({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', parameters: { binary_data_size: data.length } }], outputs: [{ name: 'output', parameters: { binary_data: true } }] }, data)
    }
  },
  {
    name: 'POST /detect',
    what: 'the same JPEG to the detector; JSON boxes',
    request: async () => ({ path: '/detect', body: jpeg, headers: { 'content-type': 'image/jpeg' } })
  },
  {
    name: 'POST /detect, Accept: image/png',
    what: 'the boxes drawn on the photo: a second, full-size decode and a PNG encode',
    request: async () => ({ path: '/detect', body: jpeg, headers: { 'content-type': 'image/jpeg', accept: 'image/png' } })
  },
  {
    name: 'POST /detect?format=jpeg',
    what: 'the boxes drawn on the photo, as JPEG',
    request: async () => ({ path: '/detect?format=jpeg', body: jpeg, headers: { 'content-type': 'image/jpeg' } })
  },
  {
    name: 'v2 infer, JSON, FP32 tensor',
    what: 'the input tensor as 150 528 JSON numbers (~3 MB); raw logits in JSON',
    request: async () => ({
      path: infer,
      body: Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: Array.from(await tensor()) }], outputs: [{ name: 'output' }] })),
      headers: { 'content-type': 'application/json' }
    })
  }
]

const STAGES = ['decode', 'queue', 'inference', 'total'] as const
interface Timed { name: string, p50: number, p99: number, mean: number, n: number, bodyBytes: number, /** medians of the server's Server-Timing stages */ server: Record<typeof STAGES[number], number> }

/** mulberry32: a small seeded PRNG, so a run's order can be repeated */
let seed = 0x5eed
function random (): number {
  seed = (seed + 0x6d2b79f5) | 0
  let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296
}

function shuffled (n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

async function client (url: string): Promise<void> {
  const requests = await Promise.all(CASES.map((c) => c.request()))
  const times: number[][] = CASES.map(() => [])
  const stages: Array<Record<string, number[]>> = CASES.map(() => Object.fromEntries(STAGES.map((k) => [k, []])))
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    // shuffled each round (seeded), so every case follows every other equally often: a case
    // that leaves garbage behind, like the 3 MB JSON tensor, would otherwise always slow the
    // same next one
    for (const i of shuffled(CASES.length)) {
      const r = requests[i]!
      const t0 = performance.now()
      const res = await fetch(url + r.path, { method: 'POST', body: new Uint8Array(r.body.buffer as ArrayBuffer, r.body.byteOffset, r.body.byteLength), headers: r.headers })
      await res.arrayBuffer()
      const ms = performance.now() - t0
      if (res.status !== 200) throw new Error(`${CASES[i]!.name}: HTTP ${res.status}`)
      if (round >= WARMUP) {
        times[i]!.push(ms)
        const timing = res.headers.get('server-timing') ?? ''
        for (const k of STAGES) stages[i]![k]!.push(Number(new RegExp(`${k};dur=([\\d.]+)`).exec(timing)?.[1] ?? NaN))
      }
    }
  }
  const q = (a: number[], p: number): number => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))]!
  const out: Timed[] = CASES.map((c, i) => ({
    name: c.name,
    n: times[i]!.length,
    p50: round(q(times[i]!, 0.5)),
    p99: round(q(times[i]!, 0.99)),
    mean: round(times[i]!.reduce((s, v) => s + v, 0) / times[i]!.length),
    server: Object.fromEntries(STAGES.map((k) => [k, round(q(stages[i]![k]!, 0.5))])) as Timed['server'],
    bodyBytes: requests[i]!.body.length
  }))
  process.stdout.write(JSON.stringify(out) + '\n')
}

function runClient (url: string): Promise<Timed[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--client', url], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d })
    child.on('exit', (code) => code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as Timed[]) : reject(new Error(`client exited ${code}`)))
  })
}

if (process.argv[2] === '--client') {
  await client(process.argv[3]!)
} else {
  const { server, url } = await startBenchServer({})
  let timed: Timed[]
  const loadBefore = loadavg()[0]!
  try {
    process.stderr.write(`${CASES.length} cases, ${WARMUP} warm-up + ${ROUNDS} timed requests each, interleaved…\n`)
    timed = await runClient(url)
  } finally {
    await server.close()
  }
  const load = { before: round(loadBefore), after: round(loadavg()[0]!) }
  const base = timed[0]!
  const rows = timed.map((t, i) => ({
    case: t.name,
    'request bytes': t.bodyBytes,
    'p50 ms': t.p50,
    'p99 ms': t.p99,
    'p50 − /classify ms': round(t.p50 - base.p50),
    'p50 ÷ /classify': round(t.p50 / base.p50),
    'server: decode / queue / inference / total, p50 ms': STAGES.map((k) => t.server[k]).join(' / '),
    what: CASES[i]!.what
  }))
  const md = [
    `# Interfaces benchmark — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}`,
    '',
    `Command: \`npm run bench:interfaces\` — default config (cpu; cuda:0 absent here), ${MODEL} from ${SHARED === join(REPO, '../shared') ? '../shared' : SHARED}/models, ${PHOTO} (${jpeg.length} bytes). One client process sends one request at a time; the cases take turns round by round, in an order shuffled each round (${WARMUP} warm-up rounds, then ${ROUNDS} timed), each timed from send to the last byte of the answer. "server" are the medians of the server's own Server-Timing stages (total: from the handler's start, the body already read, to the answer built; sending it is not included).`,
    '',
    `The development machine has 2 cores shared with other engineers' builds and tests (1-minute load average ${load.before} before the run, ${load.after} after): absolute numbers are noisy; the differences between cases, measured side by side in the same run, are the result.`,
    '',
    table(rows),
    ''
  ].join('\n')
  process.stdout.write(md + '\n')
  writeFileSync(join(REPO, 'bench/results/interfaces.md'), md)
  writeFileSync(join(REPO, 'bench/results/interfaces.json'), JSON.stringify({ machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, load, photo: PHOTO, model: MODEL, warmup: WARMUP, rounds: ROUNDS, cases: timed }, null, 2))
}
