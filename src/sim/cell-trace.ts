// One run taken apart (bench/cell-trace.ts): where each device's worker time went, and how the
// answers of one class came back over time, per device. What the diagnoses in
// bench/results/late-binding.md and sustainable-misses.md read off single cells. The engine hands
// over its events (RunOptions.trace); this folds them into tables.
import type { Policy } from '../config/schema.js'
import type { BatchEvent } from '../devices/scheduler.js'
import type { RunTrace } from './engine.js'

/** Batches of one kind on one device and model: `latency` ones carry at least one latency-class item. */
export interface BatchRow {
  device: string
  model: string
  /** 'latency' (with its riders) or 'bulk'; 'reserved' where a worker reserved for latency work ran it */
  kind: 'latency' | 'bulk' | 'reserved'
  batches: number
  items: number
  /** latency-class items among them */
  latencyItems: number
  /** worker ms */
  busyMs: number
}

/** One device's answers of a class in one window of the run. */
export interface AnswerWindow {
  /** the window's start, ms */
  fromMs: number
  device: string
  answers: number
  /** ms from placement to answer: mean, max; the router's prediction, mean */
  meanMs: number
  maxMs: number
  meanPredictedMs: number
}

/** One executed batch: when it ended (ms), what it held, its worker ms. */
export interface BatchLogEntry {
  endMs: number
  device: string
  model: string
  size: number
  latency: number
  serviceMs: number
}

export interface CellTrace {
  /** for RunOptions.trace */
  readonly trace: RunTrace
  batches: () => BatchRow[]
  /** `device`'s batches that ended in [fromMs, toMs), in order */
  log: (device: string, fromMs?: number, toMs?: number) => BatchLogEntry[]
  /** `policy`'s answers in windows of `stepMs`, those ending in [fromMs, toMs) */
  windows: (policy: Policy, stepMs: number, fromMs?: number, toMs?: number) => AnswerWindow[]
}

export function cellTrace (): CellTrace {
  const rows = new Map<string, BatchRow>()
  const log: BatchLogEntry[] = []
  const answers: Array<{ device: string, policy: Policy, predictedMs: number, actualMs: number, atMs: number }> = []
  const trace: RunTrace = {
    batch: (e: BatchEvent, atMs: number) => {
      log.push({ endMs: atMs, device: e.device, model: e.model, size: e.size, latency: e.latency, serviceMs: e.serviceMs })
      const kind = e.reserved ? 'reserved' : e.latency > 0 ? 'latency' : 'bulk'
      const key = `${e.device}\u0000${e.model}\u0000${kind}`
      let r = rows.get(key)
      if (r === undefined) { r = { device: e.device, model: e.model, kind, batches: 0, items: 0, latencyItems: 0, busyMs: 0 }; rows.set(key, r) }
      r.batches++; r.items += e.size; r.latencyItems += e.latency; r.busyMs += e.serviceMs
    },
    answer: (device, _model, policy, predictedMs, actualMs, atMs) => { answers.push({ device, policy, predictedMs, actualMs, atMs }) }
  }
  return {
    trace,
    batches: () => [...rows.values()].sort((a, b) => a.device.localeCompare(b.device) || a.model.localeCompare(b.model) || a.kind.localeCompare(b.kind)),
    log: (device, fromMs = 0, toMs = Infinity) => log.filter((e) => e.device === device && e.endMs >= fromMs && e.endMs < toMs),
    windows: (policy, stepMs, fromMs = 0, toMs = Infinity) => {
      const by = new Map<string, AnswerWindow & { sum: number, pred: number }>()
      for (const a of answers) {
        if (a.policy !== policy || a.atMs < fromMs || a.atMs >= toMs) continue
        const start = Math.floor(a.atMs / stepMs) * stepMs
        const key = `${start}\u0000${a.device}`
        let w = by.get(key)
        if (w === undefined) { w = { fromMs: start, device: a.device, answers: 0, meanMs: 0, maxMs: 0, meanPredictedMs: 0, sum: 0, pred: 0 }; by.set(key, w) }
        w.answers++; w.sum += a.actualMs; w.pred += a.predictedMs
        if (a.actualMs > w.maxMs) w.maxMs = a.actualMs
      }
      return [...by.values()]
        .sort((a, b) => a.fromMs - b.fromMs || a.device.localeCompare(b.device))
        .map(({ sum, pred, ...w }) => ({ ...w, meanMs: sum / w.answers, meanPredictedMs: pred / w.answers }))
    }
  }
}
