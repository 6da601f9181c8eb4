// `npm run simulate -- fidelity --url http://127.0.0.1:PORT`: is the simulator right about this
// machine? The same open-loop Poisson /classify arrivals (generated once per rate from one
// seed: identical times and classes) go to the live server and to the simulator on the
// server's measured profile; per class p99 and refusals side by side. The simulator runs
// twice: as it models a host now (the CPU device, decoding and each request's fixed cost on
// one pool of cores: host.sharedCores, host.requestMs) and as it did before (decoding on
// cores of its own, no fixed cost), so the difference the model makes is measured too. Where
// the load client shares the host (`clientOnHost`), "now" also charges the client's CPU per
// request (the profile's host.clientCpuMs) to that pool; each live run measures it again.
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { round } from '../util/format.js'
import { percentiles, runScenario, type RunResult } from './engine.js'
import { clientCpuPerRequest } from './client-cpu.js'
import { sendOpenLoop, type OpenLoopResult } from './open-loop.js'
import type { Profile } from './profile.js'
import type { Scenario, TrafficClass } from './scenario.js'
import { generate, type Workload } from './workload.js'

export interface FidelityOptions {
  url: string
  /** the route and the model it serves */
  path: string
  model: string
  image: string
  profile: Profile
  rates: number[]
  durationS: number
  latencyShare: number
  seed: number
  /** the server's decode.slots, decode.bulkSlots, decode.maxWaiting */
  decode: { slots: number, bulkSlots: number, maxWaiting: number | null }
  /** the server's routing.latencyDeadlineMs / throughputDeadlineMs (no deadline header is sent) */
  deadlineMs: { latency: number, throughput: number }
  /** pause between live runs, s */
  pauseS?: number
  /**
   * the load client runs on the server's cores: the simulator charges the profile's
   * host.clientCpuMs per request to the host's core pool; default the profile's host.clientOnHost
   */
  clientOnHost?: boolean
}

export interface ClassSide { p50: number, p99: number, refused: number, offered: number }
export interface FidelityRow {
  ratePerS: number
  offered: number
  live: Record<string, ClassSide>
  sim: Record<string, ClassSide>
  /** the simulator without shared cores and fixed cost (the model before issue 17) */
  simBefore: Record<string, ClassSide>
  /** where the client's CPU is charged: the same simulator without it, so its share of the difference is measured */
  simNoClient?: Record<string, ClassSide>
  /** sim p99 / live p99 per class */
  ratio: Record<string, number>
  liveStatuses: Record<string, number>
  /** the machine's 1-minute load average before and after the live run (other work on the same cores) */
  loadAverage: [number, number]
  /** the load client's CPU ms per request in this live run (process.cpuUsage of the sender) */
  clientCpuMs: number
  /** where the client is charged by rate and outcome: what the model says for this run (its rate, its refused share) */
  clientCpuModelMs?: number
  /** where charged by rate: the same simulator with the flat clientCpuMs instead (what the model changes) */
  simFlat?: Record<string, ClassSide>
  /** where the live round trip went, per class (Server-Timing of the 2xx answers) */
  liveParts?: Record<string, LiveParts>
  /** the simulator's p99 from the end of decoding to the answer, per class (the live queue + inference + postprocess side) */
  simAfterDecodeP99?: Record<string, number>
  /** the simulator's decode (elapsed under the slot, on the shared cores) p50 / p99 per class, beside the live Server-Timing decode */
  simDecode?: Record<string, { p50: number, p99: number }>
}

/**
 * One class's live round trips taken apart (ms): the server's handler (Server-Timing total) into
 * decode, queue, inference + postprocess and the rest of the handler (admission, the decode gate's
 * wait, building the answer); outside = round trip − total (the client, the kernel, the server's
 * HTTP parsing, its reading of the body, its event loop before and after the handler). p50 and p99 of each part, and its
 * mean over the tail: the answers at or above the class's p95 round trip.
 */
export interface LiveParts {
  p50: Record<PartName, number>
  p99: Record<PartName, number>
  tailMean: Record<PartName, number>
  tailN: number
}
export type PartName = 'outside' | 'handlerRest' | 'decode' | 'queue' | 'inference'
const PARTS: readonly PartName[] = ['outside', 'handlerRest', 'decode', 'queue', 'inference']

/** The live round trips of one class taken apart by their Server-Timing (answers without it left out). */
export function liveParts (res: Pick<OpenLoopResult, 'latency' | 'ok' | 'timing'>, w: Workload, cls: number): LiveParts | undefined {
  const rows: Array<Record<PartName, number> & { rtt: number }> = []
  const t = res.timing
  for (let i = 0; i < w.count; i++) {
    if (w.cls[i] !== cls || res.ok[i] !== 1 || !Number.isFinite(t.total[i]!)) continue
    const decode = t.decode[i]!; const queue = t.queue[i]!; const inference = t.inference[i]!; const total = t.total[i]!
    rows.push({ rtt: res.latency[i]!, outside: res.latency[i]! - total, handlerRest: total - decode - queue - inference, decode, queue, inference })
  }
  if (rows.length === 0) return undefined
  const p95 = percentiles(rows.map((r) => r.rtt)).p95
  const tail = rows.filter((r) => r.rtt >= p95)
  const of = (f: (xs: number[]) => number): Record<PartName, number> => Object.fromEntries(PARTS.map((p) => [p, f(rows.map((r) => r[p]))])) as Record<PartName, number>
  return {
    p50: of((xs) => percentiles(xs).p50),
    p99: of((xs) => percentiles(xs).p99),
    tailMean: Object.fromEntries(PARTS.map((p) => [p, tail.reduce((a, r) => a + r[p], 0) / tail.length])) as Record<PartName, number>,
    tailN: tail.length
  }
}

export function fidelityTraffic (o: Pick<FidelityOptions, 'model' | 'latencyShare' | 'deadlineMs'>): TrafficClass[] {
  return [
    { model: o.model, policy: 'throughput', share: 1 - o.latencyShare, deadlineMs: o.deadlineMs.throughput },
    { model: o.model, policy: 'latency', share: o.latencyShare, deadlineMs: o.deadlineMs.latency }
  ]
}

/** Whether the simulator charges the load client's CPU: the option, else the profile's flag; and only what was measured. */
export function chargesClient (o: Pick<FidelityOptions, 'profile' | 'clientOnHost'>): boolean {
  return (o.clientOnHost ?? o.profile.host?.clientOnHost ?? false) && (o.profile.host?.clientCpuMs !== undefined || o.profile.host?.clientCpu !== undefined)
}

/** Whether the charge is by the client's model of rate and outcome (host.clientCpu for the model), not the flat clientCpuMs. */
export function chargesClientByRate (o: Pick<FidelityOptions, 'profile' | 'clientOnHost' | 'model'>): boolean {
  return chargesClient(o) && o.profile.host?.clientCpu?.[o.model] !== undefined
}

/** The simulator's scenario for the live server: its profile's devices and host, its decode gate. */
export function fidelityScenario (o: Pick<FidelityOptions, 'profile' | 'model' | 'latencyShare' | 'deadlineMs' | 'decode' | 'seed' | 'clientOnHost'>, shared = true, client: 'by-rate' | 'flat' = 'by-rate'): Scenario {
  const h = o.profile.host
  if (!h) throw new Error(`profile ${o.profile.name} has no host section`)
  if (h.decodeMs[o.model] === undefined) throw new Error(`profile ${o.profile.name} has no decode cost for ${o.model}`)
  return {
    name: `fidelity-${o.profile.name}`,
    description: 'the live server\'s profile, its decode gate, /classify traffic',
    seed: o.seed,
    durationS: 0,
    load: 0,
    sweep: [],
    sweepS: 0,
    host: { slots: o.decode.slots, bulkSlots: o.decode.bulkSlots, maxWaiting: o.decode.maxWaiting, decodeMs: h.decodeMs, jitter: h.decodeJitter ?? 0.1, source: `${o.profile.name}: ${o.profile.source}`, cores: h.cores, sharedCores: shared, requestMs: shared ? h.requestMs ?? 0 : 0, ...(shared && chargesClient(o) && h.clientCpuMs ? { clientCpuMs: h.clientCpuMs } : {}), ...(shared && chargesClient(o) && h.clientCpu && client === 'by-rate' ? { clientCpu: h.clientCpu } : {}) },
    devices: o.profile.devices.map((d) => ({ ...d })),
    sources: Object.fromEntries(o.profile.devices.map((d) => [d.id, o.profile.source])),
    traffic: fidelityTraffic(o),
    arrivals: { kind: 'poisson' },
    events: [],
    slo: { latency: 100, throughput: 2000 },
    strategies: ['switchyard']
  }
}

/** Sends the workload to the live server, open loop: request i at start + at[i], whatever is still running. */
export async function runLive (o: FidelityOptions, w: Workload, traffic: TrafficClass[]): Promise<OpenLoopResult> {
  return await sendOpenLoop({ url: o.url + o.path, body: readFileSync(o.image), contentType: 'image/jpeg', policies: traffic.map((c) => c.policy) }, w)
}

function sides (w: Workload, traffic: TrafficClass[], latency: (i: number) => number | null): Record<string, ClassSide> {
  const out: Record<string, ClassSide> = {}
  for (const [k, c] of traffic.entries()) {
    const xs: number[] = []; let offered = 0; let refused = 0
    for (let i = 0; i < w.count; i++) {
      if (w.cls[i] !== k) continue
      offered++
      const l = latency(i)
      if (l === null) refused++; else xs.push(l)
    }
    const p = percentiles(xs)
    out[c.policy] = { p50: p.p50, p99: p.p99, refused: offered > 0 ? refused / offered : 0, offered }
  }
  return out
}

function simSides (r: RunResult): Record<string, ClassSide> {
  const out: Record<string, ClassSide> = {}
  for (const [policy, c] of Object.entries(r.byPolicy)) out[policy] = { p50: c.p50, p99: c.p99, refused: c.offered > 0 ? (c.rejected + c.unfinished) / c.offered : 0, offered: c.offered }
  return out
}

export async function runFidelity (o: FidelityOptions, log: (s: string) => void): Promise<FidelityRow[]> {
  const traffic = fidelityTraffic(o)
  const durationMs = o.durationS * 1000
  const live: Array<{ rate: number, w: Workload, res: Awaited<ReturnType<typeof runLive>>, load: [number, number] }> = []
  // live first, every rate, so the simulator's own CPU use never overlaps a live run
  for (const rate of o.rates) {
    const w = generate({ kind: 'poisson' }, traffic, rate, durationMs, o.seed)
    log(`live: ${rate} req/s for ${o.durationS} s (${w.count} requests)`)
    const before = loadavg()[0]!
    const res = await runLive(o, w, traffic)
    live.push({ rate, w, res, load: [before, loadavg()[0]!] })
    await new Promise((resolve) => setTimeout(resolve, (o.pauseS ?? 5) * 1000))
  }
  const now = fidelityScenario(o, true)
  const before = fidelityScenario(o, false)
  const noClient = chargesClient(o) ? fidelityScenario({ ...o, clientOnHost: false }, true) : undefined
  const byRate = chargesClientByRate(o)
  const flat = byRate && o.profile.host?.clientCpuMs !== undefined ? fidelityScenario(o, true, 'flat') : undefined
  const clientModel = byRate ? o.profile.host!.clientCpu![o.model]! : undefined
  return live.map(({ rate, w, res, load }) => {
    const decodeWallMs = new Float64Array(w.count)
    const simRun = runScenario(now, { strategy: 'switchyard', ratePerS: rate, durationMs, decodeWallMs }, w)
    const simDecode = Object.fromEntries(traffic.map((c, k) => {
      const xs: number[] = []
      for (let i = 0; i < w.count; i++) if (w.cls[i] === k && Number.isFinite(decodeWallMs[i]!)) xs.push(decodeWallMs[i]!)
      const p = percentiles(xs)
      return [c.policy, { p50: p.p50, p99: p.p99 }]
    }))
    const sim = simSides(simRun)
    const simBefore = simSides(runScenario(before, { strategy: 'switchyard', ratePerS: rate, durationMs }, w))
    const simNoClient = noClient ? simSides(runScenario(noClient, { strategy: 'switchyard', ratePerS: rate, durationMs }, w)) : undefined
    const simFlat = flat ? simSides(runScenario(flat, { strategy: 'switchyard', ratePerS: rate, durationMs }, w)) : undefined
    const l = sides(w, traffic, (i) => (res.ok[i] === 1 ? res.latency[i]! : null))
    const ratio = Object.fromEntries(Object.keys(l).map((p) => [p, sim[p]!.p99 / l[p]!.p99]))
    const refusedShare = 1 - res.ok.reduce((a, x) => a + x, 0) / Math.max(1, w.count)
    const parts = Object.fromEntries(traffic.flatMap((c, k) => { const x = liveParts(res, w, k); return x ? [[c.policy, x]] : [] }))
    const simAfterDecodeP99 = Object.fromEntries(Object.entries(simRun.byPolicy).map(([p, c]) => [p, c.p99AfterDecode]))
    return { ratePerS: rate, offered: w.count, live: l, sim, simBefore, ratio, liveStatuses: res.statuses, loadAverage: load, clientCpuMs: res.clientCpuMs, ...(simNoClient ? { simNoClient } : {}), ...(simFlat ? { simFlat } : {}), ...(clientModel ? { clientCpuModelMs: clientCpuPerRequest(clientModel, rate, refusedShare) } : {}), liveParts: parts, simAfterDecodeP99, simDecode }
  })
}

const ms = (x: number): string => (Number.isFinite(x) ? (x >= 100 ? Math.round(x).toString() : x.toFixed(1)) : '–')
const pc = (x: number): string => `${(x * 100).toFixed(1)} %`

export function fidelityMarkdown (rows: FidelityRow[], o: FidelityOptions, command: string, machine: string): string {
  const h = o.profile.host!
  const cpu = o.profile.devices.find((d) => d.kind === 'cpu')
  const L: string[] = ['# Fidelity: the simulator against the live server on this machine (issue 17)', '']
  L.push(`Command: \`${command}\`. ${machine}. Open-loop Poisson ${o.path} traffic, ${Math.round(o.latencyShare * 100)} % latency class (X-Switchyard-Policy), the rest throughput class, ${o.durationS} s per rate, identical arrival times and classes (seed ${o.seed}) for the live server and the simulator; live latency = the client's round trip. The server: started here with SWITCHYARD_MODELS_DIR=../shared/models and the default config (decode ${o.decode.slots} slots, ${o.decode.bulkSlots} for bulk, ${o.decode.maxWaiting === null ? 'waiting bounded by time' : `≤ ${o.decode.maxWaiting} waiting`}).`, '')
  L.push(`Profile \`${o.profile.name}\` (${o.profile.source}): host ${h.cores} cores, decode ${h.decodeMs[o.model]} ms/image, fixed cost ${h.requestMs ?? 0} ms/request, the load client's CPU ${clientDescription(o)}${cpu ? `; ${cpu.id}: ${cpu.workers} workers (${cpu.latencyWorkers ?? 0} for latency), ${cpu.threads ?? 1} core(s) per batch, fitted t(n) = ${cpu.models[o.model]?.a} + ${cpu.models[o.model]?.b}·n ms, calibrated (alone) ${cpu.models[o.model]?.calibrated ? `${cpu.models[o.model]!.calibrated!.a} + ${cpu.models[o.model]!.calibrated!.b}·n` : '–'} ms` : ''}.`, '')
  L.push('"sim" = the simulator as it models a host now: the CPU device\'s batches, decoding, each request\'s fixed cost and (where charged) the load client\'s CPU per request on one pool of the host\'s cores (processor sharing, src/sim/core-pool.ts), the device at its calibrated (uncontended) cost. "before" = decoding on slots of its own, no fixed cost, no client CPU, the fitted cost (the model before issue 17). Target: sim p99 of each class within 25 % of live.', '')
  L.push('| rate req/s | class | live p50 / p99 ms | sim p50 / p99 ms | sim / live p99 | before: p50 / p99 ms | refused live / sim / before | within 25 % |')
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const r of rows) {
    for (const p of ['latency', 'throughput']) {
      const l = r.live[p]; const s = r.sim[p]; const b = r.simBefore[p]
      if (!l || !s || !b) continue
      const ratio = r.ratio[p]!
      L.push(`| ${r.ratePerS} | ${p} | ${ms(l.p50)} / ${ms(l.p99)} | ${ms(s.p50)} / ${ms(s.p99)} | ${Number.isFinite(ratio) ? ratio.toFixed(2) : '–'} | ${ms(b.p50)} / ${ms(b.p99)} | ${pc(l.refused)} / ${pc(s.refused)} / ${pc(b.refused)} | ${Math.abs(ratio - 1) <= 0.25 ? 'yes' : '**no**'} |`)
    }
  }
  // the same simulator run another way, against the same live answers
  const variant = (pick: (r: FidelityRow) => Record<string, ClassSide> | undefined, caption: string, column: string): void => {
    if (!rows.some((r) => pick(r))) return
    L.push('', caption, '', `| rate req/s | class | ${column} p50 / p99 ms | its sim / live p99 | refused |`, '| --- | --- | --- | --- | --- |')
    for (const r of rows) {
      for (const p of ['latency', 'throughput']) {
        const l = r.live[p]; const n = pick(r)?.[p]
        if (!l || !n) continue
        L.push(`| ${r.ratePerS} | ${p} | ${ms(n.p50)} / ${ms(n.p99)} | ${(n.p99 / l.p99).toFixed(2)} | ${pc(n.refused)} |`)
      }
    }
  }
  variant((r) => r.simNoClient, 'The same simulator without the load client\'s CPU (what it adds):', 'sim without client')
  variant((r) => r.simFlat, 'The same simulator with the profile\'s flat client charge (one number per request, whatever the rate and outcome) instead of the model by rate and outcome:', 'sim, flat client')
  if (rows.some((r) => r.liveParts && Object.keys(r.liveParts).length > 0)) {
    L.push('', 'Where the live round trip went (Server-Timing of each answer; "outside" = round trip − the handler\'s total: the client, the kernel, the server\'s HTTP parsing, its reading of the body (Fastify\'s parser, before the handler), its event loop before and after the handler, the answer\'s serialization; "handler rest" = total − decode − queue − inference − postprocess: admission, the decode gate\'s wait, building the answer), p50 / p99 of each part and its mean over the tail (the answers at or above the class\'s p95 round trip); beside it the simulator\'s decode (elapsed under its slot, on the shared cores) and its p99 from decoded to answered (its queue + inference):', '', '| rate req/s | class | outside | handler rest | decode | queue | inference + post | tail (n): outside / rest / decode / queue / inference | sim decode p50 / p99 | sim decoded → answered p99 |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for (const r of rows) {
      for (const p of ['latency', 'throughput']) {
        const x = r.liveParts?.[p]
        if (!x) continue
        const cell = (k: PartName): string => `${ms(x.p50[k])} / ${ms(x.p99[k])}`
        L.push(`| ${r.ratePerS} | ${p} | ${PARTS.map(cell).join(' | ')} | (${x.tailN}) ${PARTS.map((k) => ms(x.tailMean[k])).join(' / ')} | ${ms(r.simDecode?.[p]?.p50 ?? NaN)} / ${ms(r.simDecode?.[p]?.p99 ?? NaN)} | ${ms(r.simAfterDecodeP99?.[p] ?? NaN)} |`)
      }
    }
  }
  L.push('', `Live answers by status: ${rows.map((r) => `${r.ratePerS} req/s ${Object.entries(r.liveStatuses).map(([k, v]) => `${k}: ${v}`).join(', ')}`).join('; ')}.`, '')
  L.push(`The load client's CPU per request in each live run (process.cpuUsage of the sending process, src/sim/open-loop.ts): ${rows.map((r) => `${r.ratePerS} req/s ${r.clientCpuMs.toFixed(2)} ms${r.clientCpuModelMs !== undefined ? ` (the model at this rate and refused share: ${r.clientCpuModelMs.toFixed(2)} ms)` : ''}`).join('; ')}; the profile's flat number: ${h.clientCpuMs?.[o.model] ?? '–'} ms.`, '')
  L.push(`The machine's 1-minute load average before / after each live run (other work on the same ${h.cores} cores, which neither the profile nor the simulator can know): ${rows.map((r) => `${r.ratePerS} req/s ${r.loadAverage[0].toFixed(1)} / ${r.loadAverage[1].toFixed(1)}`).join('; ')}.`, '')
  return L.join('\n')
}

function clientDescription (o: FidelityOptions): string {
  const h = o.profile.host!
  const m = h.clientCpu?.[o.model]
  const flat = h.clientCpuMs?.[o.model]
  if (m === undefined && flat === undefined) return 'not measured (not charged)'
  const charged = chargesClient(o) ? 'charged to the host\'s cores: the client runs on them' : 'not charged: the client is not on the host'
  if (m === undefined) return `${flat} ms/request (${charged})`
  return `by rate and outcome ${m.answeredMs} ms per answered request, ${m.refusedMs} ms per refused + ${m.perSecondMs} ms per second of sending (fitted to ${m.points.length} bursts at ${m.points.map((p) => p.ratePerS).join(', ')} req/s; the flat number ${flat ?? '–'} ms/request; ${charged}, by rate and outcome)`
}

export function fidelityJson (rows: FidelityRow[], o: FidelityOptions, command: string): object {
  const rd = (x: unknown): unknown => {
    if (typeof x === 'number') return Number.isFinite(x) ? round(x, 3) : null
    if (Array.isArray(x)) return x.map(rd)
    if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, rd(v)]))
    return x
  }
  const { profile, ...rest } = o
  return { command, options: rest, profile, rows: rd(rows) }
}
