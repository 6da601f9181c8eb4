// The simulator's engine: one run of one scenario under one routing strategy at one offered
// rate, on a virtual clock. Everything between the arrival and the answer is the server's own
// code — Dispatcher.admit() (admission control), the DecodeGate, Dispatcher.submit() and its
// Router, each device's Scheduler (queues, batcher, worker slots, cost model, breaker,
// replacement) — except what runs on hardware: batches run on simulated executors (profile
// t(n) = a + b·n), and decoding takes the host profile's ms per image on a held gate slot.
// The path is the server's own (router/request-pipeline.ts, which src/http/routes/infer.ts
// runs too): admit → decode gate → decode → dispatch; a traffic class with `items` > 1 sends
// each request as several images placed together (Dispatcher.submitMany): decoded under one
// slot, as a tiled /detect is (RequestPipeline.run), or with `itemsDecode: 'each'` each image
// under a slot of its own, as a multi-item /v2 request is (RequestPipeline.runEach).
//
// Per-request state lives in preallocated typed arrays; the only per-request allocations are
// the pipeline request with its decoder, and what the server's own code makes (the queued
// item, its callbacks).
import type { Policy } from '../config/schema.js'
import { VirtualClock } from '../devices/clock.js'
import { QueueBudget } from '../devices/queue-budget.js'
import { RequestQueue } from '../devices/request-queue.js'
import type { BatchEvent, Scheduler } from '../devices/scheduler.js'
import { priceOf, pricePerMs } from '../router/price.js'
import { DecodeGate } from '../preprocess/decode-gate.js'
import { Dispatcher, type DispatchObserver } from '../router/dispatcher.js'
import { RequestPipeline, type Decode, type EachItem, type PipelineObserver } from '../router/request-pipeline.js'
import type { RouteReason } from '../router/router.js'
import { ArrivalRecord } from '../router/arrival-record.js'
import { RuleSelector, type Rule } from '../router/rule-select.js'
import { bindsLate, type Strategy } from '../router/strategies.js'
import type { PreparedImage } from '../core/items.js'
import { DEFAULT_IMAGE_BYTES, DEFAULT_SIM_QUEUE_BYTES, itemsOf, type Scenario } from './scenario.js'
import { clientChargeAt } from './client-cpu.js'
import { CorePool } from './core-pool.js'
import { SimDevice } from './sim-device.js'
import { seededRandom } from './simulated-executor.js'
import { generate, type Workload } from './workload.js'

export const POLICIES: readonly Policy[] = ['latency', 'throughput', 'cost']

export interface RunOptions {
  strategy: Strategy
  /**
   * what-if (replay-select.ts): at this simulated ms the run switches to the shared-queue rule —
   * one queue per model that every device takes from, what waits moves there
   * (Scheduler.useShared), and the router routes as shared-queue; default never
   */
  switchToSharedAtMs?: number
  /**
   * The rule chosen by replay as the run goes (a switchyard run only; rule-select.ts): every
   * `everyMs`, `choose` is given the arrivals of the last `windowMs` (since the run's start
   * while it is shorter; times from the window's start) and answers which rule would have
   * served them better; a RuleSelector (`confirm` windows in a row, default 2) decides, and
   * Dispatcher.useRule switches. Default: never
   */
  select?: RuleSelect
  ratePerS: number
  durationMs: number
  /** record queue lengths and per-device images over time (the headline run) */
  series?: boolean
  /** simulated ms after the last arrival to let accepted work finish; default 60 000 */
  drainMs?: number
  /**
   * per request of the workload, filled with its decode's elapsed ms (under its slot: stretched
   * where the cores are shared; the last image's for a request of several); NaN where none ran.
   * For comparing with the live server's Server-Timing decode (the fidelity report)
   */
  decodeWallMs?: Float64Array
  /** what happened, as it happened (bench/cell-trace.ts); nothing is kept without it */
  trace?: RunTrace
}

export interface RuleSelect {
  everyMs: number
  windowMs: number
  confirm?: number
  /**
   * the window's arrivals (`w`, times from `fromMs`, the window's start in the run; `durationMs`
   * long) → the rule its replay chose, or null for no verdict; `live`: the simulated server as it
   * stands (its devices' schedulers, what its pipeline recorded), for a replay built from what the
   * server has learned (replay-select.ts learnedChooser)
   */
  choose: (w: Workload, fromMs: number, durationMs: number, live: LiveState) => Rule | null
}

/** The simulated server at a window's end, as a server's own replay would read it. */
export interface LiveState {
  devices: readonly Scheduler[]
  /** every request's arrival, decode time and image bytes, as the request pipeline noted them (arrival-record.ts) */
  record: ArrivalRecord
}

/** Arrivals of `w` in [fromMs, toMs), their times from fromMs. */
export function sliceWorkload (w: Workload, fromMs: number, toMs: number): Workload {
  let lo = 0; let hi = w.count
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (w.at[mid]! < fromMs) lo = mid + 1; else hi = mid }
  let end = lo
  while (end < w.count && w.at[end]! < toMs) end++
  const at = w.at.slice(lo, end)
  for (let i = 0; i < at.length; i++) at[i]! -= fromMs
  return { at, cls: w.cls.slice(lo, end), count: end - lo }
}

/** Callbacks for one run's events; `atMs`: the simulated time. */
export interface RunTrace {
  /** every executed batch, when it ends */
  batch?: (e: BatchEvent, atMs: number) => void
  /** every answered item: the device that ran it, the router's predicted and the actual ms from placement to answer */
  answer?: (device: string, model: string, policy: Policy, predictedMs: number, actualMs: number, atMs: number) => void
}

export interface Percentiles { p50: number, p95: number, p99: number, max: number }

export interface ClassStats extends Percentiles {
  /** 'latency' | 'throughput', or 'model/policy' for a traffic class */
  label: string
  offered: number
  /** answered */
  served: number
  /** answered within the request's deadline */
  good: number
  /** answered within the class SLO */
  withinSlo: number
  rejected: number
  /** accepted, still unanswered when the run stopped */
  unfinished: number
  /** p99 over requests that arrived in the first / last half of the run */
  p99FirstHalf: number
  p99LastHalf: number
  /** from the end of decoding to the answer: what routing and batching decide */
  p50AfterDecode: number
  p99AfterDecode: number
}

export interface DeviceStats {
  id: string
  images: number
  /** worker-ms spent running batches */
  busyMs: number
  /** what that busy time cost: pricePerHour / 3 600 000 · busyMs (src/router/price.ts) */
  cost: number
  /** worker-time busy / worker-time, every slot */
  util: number
  /** busy fraction of the live workers that take throughput work */
  utilThroughput: number
  decisions: Record<string, number>
  /** mean |actual − predicted| finish, ms */
  meanAbsPredictionErrorMs: number
  /** per class: how far the predicted finish (X-Switchyard-Predicted-Ms) was from the actual one, steady state */
  prediction: Record<string, PredictionStats>
}

/**
 * The error of the predicted finish, per device and class, over answers in steady state: those
 * whose dispatch-to-answer span does not touch the STEADY_AFTER_EVENT_MS after a scenario event
 * (a failure, a recovery, a slowdown). meanAbsRelError = mean |predicted − actual| / actual.
 */
export interface PredictionStats {
  n: number
  meanAbsRelError: number
  /** mean actual / predicted (1: exact, > 1: slower than predicted) */
  meanRatio: number
  /** answers left out: within STEADY_AFTER_EVENT_MS of an event */
  excluded: number
}

export const STEADY_AFTER_EVENT_MS = 30_000

export interface Series {
  stepMs: number
  /**
   * queued items at each step: per device, its own queues (under a shared queue, what is bound to
   * it: pinned items and retries); under 'shared', the models' shared queues (the shared-queue
   * rule, from the start or after a switch); under 'pool', the late-binding pools. A queue that
   * several devices take from is counted once, there.
   */
  queue: Record<string, number[]>
  /** per device: images finished in each step */
  images: Record<string, number[]>
  decodeWaiting: number[]
}

export interface RunResult {
  strategy: Strategy
  ratePerS: number
  durationS: number
  offered: number
  byPolicy: Record<string, ClassStats>
  byClass: ClassStats[]
  rejections: Record<string, number>
  retries: number
  devices: DeviceStats[]
  /** fraction of decode slot-time busy */
  decodeUtil: number
  /** where the host's cores are one pool (sharedCores): core-ms of work it ran (decoding, fixed costs, CPU batches, the load client) */
  hostCoreMs?: number
  series?: Series
  /** where the rule was chosen by replay (RunOptions.select): each switch, when and to which rule */
  ruleSwitches?: Array<{ atMs: number, to: Rule }>
  /** simulated events fired by the router and devices (timers) */
  wallMs: number
}

const PENDING = 0; const ANSWERED = 1; const REFUSED = 2
const EMPTY_IMAGE: PreparedImage = { pixels: new Uint8Array(0), width: 0, height: 0, originalWidth: 0, originalHeight: 0 }
const UTIL_SAMPLE_MS = 5
const STALL_STEPS = 1_000_000
const ignore = (): void => {}

export function runScenario (s: Scenario, o: RunOptions, workload?: Workload): RunResult {
  const wallStart = performance.now()
  const w = workload ?? generate(s.arrivals, s.traffic, o.ratePerS, o.durationMs, s.seed)
  const clock = new VirtualClock(0)
  const sharedQueues = o.strategy === 'shared-queue'
    ? new Map(s.traffic.map((c) => [c.model, new RequestQueue()]))
    : undefined
  // per model variant, the late-binding pool: filled as the devices add their lanes (lane-settings.ts)
  const pools = bindsLate(o.strategy) ? new Map<string, RequestQueue>() : undefined
  // one pool of cores for decoding, each request's fixed cost and the CPU devices' batches,
  // where the scenario says they share the host (fidelity); else decoding has slots of its own
  const pool = s.host.sharedCores === true ? new CorePool(clock, s.host.cores ?? s.host.slots) : undefined
  const devices = s.devices.map((spec, i) => new SimDevice(spec, clock, seededRandom(s.seed * 7919 + i + 1), { ...(sharedQueues ? { sharedQueues } : {}), ...(pools ? { pools } : {}), ...(pool && (spec.kind ?? 'cpu') === 'cpu' ? { cores: pool } : {}) }))
  const byId = new Map(devices.map((d) => [d.id, d]))
  const source = { devices: devices.map((d) => d.scheduler), get: (id: string) => byId.get(id)?.scheduler }

  // tallies the dispatcher reports
  const rejections: Record<string, number> = {}
  const decisions = devices.map(() => new Map<string, number>())
  const devIndex = new Map(devices.map((d, i) => [d.id, i]))
  const predErr = new Float64Array(devices.length); const predN = new Float64Array(devices.length)
  // steady-state prediction error per device × policy: Σ |p − a| / a, Σ a / p, n, excluded
  const policyIndex = new Map(POLICIES.map((p, i) => [p, i]))
  const relErr = new Float64Array(devices.length * POLICIES.length); const ratio = new Float64Array(relErr.length)
  const relN = new Float64Array(relErr.length); const relOut = new Float64Array(relErr.length)
  const eventAt = s.events.map((e) => e.atS * 1000)
  let retries = 0
  const traceAnswer = o.trace?.answer
  const observer: DispatchObserver & PipelineObserver = {
    decision: (device: string, _model: string, _policy: Policy, reason: RouteReason) => {
      const m = decisions[devIndex.get(device)!]!
      m.set(reason, (m.get(reason) ?? 0) + 1)
    },
    // the dispatcher's refusals and the pipeline's (decode-queue-full)
    rejected: (_device: string, _model: string, policy: Policy, reason: string) => {
      const key = `${policy}:${reason}`
      rejections[key] = (rejections[key] ?? 0) + 1
    },
    retry: () => { retries++ },
    predictionError: (device, _model, ms) => {
      const i = devIndex.get(device)!
      predErr[i]! += Math.abs(ms); predN[i]!++
    },
    prediction: (device, model, policy, predictedMs, actualMs) => {
      const k = devIndex.get(device)! * POLICIES.length + policyIndex.get(policy)!
      const end = clock.now(); const start = end - actualMs
      traceAnswer?.(device, model, policy, predictedMs, actualMs, end)
      for (const at of eventAt) if (start < at + STEADY_AFTER_EVENT_MS && end >= at) { relOut[k]!++; return }
      if (actualMs <= 0 || predictedMs <= 0) return
      relErr[k]! += Math.abs(predictedMs - actualMs) / actualMs
      ratio[k]! += actualMs / predictedMs
      relN[k]!++
    }
  }
  const dispatcher = new Dispatcher(source, observer, clock, o.strategy, new QueueBudget(s.host.maxQueuedBytes ?? DEFAULT_SIM_QUEUE_BYTES))
  const gate = new DecodeGate(s.host.slots, s.host.bulkSlots, { maxWaiting: s.host.maxWaiting, now: () => clock.now() })
  // what arrived, noted by the pipeline as the server's notes it: for a chooser that replays it (RunOptions.select)
  const record = o.select !== undefined ? new ArrivalRecord() : undefined
  const pipeline = new RequestPipeline(dispatcher, gate, observer, clock, record)
  const decodeRandom = seededRandom(s.seed * 104729 + 17)
  const decodeWall = o.decodeWallMs
  decodeWall?.fill(NaN)

  // per request
  const n = w.count
  const latency = new Float64Array(n)
  const decodedAt = new Float64Array(n)
  const outcome = new Uint8Array(n)
  let pending = 0
  let decodeBusyMs = 0

  const classes = s.traffic
  const decodeMs = classes.map((c) => s.host.decodeMs[c.model]!)
  const imageBytes = classes.map((c) => s.host.imageBytes?.[c.model] ?? DEFAULT_IMAGE_BYTES)
  const jitter = s.host.jitter
  const deadlines = classes.map((c) => c.deadlineMs)

  // the client's CPU on the answer, by its outcome (set below, where the profile models the client)
  let clientOnAnswer: ((i: number, ok: boolean) => void) | undefined
  const finish = (i: number, ok: boolean): void => {
    outcome[i] = ok ? ANSWERED : REFUSED
    if (ok) latency[i] = clock.now() - w.at[i]!
    pending--
    if (clientOnAnswer !== undefined) clientOnAnswer(i, ok)
  }

  // what a request of each class sends to the devices: one image, or (items > 1: the tiles of
  // a /detect, the items of a /v2 request) several, placed together
  const prepared = classes.map((c): PreparedImage | PreparedImage[] => itemsOf(c) > 1 ? Array.from({ length: itemsOf(c) }, () => EMPTY_IMAGE) : EMPTY_IMAGE)
  const sendOf = (k: number) => (): PreparedImage | PreparedImage[] => prepared[k]!
  const send = classes.map((_, k) => sendOf(k))
  // classes whose k images are decoded each under a slot of its own (a multi-item /v2 request)
  const each = classes.map((c) => c.itemsDecode === 'each' && itemsOf(c) > 1)

  // one decode of request i of class k: the host profile's ms (with jitter), on the shared
  // cores or a timer; the request's decode ends with its last
  const decodeOf = <D>(i: number, k: number, value: D): Decode<D> => (done) => {
    const ms = decodeMs[k]! * (1 + jitter * (2 * decodeRandom() - 1))
    decodeBusyMs += ms
    const start = clock.now()
    const decoded = (): void => { decodedAt[i] = clock.now(); if (decodeWall) decodeWall[i] = decodedAt[i]! - start; done(null, value) }
    if (pool) pool.run(ms, 1, decoded)
    else clock.setTimer(clock.now() + ms, decoded)
  }

  // the server's path (router/request-pipeline.ts): admit → decode gate → decode → dispatch
  const arrive = (i: number): void => {
    const k = w.cls[i]!
    const c = classes[k]!
    const opts = { policy: c.policy, deadline: w.at[i]! + deadlines[k]! }
    const answered = (err: Error | null): void => finish(i, err === null)
    if (each[k]) {
      // as src/http/v2/routes.ts: admitted counting every item, each image under a slot of its own
      const items = new Array<EachItem>(itemsOf(c))
      for (let j = 0; j < items.length; j++) items[j] = { gated: true, decode: decodeOf(i, k, EMPTY_IMAGE) }
      pipeline.runEach({ model: c.model, opts, params: {}, items, bytes: imageBytes[k]! }, answered)
      return
    }
    pipeline.run({
      model: c.model,
      opts,
      params: {},
      items: itemsOf(c),
      bytes: imageBytes[k]!,
      decode: decodeOf(i, k, true),
      images: send[k]!
    }, answered)
  }
  // each request's fixed cost (host.requestMs: HTTP, routing, the answer) before admission —
  // on the shared cores where there are, each request's as a task of its own. Not a queue on
  // one thread: the profile measures it as round trip − the server's phases, which is the
  // client's, the kernel's and the main thread's time together, and run one request at a time
  // on one stretched core it saturated at ~55 req/s on this machine where the live server
  // answered 110 req/s with a 150 ms latency-class p99 (bench/results/fidelity.md)
  const requestMs = s.host.requestMs ?? 0
  // the load client's CPU per request (host.clientCpuMs: fidelity, the client on the same
  // cores), per class: load on the pool beside the request, off its path — the client's share
  // of the round trip's latency is in requestMs already, its CPU is not. Where the profile has
  // the client's model by rate and outcome (host.clientCpu, client-cpu.ts), at the run's offered
  // rate: the cheaper outcome's cost and the per-second part's share at send, the rest with the answer
  const charges = pool && s.host.clientCpu ? classes.map((c) => (s.host.clientCpu![c.model] ? clientChargeAt(s.host.clientCpu![c.model]!, o.ratePerS) : undefined)) : undefined
  const clientMs = pool && (charges || s.host.clientCpuMs) ? classes.map((c, k) => charges?.[k]?.sendMs ?? s.host.clientCpuMs?.[c.model] ?? 0) : undefined
  const enter = (i: number): void => {
    pending++
    if (clientMs !== undefined && clientMs[w.cls[i]!]! > 0) pool!.run(clientMs[w.cls[i]!]!, 1, ignore)
    if (requestMs <= 0) arrive(i)
    else if (pool) pool.run(requestMs, 1, () => arrive(i))
    else clock.setTimer(clock.now() + requestMs, () => arrive(i))
  }
  if (charges !== undefined) {
    clientOnAnswer = (i, ok) => {
      const c = charges[w.cls[i]!]
      const ms = c === undefined ? 0 : ok ? c.answeredMs : c.refusedMs
      if (ms > 0) pool!.run(ms, 1, ignore)
    }
  }
  // one timer at a time for arrivals: the next is scheduled when one fires
  let nextArrival = 0
  const arrivalTick = (): void => {
    const i = nextArrival++
    enter(i)
    if (nextArrival < n) clock.setTimer(w.at[nextArrival]!, arrivalTick)
  }
  if (n > 0) clock.setTimer(w.at[0]!, arrivalTick)

  if (o.switchToSharedAtMs !== undefined) clock.setTimer(o.switchToSharedAtMs, () => dispatcher.useRule('shared-queue'))
  let ruleSwitches: Array<{ atMs: number, to: Rule }> | undefined
  const select = o.select
  if (select !== undefined) {
    if (o.strategy !== 'switchyard') throw new Error(`choosing the rule by replay starts from switchyard's, not ${o.strategy}`)
    if (o.switchToSharedAtMs !== undefined) throw new Error('choose the rule by replay (select) or switch it at a set time (switchToSharedAtMs), not both')
    if (!(select.everyMs > 0 && select.windowMs > 0)) throw new RangeError('select: everyMs and windowMs must be > 0')
    const selector = new RuleSelector(select.confirm !== undefined ? { confirm: select.confirm } : {})
    const switches: Array<{ atMs: number, to: Rule }> = ruleSwitches = []
    const decide = (): void => {
      const now = clock.now()
      const from = Math.max(0, now - select.windowMs)
      const choice = select.choose(sliceWorkload(w, from, now), from, now - from, { devices: source.devices, record: record! })
      if (choice !== null && selector.observe(choice)) {
        switches.push({ atMs: now, to: selector.current })
        dispatcher.useRule(selector.current)
      }
      if (now + select.everyMs <= o.durationMs) clock.setTimer(now + select.everyMs, decide)
    }
    if (select.everyMs <= o.durationMs) clock.setTimer(select.everyMs, decide)
  }
  for (const e of s.events) {
    const d = byId.get(e.device)!
    clock.setTimer(e.atS * 1000, () => {
      if (e.down !== undefined) d.setDown(e.down)
      if (e.slowdown !== undefined) d.setSlowdown(e.slowdown)
    })
  }

  // utilisation, sampled
  const busyAll = new Float64Array(devices.length)
  const busyGen = new Float64Array(devices.length)
  const liveGen = new Float64Array(devices.length)
  let samples = 0
  const sample = (): void => {
    samples++
    for (let d = 0; d < devices.length; d++) {
      for (const slot of devices[d]!.scheduler.workers) {
        const busy = slot.running !== null
        if (busy) busyAll[d]!++
        if (slot.alive && slot.takesThroughput) { liveGen[d]!++; if (busy) busyGen[d]!++ }
      }
    }
    const next = clock.now() + UTIL_SAMPLE_MS
    if (next < o.durationMs) clock.setTimer(next, sample)
  }
  clock.setTimer(UTIL_SAMPLE_MS / 2, sample)

  // images per device, and the optional time series
  const images = new Float64Array(devices.length)
  const busyMs = new Float64Array(devices.length)
  const stepMs = Math.max(100, o.durationMs / 300)
  const steps = Math.ceil(o.durationMs / stepMs)
  const seriesImages = o.series === true ? devices.map(() => new Float64Array(steps)) : null
  const traceBatch = o.trace?.batch
  devices.forEach((d, k) => d.scheduler.on('batch', (e: BatchEvent) => {
    images[k]! += e.size
    busyMs[k]! += e.serviceMs
    traceBatch?.(e, clock.now())
    if (seriesImages !== null) {
      const step = Math.floor(clock.now() / stepMs)
      if (step < steps) seriesImages[k]![step]! += e.size
    }
  }))
  let series: Series | undefined
  if (o.series === true) {
    const queueKeys = [...devices.map((d) => d.id), ...(sharedQueues !== undefined || o.switchToSharedAtMs !== undefined ? ['shared'] : []), ...(pools !== undefined ? ['pool'] : [])]
    series = { stepMs, queue: Object.fromEntries(queueKeys.map((k) => [k, [] as number[]])), images: {}, decodeWaiting: [] }
    const q = series.queue
    const shared = new Set<RequestQueue>(); const pooled = new Set<RequestQueue>()
    const record = (): void => {
      shared.clear(); pooled.clear()
      for (const d of devices) {
        let own = 0
        for (const l of d.scheduler.lanes.values()) {
          // a lane with a bound queue takes from a shared one (Lane.bound)
          own += (l.bound ?? l.queue).size
          if (l.bound !== undefined) shared.add(l.queue)
          if (l.pool !== undefined) pooled.add(l.pool)
        }
        q[d.id]!.push(own)
      }
      let n = 0
      for (const sq of shared) n += sq.size
      q.shared?.push(n)
      n = 0
      for (const p of pooled) n += p.size
      q.pool?.push(n)
      series!.decodeWaiting.push(gate.waiting)
      const next = clock.now() + stepMs
      if (next < o.durationMs) clock.setTimer(next, record)
    }
    clock.setTimer(stepMs, record)
  }

  const limit = o.durationMs + (o.drainMs ?? 60_000)
  let lastAt = -1; let sameAt = 0
  for (;;) {
    const at = clock.nextAt
    if (at > o.durationMs && (pending === 0 || at > limit)) break
    // a timer that keeps setting itself for the same instant would spin here for ever
    if (at === lastAt) { if (++sameAt > STALL_STEPS) throw new Error(`simulation stalled at ${at} ms: ${STALL_STEPS} timers at the same instant`) } else { lastAt = at; sameAt = 0 }
    clock.step()
  }

  if (series && seriesImages) series.images = Object.fromEntries(devices.map((d, k) => [d.id, Array.from(seriesImages[k]!)]))

  // statistics
  const half = o.durationMs / 2
  const stats = (label: string, member: (cls: number) => boolean, slo: (cls: number) => number): ClassStats => {
    const all: number[] = []; const first: number[] = []; const last: number[] = []; const after: number[] = []
    let offered = 0; let good = 0; let withinSlo = 0; let rejected = 0; let unfinished = 0
    for (let i = 0; i < n; i++) {
      const k = w.cls[i]!
      if (!member(k)) continue
      offered++
      if (outcome[i] === REFUSED) { rejected++; continue }
      if (outcome[i] === PENDING) { unfinished++; continue }
      const l = latency[i]!
      all.push(l)
      after.push(w.at[i]! + l - decodedAt[i]!)
      ;(w.at[i]! < half ? first : last).push(l)
      if (l <= deadlines[k]!) good++
      if (l <= slo(k)) withinSlo++
    }
    const p = percentiles(all)
    const pa = percentiles(after)
    return { label, offered, served: all.length, good, withinSlo, rejected, unfinished, ...p, p99FirstHalf: percentiles(first).p99, p99LastHalf: percentiles(last).p99, p50AfterDecode: pa.p50, p99AfterDecode: pa.p99 }
  }
  // cost-policy requests are batched work: held to the throughput class's SLO
  const sloOf = (k: number): number => s.slo[classes[k]!.policy === 'latency' ? 'latency' : 'throughput']
  const byPolicy: Record<string, ClassStats> = {}
  for (const p of POLICIES) {
    if (classes.some((c) => c.policy === p)) byPolicy[p] = stats(p, (k) => classes[k]!.policy === p, sloOf)
  }
  const byClass = classes.map((c, k) => stats(`${c.model}/${c.policy}`, (x) => x === k, sloOf))
  const workerSlots = (d: SimDevice): number => d.scheduler.workers.length
  return {
    strategy: o.strategy,
    ratePerS: o.ratePerS,
    durationS: o.durationMs / 1000,
    offered: n,
    byPolicy,
    byClass,
    rejections,
    retries,
    devices: devices.map((d, k) => ({
      id: d.id,
      images: images[k]!,
      busyMs: busyMs[k]!,
      cost: pricePerMs(priceOf(d.config)) * busyMs[k]!,
      util: samples > 0 ? busyAll[k]! / (samples * workerSlots(d)) : 0,
      utilThroughput: liveGen[k]! > 0 ? busyGen[k]! / liveGen[k]! : 0,
      decisions: Object.fromEntries(decisions[k]!),
      meanAbsPredictionErrorMs: predN[k]! > 0 ? predErr[k]! / predN[k]! : 0,
      prediction: Object.fromEntries(POLICIES.flatMap((p, j) => {
        const x = k * POLICIES.length + j
        return relN[x]! + relOut[x]! > 0 ? [[p, { n: relN[x]!, meanAbsRelError: relN[x]! > 0 ? relErr[x]! / relN[x]! : NaN, meanRatio: relN[x]! > 0 ? ratio[x]! / relN[x]! : NaN, excluded: relOut[x]! }]] : []
      }))
    })),
    decodeUtil: decodeBusyMs / (s.host.slots * o.durationMs),
    ...(pool ? { hostCoreMs: pool.busyCoreMs } : {}),
    ...(series ? { series } : {}),
    ...(ruleSwitches ? { ruleSwitches } : {}),
    wallMs: performance.now() - wallStart
  }
}

/** Nearest-rank percentiles (NaN when empty). */
export function percentiles (xs: number[]): Percentiles {
  if (xs.length === 0) return { p50: NaN, p95: NaN, p99: NaN, max: NaN }
  const a = Float64Array.from(xs).sort()
  const at = (q: number): number => a[Math.min(a.length - 1, Math.max(0, Math.ceil(q * a.length) - 1))]!
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: a[a.length - 1]! }
}
