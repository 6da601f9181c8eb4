// Tiled detection (issue 13): cost per tile against a plain /detect, and recall, same run.
//   npm run bench:tiles        → bench/results/tiles.{md,json}
// Server in this process on the default config (CPU device: 2 workers, 1 kept for latency
// work), both detectors; requests over real HTTP, one at a time (warm, sequential):
//  - plain: POST /detect/<model> of a 416×416 JPEG (the middle of kite.jpg), BENCH_PLAIN times
//  - tiled: POST /detect/<model>?tiles=auto of the 2844×1476 mosaic of the shared photos
//    (src/test-support/mosaic.ts), BENCH_TILED times: 45 tiles + the whole-image pass
// ms per tile = tiled ms / images run (46); the target is ≤ 1.15 × plain ms. Also: 46 plain
// requests sent at once (ms each), the same inferences with the workers as busy.
// Recall: each photo alone (score ≥ 0.5) vs the tiled and the untiled answer for the mosaic.
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import sharp from 'sharp'
import { buildMosaic, recall, shift } from '../src/test-support/mosaic.js'
import { round } from '../src/util/format.js'
import type { Detection } from '../src/worker/protocol.js'
import { REPO, image, startBenchServer, table } from './harness.js'

const PLAIN = Number(process.env.BENCH_PLAIN ?? 40)
const TILED = Number(process.env.BENCH_TILED ?? 5)
const MODELS = ['yolox-nano-dynamic', 'yolox-nano']

const loadAtStart = loadavg()[0]!
const mosaic = await buildMosaic()
const crop = await sharp(image('kite.jpg')).extract({ left: 468, top: 242, width: 416, height: 416 }).jpeg({ quality: 95 }).toBuffer()
const PROFILES: Array<{ name: string, overrides: Record<string, unknown> }> = [
  { name: 'default: 2 workers, 1 for latency', overrides: {} },
  { name: '1 worker', overrides: { devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 1, maxBatchSize: 8 }] } }
]
let url = ''

async function post (path: string, body: Buffer): Promise<{ ms: number, json: any, headers: Headers }> {
  const t0 = performance.now()
  const res = await fetch(`${url}${path}`, { method: 'POST', body: new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength), headers: { 'content-type': 'image/jpeg' } })
  const json = await res.json()
  const ms = performance.now() - t0
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`)
  return { ms, json, headers: res.headers }
}

interface Timed { mean: number, median: number, last: any, decodeMs: number, inferenceMs: number }
async function timed (n: number, path: string, body: Buffer): Promise<Timed> {
  for (let i = 0; i < 2; i++) await post(path, body) // warm-up
  const ms: number[] = []
  let last
  let decodeMs = 0
  let inferenceMs = 0
  for (let i = 0; i < n; i++) {
    const r = await post(path, body)
    ms.push(r.ms); last = r.json
    decodeMs += r.json.timing.decodeMs / n
    inferenceMs += r.json.timing.inferenceMs / n
  }
  ms.sort((a, b) => a - b)
  return { mean: ms.reduce((s, x) => s + x, 0) / n, median: ms[Math.floor(n / 2)]!, last, decodeMs, inferenceMs }
}

const rows: Array<Record<string, string | number>> = []
const results: Record<string, unknown> = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  mosaic: { width: mosaic.width, height: mosaic.height, photos: mosaic.placed.map((p) => ({ photo: p.photo, left: p.left, top: p.top, width: p.width, height: p.height })) },
  plainRuns: PLAIN,
  tiledRuns: TILED,
  models: {}
}
for (const profile of PROFILES) {
  const started = await startBenchServer({ models: { enabled: ['mobilenetv2', ...MODELS] }, ...profile.overrides })
  url = started.url
  try {
    for (const model of MODELS) {
      process.stderr.write(`${model}, ${profile.name}: recall…\n`)
      const reference: Detection[] = []
      for (const p of mosaic.placed) reference.push(...shift((await post(`/detect/${model}?score_threshold=0.5`, p.bytes)).json.detections, p))
      const tiledAnswer = (await post(`/detect/${model}?tiles=auto`, mosaic.jpeg)).json
      const plainAnswer = (await post(`/detect/${model}?tiles=off`, mosaic.jpeg)).json
      const rt = recall(reference, tiledAnswer.detections)
      const ru = recall(reference, plainAnswer.detections)
      // the other way round: tiled detections ≥ 0.5 that no photo alone has (new finds or fragments)
      const extra = recall(tiledAnswer.detections.filter((d: Detection) => d.score >= 0.5), reference).missed

      process.stderr.write(`${model}: plain 416×416 ×${PLAIN}, tiled mosaic ×${TILED}…\n`)
      const plain = await timed(PLAIN, `/detect/${model}`, crop)
      const tiled = await timed(TILED, `/detect/${model}?tiles=auto`, mosaic.jpeg)
      const t = tiled.last.tiles
      const images = t.count + 1
      // as many plain 416×416 requests sent all at once: the inference the tiles need, with
      // the workers as busy as under a tiled request, without tiling
      const burstMs: number[] = []
      for (let i = 0; i < TILED; i++) {
        const t0 = performance.now()
        await Promise.all(Array.from({ length: images }, () => post(`/detect/${model}`, crop)))
        burstMs.push((performance.now() - t0) / images)
      }
      const burst = burstMs.reduce((s, x) => s + x, 0) / TILED
      const perImage = tiled.mean / images
      const ratio = perImage / plain.mean
      const batches = t.batches.map((b: { size: number, items: number }) => b.items)
      ;(results.models as Record<string, unknown>)[`${model}, ${profile.name}`] = {
        recall: { tiled: rt, untiled: ru, reference: reference.length },
        tiledExtraAbove05: extra,
        plainMs: { mean: plain.mean, median: plain.median, decodeMs: plain.decodeMs, inferenceMs: plain.inferenceMs },
        tiledMs: { mean: tiled.mean, median: tiled.median, decodeMs: tiled.decodeMs, inferenceMs: tiled.inferenceMs, lastTiming: tiled.last.timing },
        tiles: t,
        images,
        msPerImage: perImage,
        msPerGridTile: tiled.mean / t.count,
        ratio,
        burstMsPerRequest: burst,
        ratioToBurst: perImage / burst
      }
      rows.push({
        model,
        'CPU device': profile.name,
        'plain 416² ms': round(plain.mean),
        'tiled mosaic ms': round(tiled.mean),
        'tiles (grid) + whole': `${t.count} (${t.grid.columns}×${t.grid.rows}) + 1`,
        'batches (sizes)': `${batches.length} (${[...new Set(batches)].sort((a, b) => (a as number) - (b as number)).join(', ')})`,
        'ms per image run': round(perImage),
        'ratio to plain': round(ratio),
        'ms each, as many plain at once': round(burst),
        'ratio to those': round(perImage / burst),
        'decode ms: plain / tiled per image': `${round(plain.decodeMs)} / ${round(tiled.decodeMs / images)}`,
        'inference ms: plain / tiled per image': `${round(plain.inferenceMs)} / ${round(tiled.inferenceMs / images)}`,
        'recall tiled': `${rt.found}/${rt.total} = ${rt.recall.toFixed(3)}`,
        'recall untiled': `${ru.found}/${ru.total} = ${ru.recall.toFixed(3)}`,
        'tiled ≥ 0.5 not in a photo alone': extra.length
      })
    }
  } finally {
    await started.server.close()
  }
}
const md = [
  `# Tiled detection — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}`,
  '',
  `Command: \`npm run bench:tiles\` — default config (cuda:0 absent here) with its CPU device (2 workers, 1 kept for latency work, maxBatchSize 8, intra-op threads auto: 1 per worker) and then a CPU device of 1 worker, models from ../shared/models, requests over HTTP one at a time after 2 warm-ups, latency policy. Plain: a 416×416 JPEG (the middle of kite.jpg), ${PLAIN} requests. Tiled: the ${mosaic.width}×${mosaic.height} mosaic of the shared photos at full resolution (src/test-support/mosaic.ts) with \`?tiles=auto\`, ${TILED} requests. "ms per image run" = tiled ms / (tiles + the whole-image pass); target ≤ 1.15 × plain. Recall: the detections each photo gets alone (score ≥ 0.5), moved into the mosaic, found in the answer for the mosaic (same label, IoU ≥ 0.5, one answer box per reference).`,
  '',
  table(rows),
  '',
  `"as many plain at once": 46 plain 416×416 requests sent together, ${TILED} times; their wall time / 46.`,
  '',
  'Wall time per image is the client\'s time for the whole tiled request over the images the model ran; a plain request runs on one worker, while a tiled one keeps both workers busy (its images are dispatched together), so the wall-time ratio credits tiling with that parallelism. The decode and inference columns are the server\'s own timings (`timing.decodeMs`, `timing.inferenceMs`, the latter summed over the batches for a tiled request: device time), per image: they show what tiling costs per tile without it. "tiled ≥ 0.5 not in a photo alone": detections of the tiled answer with score ≥ 0.5 that match no reference — objects the photos alone missed at their 416-pixel scale, or fragments the merge left.',
  '',
  summary(),
  '',
  `How to read it. If tiling itself cost much, it would show in the decode column (one full-resolution decode and 45 row-by-row copies, against a decode of a 416×416 JPEG per plain request) or as wall time beyond decode + inference; it shows in neither. What varies is the inference itself: on this shared 2-core VM (1-minute load average ${round(loadAtStart, 1)} at the start of the run, ${round(loadavg()[0]!, 1)} at its end), back-to-back inference (a tiled request, or 46 plain requests at once) runs markedly slower per image than an isolated request whose worker has idled in between, so the ratio to sequential plain requests moves with the load from run to run; the ratio to as many plain requests sent at once compares the same inferences in the same regime. To be re-measured on a quiet machine.`,
  '',
  'The machine is a shared 2-core VM where other engineers build and test at the same time: times are noisy; the ratio compares runs of the same minute.',
  ''
].join('\n')
process.stdout.write(md + '\n')
writeFileSync(join(REPO, 'bench/results/tiles.md'), md)
writeFileSync(join(REPO, 'bench/results/tiles.json'), JSON.stringify(results, null, 2))

function summary (): string {
  const m = Object.values(results.models as Record<string, { ratio: number, ratioToBurst: number }>)
  const met = (f: (x: { ratio: number, ratioToBurst: number }) => number): string => `${m.filter((x) => f(x) <= 1.15).length} of ${m.length}`
  return `Target ms per image run ≤ 1.15 × plain: met in ${met((x) => x.ratio)} rows against sequential plain requests, in ${met((x) => x.ratioToBurst)} against as many plain requests at once.`
}
