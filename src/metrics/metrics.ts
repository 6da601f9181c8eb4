// Every metric Switchyard exports, declared in one place with its labels (Prometheus naming:
// snake_case, `switchyard_` prefix, base units — seconds — and `_total` for counters).
// Each app gets its own registry, so two servers in one process (tests) never share state.
// Gauges that describe live state (queue depth, in flight, health, cost-model parameters)
// are read from the devices when Prometheus scrapes, never updated on the hot path.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { DeviceConfig, Policy } from '../config/schema.js'
import type { BatchEvent } from '../devices/scheduler.js'
import type { CancelReason, DispatchObserver } from '../router/dispatcher.js'
import { joules, priceOf, pricePerMs } from '../router/price.js'
import type { RejectReason, RouteReason } from '../router/router.js'
import type { PodSignals } from '../router/pod-signals.js'
import { RULES, WINDOW_OUTCOMES, type Rule, type WindowOutcome } from '../router/rule-select.js'
import type { GpuPowerSampler } from './gpu-power.js'

/** What metrics read from a device, at scrape time and per batch (any device: threads or simulated). */
export interface ObservedDevice {
  readonly id: string
  readonly healthy: boolean
  readonly liveWorkers: number
  /** price and power settings */
  readonly config: Pick<DeviceConfig, 'kind' | 'pricePerHour' | 'watts'>
  readonly lanes: ReadonlyMap<string, { model: string, variant: string, queue: { size: number }, inFlight: number, cost: { a: number, b: number }, readonly pool?: { size: number }, readonly bound?: { size: number } }>
  /** a latency batch under a deep backlog may fill to its batch limit now (devices[].riders.latencyObjectiveMs, devices/latency-gate.ts) */
  readonly ridersDeep?: boolean
  on: (event: 'batch', listener: (e: BatchEvent) => void) => unknown
}

/**
 * The label values Switchyard can emit, listed here so that every series exists (at 0) from
 * the first scrape: a Grafana panel or an alert on a fresh server sees 0, not "No data".
 * The compile-time checks below fail when the router gains a reason this list lacks.
 */
export const POLICIES = ['latency', 'throughput', 'cost'] as const satisfies readonly Policy[]
export const ROUTE_REASONS = ['pinned', 'earliest-finish', 'spare-reserved', 'fleet-priced', 'best-throughput', 'overflow', 'lowest-cost', 'retry', 'fastest-only', 'round-robin', 'join-shortest-queue', 'shared-queue', 'speed-aware', 'late-binding', 'early-binding'] as const satisfies readonly RouteReason[]
/** the router's refusals, plus the two the HTTP path and the dispatcher add */
export const REJECTION_REASONS = ['deadline', 'queue-full', 'no-healthy-device', 'unknown-device', 'decode-queue-full', 'inference-failed'] as const satisfies ReadonlyArray<RejectReason | 'decode-queue-full' | 'inference-failed'>
/** why items leave a queue without running */
export const CANCEL_REASONS = ['client-disconnect', 'deadline'] as const satisfies readonly CancelReason[]
type Complete<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : false
const complete: [Complete<Policy, typeof POLICIES[number]>, Complete<RouteReason, typeof ROUTE_REASONS[number]>, Complete<RejectReason, typeof REJECTION_REASONS[number]>, Complete<CancelReason, typeof CANCEL_REASONS[number]>] = [true, true, true, true]
void complete

/** What the job gauges read (src/jobs/): the queue's state, and this replica's running images. */
export interface ObservedJobs {
  stats: () => Promise<{ queued: ReadonlyMap<string, number>, oldestMs: number }>
  running: () => ReadonlyMap<string, number>
  /** job images decoded at once now, per model (jobs.decodeSlots) */
  decodeSlots?: () => ReadonlyMap<string, number>
}

/** What is known at startup: the devices with the models they serve, each model's routes. */
export interface KnownSeries {
  devices: ReadonlyArray<{ id: string, models: ReadonlyArray<{ name: string, variant: string }> }>
  /** model → the route paths (as Fastify names them) that answer with it */
  routes: ReadonlyMap<string, readonly string[]>
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const ERROR_BUCKETS = [-1, -0.25, -0.1, -0.05, -0.025, -0.01, -0.005, 0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
/** actual / predicted finish: 1 = exact; 0.8–1.25 = within 20–25 % */
const RATIO_BUCKETS = [0.25, 0.5, 0.67, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 4]

export class Metrics implements DispatchObserver {
  readonly registry = new Registry()
  readonly requests: Counter<'route' | 'model' | 'device' | 'variant' | 'status'>
  readonly decode: Histogram<'device' | 'model' | 'policy'>
  readonly queueWait: Histogram<'device' | 'model' | 'policy'>
  readonly inference: Histogram<'device' | 'model' | 'policy'>
  readonly request: Histogram<'device' | 'model' | 'policy'>
  readonly batchSize: Histogram<'device' | 'model'>
  readonly batchService: Histogram<'device' | 'model'>
  readonly predictionErrors: Histogram<'device' | 'model'>
  readonly predictionRatio: Histogram<'device' | 'model' | 'policy'>
  readonly decisions: Counter<'device' | 'model' | 'policy' | 'reason'>
  readonly rejections: Counter<'device' | 'model' | 'policy' | 'reason'>
  readonly retries: Counter<'device' | 'model'>
  readonly energy: Counter<'device' | 'model' | 'variant'>
  readonly cost: Counter<'device' | 'model' | 'variant'>
  /** measured power per device id, where nvidia-smi gives it */
  private readonly power = new Map<string, GpuPowerSampler>()
  readonly tiles: Counter<'device' | 'model'>
  readonly cancelledItems: Counter<'model' | 'reason'>
  // asynchronous jobs (src/jobs/): counters here, gauges read from `jobs` at scrape time
  readonly jobsSubmitted: Counter<'model'>
  readonly jobImagesDone: Counter<'model' | 'outcome'>
  readonly jobRedeliveries: Counter<'model'>
  jobs: ObservedJobs | null = null
  readonly ruleReplays: Counter<'outcome'>
  readonly ruleReplayTime: Histogram
  /** the routing rule in force where it is chosen by replay (RuleSelectLoop); null: not chosen */
  private routingRule: Rule | null = null
  /** the memory budget admission keeps (src/devices/queue-budget.ts); null: none */
  queueBudget: { readonly bytes: number, readonly maxBytes: number } | null = null

  /**
   * @param pod the pod-level signals (router/pod-signals.ts), read once per scrape; absent: those
   *   gauges are not exported
   */
  constructor (devices: () => readonly ObservedDevice[], modelReady: () => ReadonlyMap<string, boolean>, pod?: () => PodSignals) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' })
    const dm = ['device', 'model'] as const
    const dmp = ['device', 'model', 'policy'] as const
    this.requests = new Counter({ name: 'switchyard_http_requests_total', help: 'Inference requests answered, by route, model, device, variant and HTTP status', labelNames: ['route', 'model', 'device', 'variant', 'status'], registers })
    this.decode = new Histogram({ name: 'switchyard_decode_duration_seconds', help: 'Image decode and resize on the main thread (sharp), per request', labelNames: dmp, buckets: LATENCY_BUCKETS, registers })
    this.queueWait = new Histogram({ name: 'switchyard_queue_wait_duration_seconds', help: 'Time a request waited in its device queue before its batch started', labelNames: dmp, buckets: LATENCY_BUCKETS, registers })
    this.inference = new Histogram({ name: 'switchyard_inference_duration_seconds', help: 'Inference time of the batch that carried the request (tensor layout + run), as seen by the request', labelNames: dmp, buckets: LATENCY_BUCKETS, registers })
    this.request = new Histogram({ name: 'switchyard_request_duration_seconds', help: 'End-to-end time of a successful inference request, body read to response', labelNames: dmp, buckets: LATENCY_BUCKETS, registers })
    this.batchSize = new Histogram({ name: 'switchyard_batch_size', help: 'Images per executed batch', labelNames: dm, buckets: [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64], registers })
    this.batchService = new Histogram({ name: 'switchyard_batch_duration_seconds', help: 'Worker time per executed batch (layout + run + decode): what the cost model fits', labelNames: dm, buckets: LATENCY_BUCKETS, registers })
    this.predictionErrors = new Histogram({ name: 'switchyard_prediction_error_seconds', help: 'Actual minus predicted finish time of a request (negative: faster than predicted)', labelNames: dm, buckets: ERROR_BUCKETS, registers })
    this.predictionRatio = new Histogram({ name: 'switchyard_prediction_ratio', help: 'Actual over predicted finish time of a request (X-Switchyard-Predicted-Ms), per device and class: 1 is exact, above 1 slower than predicted', labelNames: dmp, buckets: RATIO_BUCKETS, registers })
    this.decisions = new Counter({ name: 'switchyard_routing_decisions_total', help: 'Requests routed, by chosen device, policy and reason', labelNames: ['device', 'model', 'policy', 'reason'], registers })
    this.rejections = new Counter({ name: 'switchyard_rejected_requests_total', help: 'Requests refused by admission control or failed after retry, by reason', labelNames: ['device', 'model', 'policy', 'reason'], registers })
    this.tiles = new Counter({ name: 'switchyard_tile_images_total', help: 'Images run for tiled requests (the tiles and each whole-image pass), by device', labelNames: dm, registers })
    this.cancelledItems = new Counter({ name: 'switchyard_requests_cancelled_total', help: 'Items taken out of a device queue without running: their client went away (client-disconnect) or their deadline passed (deadline, answered 504)', labelNames: ['model', 'reason'], registers })
    this.retries = new Counter({ name: 'switchyard_batch_retries_total', help: 'Requests whose batch failed on this device and were retried on another', labelNames: dm, registers })

    this.jobsSubmitted = new Counter({ name: 'switchyard_jobs_submitted_images_total', help: 'Images accepted in jobs (POST /jobs) by this replica', labelNames: ['model'], registers })
    this.jobImagesDone = new Counter({ name: 'switchyard_jobs_done_images_total', help: 'Job images whose one result this replica stored, by outcome (ok, failed)', labelNames: ['model', 'outcome'], registers })
    this.jobRedeliveries = new Counter({ name: 'switchyard_jobs_redelivered_images_total', help: 'Job images this replica received again (after another replica died, or its ack wait passed)', labelNames: ['model'], registers })
    this.ruleReplays = new Counter({ name: 'switchyard_routing_rule_replays_total', help: 'Replays of the last window of traffic that chose the routing rule (routing.select), by outcome: the rule the replay chose (switchyard, shared-queue), empty (nothing to replay), busy (the last replay still ran) or failed', labelNames: ['outcome'], registers })
    this.ruleReplayTime = new Histogram({ name: 'switchyard_routing_rule_replay_duration_seconds', help: 'From a window\'s end to its replay\'s verdict (routing.select): the replay of the window under both rules, in its worker thread', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers })
    const ruleNow = (): string | null => this.routingRule
    new Gauge({
      name: 'switchyard_routing_rule', help: 'The routing rule in force, 1 on its label (switchyard, shared-queue); exported where routing.select chooses it by replay', labelNames: ['rule'], registers,
      collect () { const r = ruleNow(); if (r === null) return; for (const rule of RULES) this.set({ rule }, rule === r ? 1 : 0) }
    })
    const jobsOf = (): ObservedJobs | null => this.jobs
    const budgetOf = (): { readonly bytes: number, readonly maxBytes: number } | null => this.queueBudget
    new Gauge({
      name: 'switchyard_queued_bytes', help: 'Bytes accepted requests hold now: prepared images queued or running, and bodies waiting for a decode slot (admission by memory, routing.maxQueuedBytes)', registers,
      collect () { const b = budgetOf(); this.set(b?.bytes ?? 0) }
    })
    new Gauge({
      name: 'switchyard_queued_bytes_limit', help: 'The memory budget for accepted requests (routing.maxQueuedBytes, or sized from the machine): past it, 429', registers,
      collect () { const b = budgetOf(); this.set(b?.maxBytes ?? 0) }
    })
    new Gauge({
      name: 'switchyard_jobs_queued_images', help: 'Job images queued, not yet taken by any replica, per model (with NATS: the whole queue, as every replica sees it; the autoscaler\'s lag)', labelNames: ['model'], registers,
      async collect () {
        this.reset()
        const j = jobsOf()
        if (j === null) return
        try { for (const [model, n] of (await j.stats()).queued) this.set({ model }, n) } catch { /* queue unreachable now: no sample this scrape */ }
      }
    })
    new Gauge({
      name: 'switchyard_jobs_running_images', help: 'Job images this replica has taken and not yet stored a result for, per model', labelNames: ['model'], registers,
      collect () { this.reset(); const j = jobsOf(); if (j !== null) for (const [model, n] of j.running()) this.set({ model }, n) }
    })
    new Gauge({
      name: 'switchyard_jobs_decode_slots', help: 'Job images this replica decodes at once now, per model (jobs.decodeSlots; auto: as fast as its devices run them, src/jobs/decode-pace.ts)', labelNames: ['model'], registers,
      collect () { this.reset(); const j = jobsOf(); if (j?.decodeSlots !== undefined) for (const [model, n] of j.decodeSlots()) this.set({ model }, n) }
    })
    new Gauge({
      name: 'switchyard_jobs_oldest_age_seconds', help: 'Age of the oldest job image still queued or running (0: none)', registers,
      async collect () {
        const j = jobsOf()
        if (j === null) { this.set(0); return }
        try { this.set((await j.stats()).oldestMs / 1000) } catch { /* queue unreachable now: no sample this scrape */ }
      }
    })

    // from the busy time of executed batches (router/price.ts): joules = busy watts × s, cost = price per hour × h
    this.energy = new Counter({ name: 'switchyard_energy_joules_total', help: 'Estimated energy of executed batches: busy watts (measured by nvidia-smi where available, else configured) × batch time', labelNames: ['device', 'model', 'variant'], registers })
    this.cost = new Counter({ name: 'switchyard_cost_total', help: 'Estimated cost of executed batches in the configured currency: pricePerHour × batch time', labelNames: ['device', 'model', 'variant'], registers })
    const power = this.power
    new Gauge({
      name: 'switchyard_device_power_watts', help: 'Busy power used for the energy estimate, by source (measured: nvidia-smi; configured: devices[].watts or the default)', labelNames: ['device', 'source'], registers,
      collect () {
        this.reset()
        each((d) => {
          const measured = power.get(d.id)?.watts ?? null
          if (measured !== null) this.set({ device: d.id, source: 'measured' }, measured)
          else this.set({ device: d.id, source: 'configured' }, priceOf(d.config).watts.busy)
        })
      }
    })
    new Gauge({
      name: 'switchyard_device_price_per_hour', help: 'Configured price of the device per hour (devices[].pricePerHour or the default)', labelNames: ['device'], registers,
      collect () { this.reset(); each((d) => this.set({ device: d.id }, priceOf(d.config).perHour)) }
    })
    new Gauge({
      name: 'switchyard_model_variant_info', help: 'The variant of each model a device runs (value 1)', labelNames: ['device', 'model', 'variant'], registers,
      collect () { this.reset(); each((d) => { for (const l of d.lanes.values()) this.set({ device: d.id, model: l.model, variant: l.variant }, 1) }) }
    })

    const each = (fn: (d: ObservedDevice) => void): void => { for (const d of devices()) fn(d) }
    new Gauge({
      name: 'switchyard_queue_depth', help: 'Requests queued (not yet running) per device and model; device="pool": what every device serving the model pulls from (the late-binding throughput pool, or the shared-queue rule\'s queue), counted once', labelNames: dm, registers,
      collect () {
        this.reset()
        const pools = new Map<{ size: number }, string>()
        each((d) => {
          for (const l of d.lanes.values()) {
            // under the shared-queue rule a device's own series holds what is pinned to it; the shared queue is counted once, as a pool
            if (l.bound !== undefined) { this.set({ device: d.id, model: l.model }, l.bound.size); pools.set(l.queue, l.model) } else this.set({ device: d.id, model: l.model }, l.queue.size)
            if (l.pool) pools.set(l.pool, l.model)
          }
        })
        const byModel = new Map<string, number>()
        for (const [pool, model] of pools) byModel.set(model, (byModel.get(model) ?? 0) + pool.size)
        for (const [model, n] of byModel) this.set({ device: 'pool', model }, n)
      }
    })
    new Gauge({
      name: 'switchyard_in_flight', help: 'Requests in batches running now per device and model', labelNames: dm, registers,
      collect () { this.reset(); each((d) => { for (const l of d.lanes.values()) this.set({ device: d.id, model: l.model }, l.inFlight) }) }
    })
    new Gauge({
      name: 'switchyard_device_healthy', help: '1 when the device has a live worker and serves requests', labelNames: ['device'], registers,
      collect () { this.reset(); each((d) => this.set({ device: d.id }, d.healthy ? 1 : 0)) }
    })
    new Gauge({
      name: 'switchyard_device_workers', help: 'Live inference workers per device', labelNames: ['device'], registers,
      collect () { this.reset(); each((d) => this.set({ device: d.id }, d.liveWorkers)) }
    })
    new Gauge({
      name: 'switchyard_riders_deep_fill', help: '1 while the device\'s latency gate is open: told the latency objective (devices[].riders.latencyObjectiveMs), its latency items within 0.7 of it, a latency batch under a deep backlog fills to its batch limit; 0 otherwise or without an objective', labelNames: ['device'], registers,
      collect () { this.reset(); each((d) => this.set({ device: d.id }, d.ridersDeep === true ? 1 : 0)) }
    })
    new Gauge({
      name: 'switchyard_cost_intercept_seconds', help: 'Fitted fixed cost a of a batch (t = a + b·n)', labelNames: dm, registers,
      collect () { this.reset(); each((d) => { for (const l of d.lanes.values()) this.set({ device: d.id, model: l.model }, l.cost.a / 1000) }) }
    })
    new Gauge({
      name: 'switchyard_cost_slope_seconds', help: 'Fitted cost b per image in a batch (t = a + b·n)', labelNames: dm, registers,
      collect () { this.reset(); each((d) => { for (const l of d.lanes.values()) this.set({ device: d.id, model: l.model }, l.cost.b / 1000) }) }
    })
    new Gauge({
      name: 'switchyard_model_ready', help: '1 when the model is loaded and warmed on at least one healthy device', labelNames: ['model'], registers,
      collect () { this.reset(); for (const [m, ok] of modelReady()) this.set({ model: m }, ok ? 1 : 0) }
    })
    if (pod) podGauges(pod, registers)
  }

  /**
   * Creates every labelled series the server can already name, at 0: per device × model
   * (× policy, × routing reason), rejections per model × policy × reason (device '' as for an
   * unpinned request), successful requests per route × model × device. Series only met later
   * (another HTTP status, a pinned rejection) still appear on their first increment.
   */
  /** RuleSelectObserver (src/router/rule-select-loop.ts): a window's replay and its outcome */
  windowEnded (outcome: WindowOutcome): void {
    this.ruleReplays.inc({ outcome })
  }

  /** RuleSelectObserver: a replay's time from its window's end to its verdict */
  replayTook (ms: number): void {
    this.ruleReplayTime.observe(ms / 1000)
  }

  /** RuleSelectObserver: the rule in force now */
  ruleInForce (rule: Rule): void {
    if (this.routingRule === null) for (const outcome of WINDOW_OUTCOMES) this.ruleReplays.inc({ outcome }, 0)
    this.routingRule = rule
  }

  zeroKnownSeries (known: KnownSeries): void {
    for (const d of known.devices) {
      for (const { name: model, variant } of d.models) {
        const dm = { device: d.id, model }
        this.batchSize.zero(dm)
        this.batchService.zero(dm)
        this.predictionErrors.zero(dm)
        this.retries.inc(dm, 0)
        for (const policy of POLICIES) {
          const dmp = { ...dm, policy }
          for (const h of [this.decode, this.queueWait, this.inference, this.request, this.predictionRatio]) h.zero(dmp)
          for (const reason of ROUTE_REASONS) this.decisions.inc({ ...dmp, reason }, 0)
        }
        for (const route of known.routes.get(model) ?? []) this.requests.inc({ route, model, device: d.id, variant, status: '200' }, 0)
      }
    }
    for (const model of known.routes.keys()) {
      for (const reason of CANCEL_REASONS) this.cancelledItems.inc({ model, reason }, 0)
      for (const policy of POLICIES) {
        for (const reason of REJECTION_REASONS) this.rejections.inc({ device: '', model, policy, reason }, 0)
      }
    }
  }

  /** Batch-level observations come from the devices' 'batch' events. */
  watch (device: ObservedDevice, power?: GpuPowerSampler): void {
    if (power) this.power.set(device.id, power)
    const price = priceOf(device.config)
    device.on('batch', (e: BatchEvent) => {
      this.batchSize.observe({ device: e.device, model: e.model }, e.size)
      this.batchService.observe({ device: e.device, model: e.model }, e.serviceMs / 1000)
      const labels = { device: e.device, model: e.model, variant: device.lanes.get(e.model)?.variant ?? '' }
      this.energy.inc(labels, joules(this.power.get(device.id)?.watts ?? price.watts.busy, e.serviceMs))
      this.cost.inc(labels, pricePerMs(price) * e.serviceMs)
    })
  }

  // DispatchObserver: what the dispatcher reports
  decision (device: string, model: string, policy: Policy, reason: RouteReason): void {
    this.decisions.inc({ device, model, policy, reason })
  }

  rejected (device: string, model: string, policy: Policy, reason: RejectReason | 'inference-failed' | 'decode-queue-full'): void {
    this.rejections.inc({ device, model, policy, reason })
  }

  retry (device: string, model: string): void {
    this.retries.inc({ device, model })
  }

  predictionError (device: string, model: string, ms: number): void {
    this.predictionErrors.observe({ device, model }, ms / 1000)
  }

  cancelled (model: string, reason: CancelReason): void {
    this.cancelledItems.inc({ model, reason })
  }

  prediction (device: string, model: string, policy: Policy, predictedMs: number, actualMs: number): void {
    if (predictedMs > 0) this.predictionRatio.observe({ device, model, policy }, actualMs / predictedMs)
  }
}

/**
 * Pod-level gauges, without a device label: one series each (per model and policy where
 * labelled) for a balancer that scores whole pods — a Gateway API Inference Extension Endpoint
 * Picker, a Prometheus Adapter rule for the HPA (router/pod-signals.ts).
 */
function podGauges (pod: () => PodSignals, registers: Registry[]): void {
  // each gauge asks afresh: a scrape every few seconds, a few router predictions each
  const read = pod
  const scalar = (name: string, help: string, value: (s: PodSignals) => number): void => {
    new Gauge({ name, help, registers, collect () { this.set(value(read())) } })
  }
  scalar('switchyard_pod_queued_requests', 'Requests queued, not yet running, summed over devices and models (one series per pod)', (s) => s.queued)
  scalar('switchyard_pod_running_requests', 'Requests in batches running now, summed over devices and models (one series per pod)', (s) => s.running)
  scalar('switchyard_pod_free_batch_slots', 'Live inference workers idle now, each able to start a batch at once', (s) => s.freeBatchSlots)
  scalar('switchyard_pod_busy_workers_ratio', 'Share of the live inference workers running a batch now (1 with none alive)', (s) => s.utilisation)
  new Gauge({
    name: 'switchyard_pod_predicted_finish_seconds', help: 'The router\'s predicted finish of a one-image request with no deadline on the device it would pick, per model and policy (3600: no healthy device)', labelNames: ['model', 'policy'], registers,
    collect () {
      this.reset()
      for (const [model, f] of read().finishMs) for (const policy of POLICIES) this.set({ model, policy }, f[policy] / 1000)
    }
  })
  new Gauge({
    name: 'switchyard_pod_predicted_cost_per_image', help: 'Predicted cost of one image under the cost policy on the device it would pick, in the configured currency (pricePerHour)', labelNames: ['model'], registers,
    collect () {
      this.reset()
      for (const [model, c] of read().costPerImage) this.set({ model }, c)
    }
  })
}
