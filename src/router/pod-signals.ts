// What one Switchyard process (a pod, a replica) tells the balancer in front of it: the same
// numbers whichever engine reads them — Prometheus gauges without a device label for an Endpoint
// Picker (metrics.ts), the HAProxy agent's weight (http/agent-check.ts), the ORCA load report on
// answers (http/orca.ts), and the fleet simulator's picker (sim/fleet.ts).
//
// Pure: a function of the devices' views and a time, like the router, whose own prediction it
// reports — the finish of a reference request (one image, no deadline) on the device the
// router would pick, per policy and model.
import type { Policy } from '../config/schema.js'
import { costPerInference, type PriceConfig } from './price.js'
import { Router, type DeviceView, type LaneView } from './router.js'

export const SIGNAL_POLICIES: readonly Policy[] = ['latency', 'throughput', 'cost']

/** reported as the predicted finish when no healthy device serves the model (seconds in the gauges) */
export const UNAVAILABLE_MS = 3_600_000

export interface PodSignals {
  /** requests queued on every device and model, not yet running */
  queued: number
  /** requests in batches running now */
  running: number
  /** live worker slots, and of them the ones running a batch */
  liveWorkers: number
  busyWorkers: number
  /** live workers idle now: each can start a batch at once */
  freeBatchSlots: number
  /** busyWorkers / liveWorkers (1 with no live worker) */
  utilisation: number
  /** per model, per policy: the router's predicted finish of a reference request, ms (UNAVAILABLE_MS: none) */
  finishMs: Map<string, Record<Policy, number>>
  /** per model, per policy: the predicted wait before it starts, ms (UNAVAILABLE_MS: none) */
  waitMs: Map<string, Record<Policy, number>>
  /** per model: predicted cost of one image under the cost policy (configured currency; 0: no price) */
  costPerImage: Map<string, number>
  /**
   * per model, per policy: the replica's own time per image, ms, its speed for that class of
   * work (the HAProxy agent's weight): for latency t(1) on the device the router picks (a latency
   * request runs alone); for throughput and cost 1 / its capacity, Σ over healthy devices of
   * bulk-taking workers × B / t(B) (bulk runs in full batches on every device)
   * (UNAVAILABLE_MS: none)
   */
  imageMs: Map<string, Record<Policy, number>>
}

const router = new Router('switchyard')

export function podSignals (devices: ReadonlyArray<DeviceView & { config?: PriceConfig }>, models: readonly string[], now: number): PodSignals {
  let queued = 0; let running = 0; let live = 0; let busy = 0
  // throughput items waiting in a late-binding pool are queued too: each pool counted once,
  // however many devices pull from it
  const pools = new Set<{ readonly size: number }>()
  for (const d of devices) {
    for (const l of d.lanes.values()) {
      running += l.inFlight
      if (l.pool !== undefined) pools.add(l.pool)
      // a queue shared with other devices (the shared-queue rule) counted once, as a pool is; the items pinned here are this device's
      if (l.bound !== undefined) { queued += l.bound.size; pools.add(l.queue) } else queued += l.queue.size
    }
    for (const w of d.workers) {
      if (!w.alive) continue
      live++
      if (w.busyUntil > 0) busy++
    }
  }
  for (const p of pools) queued += p.size
  const finishMs = new Map<string, Record<Policy, number>>()
  const waitMs = new Map<string, Record<Policy, number>>()
  const costPerImage = new Map<string, number>()
  const imageMs = new Map<string, Record<Policy, number>>()
  for (const model of models) {
    let perMs = 0
    for (const d of devices) {
      const lane = d.lanes.get(model)
      if (!d.healthy || !lane) continue
      let takers = 0
      for (const w of d.workers) if (w.alive && w.takesThroughput) takers++
      perMs += takers * lane.maxBatchSize / Math.max(lane.cost.predict(lane.maxBatchSize), 1e-6)
    }
    const bulk = perMs > 0 ? 1 / perMs : UNAVAILABLE_MS
    const im = { latency: UNAVAILABLE_MS, throughput: bulk, cost: bulk }
    const f = { latency: UNAVAILABLE_MS, throughput: UNAVAILABLE_MS, cost: UNAVAILABLE_MS }
    const w = { latency: UNAVAILABLE_MS, throughput: UNAVAILABLE_MS, cost: UNAVAILABLE_MS }
    let cost = 0
    for (const policy of SIGNAL_POLICIES) {
      const r = router.route(devices, { model, policy, deadlineMs: Infinity }, now)
      if (!r.ok) {
        // every lane full: still the earliest predicted finish, so a picker sees how far behind
        if (r.reason === 'queue-full') f[policy] = Math.min(UNAVAILABLE_MS, r.predictedMs)
        continue
      }
      f[policy] = r.predictedMs
      const d = devices.find((x) => x.id === r.device)!
      const lane = d.lanes.get(model)!
      w[policy] = Math.max(0, r.predictedMs - serviceOf(lane, policy))
      if (policy === 'latency') im.latency = lane.cost.predict(1)
      if (policy === 'cost') cost = costPerInference(d.config, lane, 'cost')
    }
    finishMs.set(model, f)
    waitMs.set(model, w)
    costPerImage.set(model, cost)
    imageMs.set(model, im)
  }
  return { queued, running, liveWorkers: live, busyWorkers: busy, freeBatchSlots: live - busy, utilisation: live > 0 ? busy / live : 1, finishMs, waitMs, costPerImage, imageMs }
}

/** the service part of a reference request's predicted finish (router.ts, k = 1) */
function serviceOf (lane: LaneView, policy: Policy): number {
  if (policy === 'latency') return lane.delayMs.latency + lane.cost.predict(1)
  const n = Math.min(lane.maxBatchSize, lane.queue.throughput.length + 1)
  return (n < lane.maxBatchSize ? lane.delayMs.throughput : 0) + lane.cost.predict(n)
}
