// `npm run simulate -- profile --url …`: measures a running server into a profile. It sends
// each model latency-class requests one at a time — warm-up requests discarded, then at
// least `samples`, more until the medians are known to ±`precision` (sample-stats.ts) — for
// decode ms per image (the server's own Server-Timing `decode`) and the per-request fixed cost,
// then a concurrent burst of throughput-class requests so the devices run batches of several
// sizes and refit their costs, then reads GET /models: each device lane's fitted cost
// {aMs, bMs} becomes the simulated device's t(n) = a + b·n. The profile's `source` says how
// many samples each median is of and its spread. Last, per model, a short open-loop Poisson
// burst from the fidelity command's own sender (open-loop.ts) measures the load client's CPU
// per request (process.cpuUsage), which a fidelity run's simulator charges to the host's cores
// when the client shares them (host.clientOnHost). With `clientModel` (the fidelity command), four
// bursts per model — answered at r/2 and r, refused at admission at r and 2r — fit the client's
// CPU as a line in its rate and outcome (host.clientCpu, client-cpu.ts).
import { readFileSync } from 'node:fs'
import { availableParallelism, hostname } from 'node:os'
import { round } from '../util/format.js'
import { fitClientCpu, type ClientCpuModel, type ClientCpuPoint } from './client-cpu.js'
import { sendOpenLoop, serverTiming } from './open-loop.js'
import { profileFromModels, type ModelsResponse, type Profile } from './profile.js'
import { describe, precise, sampleUntilPrecise, summarize } from './sample-stats.js'
import type { TrafficClass } from './scenario.js'
import { generate } from './workload.js'

export interface MeasureOptions {
  url: string
  name: string
  image: string
  /** sequential latency-class requests per model (decode, fixed cost): at least this many */
  samples: number
  /** at most this many, taken while a median is not yet within ±precision; default MAX_SAMPLES_FACTOR × samples */
  maxSamples?: number
  /** the 95 % confidence interval of each median within ± this fraction; default DEFAULT_PRECISION */
  precision?: number
  /**
   * sequential requests sent first and discarded: this many to the first model (the client's
   * and the server's first-use costs), at most WARMUP_LATER_MODELS to each later one; default DEFAULT_WARMUP
   */
  warmup?: number
  /** throughput-class requests per model, sent `concurrency` at a time (cost refit) */
  burst: number
  concurrency: number
  latencyWorkers: Record<string, number>
  /** per device id: cores a batch takes (intra-op threads); default: cpu = this machine's cores */
  threads?: Record<string, number>
  jitter: number
  command: string
  /** seconds of the open-loop client burst per model (the load client's CPU per request); 0: not measured; default CLIENT_BURST_S */
  clientBurstS?: number
  /** the burst's rate, req/s; default clientBurstRate(): half what the server's CPU per request allows on this host's cores */
  clientRate?: number
  /** the load client shares the server's cores (the fidelity command on loopback): recorded as host.clientOnHost */
  clientOnHost?: boolean
  /**
   * the client's CPU by rate and outcome (host.clientCpu, client-cpu.ts): four bursts per model
   * (clientBursts()) after a discarded one, instead of the one burst at r; the fidelity command
   * asks for it; default false (bench/gpu-check.ts and the rest keep their one burst and their time)
   */
  clientModel?: boolean
}

/** ±5 %: a repeat five minutes apart was 10 % (decode) and 19 % (fixed cost) off from 20 requests (bench/results/fidelity.md) */
export const DEFAULT_PRECISION = 0.05
/**
 * A fresh client's fixed cost falls from ~5 to ~2.4 ms over its first ~200 sequential requests
 * (its fetch warming up; the server already warm), and the server's decode by ~10 % over the
 * first ~80: measured before, a profile was taken mostly cold.
 */
export const DEFAULT_WARMUP = 200
export const WARMUP_LATER_MODELS = 20
export const DEFAULT_SAMPLES = 40
/** the fixed cost (~3–5 ms, a difference of two timings) needed ~450 requests for ±5 % on this machine */
export const MAX_SAMPLES_FACTOR = 10
/** seconds of the client burst per model: ~200 requests at this machine's rate, a few % of the profile step's time */
export const CLIENT_BURST_S = 5
/** the client burst's rate where the server's CPU per request is unknown, req/s */
export const CLIENT_BURST_FALLBACK_RATE = 20

/**
 * The client burst's rate: half of what the server's CPU per request allows on `cores` (well
 * below saturation, so answers are 200s as at a light fidelity rate, not cheap 429s).
 */
export function clientBurstRate (serverCpuMsPerRequest: number | undefined, cores: number): number {
  if (serverCpuMsPerRequest === undefined || !(serverCpuMsPerRequest > 0)) return CLIENT_BURST_FALLBACK_RATE
  return Math.max(1, Math.round(0.5 * cores * 1000 / serverCpuMsPerRequest))
}

export async function measureProfile (o: MeasureOptions, log: (s: string) => void): Promise<Profile> {
  const body = readFileSync(o.image)
  const tasks = await (await fetch(`${o.url}/models`)).json() as { models: Array<{ name: string, task: 'classify' | 'detect' }> }
  const decodeMs: Record<string, number> = {}
  const decodeSpread: string[] = []
  // the server's own CPU time per request (every thread: decoding, inference, the main thread),
  // from its process counter around the sequential requests: what a request takes of the cores,
  // beside decodeMs and requestMs, which are wall times
  const cpuMsPerRequest: Record<string, number> = {}
  // the per-request fixed cost: round trip − the parts the simulator models (decode, queue,
  // inference, postprocess), over the sequential requests of every model
  const fixed: number[] = []
  // the load client's CPU per sequential request (this process), beside the open-loop burst's
  const clientSequential: Record<string, number> = {}
  const warmup = o.warmup ?? DEFAULT_WARMUP
  const plan = { warmup, min: o.samples, max: Math.max(o.samples, o.maxSamples ?? MAX_SAMPLES_FACTOR * o.samples), target: o.precision ?? DEFAULT_PRECISION }
  const laterWarmup = Math.min(warmup, WARMUP_LATER_MODELS)
  const pct = `±${round(plan.target * 100, 1)} %`
  for (const m of tasks.models) {
    const path = `${o.url}/${m.task}/${encodeURIComponent(m.name)}`
    const post = async (policy: string): Promise<{ decode: number, fixed: number }> => {
      const t0 = performance.now()
      const r = await fetch(path, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'x-switchyard-policy': policy } })
      await r.arrayBuffer()
      const rtt = performance.now() - t0
      if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`)
      const timing = r.headers.get('server-timing')
      const part = (name: string): number => serverTiming(timing, name)
      return { decode: part('decode'), fixed: rtt - (part('decode') + part('queue') + part('inference') + part('postprocess')) }
    }
    const times: number[] = []
    let cpu0: number | null = null
    let client0 = process.cpuUsage()
    // warm-up first (connection, first-use allocations), discarded; the CPU counter read after it
    const kept = await sampleUntilPrecise(m === tasks.models[0] ? plan : { ...plan, warmup: laterWarmup }, async (keep) => {
      const x = await post('latency')
      if (!keep) return
      if (Number.isFinite(x.decode)) times.push(x.decode)
      if (Number.isFinite(x.fixed)) fixed.push(x.fixed)
    }, () => [summarize(times), summarize(fixed)], async () => { cpu0 = await processCpuSeconds(o.url); client0 = process.cpuUsage() })
    const client = process.cpuUsage(client0)
    if (kept > 0) clientSequential[m.name] = round((client.user + client.system) / 1000 / kept, 3)
    const cpu1 = await processCpuSeconds(o.url)
    const d = summarize(times)
    decodeMs[m.name] = round(d.median, 3)
    decodeSpread.push(`${m.name} ${describe(d)}${precise(d, plan.target) ? '' : ` — not within ${pct} after ${kept}`}`)
    if (cpu0 !== null && cpu1 !== null && kept > 0) cpuMsPerRequest[m.name] = round((cpu1 - cpu0) * 1000 / kept, 3)
    log(`${m.name}: decode ${describe(d)}, the server's CPU ${cpuMsPerRequest[m.name] ?? '?'} ms per request, over ${kept} sequential requests after ${m === tasks.models[0] ? warmup : laterWarmup} warm-up`)
    let sent = 0
    const lane = async (): Promise<void> => { while (sent < o.burst) { sent++; await post('throughput') } }
    await Promise.all(Array.from({ length: o.concurrency }, lane))
    log(`${m.name}: ${o.burst} throughput-class requests, ${o.concurrency} at a time`)
  }
  const after = await getModels(o.url)
  const cores = availableParallelism()
  // after GET /models, so the devices' fitted costs are what they were without it
  const clientCpuMs: Record<string, number> = {}
  const clientSpread: string[] = []
  const clientCpu: Record<string, ClientCpuModel> = {}
  const burstS = o.clientBurstS ?? CLIENT_BURST_S
  if (burstS > 0) {
    let warm = false
    for (const m of tasks.models) {
      const rate = o.clientRate ?? clientBurstRate(cpuMsPerRequest[m.name], cores)
      const target = { url: `${o.url}/${m.task}/${encodeURIComponent(m.name)}`, body, contentType: 'image/jpeg', policies: BURST_POLICIES }
      if (o.clientModel === true && !warm) { await sendOpenLoop(target, generate({ kind: 'poisson' }, burstTraffic(m.name), rate, 1000, 2)); warm = true } // the sender's first use, discarded
      const points: ClientCpuPoint[] = []
      let flat = ''
      for (const b of o.clientModel === true ? clientBursts(rate) : [{ ratePerS: rate, refused: false }]) {
        const w = generate({ kind: 'poisson' }, burstTraffic(m.name), b.ratePerS, burstS * 1000, 1)
        const r = await sendOpenLoop(b.refused ? { ...target, headers: REFUSE } : target, w)
        const answered = Object.entries(r.statuses).reduce((a, [k, v]) => a + (/^2\d\d$/.test(k) ? v : 0), 0)
        points.push({ ratePerS: b.ratePerS, durationS: burstS, answered, refused: w.count - answered, cpuMs: round(r.clientCpuMs * w.count, 3) })
        const statuses = Object.entries(r.statuses).map(([k, v]) => `${k}: ${v}`).join(', ')
        if (!b.refused && b.ratePerS === rate) { clientCpuMs[m.name] = round(r.clientCpuMs, 3); flat = `${clientCpuMs[m.name]} ms at ${rate} req/s (${statuses})` }
        log(`${m.name}: the load client's CPU ${round(r.clientCpuMs, 3)} ms per request over ${w.count} open-loop requests at ${b.ratePerS} req/s${b.refused ? ', refused at admission (X-Switchyard-Deadline-Ms: 1)' : ''} (${statuses})`)
      }
      if (o.clientModel !== true) {
        clientSpread.push(`${m.name} ${flat.replace(/\)$/, `; sequential ${clientSequential[m.name] ?? '?'} ms)`)}`)
        continue
      }
      const fit = fitClientCpu(points)
      clientCpu[m.name] = fit
      clientSpread.push(`${m.name} ${flat}; by rate and outcome (${points.map((p) => `${p.ratePerS} req/s ${p.refused > p.answered ? 'refused' : 'answered'} ${round(p.cpuMs / Math.max(1, p.answered + p.refused), 3)} ms`).join(', ')}): ${fit.answeredMs} ms answered, ${fit.refusedMs} ms refused + ${fit.perSecondMs} ms/s (sequential ${clientSequential[m.name] ?? '?'} ms)`)
      log(`${m.name}: the load client's CPU fitted: ${fit.answeredMs} ms per answered request, ${fit.refusedMs} ms per refused, + ${fit.perSecondMs} ms per second; ${clientSequential[m.name] ?? '?'} ms per sequential request`)
    }
  }
  const f = summarize(fixed)
  const requestMs = round(Math.max(0, f.median), 3)
  log(`fixed cost per request (round trip − decode − queue − inference − postprocess): ${describe(f)}`)
  const source = `measured on ${hostname()} (${cores} cores) at ${new Date().toISOString()} by ${o.command}: devices from GET /models (fitted cost after ${o.burst} throughput-class requests per model, ${o.concurrency} concurrent; calibrated: the startup calibration's fit), decode, the per-request fixed cost (round trip − Server-Timing's decode, queue, inference, postprocess) and the server's CPU time per request (switchyard_process_cpu_seconds_total) from sequential latency-class requests per model with ${o.image.split('/').pop()} (${warmup} warm-up discarded${tasks.models.length > 1 ? `, ${laterWarmup} for each later model` : ''}, then ${plan.min}–${plan.max}, until each median's 95 % CI is within ${pct}): decode ${decodeSpread.join('; ')}; fixed cost ${describe(f)}${precise(f, plan.target) ? '' : ` — not within ${pct}`}${burstS > 0 ? `; the load client's CPU per request (process.cpuUsage of the sending process) ${o.clientModel === true ? `over open-loop Poisson bursts of ${burstS} s per model (10 % latency class; at r = ${o.clientRate === undefined ? 'half the rate the server\'s CPU per request allows' : 'the given rate'}, answered at r/2 and r, refused at admission at r and 2r; fitted CPU = answeredMs·answered + refusedMs·refused + perSecondMs·seconds, client-cpu.ts)` : `over an open-loop Poisson burst of ${burstS} s per model (10 % latency class${o.clientRate === undefined ? ', at half the rate the server\'s CPU per request allows' : ''})`}: ${clientSpread.join('; ')}${o.clientOnHost === true ? ', the client on the server\'s cores' : ''}` : ''}; batch-time jitter ±${o.jitter * 100} % assumed`
  const threads = o.threads ?? Object.fromEntries(after.models.flatMap((m) => m.devices).filter((d) => d.kind === 'cpu').map((d) => [d.id, cores]))
  return profileFromModels(after, { name: o.name, source, host: { cores, decodeMs, decodeJitter: 0.1, requestMs, ...(Object.keys(cpuMsPerRequest).length > 0 ? { cpuMsPerRequest } : {}), ...(Object.keys(clientCpuMs).length > 0 ? { clientCpuMs } : {}), ...(Object.keys(clientCpu).length > 0 ? { clientCpu } : {}), ...(o.clientOnHost === true ? { clientOnHost: true } : {}) }, latencyWorkers: o.latencyWorkers, threads, jitter: o.jitter })
}

const BURST_POLICIES = ['throughput', 'latency'] as const
/** a deadline no device meets: the server reads the body, then refuses at admission (429), as it does a request when saturated */
const REFUSE = { 'x-switchyard-deadline-ms': '1' }

/**
 * The client bursts at rate r, interleaved so drift falls on both outcomes: answered at r/2 and r
 * (r is half what the server's CPU allows: no refusals), refused at r and 2r (refusals cost the
 * server little, so the rate can go past what it answers, towards a saturating fidelity rate).
 */
export function clientBursts (rate: number): Array<{ ratePerS: number, refused: boolean }> {
  const half = Math.max(1, Math.round(rate / 2))
  return [{ ratePerS: half, refused: false }, { ratePerS: rate, refused: true }, { ratePerS: rate, refused: false }, { ratePerS: 2 * rate, refused: true }]
}
/** the client burst's traffic: the fidelity command's mix, 10 % latency class */
function burstTraffic (model: string): TrafficClass[] {
  return [{ model, policy: 'throughput', share: 0.9, deadlineMs: 30_000 }, { model, policy: 'latency', share: 0.1, deadlineMs: 10_000 }]
}

/** The server's process CPU seconds (user + system, every thread) from its /metrics; null when not exposed. */
export async function processCpuSeconds (url: string): Promise<number | null> {
  const r = await fetch(`${url}/metrics`)
  if (!r.ok) return null
  const m = /^switchyard_process_cpu_seconds_total(?:\{[^}]*\})? ([\d.e+-]+)$/m.exec(await r.text())
  return m === null ? null : Number(m[1])
}

async function getModels (url: string): Promise<ModelsResponse> {
  const r = await fetch(`${url}/models`)
  if (!r.ok) throw new Error(`GET ${url}/models: HTTP ${r.status}`)
  return await r.json() as ModelsResponse
}
