// Batching by default (issue 19): what freeing yolox-nano's batch at load costs at startup, and
// what it gives — throughput-class /detect bursts on the default CPU device, the model as
// exported (batch 1, models.staticBatch) against the model freed at load, interleaved.
//   npm run bench:batching     → bench/results/batching.{md,json}
// Each round sends BENCH_BURST concurrent throughput-class requests of a 416×416 JPEG (the
// middle of kite.jpg: decoding is cheap) to one server, then to the other; images/s per burst.
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import sharp from 'sharp'
import { makeAllBatchable } from '../dist/models/batchable.js'
import { loadModel } from '../dist/models/model-repository.js'
import { round } from '../src/util/format.js'
import { REPO, SHARED, image, startBenchServer, table } from './harness.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const BURST = Number(process.env.BENCH_BURST ?? 32)
const loadAtStart = loadavg()[0]!

// startup: rewrite + check of yolox-nano, as the server does it (3 times, median)
const startup: number[] = []
for (let i = 0; i < 3; i++) {
  const model = await loadModel(join(REPO, 'models'), 'yolox-nano', { localDir: join(SHARED, 'models'), cacheDir: join(REPO, '.cache/models'), download: false })
  const t0 = performance.now()
  await makeAllBatchable([model], { images: { maxBodyBytes: 1 << 24, maxPixels: 4e7, maxDimension: 16384, formats: ['jpeg', 'png'] }, devices: [{ maxBatchSize: 8, perModel: {} }] as never, models: { staticBatch: [] } }, null, join(REPO, '.cache/models'), { info: () => {}, warn: (_o, m) => console.warn(m) })
  startup.push(performance.now() - t0)
}
startup.sort((a, b) => a - b)

const crop = await sharp(image('kite.jpg')).extract({ left: 468, top: 242, width: 416, height: 416 }).jpeg({ quality: 95 }).toBuffer()
const servers = {
  'as exported (batch 1)': await startBenchServer({ models: { staticBatch: ['yolox-nano'] } }),
  'freed at load': await startBenchServer({})
}

async function burst (url: string): Promise<{ ips: number, batches: number[] }> {
  const t0 = performance.now()
  const res = await Promise.all(Array.from({ length: BURST }, async () => {
    const r = await fetch(`${url}/detect`, { method: 'POST', body: new Uint8Array(crop), headers: { 'content-type': 'image/jpeg', 'x-switchyard-policy': 'throughput' } })
    const json = await r.json() as { batchSize: number }
    if (r.status !== 200) throw new Error(`${r.status} ${JSON.stringify(json)}`)
    return json.batchSize
  }))
  return { ips: BURST / ((performance.now() - t0) / 1000), batches: res }
}

const samples: Record<string, number[]> = {}
const batchSizes: Record<string, number[]> = {}
for (const [name, s] of Object.entries(servers)) { await burst(s.url); samples[name] = []; batchSizes[name] = [] } // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, s] of Object.entries(servers)) {
    const b = await burst(s.url)
    samples[name]!.push(b.ips)
    batchSizes[name]!.push(...b.batches)
  }
}
for (const s of Object.values(servers)) await s.server.close()

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const base = median(samples['as exported (batch 1)']!)
const rows = Object.keys(samples).map((name) => ({
  'yolox-nano': name,
  'images/s (median of rounds)': round(median(samples[name]!), 1),
  'ratio to batch 1': round(median(samples[name]!) / base, 2),
  'mean batch size': round(batchSizes[name]!.reduce((s, x) => s + x, 0) / batchSizes[name]!.length, 2),
  'largest batch': Math.max(...batchSizes[name]!)
}))
const md = [
  '# Batching by default: yolox-nano as exported vs freed at load',
  '',
  `\`npm run bench:batching\` (BENCH_ROUNDS=${ROUNDS}, BENCH_BURST=${BURST}) on ${cpus().length} cores (${cpus()[0]?.model}), a machine shared with other jobs: load average ${round(loadAtStart, 1)} at start, ${round(loadavg()[0]!, 1)} at the end. Default config, CPU device (2 workers, 1 kept for latency, max batch 8, throughput delay 5 ms); ${BURST} concurrent throughput-class /detect of a 416×416 JPEG per burst, the two servers interleaved round by round.`,
  '',
  table(rows),
  '',
  `Startup cost of the rewrite and its check (decode the protobuf, rewrite, two sessions, 4 + 1 runs at 416×416, write): median ${round(startup[1]!, 0)} ms of 3 (${startup.map((x) => round(x, 0)).join(', ')} ms).`,
  ''
].join('\n')
writeFileSync(join(REPO, 'bench/results/batching.md'), md)
writeFileSync(join(REPO, 'bench/results/batching.json'), JSON.stringify({ rounds: ROUNDS, burst: BURST, loadAtStart, samples, batchSizes, startupMs: startup }, null, 1))
console.log(md)
