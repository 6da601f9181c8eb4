// The fleet simulator: N Switchyard replicas (pods) behind one front-end picker, on one virtual
// clock. Each pod is what one server process is — its own devices (the server's Scheduler on
// simulated executors, with the late-binding pools the server builds for its default strategy),
// its own Dispatcher with the switchyard router, its own decode host
// (DecodeGate, cores named in the scenario) — and follows the server's path: admit → decode
// gate → decode → dispatch → answer. In front, the picker chooses a pod per request by one of
// the rules real balancers use, from what it can know:
//
//   round-robin     a plain Kubernetes Service: the next pod in turn, knowing nothing
//   least-requests  Envoy's LEAST_REQUEST: two pods at random, the one with fewer requests the
//                   balancer itself has in flight there (its own live count, never stale)
//   epp             the Gateway API Inference Extension Endpoint Picker with Switchyard's
//                   configuration (docker/k8s/gaie/epp-config.yaml, EPP_PROFILES below): per
//                   policy a profile scoring the pod's predicted-finish gauge, its
//                   queued-requests gauge (queue scorer) and the EPP's own in-flight count per
//                   pod (active-request scorer: the one signal that is never stale), weighted;
//                   each score normalised over the candidates' min–max, or a fixed range where
//                   the profile sets one (lower is better → 1), the pod with the highest sum
//                   picked (ties at random). The gauges are scraped: the picker sees them as
//                   they were at the last scrape.
//   haproxy-agent   HAProxy with docker/haproxy/haproxy.cfg: per policy a backend whose server
//                   weights come from each replica's agent (http/agent-check.ts) at every
//                   agent-inter; latency: roundrobin over them (simulated as a draw proportional
//                   to the weights: the same shares without HAProxy's exact order); throughput
//                   and cost: weighted leastconn over the balancer's own in-flight count per
//                   backend (an idle server first, else the least (in flight + 1) / weight)
//   oracle          not a balancer: the floor. Latency-class requests go to the pod predicted
//                   to answer first, judged on every pod's state at that moment (no scrape);
//                   throughput-class requests as the EPP places them
//
// Staleness: the gauges and agent weights are refreshed every `stalenessMs` of simulated time
// (a scrape or agent interval), so the picker decides on values up to that old; 0 means
// refreshed every millisecond.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Policy } from '../config/schema.js'
import { VirtualClock } from '../devices/clock.js'
import { QueueBudget } from '../devices/queue-budget.js'
import { RequestQueue } from '../devices/request-queue.js'
import type { BatchEvent, Scheduler } from '../devices/scheduler.js'
import { agentReply, type AgentWeight } from '../http/agent-check.js'
import { DecodeGate } from '../preprocess/decode-gate.js'
import { Dispatcher, type DispatchObserver, type Dispatched } from '../router/dispatcher.js'
import { podSignals, type PodSignals } from '../router/pod-signals.js'
import { Router } from '../router/router.js'
import { bindsLate, type Strategy } from '../router/strategies.js'
import type { PreparedImage } from '../worker/protocol.js'
import { percentiles, type Percentiles } from './engine.js'
import type { DeviceProfile } from './profile.js'
import { capacity, decodeCapacity, DEFAULT_IMAGE_BYTES, DEFAULT_SIM_QUEUE_BYTES, DEFAULT_SLO, PROFILES_DIR, resolveHardware, type Arrivals, type DeviceRef, type HostModel, type HostSpec, type ScenarioFile, type Slo, type TrafficClass } from './scenario.js'
import { SimDevice } from './sim-device.js'
import { seededRandom } from './simulated-executor.js'
import { generate } from './workload.js'

export const FLEET_STRATEGIES = ['round-robin', 'least-requests', 'epp', 'haproxy-agent', 'oracle'] as const
export type FleetStrategy = typeof FLEET_STRATEGIES[number]
/** the balancers a scenario runs unless it names its strategies ('oracle' is a floor, named to be run) */
export const FLEET_PICKERS: readonly FleetStrategy[] = ['round-robin', 'least-requests', 'epp', 'haproxy-agent']

/** One kind of pod, `count` times: its decode host and devices (profiles, as in a scenario). */
export interface PodTypeSpec {
  type: string
  count: number
  host: HostSpec
  devices: DeviceRef[]
}

/** A fleet scenario (bench/fleet-scenarios/*.json): a scenario's traffic, arrivals and SLOs (scenario.ts), pod types instead of one machine. */
export interface FleetScenarioFile extends Pick<ScenarioFile, 'name' | 'description' | 'seed' | 'durationS' | 'traffic' | 'arrivals' | 'slo'> {
  /** offered load as a fraction of the fleet's capacity */
  load: number
  /** the scrape / agent interval of the headline runs, ms (default 50) */
  stalenessMs?: number
  /** the intervals compared (default 0, 50, 200, 1000) */
  staleness?: number[]
  pods: PodTypeSpec[]
  strategies?: FleetStrategy[]
  /** EPP scheduling profiles (scorer weights and picker) per policy, or one for all; default EPP_PROFILES (docker/k8s/gaie/epp-config.yaml) */
  epp?: EppProfile | Partial<EppProfiles>
  /** HAProxy agent settings (default referenceMs 10, sharpness 2, backlogFloor 0.5) */
  agent?: AgentWeight
}

/** one EPP scheduling profile: scorer weights (predicted-finish attribute, queue-scorer, active-request-scorer) and the picker */
export interface EppProfile {
  finish: number
  queue: number
  active: number
  picker: 'max-score' | 'weighted-random'
  /** the finish scorer's fixedRange normalisation, ms: at or below min scores 1, at or above max 0 (default: adaptive, min-max over the candidates) */
  finishRangeMs?: [number, number]
}
export type EppProfiles = Record<Policy, EppProfile>

export interface PodType {
  type: string
  count: number
  host: HostModel
  devices: DeviceProfile[]
  /** requests/s one pod sustains for the mix: min(devices, decoding) */
  capacity: number
}

export interface FleetScenario {
  name: string
  description: string
  seed: number
  durationS: number
  load: number
  stalenessMs: number
  staleness: number[]
  podTypes: PodType[]
  traffic: TrafficClass[]
  arrivals: Arrivals
  slo: Slo
  strategies: FleetStrategy[]
  epp: EppProfiles
  agent: AgentWeight
  /** Σ over pods of their capacity, requests/s */
  capacity: number
}

/**
 * The profiles of docker/k8s/gaie/epp-config.yaml (docker/gaie.test.ts checks that
 * eppProfilesFromConfig() of that file gives exactly these). The latency profile scores the
 * predicted-finish gauge with a fixed range (0.04–0.1 s): every pod predicted to answer a
 * latency request within 40 ms scores the same, so the EPP's own live in-flight count
 * (active-request-scorer) spreads a scrape interval's latency requests over all of them instead
 * of herding them onto the one pod that looked best at the last scrape; no queue-scorer, since
 * the queued-requests gauge counts bulk work that latency requests jump.
 */
export const EPP_PROFILES: EppProfiles = {
  latency: { finish: 3, queue: 0, active: 1, picker: 'max-score', finishRangeMs: [40, 100] },
  throughput: { finish: 1, queue: 1, active: 3, picker: 'max-score' },
  cost: { finish: 1, queue: 1, active: 3, picker: 'max-score' }
}

/**
 * An EndpointPickerConfig (llm-d-router, parsed YAML) → the profiles the simulator runs: per
 * scheduling profile the weights of its endpoint-attribute-scorer (the policy's gauge, lower is
 * better, its fixedRange in seconds), queue-scorer and active-request-scorer, and its picker.
 * Throws on a plugin the simulator does not model, so the two cannot drift apart silently.
 */
export function eppProfilesFromConfig (config: unknown): EppProfiles {
  const c = config as { plugins?: Array<{ name?: string, type: string, parameters?: any }>, schedulingProfiles?: Array<{ name: string, plugins: Array<{ pluginRef: string, weight?: number }> }> }
  const plugins = c.plugins ?? []
  const out = structuredClone(EPP_PROFILES)
  for (const policy of ['latency', 'throughput', 'cost'] as const) {
    const profile = c.schedulingProfiles?.find((p) => p.name === policy)
    if (!profile) throw new Error(`EPP config: no scheduling profile ${policy}`)
    const e: EppProfile = { finish: 0, queue: 0, active: 0, picker: 'max-score' }
    for (const ref of profile.plugins) {
      const plugin = plugins.find((p) => (p.name ?? p.type) === ref.pluginRef)
      if (!plugin) throw new Error(`EPP config: profile ${policy} names unknown plugin ${ref.pluginRef}`)
      const weight = ref.weight ?? 1
      switch (plugin.type) {
        case 'endpoint-attribute-scorer': {
          const algorithm = plugin.parameters?.algorithm ?? {}
          if (algorithm.type !== 'linear_lower_is_better') throw new Error(`EPP config: ${ref.pluginRef}: the simulator models linear_lower_is_better only`)
          e.finish = weight
          const fixed = algorithm.normalization?.fixedRange
          if (fixed !== undefined) e.finishRangeMs = [fixed.min * 1000, fixed.max * 1000]
          break
        }
        case 'queue-scorer': e.queue = weight; break
        case 'active-request-scorer': e.active = weight; break
        case 'max-score-picker': e.picker = 'max-score'; break
        case 'weighted-random-picker': e.picker = 'weighted-random'; break
        default: throw new Error(`EPP config: profile ${policy}: the simulator does not model ${plugin.type}`)
      }
    }
    out[policy] = e
  }
  return out
}

/** A scenario's `epp`: one profile for every policy (the earlier form), or some profiles over the defaults. */
export function eppProfiles (e?: EppProfile | Partial<EppProfiles>): EppProfiles {
  if (e === undefined) return structuredClone(EPP_PROFILES)
  if ('finish' in e) return { latency: { ...e }, throughput: { ...e }, cost: { ...e } }
  const p = e as Partial<EppProfiles>
  return { latency: { ...EPP_PROFILES.latency, ...p.latency }, throughput: { ...EPP_PROFILES.throughput, ...p.throughput }, cost: { ...EPP_PROFILES.cost, ...p.cost } }
}

/** A fleet scenario file, its profiles from the profiles folder beside its own (as loadScenario). */
export function loadFleet (file: string): FleetScenario {
  return resolveFleet(JSON.parse(readFileSync(file, 'utf8')) as FleetScenarioFile, join(dirname(file), '..', 'profiles'))
}

export function resolveFleet (f: FleetScenarioFile, profilesDir = PROFILES_DIR): FleetScenario {
  const podTypes = f.pods.map((p) => {
    const hw = resolveHardware(`${f.name}/${p.type}`, p, f.traffic, profilesDir)
    // the fleet simulator sends every request as one image (runFleet): its capacity counts them so
    const mix = { ...hw, traffic: f.traffic.map((c) => ({ ...c, items: 1 })) }
    return { type: p.type, count: p.count, host: hw.host, devices: hw.devices, capacity: Math.min(capacity(mix), decodeCapacity(mix)) }
  })
  for (const s of f.strategies ?? []) if (!(FLEET_STRATEGIES as readonly string[]).includes(s)) throw new Error(`fleet ${f.name}: unknown strategy ${s}`)
  return {
    name: f.name,
    description: f.description,
    seed: f.seed ?? 1,
    durationS: f.durationS,
    load: f.load,
    stalenessMs: f.stalenessMs ?? 50,
    staleness: f.staleness ?? [0, 50, 200, 1000],
    podTypes,
    traffic: f.traffic,
    arrivals: f.arrivals,
    slo: f.slo ?? DEFAULT_SLO,
    strategies: f.strategies ?? [...FLEET_PICKERS],
    epp: eppProfiles(f.epp),
    agent: f.agent ?? { referenceMs: 10, sharpness: 2 },
    capacity: podTypes.reduce((a, t) => a + t.count * t.capacity, 0)
  }
}

export interface FleetRunOptions {
  strategy: FleetStrategy
  stalenessMs: number
  /** EPP profiles instead of the scenario's */
  epp?: EppProfiles
  /** offered load, requests/s (default: scenario load × capacity) */
  ratePerS?: number
  /** simulated ms (default: the scenario's duration) */
  durationMs?: number
  /** simulated ms after the last arrival to let accepted work finish; default 30 000 */
  drainMs?: number
  /** every answered request: its pod, class, latency and what the pod's dispatcher reported (diagnosis) */
  onAnswer?: (a: { pod: number, podType: string, policy: Policy, latencyMs: number, decodeWaitMs: number, item: Dispatched }) => void
}

export interface FleetClassStats extends Percentiles {
  policy: Policy
  offered: number
  served: number
  refused: number
  unfinished: number
  /** served within the class SLO (p99 ms of the scenario) */
  withinSlo: number
  /** share of the class's requests each pod type received */
  toPodType: Record<string, number>
}

export interface FleetResult {
  strategy: FleetStrategy
  stalenessMs: number
  ratePerS: number
  durationS: number
  pods: number
  offered: number
  byPolicy: Record<string, FleetClassStats>
  refused: number
  refusals: Record<string, number>
  /** per pod type and device id: busy worker time / worker time */
  utilisation: Record<string, Record<string, number>>
  /** the pods' route decisions, `policy:reason` (router.ts RouteReason): `throughput:late-binding`, items pooled */
  decisions: Record<string, number>
  wallMs: number
}

interface Pod {
  index: number
  type: number
  /** its devices' schedulers (SimDevice.scheduler) */
  devices: Scheduler[]
  dispatcher: Dispatcher
  gate: DecodeGate
  decodeMs: number[]
  /** per traffic class, the bytes one prepared image holds (the host's imageBytes, admission by memory) */
  imageBytes: number[]
  jitter: number
  /** requests the picker sent here and has not seen answered */
  active: number
  /** latency-class requests here not yet dispatched to a device (waiting for or in decoding) */
  latencyDecoding: number
  /** throughput- and cost-class requests the picker sent here and has not seen answered */
  bulkActive: number
}

const EMPTY_IMAGE: PreparedImage = { pixels: new Uint8Array(0), width: 0, height: 0, originalWidth: 0, originalHeight: 0 }
const PENDING = 0; const ANSWERED = 1; const REFUSED = 2
/** Every pod's routing strategy: the server's default. Its devices are built as the server builds them for it (bindsLate: late-binding pools). */
const POD_STRATEGY: Strategy = 'switchyard'

export function runFleet (s: FleetScenario, o: FleetRunOptions): FleetResult {
  const wallStart = performance.now()
  const durationMs = o.durationMs ?? s.durationS * 1000
  const ratePerS = o.ratePerS ?? s.load * s.capacity
  const w = generate(s.arrivals, s.traffic, ratePerS, durationMs, s.seed)
  const clock = new VirtualClock(0)
  const classes = s.traffic
  const models = [...new Set(classes.map((c) => c.model))]
  const policies = classes.map((c) => c.policy)
  const modelOf = classes.map((c) => models.indexOf(c.model))

  // tallies
  const refusals: Record<string, number> = {}
  const refuse = (key: string): void => { refusals[key] = (refusals[key] ?? 0) + 1 }
  const decisions: Record<string, number> = {}
  const observer: DispatchObserver = {
    decision: (_d, _m, policy, reason) => { const k = `${policy}:${reason}`; decisions[k] = (decisions[k] ?? 0) + 1 },
    rejected: (_d, _m, policy, reason) => refuse(`${policy}:${reason}`),
    retry: () => {},
    predictionError: () => {}
  }

  // the pods
  const pods: Pod[] = []
  const busy = s.podTypes.map((t) => new Map(t.devices.map((d) => [d.id, 0])))
  const workerSlots = s.podTypes.map((t) => new Map(t.devices.map((d) => [d.id, 0])))
  s.podTypes.forEach((t, ti) => {
    for (let k = 0; k < t.count; k++) {
      const index = pods.length
      // the pod's devices as a server running switchyard builds them: one late-binding pool per model variant
      const pools = bindsLate(POD_STRATEGY) ? new Map<string, RequestQueue>() : undefined
      const devices = t.devices.map((spec, i) => new SimDevice(spec, clock, seededRandom(s.seed * 7919 + index * 31 + i + 1), pools ? { pools } : {}).scheduler)
      const byId = new Map(devices.map((d) => [d.id, d]))
      for (const d of devices) {
        workerSlots[ti]!.set(d.id, workerSlots[ti]!.get(d.id)! + d.workers.length)
        d.on('batch', (e: BatchEvent) => { const m = busy[ti]!; m.set(e.device, m.get(e.device)! + e.serviceMs) })
      }
      pods.push({
        index,
        type: ti,
        devices,
        // admission by time and memory, as the server's: the bytes its queued images may hold
        dispatcher: new Dispatcher({ devices, get: (id: string) => byId.get(id) }, observer, clock, POD_STRATEGY, new QueueBudget(t.host.maxQueuedBytes ?? DEFAULT_SIM_QUEUE_BYTES)),
        gate: new DecodeGate(t.host.slots, t.host.bulkSlots, { maxWaiting: t.host.maxWaiting, now: () => clock.now() }),
        decodeMs: classes.map((c) => t.host.decodeMs[c.model]!),
        imageBytes: classes.map((c) => t.host.imageBytes?.[c.model] ?? DEFAULT_IMAGE_BYTES),
        jitter: t.host.jitter,
        active: 0,
        latencyDecoding: 0,
        bulkActive: 0
      })
    }
  })
  const P = pods.length

  // what the picker can know: gauges (or agent weights), refreshed every scrape interval
  const finish = models.map(() => ({ latency: new Float64Array(P), throughput: new Float64Array(P), cost: new Float64Array(P) }))
  const queued = new Float64Array(P)
  const weightCum = models.map(() => ({ latency: new Float64Array(P), throughput: new Float64Array(P), cost: new Float64Array(P) }))
  const needGauges = o.strategy !== 'round-robin' && o.strategy !== 'least-requests'
  const scrape = (): void => {
    for (let i = 0; i < P; i++) {
      const sig: PodSignals = podSignals(pods[i]!.devices, models, clock.now())
      queued[i] = sig.queued
      for (let m = 0; m < models.length; m++) {
        const f = sig.finishMs.get(models[m]!)!
        for (const p of ['latency', 'throughput', 'cost'] as const) {
          finish[m]![p][i] = f[p]
          if (o.strategy === 'haproxy-agent') {
            const reply = agentReply(sig, p, models[m]!, s.agent, 1, false)
            const pct = reply.startsWith('up') ? Number(/(\d+)%/.exec(reply)![1]) : 0
            weightCum[m]![p][i] = (i > 0 ? weightCum[m]![p][i - 1]! : 0) + pct
          }
        }
      }
    }
  }
  const interval = Math.max(1, o.stalenessMs)
  if (needGauges) {
    scrape()
    const tick = (): void => {
      scrape()
      if (clock.now() + interval <= durationMs) clock.setTimer(clock.now() + interval, tick)
    }
    clock.setTimer(interval, tick)
  }

  // the pickers
  const random = seededRandom(s.seed * 3571 + 7)
  let turn = 0
  let bulkTurn = 0
  const epp = o.epp ?? s.epp
  const oracleRouter = new Router('switchyard')
  const pick = (cls: number): Pod => {
    switch (o.strategy) {
      case 'round-robin':
        return pods[turn++ % P]!
      case 'least-requests': {
        const a = pods[Math.floor(random() * P)]!
        const b = pods[Math.floor(random() * P)]!
        return b.active < a.active ? b : a
      }
      case 'haproxy-agent': {
        if (policies[cls] !== 'latency') return leastconnPick(cls)
        const cum = weightCum[modelOf[cls]!]![policies[cls]!]
        const total = cum[P - 1]!
        if (total <= 0) return pods[Math.floor(random() * P)]!
        const u = random() * total
        let lo = 0; let hi = P - 1
        while (lo < hi) { const mid = (lo + hi) >> 1; if (cum[mid]! > u) hi = mid; else lo = mid + 1 }
        return pods[lo]!
      }
      case 'epp':
        return eppPick(cls, epp[policies[cls]!])
      case 'oracle':
        return policies[cls] === 'latency' ? oraclePick(cls) : eppPick(cls, epp[policies[cls]!])
    }
  }
  /**
   * HAProxy's weighted leastconn (the throughput and cost backends): an idle server first (key 0,
   * whatever its weight; among several, the next in turn), else the least (in flight + 1) / weight
   */
  const leastconnPick = (cls: number): Pod => {
    const policy = policies[cls]!
    const cum = weightCum[modelOf[cls]!]![policy]
    let best = Infinity; let chosen = -1
    for (let k = 0; k < P; k++) {
      const i = (bulkTurn + k) % P
      const w = cum[i]! - (i > 0 ? cum[i - 1]! : 0)
      if (w <= 0) continue
      const inflight = pods[i]!.bulkActive
      const key = inflight === 0 ? 0 : (inflight + 1) / w
      if (key < best) { best = key; chosen = i; if (key === 0) break }
    }
    if (chosen < 0) return pods[Math.floor(random() * P)]!
    if (best === 0) bulkTurn = chosen + 1
    return pods[chosen]!
  }
  const norm = (x: number, lo: number, hi: number): number => (hi > lo ? (hi - x) / (hi - lo) : 1)
  /** the EPP's scheduling profile: scorers min-max normalised over the candidates, weighted, summed; then the picker */
  const eppPick = (cls: number, prof: EppProfile): Pod => {
    const f = finish[modelOf[cls]!]![policies[cls]!]
    let fMin = Infinity; let fMax = -Infinity; let qMin = Infinity; let qMax = -Infinity; let aMin = Infinity; let aMax = -Infinity
    for (let i = 0; i < P; i++) {
      const fi = f[i]!; const qi = queued[i]!; const ai = pods[i]!.active
      if (fi < fMin) fMin = fi; if (fi > fMax) fMax = fi
      if (qi < qMin) qMin = qi; if (qi > qMax) qMax = qi
      if (ai < aMin) aMin = ai; if (ai > aMax) aMax = ai
    }
    if (prof.finishRangeMs !== undefined) [fMin, fMax] = prof.finishRangeMs
    const score = (i: number): number => prof.finish * Math.max(0, Math.min(1, norm(f[i]!, fMin, fMax))) + prof.queue * norm(queued[i]!, qMin, qMax) + prof.active * norm(pods[i]!.active, aMin, aMax)
    let best = -Infinity; let ties = 0; let chosen = 0
    if (prof.picker === 'weighted-random') {
      // A-Res: the largest u^(1/score) wins, so a pod is drawn in proportion to its score
      for (let i = 0; i < P; i++) {
        const sc = score(i)
        const key = sc > 0 ? Math.log(random()) / sc : -Infinity
        if (key > best) { best = key; chosen = i }
      }
      return pods[chosen]!
    }
    for (let i = 0; i < P; i++) {
      const sc = score(i)
      if (sc > best + 1e-12) { best = sc; ties = 1; chosen = i } else if (Math.abs(sc - best) <= 1e-12) {
        // max-score picker, ties at random (reservoir)
        ties++
        if (random() * ties < 1) chosen = i
      }
    }
    return pods[chosen]!
  }
  /**
   * Not a balancer: the floor. Sees every pod as it is now (no scrape) and sends a latency-class
   * request to the pod predicted to answer it first — the router's own latency prediction on
   * that pod now, plus one single-image service for every latency request already decoding
   * there (they reach its devices first).
   */
  const oraclePick = (cls: number): Pod => {
    const req = { model: classes[cls]!.model, policy: 'latency' as const, deadlineMs: Infinity }
    let best = Infinity; let chosen = 0; let ties = 0
    const now = clock.now()
    for (let i = 0; i < P; i++) {
      const pod = pods[i]!
      const r = oracleRouter.route(pod.devices, req, now)
      if (!r.ok) continue
      const t1 = pod.devices.find((d) => d.id === r.device)!.lanes.get(req.model)!.cost.predict(1)
      const at = r.predictedMs + pod.latencyDecoding * t1
      if (at < best - 1e-9) { best = at; chosen = i; ties = 1 } else if (Math.abs(at - best) <= 1e-9) { ties++; if (random() * ties < 1) chosen = i }
    }
    return pods[chosen]!
  }

  // per request
  const n = w.count
  const latency = new Float64Array(n)
  const outcome = new Uint8Array(n)
  const podOf = new Uint16Array(n)
  let pending = 0
  const finishReq = (i: number, ok: boolean): void => {
    outcome[i] = ok ? ANSWERED : REFUSED
    if (ok) latency[i] = clock.now() - w.at[i]!
    const p = pods[podOf[i]!]!
    p.active--
    if (policies[w.cls[i]!] !== 'latency') p.bulkActive--
    pending--
  }
  const arrive = (i: number): void => {
    const k = w.cls[i]!
    const c = classes[k]!
    const pod = pick(k)
    podOf[i] = pod.index
    pod.active++
    if (c.policy !== 'latency') pod.bulkActive++
    pending++
    const opts = { policy: c.policy, deadline: w.at[i]! + c.deadlineMs }
    try {
      pod.dispatcher.admit(c.model, opts)
    } catch {
      finishReq(i, false)
      return
    }
    const lat = c.policy === 'latency'
    if (lat) pod.latencyDecoding++
    const refused = (): void => { if (lat) pod.latencyDecoding--; refuse(`${c.policy}:decode-queue-full`); finishReq(i, false) }
    const accepted = pod.gate.enter(c.policy, (release) => {
      const ms = pod.decodeMs[k]! * (1 + pod.jitter * (2 * random() - 1))
      const decodeWaitMs = clock.now() - w.at[i]!
      clock.setTimer(clock.now() + ms, () => {
        release()
        if (lat) pod.latencyDecoding--
        pod.dispatcher.submit({ model: c.model, image: EMPTY_IMAGE, params: {}, opts, bytes: pod.imageBytes[k]! }, (err, r) => {
          finishReq(i, err === null)
          if (err === null && o.onAnswer) o.onAnswer({ pod: pod.index, podType: s.podTypes[pod.type]!.type, policy: c.policy, latencyMs: latency[i]!, decodeWaitMs, item: r! })
        })
      })
    }, 0, opts.deadline - clock.now(), refused) // as the request pipeline: a wait within what the deadline leaves, where no count bounds it, checked again at its turn
    if (!accepted) refused()
  }
  let next = 0
  const arrivalTick = (): void => {
    const i = next++
    arrive(i)
    if (next < n) clock.setTimer(w.at[next]!, arrivalTick)
  }
  if (n > 0) clock.setTimer(w.at[0]!, arrivalTick)

  const limit = durationMs + (o.drainMs ?? 30_000)
  for (;;) {
    const at = clock.nextAt
    if (at === Infinity || (at > durationMs && (pending === 0 || at > limit))) break
    clock.step()
  }

  // statistics
  const byPolicy: Record<string, FleetClassStats> = {}
  for (const policy of [...new Set(policies)]) {
    const xs: number[] = []
    let offered = 0; let refused = 0; let unfinished = 0; let within = 0
    const perType = new Float64Array(s.podTypes.length)
    const slo = s.slo[policy === 'latency' ? 'latency' : 'throughput']
    for (let i = 0; i < n; i++) {
      if (policies[w.cls[i]!] !== policy) continue
      offered++
      perType[pods[podOf[i]!]!.type]!++
      if (outcome[i] === REFUSED) { refused++; continue }
      if (outcome[i] === PENDING) { unfinished++; continue }
      xs.push(latency[i]!)
      if (latency[i]! <= slo) within++
    }
    byPolicy[policy] = {
      policy, offered, served: xs.length, refused, unfinished, withinSlo: within, ...percentiles(xs),
      toPodType: Object.fromEntries(s.podTypes.map((t, ti) => [t.type, offered > 0 ? perType[ti]! / offered : 0]))
    }
  }
  let refused = 0
  for (let i = 0; i < n; i++) if (outcome[i] === REFUSED) refused++
  const utilisation: Record<string, Record<string, number>> = {}
  s.podTypes.forEach((t, ti) => {
    utilisation[t.type] = Object.fromEntries([...busy[ti]!].map(([id, ms]) => [id, ms / (workerSlots[ti]!.get(id)! * durationMs)]))
  })
  return { strategy: o.strategy, stalenessMs: o.stalenessMs, ratePerS, durationS: durationMs / 1000, pods: P, offered: n, byPolicy, refused, refusals, utilisation, decisions, wallMs: performance.now() - wallStart }
}
