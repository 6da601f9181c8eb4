// The replay built from a server's own state (issue 17; docs/architecture.md, Routing, "Choosing
// the rule by replay", item 3): what a router that chooses its rule by replay knows when a window
// ends — per device lane its learned t(n) = a + b·n (drift included: a device that has slowed
// down is replayed slow), the spread of its batch times around that fit, its batch limit, delays
// and live workers; the host's measured decode time and image bytes per model; the window's
// arrivals (src/router/arrival-record.ts) — turned into a scenario the engine runs under both
// rules. The same function serves the server (its Schedulers, in a worker thread:
// src/router/replay-thread.ts) and the simulator (its simulated devices' Schedulers, inline:
// replay-select.ts learnedChooser), so the simulator measures the replay a server would run, not
// one that knows the devices' true profiles.
//
// What it cannot know: a device that is down is left out (no live worker), one that is slowed
// is replayed at its learned (drifted) cost for the whole window, and what was queued when the
// window began is not in it (the replay starts from empty queues, as every replay here does).
import type { Scheduler } from '../devices/scheduler.js'
import type { ArrivalRecord } from '../router/arrival-record.js'
import type { DeviceProfile } from './profile.js'
import { DEFAULT_IMAGE_BYTES, type HostModel, type Scenario, type Slo, type TrafficClass } from './scenario.js'
import type { SimModelProfile } from './sim-device.js'
import type { Workload } from './workload.js'

/** The host's decode settings a replay copies (the server's decode gate and memory budget). */
export interface ReplayHost {
  slots: number
  bulkSlots: number
  maxWaiting: number | null
  maxQueuedBytes: number
}

/** Everything a replay needs, as plain data (posted to the replay's worker thread as it is). */
export interface ReplaySnapshot {
  devices: DeviceProfile[]
  host: HostModel
  traffic: TrafficClass[]
  /** the window's arrivals, times from its start */
  workload: Workload
  durationMs: number
  slo: Slo
  /** the replay's jitter seed */
  seed: number
}

/** A decode cost for a model whose requests were all refused before decoding (none measured): a replay needs one. */
const UNMEASURED_DECODE_MS = 0.01

/** The devices as they have learned themselves: live ones only, each lane at its fitted cost and spread. */
export function learnedDevices (devices: readonly Scheduler[]): DeviceProfile[] {
  const out: DeviceProfile[] = []
  for (const d of devices) {
    let live = 0; let reserved = 0
    for (const w of d.workers) if (w.alive) { live++; if (w.reserved) reserved++ }
    if (live === 0) continue
    const models: Record<string, SimModelProfile> = {}
    let first: { delayMs: { latency: number, throughput: number }, maxQueue: number } | undefined
    for (const [model, lane] of d.lanes) {
      const a = lane.cost.a; const b = lane.cost.b
      if (!(a + b > 0)) continue
      models[model] = { a, b, maxBatchSize: lane.maxBatchSize, jitter: lane.cost.spread }
      first ??= lane
    }
    if (first === undefined) continue
    const riders = d.ridersOptions
    out.push({
      id: d.id,
      kind: d.config.kind === 'cuda' ? 'cuda' : 'cpu',
      workers: live,
      latencyWorkers: Math.min(reserved, live - 1),
      batchDelayMs: { ...first.delayMs },
      maxQueue: first.maxQueue,
      ...(riders !== undefined ? { ridersBudget: riders.budget } : {}),
      ...(riders?.backlogBudget !== undefined ? { ridersBacklogBudget: riders.backlogBudget } : {}),
      ...(riders?.latencyObjectiveMs !== undefined ? { latencyObjectiveMs: riders.latencyObjectiveMs } : {}),
      models
    })
  }
  return out
}

/**
 * The snapshot of [windowFromMs, toMs) — or of its later part the record still holds: the record's arrivals of the models some live device serves
 * (the others would be refused under either rule), the devices as learned, the host as measured.
 * Null where there is nothing to replay (no arrivals, or no device).
 */
export function takeSnapshot (devices: readonly Scheduler[], record: ArrivalRecord, host: ReplayHost, windowFromMs: number, toMs: number, slo: Slo, seed: number): ReplaySnapshot | null {
  // a ring that has wrapped within the window holds only its later part: replay that part, at its own length
  const fromMs = Math.max(windowFromMs, record.heldSinceMs)
  const learned = learnedDevices(devices)
  if (learned.length === 0 || !(toMs > fromMs)) return null
  const { workload, traffic } = record.window(fromMs, toMs)
  const served = traffic.map((c) => learned.some((d) => d.models[c.model] !== undefined))
  // classes kept, renumbered; arrivals of the others dropped
  const renumber = new Int16Array(traffic.length).fill(-1)
  const kept: TrafficClass[] = []
  for (let k = 0; k < traffic.length; k++) if (served[k]! && traffic[k]!.share > 0) { renumber[k] = kept.length; kept.push(traffic[k]!) }
  let n = 0
  const at = new Float64Array(workload.count); const cls = new Uint8Array(workload.count)
  for (let i = 0; i < workload.count; i++) {
    const k = renumber[workload.cls[i]!]!
    if (k < 0) continue
    at[n] = workload.at[i]!; cls[n] = k; n++
  }
  if (n === 0) return null
  const counts = new Array<number>(kept.length).fill(0)
  for (let i = 0; i < n; i++) counts[cls[i]!]!++
  const decodeMs: Record<string, number> = {}; const imageBytes: Record<string, number> = {}
  for (const c of kept) {
    const m = record.costs.get(c.model)
    decodeMs[c.model] = m !== undefined && m.decodeMs > 0 ? m.decodeMs : UNMEASURED_DECODE_MS
    imageBytes[c.model] = m !== undefined && m.imageBytes > 0 ? m.imageBytes : DEFAULT_IMAGE_BYTES
  }
  return {
    devices: learned,
    host: { slots: host.slots, cores: host.slots, sharedCores: false, requestMs: 0, bulkSlots: host.bulkSlots, maxWaiting: host.maxWaiting, maxQueuedBytes: host.maxQueuedBytes, imageBytes, decodeMs, jitter: 0.1, source: 'learned: the server\'s measured decode times' },
    traffic: kept.map((c, k) => ({ ...c, share: counts[k]! / n })),
    workload: { at: at.slice(0, n), cls: cls.slice(0, n), count: n },
    durationMs: toMs - fromMs,
    slo,
    seed
  }
}

/** The scenario a snapshot is replayed on (both rules, no events: what happened to the devices is in their learned costs). */
export function snapshotScenario (snap: ReplaySnapshot): Scenario {
  return {
    name: 'replay',
    description: 'a window of recorded arrivals on the devices as learned',
    seed: snap.seed,
    durationS: snap.durationMs / 1000,
    load: 1,
    sweep: [],
    sweepS: snap.durationMs / 1000,
    host: snap.host,
    devices: snap.devices,
    sources: Object.fromEntries(snap.devices.map((d) => [d.id, 'learned: the server\'s cost model'])),
    traffic: snap.traffic,
    arrivals: { kind: 'poisson' },
    events: [],
    slo: snap.slo,
    strategies: ['switchyard', 'shared-queue']
  }
}
