// A simulator scenario (bench/scenarios/*.json): which devices (from profiles), which host
// decodes the images, what traffic arrives how, what goes wrong when, and the SLOs it is
// judged by. Resolved here into what the engine runs, with the capacity that offered load is
// expressed against.
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, join } from 'node:path'
import type { Policy } from '../config/schema.js'
import { STRATEGIES, type Strategy } from '../router/strategies.js'
import { loadProfile, type DeviceProfile, type HostProfile } from './profile.js'
import type { ClientCpuModel } from './client-cpu.js'

export interface TrafficClass {
  model: string
  policy: Policy
  /** fraction of all requests */
  share: number
  /** the request's deadline (X-Switchyard-Deadline-Ms), ms after arrival */
  deadlineMs: number
  /**
   * images per request (default 1): more is a request whose images are placed, queued and
   * settled together (Dispatcher.submitMany), decoded as `itemsDecode` says. Capacity and
   * offered load count a request of k images as k images of work.
   */
  items?: number
  /**
   * how a request of several `items` is decoded (default 'together'):
   * 'together' — under one decode slot, the host's decode ms once per request: a tiled /detect
   * (one decode, then the tiles cut from it);
   * 'each' — every image under a decode slot of its own, the host's decode ms per image: a
   * multi-item /v2 request (RequestPipeline.runEach, the path src/http/v2/routes.ts runs).
   */
  itemsDecode?: ItemsDecode
}

export type ItemsDecode = 'together' | 'each'
export const ITEMS_DECODE: readonly ItemsDecode[] = ['together', 'each']

export type Arrivals =
  | { kind: 'poisson' }
  /** every periodS, burstS seconds at factor × the mean rate; the rest of the period slower, so the mean holds */
  | { kind: 'bursty', periodS: number, burstS: number, factor: number }

export interface ScenarioEvent {
  atS: number
  device: string
  down?: boolean
  slowdown?: number
}

export interface HostSpec {
  /** the profile whose host section gives decode ms per image */
  profile: string
  /** cores decoding (decode slots); default: the profile's */
  cores?: number
  /** decode slots when they differ from the cores (the server's decode.slots); default: cores */
  slots?: number
  /**
   * the CPU devices run their batches on these same cores, as decoding and each request's fixed
   * cost do (one pool, processor sharing: src/sim/core-pool.ts); default false — decoding has
   * cores of its own and CPU devices are not slowed by it
   */
  sharedCores?: boolean
  /** of which throughput-class requests may hold (DecodeGate bulkSlots); default cores − 1, ≥ 1 */
  bulkSlots?: number
  /** requests waiting for a decode slot before more are refused; null: no count, bounded by time (the server's decode.maxWaiting: null); default null (the server's; 64, a count, before the server's default changed) */
  maxWaiting?: number | null
  /** bytes of prepared images accepted requests may hold (the server's routing.maxQueuedBytes); default 1 GiB */
  maxQueuedBytes?: number
  /** bytes of one prepared image per model; default 224 × 224 × 3 */
  imageBytes?: Record<string, number>
}

export interface DeviceRef {
  /** profile name (bench/profiles/<name>.json) or path */
  profile: string
  /** which device of the profile; default its first */
  device?: string
  /** id in the simulation; default the profile device's id */
  id?: string
  workers?: number
  latencyWorkers?: number
  /** as the server's devices[].riders (src/devices/riders.ts, latency-gate.ts): budget, backlogBudget, latencyObjectiveMs; default the server's */
  riders?: { budget?: number, backlogBudget?: number, latencyObjectiveMs?: number }
}

export interface Slo { latency: number, throughput: number }

export interface ScenarioFile {
  name: string
  description: string
  seed?: number
  /** the headline run: simulated seconds, offered load as a fraction of capacity */
  durationS: number
  load: number
  /** load fractions of the sweep (sustainable rate, plots); default DEFAULT_SWEEP */
  sweep?: number[]
  /** simulated seconds of each sweep run; default min(durationS, 120) */
  sweepS?: number
  host: HostSpec
  devices: DeviceRef[]
  traffic: TrafficClass[]
  arrivals: Arrivals
  events?: ScenarioEvent[]
  /** p99 ms per class; default 100 / 2000 */
  slo?: Slo
  strategies?: Strategy[]
}

export const DEFAULT_SWEEP = [0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1, 1.05, 1.1, 1.2]
export const DEFAULT_SLO: Slo = { latency: 100, throughput: 2000 }

/** the simulated server's memory budget for queued images (deterministic: not sized from this machine) */
export const DEFAULT_SIM_QUEUE_BYTES = 1024 ** 3
/** a prepared MobileNetV2 input: 224 × 224 RGB bytes */
export const DEFAULT_IMAGE_BYTES = 224 * 224 * 3

export interface HostModel {
  /** decode slots (DecodeGate) */
  slots: number
  /** the host's cores, where sharedCores; default slots */
  cores?: number
  /** CPU devices, decoding and each request's fixed cost share the cores (src/sim/core-pool.ts) */
  sharedCores?: boolean
  /** ms of one core per request besides decoding and inference (the profile's host.requestMs); default 0 */
  requestMs?: number
  /**
   * per model, ms of the load client's CPU per request on these same cores (the profile's
   * host.clientCpuMs), charged to the core pool beside each request where sharedCores; set only
   * by the fidelity command (its client shares the host), never from a scenario file; default none
   */
  clientCpuMs?: Record<string, number>
  /**
   * per model, the load client's CPU by its rate and outcome (the profile's host.clientCpu,
   * client-cpu.ts); where set, charged instead of clientCpuMs at the run's offered rate. Set only
   * by the fidelity command, never from a scenario file; default none
   */
  clientCpu?: Record<string, ClientCpuModel>
  bulkSlots: number
  /** null: no count (decode-gate.ts: waiting bounded by time) */
  maxWaiting: number | null
  /** admission by memory (src/devices/queue-budget.ts); default DEFAULT_SIM_QUEUE_BYTES */
  maxQueuedBytes?: number
  /** bytes of one prepared image per model; default DEFAULT_IMAGE_BYTES */
  imageBytes?: Record<string, number>
  decodeMs: Record<string, number>
  jitter: number
  source: string
}

export interface Scenario {
  name: string
  description: string
  seed: number
  durationS: number
  load: number
  sweep: number[]
  sweepS: number
  host: HostModel
  devices: DeviceProfile[]
  /** per device id: where its numbers come from */
  sources: Record<string, string>
  traffic: TrafficClass[]
  arrivals: Arrivals
  events: ScenarioEvent[]
  slo: Slo
  strategies: Strategy[]
}

export const PROFILES_DIR = join(import.meta.dirname, '..', '..', 'bench', 'profiles')

export function profilePath (ref: string, base = PROFILES_DIR): string {
  if (ref.endsWith('.json')) return isAbsolute(ref) ? ref : join(process.cwd(), ref)
  return join(base, `${ref}.json`)
}

export function loadScenario (file: string): Scenario {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as ScenarioFile
  return resolveScenario(raw, join(dirname(file), '..', 'profiles'))
}

export function resolveScenario (f: ScenarioFile, profilesDir = PROFILES_DIR): Scenario {
  const bad = (msg: string): never => { throw new Error(`scenario ${f.name}: ${msg}`) }
  const { host, devices, sources } = resolveHardware(f.name, f, f.traffic, profilesDir)
  for (const s of f.strategies ?? []) if (!STRATEGIES.includes(s)) bad(`unknown strategy ${s}`)
  for (const e of f.events ?? []) if (!devices.some((d) => d.id === e.device)) bad(`event names unknown device ${e.device}`)
  for (const c of f.traffic) {
    if (c.items !== undefined && !(Number.isInteger(c.items) && c.items >= 1)) bad(`traffic ${c.model}/${c.policy}: items must be a whole number ≥ 1`)
    if (c.itemsDecode !== undefined && !ITEMS_DECODE.includes(c.itemsDecode)) bad(`traffic ${c.model}/${c.policy}: itemsDecode must be one of ${ITEMS_DECODE.join(', ')}`)
  }
  return {
    name: f.name,
    description: f.description,
    seed: f.seed ?? 1,
    durationS: f.durationS,
    load: f.load,
    sweep: f.sweep ?? DEFAULT_SWEEP,
    sweepS: f.sweepS ?? Math.min(f.durationS, 120),
    host,
    devices,
    sources,
    traffic: f.traffic,
    arrivals: f.arrivals,
    events: f.events ?? [],
    slo: f.slo ?? DEFAULT_SLO,
    strategies: f.strategies ?? STRATEGIES.filter((st) => st !== 'late-binding' && st !== 'early-binding') // an alias and the old rule, not baselines: named to be run
  }
}

/** What one machine is: its devices, from their profiles, and the host that decodes (a scenario's, or a fleet's pod type's). */
export interface Hardware {
  host: HostModel
  devices: DeviceProfile[]
  /** per device id: where its numbers come from */
  sources: Record<string, string>
}

/**
 * The one reading of a machine's `host` and `devices` against their profiles, checked against
 * the traffic it serves (shares summing to 1, a decode cost and a device for every model); used
 * by resolveScenario and by the fleet simulator for each pod type (sim/fleet.ts).
 */
export function resolveHardware (name: string, f: { host: HostSpec, devices: readonly DeviceRef[] }, traffic: readonly TrafficClass[], profilesDir = PROFILES_DIR): Hardware {
  const bad = (msg: string): never => { throw new Error(`scenario ${name}: ${msg}`) }
  const sources: Record<string, string> = {}
  const devices: DeviceProfile[] = f.devices.map((ref) => {
    const p = loadProfile(profilePath(ref.profile, profilesDir))
    const d = ref.device === undefined ? p.devices[0] : p.devices.find((x) => x.id === ref.device)
    if (!d) return bad(`profile ${ref.profile} has no device ${ref.device}`)
    const id = ref.id ?? d.id
    sources[id] = `${p.name}: ${p.source}`
    const r = ref.riders ?? {}
    for (const [k, v, min] of [['budget', r.budget, 0], ['backlogBudget', r.backlogBudget, 0], ['latencyObjectiveMs', r.latencyObjectiveMs, 1]] as const) {
      if (v !== undefined && !(typeof v === 'number' && v >= min)) bad(`device ${id}: riders.${k} must be a number ≥ ${min}`)
    }
    return {
      ...d,
      id,
      workers: ref.workers ?? d.workers,
      latencyWorkers: ref.latencyWorkers ?? d.latencyWorkers ?? 0,
      ...(r.budget !== undefined ? { ridersBudget: r.budget } : {}),
      ...(r.backlogBudget !== undefined ? { ridersBacklogBudget: r.backlogBudget } : {}),
      ...(r.latencyObjectiveMs !== undefined ? { latencyObjectiveMs: r.latencyObjectiveMs } : {})
    }
  })
  if (new Set(devices.map((d) => d.id)).size !== devices.length) bad('device ids must be unique (set id)')
  const hp = loadProfile(profilePath(f.host.profile, profilesDir))
  if (!hp.host) bad(`profile ${f.host.profile} has no host section (decode costs)`)
  const h: HostProfile = hp.host!
  const cores = f.host.cores ?? h.cores
  const slots = f.host.slots ?? cores
  const host: HostModel = {
    slots,
    cores,
    sharedCores: f.host.sharedCores ?? false,
    requestMs: h.requestMs ?? 0,
    bulkSlots: f.host.bulkSlots ?? Math.max(1, slots - 1),
    maxWaiting: f.host.maxWaiting === undefined ? null : f.host.maxWaiting,
    ...(f.host.maxQueuedBytes !== undefined ? { maxQueuedBytes: f.host.maxQueuedBytes } : {}),
    ...(f.host.imageBytes !== undefined ? { imageBytes: f.host.imageBytes } : {}),
    decodeMs: h.decodeMs,
    jitter: h.decodeJitter ?? 0.1,
    source: `${hp.name}: ${hp.source}`
  }
  let share = 0
  for (const c of traffic) {
    share += c.share
    if (host.decodeMs[c.model] === undefined) bad(`host profile ${hp.name} has no decode cost for ${c.model}`)
    if (!devices.some((d) => d.models[c.model] !== undefined)) bad(`no device serves ${c.model}`)
  }
  if (Math.abs(share - 1) > 1e-6) bad(`traffic shares sum to ${share}, not 1`)
  return { host, devices, sources }
}

/** Workers of a device that take throughput-class work (reserved latency workers capped at workers − 1). */
export function generalWorkers (d: DeviceProfile): number {
  return d.workers - Math.min(d.latencyWorkers ?? 0, d.workers - 1)
}

/** Images a request of the class sends to the devices. */
export function itemsOf (c: Pick<TrafficClass, 'items'>): number {
  return c.items ?? 1
}

/** Decodes a request of the class costs the host: one ('together'), or one per image ('each'). */
export function decodesOf (c: Pick<TrafficClass, 'items' | 'itemsDecode'>): number {
  return c.itemsDecode === 'each' ? itemsOf(c) : 1
}

/**
 * A device's capacity for the scenario's traffic mix, requests per second: its workers that
 * take throughput work, each running full batches, t(B)/B ms per image, the models mixed in
 * their traffic shares, a request of k images (`items`) counted as k images of work. Reserved
 * latency workers are not counted (they idle without latency work). Capacity of a set of
 * devices: the sum — what a perfect router could reach.
 */
export function deviceCapacity (d: DeviceProfile, traffic: readonly TrafficClass[]): number {
  let msPerRequest = 0; let served = 0
  for (const c of traffic) {
    const m = d.models[c.model]
    if (!m) continue
    msPerRequest += c.share * itemsOf(c) * (m.a + m.b * m.maxBatchSize) / m.maxBatchSize
    served += c.share
  }
  if (served === 0) return 0
  return generalWorkers(d) * 1000 / (msPerRequest / served)
}

export function capacity (s: Pick<Scenario, 'devices' | 'traffic'>): number {
  let sum = 0
  for (const d of s.devices) sum += deviceCapacity(d, s.traffic)
  return sum
}

/**
 * Requests per second the host can decode for the mix (every slot busy): images per second
 * when each request is one image; a class decoding `each` of its k images costs k decodes.
 */
export function decodeCapacity (s: Pick<Scenario, 'host' | 'traffic'>): number {
  let ms = 0
  for (const c of s.traffic) ms += c.share * decodesOf(c) * s.host.decodeMs[c.model]!
  return s.host.slots * 1000 / ms
}
