// Milliseconds per image of each variant of the classifier on this machine's CPU, and what
// that costs at the configured price and power (router/price.ts defaults).
//   npm run bench:variants      → bench/results/variants.{md,json}
// One CPU device, 1 worker, 1 intra-op thread, per variant, started alone (so the two never
// share the cores); rounds alternate int8 / fp32. Per round: the startup calibration's median
// session.run at batch 1 and 8 (BENCH_CALIBRATION_RUNS runs each), and the mean inference time
// (tensor layout + run) of BENCH_REQUESTS sequential /classify requests.
import { readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_PRICES, pricePerMs } from '../dist/router/price.js'
import { REPO, image, startBenchServer, table } from './harness.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const RUNS = Number(process.env.BENCH_CALIBRATION_RUNS ?? 15)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 30)
const VARIANTS = ['int8', 'fp32']
const photo = readFileSync(image('dog.jpg'))
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const r2 = (x: number): number => Math.round(x * 100) / 100

const samples = new Map<string, { b1: number[], b8: number[], request: number[] }>(VARIANTS.map((v) => [v, { b1: [], b8: [], request: [] }]))
for (let round = 0; round < ROUNDS; round++) {
  for (const variant of VARIANTS) {
    process.stderr.write(`round ${round + 1}/${ROUNDS}: ${variant}…\n`)
    const { server } = await startBenchServer({
      devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 1, intraOpThreads: 1, maxBatchSize: 8, variants: { mobilenetv2: variant } }],
      models: { enabled: ['mobilenetv2'] },
      routes: { classify: 'mobilenetv2', detect: 'mobilenetv2' },
      routing: { calibrationRuns: RUNS }
    })
    try {
      const lane = server.devices.get('cpu')!.scheduler.lanes.get('mobilenetv2')!
      if (lane.variant !== variant) throw new Error(`expected ${variant}, the device runs ${lane.variant}`)
      const cal = new Map(lane.report.calibration.map((c) => [c.batchSize, c.ms]))
      const s = samples.get(variant)!
      s.b1.push(cal.get(1)!)
      s.b8.push(cal.get(8)! / 8)
      const times: number[] = []
      for (let i = 0; i < REQUESTS; i++) {
        const res = await server.app.inject({ method: 'POST', url: '/classify', payload: photo, headers: { 'content-type': 'image/jpeg', 'x-switchyard-variant': variant } })
        if (res.statusCode !== 200) throw new Error(`${variant}: ${res.statusCode} ${res.body}`)
        times.push(res.json().timing.inferenceMs)
      }
      s.request.push(times.reduce((a, b) => a + b, 0) / times.length)
    } finally {
      await server.close()
    }
  }
}

const cpu = DEFAULT_PRICES.cpu
const cuda = DEFAULT_PRICES.cuda
const per1000 = (price: typeof cpu, ms: number): number => Math.round(pricePerMs(price) * ms * 1000 * 1e6) / 1e6
const rows: Array<Record<string, string | number>> = []
for (const variant of VARIANTS) {
  const s = samples.get(variant)!
  const ms1 = median(s.b1); const ms8 = median(s.b8)
  rows.push({
    device: 'cpu (1 thread)', variant,
    'ms/image batch 1': r2(ms1), 'ms/image batch 8': r2(ms8), 'ms/request (layout+run)': r2(median(s.request)),
    '$/h': cpu.perHour, 'W busy/idle': `${cpu.watts.busy}/${cpu.watts.idle}`,
    '$ per 1,000 (batch 1)': per1000(cpu, ms1), '$ per 1,000 (batch 8)': per1000(cpu, ms8),
    'J/inference (batch 1)': r2(cpu.watts.busy * ms1 / 1000)
  })
}
for (const variant of VARIANTS) {
  rows.push({
    device: 'cuda', variant, 'ms/image batch 1': 'not measured (no GPU here)', 'ms/image batch 8': '—', 'ms/request (layout+run)': '—',
    '$/h': cuda.perHour, 'W busy/idle': `${cuda.watts.busy}/${cuda.watts.idle}`, '$ per 1,000 (batch 1)': '—', '$ per 1,000 (batch 8)': '—', 'J/inference (batch 1)': '—'
  })
}
const ratio = (k: 'b1' | 'b8'): number => r2(median(samples.get('fp32')![k]) / median(samples.get('int8')![k]))
const md = [
  `# Classifier variants — ${new Date().toISOString().slice(0, 10)}, ${availableParallelism()} × ${cpus()[0]?.model}, Node ${process.version}`,
  '',
  `Command: \`npm run bench:variants\` — one CPU device (1 worker, 1 intra-op thread) per variant, started alone; ${ROUNDS} rounds alternating int8/fp32, medians over rounds. ` +
  `ms/image: the startup calibration's median session.run (${RUNS} runs) at batch 1, and at batch 8 divided by 8; ms/request: mean inference time (tensor layout + run) of ${REQUESTS} sequential /classify requests (dog.jpg).`,
  'Prices and watts are the defaults of src/router/price.ts (assumptions, sources there). Cost per 1,000 = $/h ÷ 3 600 000 × ms/image × 1000; joules = busy watts × s.',
  'This is a shared 2-core development machine on which other work ran at the same time: absolute numbers are noisy; the ratio between variants, measured in the same run, is the result.',
  '',
  table(rows),
  '',
  `fp32 / int8 time per image: **${ratio('b1')}×** at batch 1, **${ratio('b8')}×** at batch 8.`,
  ''
].join('\n')
process.stdout.write(md + '\n')
writeFileSync(join(REPO, 'bench/results/variants.md'), md)
writeFileSync(join(REPO, 'bench/results/variants.json'), JSON.stringify({ rounds: ROUNDS, calibrationRuns: RUNS, requests: REQUESTS, samples: Object.fromEntries(samples), rows }, null, 2) + '\n')
