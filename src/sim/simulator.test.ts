// The simulator, on a small scenario (seconds): the server's own routing and schedulers on a
// virtual clock. Pins issue 9's targets for the switchyard rule — bounded backlog and busy
// devices at 95 % load — the baselines' behaviour (a shared queue strands nothing behind a slow
// device; speed-aware places in proportion to speed), the prediction-error measurement, and that
// runs are reproducible. Which strategy wins is measured (bench/results), not pinned here. Seeded arrivals and jitter, virtual time: nothing here depends on the machine.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { runScenario } from './engine.js'
import { judgedLoads, metricsOf, refused, runExperiment } from './experiment.js'
import { judgeCell } from './judge.js'
import { plan } from './plan.js'
import { comparePolicies } from './policies.js'
import { profileFromModels } from './profile.js'
import { capacity, decodeCapacity, deviceCapacity, loadScenario, resolveScenario, type Scenario, type ScenarioFile } from './scenario.js'
import { SimDevice } from './sim-device.js'
import { seededRandom } from './simulated-executor.js'
import { generate } from './workload.js'
import { VirtualClock } from '../devices/clock.js'

const MODEL = 'm'
// the lead's smoke-run devices: a CPU with a worker reserved for latency, and a GPU
const scenario: Scenario = {
  name: 'test',
  description: 'CPU t(n) = 5 + 60n (batch 4, 2 workers, 1 for latency) + GPU t(n) = 8 + 2n (batch 16)',
  seed: 42,
  durationS: 120,
  load: 0.95,
  sweep: [0.5, 0.7, 0.8, 0.9, 0.95, 1.05],
  sweepS: 40,
  host: { slots: 16, bulkSlots: 15, maxWaiting: 64, decodeMs: { [MODEL]: 2 }, jitter: 0.1, source: 'test' },
  devices: [
    { id: 'cpu', kind: 'cpu', workers: 2, latencyWorkers: 1, models: { [MODEL]: { a: 5, b: 60, maxBatchSize: 4, jitter: 0.1 } } },
    { id: 'gpu', kind: 'cuda', workers: 1, models: { [MODEL]: { a: 8, b: 2, maxBatchSize: 16, jitter: 0.1 } } }
  ],
  sources: { cpu: 'test', gpu: 'test' },
  traffic: [
    { model: MODEL, policy: 'throughput', share: 0.9, deadlineMs: 30_000 },
    { model: MODEL, policy: 'latency', share: 0.1, deadlineMs: 1000 }
  ],
  arrivals: { kind: 'poisson' },
  events: [],
  slo: { latency: 100, throughput: 2000 },
  strategies: ['switchyard', 'fastest-only', 'round-robin', 'join-shortest-queue', 'shared-queue']
}

// issue 9's first target is about throughput-class load alone
const bulk: Scenario = { ...scenario, traffic: [{ model: MODEL, policy: 'throughput', share: 1, deadlineMs: 30_000 }] }

t.test('capacity is the devices\' summed best-batch throughput of their throughput workers', async (t) => {
  t.equal(Math.round(deviceCapacity(scenario.devices[0]!, scenario.traffic) * 1000) / 1000, Math.round(4000 / 245 * 1000) / 1000, 'CPU: 1 worker × 4 images / 245 ms')
  t.equal(deviceCapacity(scenario.devices[1]!, scenario.traffic), 400, 'GPU: 16 images / 40 ms')
  t.equal(Math.round(capacity(scenario)), 416)
})

t.test('the same seed gives the same arrivals and the same run', async (t) => {
  const a = generate(scenario.arrivals, scenario.traffic, 300, 10_000, 7)
  const b = generate(scenario.arrivals, scenario.traffic, 300, 10_000, 7)
  t.same(Array.from(a.at.subarray(0, a.count)), Array.from(b.at.subarray(0, b.count)))
  t.ok(a.count > 2700 && a.count < 3300, `≈ 3000 Poisson arrivals in 10 s at 300/s (${a.count})`)
  const r1 = runScenario(scenario, { strategy: 'switchyard', ratePerS: 300, durationMs: 10_000 })
  const r2 = runScenario(scenario, { strategy: 'switchyard', ratePerS: 300, durationMs: 10_000 })
  t.same(r1.byPolicy, r2.byPolicy)
  t.same(r1.devices, r2.devices)
})

t.test('bursty arrivals keep the mean rate and crowd into the bursts', async (t) => {
  const w = generate({ kind: 'bursty', periodS: 10, burstS: 2, factor: 3 }, scenario.traffic, 200, 100_000, 1)
  t.ok(Math.abs(w.count / 100 - 200) < 10, `mean rate ≈ 200/s (${w.count / 100})`)
  let inBurst = 0
  for (let i = 0; i < w.count; i++) if (w.at[i]! % 10_000 < 2000) inBurst++
  t.ok(Math.abs(inBurst / w.count - 0.6) < 0.03, `3× the rate for 20 % of the time: 60 % of arrivals (${(inBurst / w.count).toFixed(3)})`)
})

t.test('bursts that fit within the deadlines are queued, not refused (admission by time and memory): ≤ 0.1 % refused at 80 % mean load', async (t) => {
  // 3× for 4 s every 20 s at 80 % of capacity: each burst brings ~3 s of excess work, drained
  // in ~7 s, well within the 30 s throughput deadline — but over a thousand items, past a 256-item lane
  const bursty: Scenario = { ...scenario, arrivals: { kind: 'bursty', factor: 3, burstS: 4, periodS: 20 } }
  const rate = capacity(bursty) * 0.8
  const r = runScenario(bursty, { strategy: 'switchyard', ratePerS: rate, durationMs: 60_000 })
  t.ok(refused(r) <= 0.001, `switchyard refused ${(refused(r) * 100).toFixed(2)} % (${JSON.stringify(r.rejections)})`)
  const counted = runScenario(bursty, { strategy: 'early-binding', ratePerS: rate, durationMs: 60_000 })
  t.ok(refused(counted) > 0.01, `the same bursts against lanes capped in items (early binding, maxQueue 256): ${(refused(counted) * 100).toFixed(1)} % refused`)
})

t.test('above capacity the server\'s admission control refuses, by reason, and answers everything it accepted', async (t) => {
  // at 3× capacity for 30 s the excess is ~60 s of work, past the 30 s throughput deadline (at 1.5× it is
  // ~15 s: admitting it all is right, and a GPU that fills its latency batches under a backlog does)
  const r = runScenario(scenario, { strategy: 'switchyard', ratePerS: capacity(scenario) * 3, durationMs: 30_000 })
  const refusedN = Object.values(r.rejections).reduce((a, b) => a + b, 0)
  t.ok(refusedN > 0, `some refused: ${JSON.stringify(r.rejections)}`)
  let served = 0; let unfinished = 0
  for (const c of Object.values(r.byPolicy)) { served += c.served; unfinished += c.unfinished }
  t.equal(served + refusedN + unfinished, r.offered, 'every request answered or refused')
  t.equal(unfinished, 0, 'nothing accepted is left unanswered')
})

t.test('a device that fails mid-run: its batches are retried elsewhere, it is replaced when it comes back', async (t) => {
  const s: Scenario = { ...scenario, events: [{ atS: 10, device: 'gpu', down: true }, { atS: 20, device: 'gpu', down: false }] }
  const r = runScenario(s, { strategy: 'switchyard', ratePerS: 350, durationMs: 40_000, series: true })
  t.ok(r.retries > 0, `batches running on the failed GPU were retried (${r.retries})`)
  const gpuImages = r.series!.images.gpu!
  const step = r.series!.stepMs
  const during = gpuImages.slice(Math.ceil(10_500 / step), Math.floor(20_000 / step)).reduce((a, b) => a + b, 0)
  const after = gpuImages.slice(Math.ceil(25_000 / step)).reduce((a, b) => a + b, 0)
  t.equal(during, 0, 'the failed GPU serves nothing while down')
  t.ok(after > 0, 'the replaced GPU serves again after it comes back')
})

t.test('the queue series counts each queue once: a device its own, the late-binding pools as `pool`, a shared queue as `shared`', async (t) => {
  const rate = 1.2 * capacity(scenario) // past capacity: a backlog builds
  const max = (xs: number[]): number => Math.max(0, ...xs)
  const sy = runScenario(scenario, { strategy: 'switchyard', ratePerS: rate, durationMs: 20_000, series: true }).series!
  t.same(Object.keys(sy.queue), ['cpu', 'gpu', 'pool'])
  t.ok(max(sy.queue.pool!) > 100, `switchyard's throughput backlog waits in the pool (at most ${max(sy.queue.pool!)})`)
  const sq = runScenario(scenario, { strategy: 'shared-queue', ratePerS: rate, durationMs: 20_000, series: true }).series!
  t.same(Object.keys(sq.queue), ['cpu', 'gpu', 'shared'])
  t.ok(max(sq.queue.shared!) > 100, `shared-queue's backlog waits in the shared queue (at most ${max(sq.queue.shared!)})`)
  t.same([max(sq.queue.cpu!), max(sq.queue.gpu!)], [0, 0], 'nothing is pinned: no device has a queue of its own')
  // switched to the shared queue at 10 s: the pool empties into the shared queue
  const sw = runScenario(scenario, { strategy: 'switchyard', ratePerS: rate, durationMs: 20_000, series: true, switchToSharedAtMs: 10_000 }).series!
  t.same(Object.keys(sw.queue), ['cpu', 'gpu', 'shared', 'pool'])
  const at = Math.floor(10_000 / sw.stepMs) // the first step after the switch
  t.ok(sw.queue.pool![at - 2]! > 0 && sw.queue.shared![at - 2] === 0, 'before the switch: the pool')
  t.ok(max(sw.queue.pool!.slice(at)) === 0 && max(sw.queue.shared!.slice(at)) > 100, 'after it: the shared queue, the pool empty')
})

t.test('switchyard at 95 % of capacity, throughput class: bounded backlog, every device busy', async (t) => {
  // a CPU fast enough that 95 % of the sum exceeds the GPU alone (t(n) = 5 + 20n: 47 req/s):
  // the target asks every device to be busy only once the fastest one cannot carry the load
  const s: Scenario = { ...bulk, devices: [{ ...bulk.devices[0]!, models: { [MODEL]: { a: 5, b: 20, maxBatchSize: 4, jitter: 0.1 } } }, bulk.devices[1]!] }
  t.ok(0.95 * capacity(s) > deviceCapacity(s.devices[1]!, s.traffic), 'the load exceeds the GPU\'s capacity')
  const r = runScenario(s, { strategy: 'switchyard', ratePerS: 0.95 * capacity(s), durationMs: 120_000 })
  const thr = r.byPolicy.throughput!
  t.ok(thr.p99LastHalf <= 1.2 * thr.p99FirstHalf, `throughput p99, last half ${thr.p99LastHalf.toFixed(0)} ms ≤ 1.2× first half ${thr.p99FirstHalf.toFixed(0)} ms`)
  t.equal(thr.rejected + thr.unfinished, 0, 'nothing refused')
  for (const d of r.devices) t.ok(d.utilThroughput >= 0.8, `${d.id} busy ${(d.utilThroughput * 100).toFixed(1)} % ≥ 80 %`)
})

t.test('below the fastest device\'s capacity the efficient device carries the load, backlog bounded', async (t) => {
  const r = runScenario(bulk, { strategy: 'switchyard', ratePerS: 0.95 * capacity(bulk), durationMs: 120_000 })
  const thr = r.byPolicy.throughput!
  t.ok(0.95 * capacity(bulk) < deviceCapacity(bulk.devices[1]!, bulk.traffic), 'the GPU alone could carry this load')
  t.ok(thr.p99LastHalf <= 1.2 * thr.p99FirstHalf, `throughput p99, last half ${thr.p99LastHalf.toFixed(0)} ms ≤ 1.2× first half ${thr.p99FirstHalf.toFixed(0)} ms`)
  t.ok(thr.p99 < 1000, `throughput p99 ${thr.p99.toFixed(0)} ms`)
  t.equal(thr.rejected + thr.unfinished, 0, 'nothing refused')
})

t.test('every strategy runs on the same arrivals; the experiment reports each one\'s sustainable rate', async (t) => {
  // a measurement, not a ranking: which strategy wins is what bench/results/ reports
  const r = runExperiment(scenario, { durationS: 10, sweepS: 10, sweep: [0.5, 0.9], bisect: 1 })
  t.same(r.strategies.map((s) => s.strategy), scenario.strategies)
  const offered = new Set(r.strategies.map((s) => s.headline.offered))
  t.equal(offered.size, 1, 'identical arrivals')
  for (const s of r.strategies) t.ok(s.sustainableRate >= 0 && s.sustainableRate <= 0.9 * capacity(scenario) + 1e-9, `${s.strategy}: ${s.sustainableRate.toFixed(0)} req/s, within the sweep`)
})

t.test('a scenario\'s report judges every sweep load from 20 % to 100 % as issue 17 does (src/sim/judge.ts), on the same arrivals', async (t) => {
  const r = runExperiment(scenario, { durationS: 5, sweepS: 5, sweep: [0.1, 0.5, 0.9, 1.1], bisect: 0 })
  const [sy, ...baselines] = r.strategies
  const judged = judgedLoads(scenario, sy!, baselines)
  t.same(judged.map((j) => j.load), [0.5, 0.9], 'loads outside 20–100 % are not judged')
  for (const j of judged) {
    const at = (st: typeof sy) => metricsOf(st!.sweep.find((p) => p.load === j.load)!.result)
    const expected = judgeCell(at(sy), baselines.map((b) => ({ strategy: b.strategy, m: at(b) })), scenario.slo)
    t.same({ verdict: j.verdict, beatenBy: j.beatenBy }, { verdict: expected.verdict, beatenBy: expected.beatenBy }, `${j.load * 100} %: the judge's verdict on that sweep point`)
  }
  const target = r.targets.find((x) => x.name.startsWith('not beaten'))
  t.ok(target, 'a target line')
  t.equal(target!.pass, judged.every((j) => j.verdict !== 'loss'), 'passes only where no load is lost')
  t.match(target!.detail, /^50 % [WTL], 90 % [WTL]/)
})

// a GPU (t(n) = 8 + 2n, batch 16: 400 req/s) beside a device 125 times slower per image
const slowBeside: Scenario = {
  ...bulk,
  devices: [
    { id: 'slow', kind: 'cpu', workers: 1, latencyWorkers: 0, models: { [MODEL]: { a: 0, b: 250, maxBatchSize: 1, jitter: 0.1 } } },
    bulk.devices[1]!
  ]
}

t.test('shared queue never strands work behind a slow device', async (t) => {
  // every worker pulls from one queue: the slow device takes an item only when it is free, so no
  // item waits behind it. The worst answer: one slow run (250 ms + 10 %), or one GPU batch
  // cycle behind the items ahead (batch delay 4 ms + t(16) = 40 ms + 10 %), plus decode
  const r = runScenario(slowBeside, { strategy: 'shared-queue', ratePerS: 300, durationMs: 60_000 })
  const thr = r.byPolicy.throughput!
  t.equal(thr.rejected + thr.unfinished, 0, 'nothing refused')
  t.ok(thr.max <= 275 + 4 + 44 + 2.2, `worst answer ${thr.max.toFixed(0)} ms ≤ one slow run + one GPU cycle + decode`)
  t.ok(r.devices[0]!.images > 0, `the slow device works too (${r.devices[0]!.images} images)`)
  // the same arrivals bound early to per-device queues by count (join-shortest-queue) strand items
  const jsq = runScenario(slowBeside, { strategy: 'join-shortest-queue', ratePerS: 300, durationMs: 60_000 })
  t.ok(jsq.byPolicy.throughput!.max > 1000, `join-shortest-queue's worst answer ${jsq.byPolicy.throughput!.max.toFixed(0)} ms: what stranding looks like`)
})

t.test('speed-aware places work in proportion to device speed', async (t) => {
  // CPU: 2 workers × 4 images / 40 ms = 200 req/s; GPU: 400 req/s — speeds 1 : 2
  const s: Scenario = { ...scenario, devices: [{ id: 'cpu', kind: 'cpu', workers: 2, latencyWorkers: 0, models: { [MODEL]: { a: 0, b: 10, maxBatchSize: 4, jitter: 0.1 } } }, scenario.devices[1]!] }
  t.equal(Math.round(deviceCapacity(s.devices[0]!, s.traffic)), 200)
  const r = runScenario(s, { strategy: 'speed-aware', ratePerS: 0.8 * capacity(s), durationMs: 60_000 })
  const [cpu, gpu] = r.devices
  const ratio = gpu!.images / cpu!.images
  t.ok(ratio >= 1.5 && ratio <= 2.5, `GPU : CPU images ${ratio.toFixed(2)}, the speed ratio 2 ± 25 %`)
  t.equal(Object.keys(cpu!.decisions).join(), 'speed-aware')
})

t.test('prediction error per device and class, steady state: 30 s after an event are left out', async (t) => {
  const quiet = runScenario(scenario, { strategy: 'switchyard', ratePerS: 200, durationMs: 120_000 })
  for (const d of quiet.devices) {
    for (const [policy, p] of Object.entries(d.prediction)) {
      t.equal(p.excluded, 0, `${d.id} ${policy}: no event, nothing left out`)
      t.ok(p.n > 0 && p.meanAbsRelError >= 0 && p.meanRatio > 0, `${d.id} ${policy}: ${(p.meanAbsRelError * 100).toFixed(1)} % over ${p.n} answers`)
    }
  }
  // the GPU slows down ×3 at 20 s and recovers at 40 s: answers dispatched in [20, 70) s are left
  // out — about 50 of the 120 s
  const s: Scenario = { ...scenario, events: [{ atS: 20, device: 'gpu', slowdown: 3 }, { atS: 40, device: 'gpu', slowdown: 1 }] }
  const r = runScenario(s, { strategy: 'switchyard', ratePerS: 200, durationMs: 120_000 })
  let n = 0; let out = 0
  for (const d of r.devices) for (const p of Object.values(d.prediction)) { n += p.n; out += p.excluded }
  t.ok(Math.abs(out / (n + out) - 50 / 120) < 0.05, `${(out / (n + out) * 100).toFixed(1)} % left out ≈ 50 / 120 s`)
})

t.test('every committed scenario resolves against the committed profiles', async (t) => {
  const dir = join(import.meta.dirname, '..', '..', 'bench', 'scenarios')
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'))
  t.ok(files.length >= 4)
  for (const f of files) {
    const s = loadScenario(join(dir, f))
    t.ok(capacity(s) > 0, `${s.name}: capacity ${capacity(s).toFixed(0)} req/s`)
    for (const d of s.devices) t.match(s.sources[d.id], /: (measured|assumed)/, `${s.name}/${d.id} says where its numbers come from`)
  }
})

t.test('a profile from GET /models: one device per served device, each lane\'s fitted cost', async (t) => {
  const lane = (aMs: number, bMs: number) => ({ id: 'cpu', kind: 'cpu' as const, workers: 2, maxBatchSize: 8, batchDelayMs: { latency: 0, throughput: 5 }, queue: { max: 256 }, cost: { aMs, bMs, samples: 40 }, calibration: [{ batchSize: 1, ms: aMs + bMs }] })
  const p = profileFromModels({ models: [{ name: 'a', devices: [lane(1, 8)] }, { name: 'b', devices: [lane(4, 50)] }] }, { name: 'x', source: 'measured: test', latencyWorkers: { cpu: 1 } })
  t.equal(p.devices.length, 1)
  t.match(p.devices[0], { id: 'cpu', workers: 2, latencyWorkers: 1, maxQueue: 256, models: { a: { a: 1, b: 8, maxBatchSize: 8 }, b: { a: 4, b: 50, maxBatchSize: 8 } } })
  t.throws(() => profileFromModels({ models: [{ name: 'a', devices: [{ ...lane(0, 0), cost: { aMs: 0, bMs: 0, samples: 0 }, calibration: [] }] }] }, { name: 'x', source: 'measured' }), /not calibrated/)
})

t.test('capacity planning answers with the fewest devices that meet the SLO, or says decoding is the limit', async (t) => {
  const base = { profiles: ['gpu-slow-assumed', 'cpu-here'], slo: { latency: 1000, throughput: 2000 }, latencyShare: 0, deadlineMs: { latency: 1000, throughput: 30_000 }, durationS: 20, seed: 1, maxEach: 4 }
  const r = plan({ ...base, ratePerS: 600, cores: 64 })
  t.ok(r.answer, 'an answer')
  t.equal(r.answer!.counts['gpu-slow-assumed'], 2, 'two of the 400 req/s GPUs for 600 req/s')
  t.ok(r.answer!.capacityPerS >= 600)
  t.ok(r.candidates.every((c) => c.devices >= r.answer!.devices || c.pass === false), 'no smaller set passed')
  const blocked = plan({ ...base, ratePerS: 600, cores: 4 })
  t.equal(blocked.answer, null)
  t.match(blocked.blocked, /cannot decode 600 images\/s/)
})

t.test('the cost policy, on the same arrivals, spends less per inference where there is spare capacity', async (t) => {
  const rows = comparePolicies({ ...scenario, durationS: 60 }, 0.4, 60)
  const by = Object.fromEntries(rows.map((r) => [r.policy, r]))
  t.ok(by.cost!.costPer1000 < by.throughput!.costPer1000, `cost ${by.cost!.costPer1000.toFixed(5)} < throughput ${by.throughput!.costPer1000.toFixed(5)} $ per 1,000 (${(by.cost!.costPer1000 / by.throughput!.costPer1000).toFixed(2)}×)`)
  t.same(rows.map((r) => r.policy), ['throughput', 'cost', 'latency'])
  t.ok(rows.every((r) => r.result.devices.every((d) => d.cost >= 0 && d.busyMs >= 0)))
})

t.test('a request of several images (a tiled /detect, a multi-item /v2 request) is simulated through the same pipeline: decoded once, placed together', async (t) => {
  // one GPU, t(n) = 10 + n ms, no jitter; decoding 2 ms; few requests, so none waits for another
  const tiled: Scenario = {
    ...scenario,
    host: { ...scenario.host, decodeMs: { [MODEL]: 2 }, jitter: 0 },
    devices: [{ id: 'gpu', kind: 'cuda', workers: 1, models: { [MODEL]: { a: 10, b: 1, maxBatchSize: 8 } } }],
    sources: { gpu: 'test' },
    traffic: [{ model: MODEL, policy: 'latency', share: 1, deadlineMs: 1000, items: 5 }],
    arrivals: { kind: 'poisson' },
    events: []
  }
  const r = runScenario(tiled, { strategy: 'switchyard', ratePerS: 2, durationMs: 20_000 })
  const lat = r.byPolicy.latency!
  t.ok(lat.offered > 20, `${lat.offered} requests`)
  t.equal(lat.served, lat.offered, 'every one answered')
  t.equal(r.devices[0]!.images, 5 * lat.offered, 'five images each')
  t.equal(lat.p50, 2 + 15, 'decode 2 ms, then one batch of five, t(5) = 15 ms (not a batch of one, then one of four)')
  const single = runScenario({ ...tiled, traffic: [{ ...tiled.traffic[0]!, items: 1 }] }, { strategy: 'switchyard', ratePerS: 2, durationMs: 20_000 })
  t.equal(single.byPolicy.latency!.p50, 2 + 11, 'one image: t(1) = 11 ms')
  t.throws(() => loadScenarioFrom({ items: 0 }), /items must be a whole number/, 'a scenario file is checked')
})

t.test('a multi-item /v2 request (itemsDecode: each) decodes each image under a decode slot of its own, through the same pipeline', async (t) => {
  // one GPU, t(n) = 10 + n ms, no jitter; 2 ms per decode on 2 slots; few requests, so none waits for another
  const v2 = (slots: number, itemsDecode?: 'each' | 'together', maxWaiting = 64): Scenario => ({
    ...scenario,
    host: { ...scenario.host, slots, bulkSlots: slots, maxWaiting, decodeMs: { [MODEL]: 2 }, jitter: 0 },
    devices: [{ id: 'gpu', kind: 'cuda', workers: 1, models: { [MODEL]: { a: 10, b: 1, maxBatchSize: 8 } } }],
    sources: { gpu: 'test' },
    traffic: [{ model: MODEL, policy: 'latency', share: 1, deadlineMs: 1000, items: 5, ...(itemsDecode ? { itemsDecode } : {}) }],
    arrivals: { kind: 'poisson' },
    events: []
  })
  const run = (s: Scenario) => runScenario(s, { strategy: 'switchyard', ratePerS: 2, durationMs: 20_000 })
  const each = run(v2(2, 'each'))
  const lat = each.byPolicy.latency!
  t.ok(lat.offered > 20, `${lat.offered} requests`)
  t.equal(lat.served, lat.offered, 'every one answered')
  t.equal(each.devices[0]!.images, 5 * lat.offered, 'five images each')
  t.equal(lat.p50, 3 * 2 + 15, 'five decodes of 2 ms on two slots (three rounds), then one batch of five, t(5) = 15 ms')
  t.equal(run(v2(5, 'each')).byPolicy.latency!.p50, 2 + 15, 'five slots: the five decode side by side')
  t.equal(run(v2(2)).byPolicy.latency!.p50, 2 + 15, 'the default (a tiled /detect): one decode under one slot')
  t.equal(run(v2(2, 'together')).byPolicy.latency!.p50, 2 + 15, 'together: as the default')
  t.equal(Math.round(each.decodeUtil / run(v2(2)).decodeUtil), 5, 'five decodes of host time per request, not one')
  // one slot, two may wait: a request's own third and fourth waiting images are refused (429), the request with them
  const full = run(v2(1, 'each', 2))
  t.equal(full.byPolicy.latency!.served, 0, 'no request answered')
  t.ok(full.rejections['latency:decode-queue-full']! >= 2 * full.offered, `at least two images of each request found the waiting room full (${full.rejections['latency:decode-queue-full']} for ${full.offered} requests)`)
  t.equal(run(v2(1, 'together', 2)).byPolicy.latency!.served, full.offered, 'decoded together, the same requests fit')
  t.throws(() => loadScenarioFrom({ items: 3, itemsDecode: 'sometimes' }), /itemsDecode must be one of together, each/, 'a scenario file is checked')
  t.doesNotThrow(() => loadScenarioFrom({ items: 3, itemsDecode: 'each' }))
})

t.test('capacity and offered load count images: a request of k images is k images of work', async (t) => {
  const gpu = scenario.devices[1]!
  const one = [{ model: MODEL, policy: 'throughput' as const, share: 1, deadlineMs: 30_000 }]
  const four = [{ ...one[0]!, items: 4 }]
  t.equal(deviceCapacity(gpu, one), 400, 'GPU: 16 images / 40 ms = 400 one-image requests/s')
  t.equal(deviceCapacity(gpu, four), 100, '100 requests/s of four images')
  t.equal(deviceCapacity(gpu, [{ ...one[0]!, share: 0.5 }, { ...four[0]!, share: 0.5 }]), 160, 'half of each: 2.5 images per request')
  const host = { ...scenario.host, slots: 4, decodeMs: { [MODEL]: 2 } }
  t.equal(decodeCapacity({ host, traffic: one }), 2000, '4 slots / 2 ms')
  t.equal(decodeCapacity({ host, traffic: four }), 2000, 'decoded together: one decode per request')
  t.equal(decodeCapacity({ host, traffic: [{ ...four[0]!, itemsDecode: 'each' }] }), 500, 'each: four decodes per request')
  // offered 90 % of capacity, the GPU alone: it runs 90 % of its image capacity, whatever the images per request
  const gpuOnly: Scenario = { ...scenario, devices: [gpu], sources: { gpu: 'test' }, traffic: four }
  const rate = 0.9 * capacity(gpuOnly)
  t.equal(rate, 90)
  const r = runScenario(gpuOnly, { strategy: 'switchyard', ratePerS: rate, durationMs: 30_000 })
  const imagesPerS = r.devices[0]!.images / 30
  t.ok(imagesPerS > 0.85 * 400 && imagesPerS < 0.95 * 400, `${imagesPerS.toFixed(0)} images/s: 90 % of the GPU's 400 images/s (not four times the requests it can carry)`)
})

t.test('a scenario file sets a device\'s riders as the server\'s devices[].riders does', async (t) => {
  const dir = join(import.meta.dirname, '..', '..', 'bench', 'scenarios')
  const f = JSON.parse(readFileSync(join(dir, 'cpu-gpu.json'), 'utf8')) as ScenarioFile
  const withRiders = (riders: Record<string, unknown>): ScenarioFile => ({ ...f, devices: f.devices.map((d, i) => (i === 0 ? { ...d, riders } : d)) })
  const s = resolveScenario(withRiders({ budget: 0.5, backlogBudget: 3, latencyObjectiveMs: 100 }))
  const d = s.devices[0]!
  t.same([d.ridersBudget, d.ridersBacklogBudget, d.latencyObjectiveMs], [0.5, 3, 100], 'the three keys, on the first device')
  t.same([s.devices[1]!.ridersBudget, s.devices[1]!.latencyObjectiveMs], [undefined, undefined], 'not on the other')
  const sim = new SimDevice(d, new VirtualClock(0), seededRandom(1))
  t.same([sim.scheduler.ridersBudget, sim.scheduler.backlogBudget], [0.5, 3], 'the simulated device\'s scheduler runs them')
  t.same(resolveScenario(f).devices.map((x) => x.latencyObjectiveMs), [undefined, undefined], 'absent: the server\'s defaults (no objective)')
  t.throws(() => resolveScenario(withRiders({ latencyObjectiveMs: 0 })), /riders\.latencyObjectiveMs must be a number ≥ 1/)
  t.throws(() => resolveScenario(withRiders({ budget: -1 })), /riders\.budget must be a number ≥ 0/)
})

t.test('a scenario file\'s host takes the server\'s decode waiting room: bounded by time unless it names a count', async (t) => {
  const f = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'bench', 'scenarios', 'cpu-gpu.json'), 'utf8')) as ScenarioFile
  t.equal(f.host.maxWaiting, undefined, 'the file names none')
  t.equal(resolveScenario(f).host.maxWaiting, null, 'absent: null, as the server\'s decode.maxWaiting default')
  t.equal(resolveScenario({ ...f, host: { ...f.host, maxWaiting: 64 } }).host.maxWaiting, 64, 'a count where the file names one (the default before)')
})

function loadScenarioFrom (cls: Record<string, unknown>): Scenario {
  const dir = join(import.meta.dirname, '..', '..', 'bench', 'scenarios')
  const f = JSON.parse(readFileSync(join(dir, readdirSync(dir).filter((n) => n.endsWith('.json')).sort()[0]!), 'utf8')) as ScenarioFile
  return resolveScenario({ ...f, traffic: f.traffic.map((c) => ({ ...c, ...cls })) })
}
