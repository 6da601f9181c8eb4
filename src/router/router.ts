// The routing decision: which device gets this request, or why none may.
//
// For each candidate device d serving model m, with W_d workers and cost t(n) = a + b·n per lane:
//
//   ahead(lane)   = items that will run before this one: latency-class items for a latency
//                   request (they jump the bulk queue), every queued item for a throughput one
//   work(lane, q) = ⌈q / B⌉·a + q·b          (q items run in batches of at most B)
//   r_w           = what worker w's running batch still needs (0 when idle)
//   wait_d        = latency:    min_w r_w + Σ_lanes work(lane, ahead) / W_d
//                               (any worker, reserved latency workers included, takes it next)
//                   throughput: (Σ r_w + Σ_lanes work(lane, ahead)) / W_d, over the W_d
//                               workers that take throughput work
//   finish_d      = wait_d + delay_d(policy) + t(n)
//                   latency:    n = 1, no delay (the batcher sends it at once)
//                   throughput: n = min(B, queued + 1), plus the batch delay while n < B
//
//   latency    → the healthy device with the earliest finish_d
//   throughput → the healthy device with the highest B / t(B) (images per ms at its best
//                batch) among those whose finish_d meets the deadline; ties by finish_d
//   cost       → the lowest predicted cost per inference, price_per_ms_d · t(n) / n (n and
//                finish_d as for throughput; price.ts), among those meeting the deadline;
//                ties by finish_d
//
// A request for a model variant (X-Switchyard-Variant) only considers lanes running it.
//
// Admission control happens here, before anything is queued: a device whose lane already
// holds maxQueue items is not a candidate; if no candidate meets the deadline the answer is
// 429 with Retry-After = the smallest predicted drain time; if no healthy device serves the
// model at all, 503.
import type { Policy } from '../config/schema.js'
import { costPerInference, type PriceConfig } from './price.js'

export interface LaneView {
  model: string
  maxBatchSize: number
  maxQueue: number
  delayMs: { latency: number, throughput: number }
  queue: { latency: { length: number }, throughput: { length: number }, size: number }
  cost: { a: number, b: number, predict: (n: number) => number, throughput: (n: number) => number }
  /** the model variant this lane runs */
  readonly variant?: string
}

export interface DeviceView {
  id: string
  healthy: boolean
  /** per live worker, ms until it is free (reserved latency workers first) */
  residualsMs: (now: number) => number[]
  /** how many of the workers (the first ones) take latency-class work only */
  latencyWorkers: number
  lanes: ReadonlyMap<string, LaneView>
  /** kind, price and power (cost policy); absent: free */
  readonly config?: PriceConfig
}

export interface RouteRequest {
  model: string
  policy: Policy
  /** ms from now the answer must be ready by */
  deadlineMs: number
  /** only this device (X-Switchyard-Device) */
  pinned?: string | undefined
  /** devices already tried (a failed batch is retried elsewhere) */
  exclude?: readonly string[]
  /** only lanes running this variant (X-Switchyard-Variant) */
  variant?: string | undefined
}

export type RouteReason = 'pinned' | 'earliest-finish' | 'best-throughput' | 'lowest-cost' | 'retry'
export type RejectReason = 'deadline' | 'queue-full' | 'no-healthy-device' | 'unknown-device'

export type RouteDecision =
  | { ok: true, device: string, predictedMs: number, reason: RouteReason }
  | { ok: false, reason: RejectReason, status: 429 | 503 | 404, retryAfterS: number, predictedMs: number }

export interface Prediction { device: DeviceView, waitMs: number, finishMs: number, throughput: number, full: boolean, costPerInference: number }

export function predict (device: DeviceView, lane: LaneView, policy: Policy, now: number): Prediction {
  let backlog = 0
  for (const l of device.lanes.values()) {
    const q = policy === 'latency' ? l.queue.latency.length : l.queue.size
    if (q > 0) backlog += Math.ceil(q / l.maxBatchSize) * l.cost.a + q * l.cost.b
  }
  const residuals = device.residualsMs(now)
  let waitMs: number
  if (policy === 'latency') {
    waitMs = Math.min(...residuals) + backlog / Math.max(1, residuals.length)
  } else {
    const general = residuals.slice(Math.min(device.latencyWorkers, residuals.length - 1))
    waitMs = (general.reduce((a, b) => a + b, 0) + backlog) / Math.max(1, general.length)
  }
  let serviceMs: number
  if (policy === 'latency') {
    serviceMs = lane.delayMs.latency + lane.cost.predict(1)
  } else {
    const n = Math.min(lane.maxBatchSize, lane.queue.throughput.length + 1)
    serviceMs = (n < lane.maxBatchSize ? lane.delayMs.throughput : 0) + lane.cost.predict(n)
  }
  return {
    device,
    waitMs,
    finishMs: waitMs + serviceMs,
    throughput: lane.cost.throughput(lane.maxBatchSize),
    full: lane.queue.size >= lane.maxQueue,
    costPerInference: costPerInference(device.config, lane, policy)
  }
}

export function route (devices: readonly DeviceView[], req: RouteRequest, now: number): RouteDecision {
  if (req.pinned !== undefined && !devices.some((d) => d.id === req.pinned && d.lanes.has(req.model))) {
    return { ok: false, reason: 'unknown-device', status: 404, retryAfterS: 0, predictedMs: 0 }
  }
  const exclude = req.exclude ?? []
  const candidates: Prediction[] = []
  for (const d of devices) {
    if (!d.healthy || exclude.includes(d.id)) continue
    if (req.pinned !== undefined && d.id !== req.pinned) continue
    const lane = d.lanes.get(req.model)
    if (lane && (req.variant === undefined || lane.variant === req.variant)) candidates.push(predict(d, lane, req.policy, now))
  }
  if (candidates.length === 0) {
    return { ok: false, reason: 'no-healthy-device', status: 503, retryAfterS: 1, predictedMs: 0 }
  }
  const open = candidates.filter((c) => !c.full)
  const drainS = (cs: Prediction[]): number => Math.max(1, Math.ceil(Math.min(...cs.map((c) => c.waitMs)) / 1000))
  if (open.length === 0) {
    return { ok: false, reason: 'queue-full', status: 429, retryAfterS: drainS(candidates), predictedMs: Math.min(...candidates.map((c) => c.finishMs)) }
  }
  const meeting = open.filter((c) => c.finishMs <= req.deadlineMs)
  if (meeting.length === 0) {
    return { ok: false, reason: 'deadline', status: 429, retryAfterS: drainS(open), predictedMs: Math.min(...open.map((c) => c.finishMs)) }
  }
  let best = meeting[0]!
  for (const c of meeting.slice(1)) {
    const better = req.policy === 'latency'
      ? c.finishMs < best.finishMs
      : req.policy === 'cost'
        ? c.costPerInference < best.costPerInference || (c.costPerInference === best.costPerInference && c.finishMs < best.finishMs)
        : c.throughput > best.throughput || (c.throughput === best.throughput && c.finishMs < best.finishMs)
    if (better) best = c
  }
  const reason: RouteReason = req.pinned !== undefined
    ? 'pinned'
    : exclude.length > 0 ? 'retry' : req.policy === 'latency' ? 'earliest-finish' : req.policy === 'cost' ? 'lowest-cost' : 'best-throughput'
  return { ok: true, device: best.device.id, predictedMs: best.finishMs, reason }
}
