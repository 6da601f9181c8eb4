// Generated scenarios (issue 17: generalization, not tuning): a seed → a fleet, a host, a
// traffic mix, arrivals and events drawn from wide ranges, so the routing rule is judged on
// hardware and traffic it was never tuned for. The same seed always gives the same scenario.
//
// Ranges (each draw uniform unless "log": log-uniform):
//   devices      1–4, each a CPU or a GPU (even odds)
//   CPU          1–4 workers (one reserved for latency with odds ½ when ≥ 2); per model
//                b = 5–60 ms (log) × the model's weight, a = 0–5 ms × weight; batch ≤ 1, 2, 4 or 8
//   GPU          1 worker; per model a = 2–20 ms (log) × √weight, b = 0.5–6 ms (log) × weight;
//                batch ≤ 8, 16 or 32; batch delay 2–8 ms
//   models       1–3, weight 0.5–3 (log) each (the first 1); every device serves every model,
//                its cost × 0.8–1.25 per (device, model)
//   jitter       ±5–15 % per device
//   host         decode 1–8 ms per image (log) per model, enough cores that decoding does not
//                saturate first: 1.5 × the decode work at capacity, for each class on its own slots
//   traffic      latency share 0–70 % (0 with odds 0.15), split over the models by random
//                weights; deadlines: latency 1 s, throughput 5, 10 or 30 s (≥ 2 × its SLO)
//   arrivals     Poisson or bursty (even odds): factor 1.5–3 for 2–6 s, period 1.5–3 × factor × burst
//   events       odds 0.35: one device slows ×1.5–4 at 20–50 % of the run, for 10–30 % of it;
//                odds 0.25 (≥ 2 devices): one device fails at 30–60 %, back after 10–25 %
//   SLO          latency max(100, 2 × the slowest model's best t(1) + decode) ms; throughput
//                max(2000, 4 × the slowest model's best t(B)) ms
//
// `ranges: 'wide'` (--ranges wide) widens three ranges to the hardware measured on the H200 host
// (bench/results/gpu-check-h200.md), which the default ranges leave out: a many-core CPU with an
// int8 classifier at b = 1.2 ms (CPU b from 1 ms), a GPU whose fixed cost is 1.2 ms (GPU a from
// 1 ms, b from 0.3 ms), and JPEG decoding at 22–31 ms an image (decode up to 30 ms). The same
// seed draws the same numbers and maps them onto the wider ranges, so a seed's scenario differs
// between the two sets; the default set stays as committed.
import type { Arrivals, HostModel, Scenario, ScenarioEvent, TrafficClass } from './scenario.js'
import { capacity, decodeCapacity } from './scenario.js'
import type { DeviceProfile } from './profile.js'
import { seededRandom } from './simulated-executor.js'

export interface RandomScenarioOptions {
  /** simulated seconds of each run; default 60, shortened for large fleets (see durationFor) */
  durationS?: number
  /** at most this many requests per run at 100 % load (duration shortened, ≥ minDurationS); default 60 000 */
  maxRequests?: number
  minDurationS?: number
  /** which ranges to draw from: the default ones, or widened to the hardware measured on the H200 host */
  ranges?: 'default' | 'wide'
  /**
   * every device told the latency class's objective, ms (devices[].riders.latencyObjectiveMs,
   * src/devices/latency-gate.ts), for every strategy alike; default unset, as the server's.
   * Drawn after everything else: a seed's scenario is otherwise the same
   */
  latencyObjectiveMs?: number
  /**
   * what bounds the host's decode waiting room: 'time' (the default, as the server's
   * decode.maxWaiting: null: no count, a request waits while its predicted wait leaves its
   * deadline time; src/preprocess/decode-gate.ts) or 'count' (max(64, 4 × slots) requests, the
   * default until issue 17 bounded the room by time). A report's options name it where it is
   * 'time'; reports written before that name nothing and ran the count (random-run.ts
   * reportWaiting). A seed's scenario is otherwise the same
   */
  decodeWaiting?: 'count' | 'time'
}

export const RANDOM_RANGES = {
  devices: [1, 4],
  cpu: { workers: [1, 4], b: [5, 60], a: [0, 5], batch: [1, 2, 4, 8] },
  gpu: { workers: [1, 1], a: [2, 20], b: [0.5, 6], batch: [8, 16, 32], delay: [2, 8] },
  models: [1, 3],
  weight: [0.5, 3],
  decodeMs: [1, 8],
  latencyShare: [0, 0.7],
  slowdown: [1.5, 4]
} as const

export const RANDOM_RANGES_WIDE = {
  ...RANDOM_RANGES,
  cpu: { ...RANDOM_RANGES.cpu, b: [1, 60] },
  gpu: { ...RANDOM_RANGES.gpu, a: [1, 20], b: [0.3, 6] },
  decodeMs: [1, 30]
} as const

export function randomScenario (seed: number, o: RandomScenarioOptions = {}): Scenario {
  const r = seededRandom((seed * 2654435761) ^ 0x5bd1e995)
  const uni = (lo: number, hi: number): number => lo + (hi - lo) * r()
  const log = (lo: number, hi: number): number => Math.exp(uni(Math.log(lo), Math.log(hi)))
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1))
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d

  const R = o.ranges === 'wide' ? RANDOM_RANGES_WIDE : RANDOM_RANGES
  const models = Array.from({ length: int(R.models[0], R.models[1]) }, (_, i) => ({ name: `m${i + 1}`, weight: i === 0 ? 1 : log(R.weight[0], R.weight[1]) }))
  const devices: DeviceProfile[] = []
  const nDevices = int(R.devices[0], R.devices[1])
  let cpus = 0; let gpus = 0
  for (let i = 0; i < nDevices; i++) {
    const jitter = round(uni(0.05, 0.15))
    if (r() < 0.5) {
      const workers = int(R.cpu.workers[0], R.cpu.workers[1])
      const b = log(R.cpu.b[0], R.cpu.b[1]); const a = uni(R.cpu.a[0], R.cpu.a[1])
      const maxBatchSize = pick(R.cpu.batch)
      devices.push({
        id: `cpu${++cpus}`,
        kind: 'cpu',
        workers,
        latencyWorkers: workers >= 2 && r() < 0.5 ? 1 : 0,
        maxQueue: 256,
        batchDelayMs: { latency: 0, throughput: 5 },
        models: Object.fromEntries(models.map((m) => [m.name, { a: round(a * m.weight * uni(0.8, 1.25)), b: round(b * m.weight * uni(0.8, 1.25)), maxBatchSize, jitter }]))
      })
    } else {
      const a = log(R.gpu.a[0], R.gpu.a[1]); const b = log(R.gpu.b[0], R.gpu.b[1])
      const maxBatchSize = pick(R.gpu.batch)
      devices.push({
        id: `gpu${++gpus}`,
        kind: 'cuda',
        workers: 1,
        latencyWorkers: 0,
        maxQueue: 256,
        batchDelayMs: { latency: 0, throughput: round(uni(R.gpu.delay[0], R.gpu.delay[1]), 1) },
        models: Object.fromEntries(models.map((m) => [m.name, { a: round(a * Math.sqrt(m.weight) * uni(0.8, 1.25)), b: round(b * m.weight * uni(0.8, 1.25), 3), maxBatchSize, jitter }]))
      })
    }
  }

  const decodeMs = Object.fromEntries(models.map((m) => [m.name, round(log(R.decodeMs[0], R.decodeMs[1]))]))
  const latencyShare = r() < 0.15 ? 0 : round(uni(R.latencyShare[0], R.latencyShare[1]))
  const w = models.map(() => uni(0.2, 1))
  const wSum = w.reduce((x, y) => x + y, 0)
  // the SLOs follow what the fleet can do at best for the slowest model
  let worstT1 = 0; let worstTB = 0
  for (const m of models) {
    let t1 = Infinity; let tB = Infinity
    for (const d of devices) {
      const c = d.models[m.name]!
      t1 = Math.min(t1, c.a + c.b)
      tB = Math.min(tB, c.a + c.b * c.maxBatchSize)
    }
    worstT1 = Math.max(worstT1, t1 + decodeMs[m.name]!)
    worstTB = Math.max(worstTB, tB)
  }
  const slo = { latency: Math.max(100, Math.ceil(2 * worstT1 / 10) * 10), throughput: Math.max(2000, Math.ceil(4 * worstTB / 100) * 100) }
  const thrDeadline = Math.max(pick([5000, 10_000, 30_000]), 2 * slo.throughput)
  const traffic: TrafficClass[] = []
  models.forEach((m, i) => {
    const share = w[i]! / wSum
    if (latencyShare < 1) traffic.push({ model: m.name, policy: 'throughput', share: share * (1 - latencyShare), deadlineMs: thrDeadline })
    if (latencyShare > 0) traffic.push({ model: m.name, policy: 'latency', share: share * latencyShare, deadlineMs: 1000 })
  })

  let arrivals: Arrivals = { kind: 'poisson' }
  if (r() < 0.5) {
    const factor = round(uni(1.5, 3), 1); const burstS = round(uni(2, 6), 1)
    arrivals = { kind: 'bursty', factor, burstS, periodS: round(factor * burstS * uni(1.5, 3), 1) }
  }

  const base = { devices, traffic }
  const C = capacity(base)
  const durationS = durationFor(C, o)
  const events: ScenarioEvent[] = []
  if (r() < 0.35) {
    const d = pick(devices).id
    const at = round(uni(0.2, 0.5) * durationS, 1)
    events.push({ atS: at, device: d, slowdown: round(uni(R.slowdown[0], R.slowdown[1]), 1) }, { atS: round(at + uni(0.1, 0.3) * durationS, 1), device: d, slowdown: 1 })
  }
  if (devices.length >= 2 && r() < 0.25) {
    const d = pick(devices).id
    const at = round(uni(0.3, 0.6) * durationS, 1)
    events.push({ atS: at, device: d, down: true }, { atS: round(at + uni(0.1, 0.25) * durationS, 1), device: d, down: false })
  }
  events.sort((x, y) => x.atS - y.atS)

  // enough decode cores that the host is not what saturates: 1.5 × the throughput class's decode
  // work at capacity for bulk requests, and as much again for the latency class on slots bulk
  // requests may not hold (DecodeGate bulkSlots)
  let bulkWork = 0; let latWork = 0
  for (const c of traffic) {
    if (c.policy === 'latency') latWork += c.share * decodeMs[c.model]!
    else bulkWork += c.share * decodeMs[c.model]!
  }
  const bulkSlots = Math.max(1, Math.ceil(1.5 * C * bulkWork / 1000))
  const slots = bulkSlots + Math.ceil(1.5 * C * latWork / 1000) + 1
  const host: HostModel = { slots, bulkSlots, maxWaiting: o.decodeWaiting === 'count' ? Math.max(64, slots * 4) : null, decodeMs, jitter: 0.1, source: 'generated' }
  const kinds = devices.map((d) => `${d.id} ${d.workers}w t(n)=${d.models.m1!.a}+${d.models.m1!.b}n B${d.models.m1!.maxBatchSize}`).join(', ')
  const s: Scenario = {
    name: `random-${seed}`,
    description: `generated (seed ${seed}): ${kinds}; ${models.length} model(s); ${Math.round(latencyShare * 100)} % latency class; ${arrivals.kind === 'poisson' ? 'Poisson' : `bursts ${arrivals.factor}× for ${arrivals.burstS} s every ${arrivals.periodS} s`}${events.length > 0 ? `; events: ${events.map((e) => `${e.atS} s ${e.device} ${e.down === true ? 'fails' : e.down === false ? 'back' : `×${e.slowdown}`}`).join(', ')}` : ''}`,
    seed,
    durationS,
    load: 0.8,
    sweep: [0.2, 0.4, 0.6, 0.8, 0.9, 1],
    sweepS: durationS,
    host,
    devices,
    sources: Object.fromEntries(devices.map((d) => [d.id, 'generated: assumed'])),
    traffic,
    arrivals,
    events,
    slo,
    strategies: ['switchyard', 'fastest-only', 'round-robin', 'join-shortest-queue', 'shared-queue', 'speed-aware']
  }
  if (decodeCapacity(s) < C) throw new Error(`random-${seed}: decoding below capacity`) // cannot happen: slots sized above
  if (o.latencyObjectiveMs !== undefined) {
    s.devices = devices.map((d) => ({ ...d, latencyObjectiveMs: o.latencyObjectiveMs }))
    s.description += `; latency objective ${o.latencyObjectiveMs} ms`
  }
  return s
}

/** Simulated seconds of a run: durationS (default 60), shortened so a run at 100 % load has at most maxRequests requests, but ≥ minDurationS (default 20). */
export function durationFor (capacityPerS: number, o: RandomScenarioOptions = {}): number {
  const want = o.durationS ?? 60
  const byCount = (o.maxRequests ?? 60_000) / Math.max(1, capacityPerS)
  return Math.max(Math.min(want, o.minDurationS ?? 20), Math.min(want, Math.round(byCount)))
}

/** "1-50", "3,7,9-12" → [1, …, 50] */
export function parseSeeds (spec: string): number[] {
  const out: number[] = []
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part)
    if (!m) throw new Error(`--seeds: ${part} is not a seed or a range (e.g. 1-50)`)
    const lo = Number(m[1]); const hi = m[2] !== undefined ? Number(m[2]) : lo
    if (hi < lo) throw new Error(`--seeds: ${part} is an empty range`)
    for (let s = lo; s <= hi; s++) out.push(s)
  }
  return out
}
