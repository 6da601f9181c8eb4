// Dynamic batching: when a worker of a device is free, what should it run next?
//
// The rule, per device (each model has its own queue and batch limit):
//  1. Latency-class work first. The most urgent latency item (earliest deadline) is sent at
//     once with up to maxBatch-1 other latency items of its model; it waits for company only
//     when the device's latency batch delay is > 0 (default 0: never). Throughput items do
//     not ride along: on a CPU each extra image costs nearly a full image's time, which the
//     latency request would pay.
//  2. Otherwise throughput-class work: a model whose throughput queue holds a full batch is
//     sent at once; a partial batch is sent when its oldest item has waited the throughput
//     batch delay. Among ready models, the one with the most urgent head goes first.
//  3. Otherwise nothing is ready: wake up when the earliest batch delay runs out.
// The scheduler may run one full batch of an overdue pool ahead of a latency batch on a general
// worker (overdue-pool.ts): a model's pooled items that no latency batch of its own carries.
// A worker reserved for latency work (devices[].latencyWorkers) plans with rule 1 only, so a
// latency request never waits behind a running bulk batch; idle, it costs no CPU.
// The delay trades the waiting item's latency for a larger, cheaper-per-image batch
// (cost model: a + b·n per batch, so a/n + b per image): it only pays where a is large.
import type { Policy } from '../config/schema.js'
import type { RequestQueue } from './request-queue.js'

export interface BatchSlot {
  model: string
  queue: RequestQueue
  maxBatchSize: number
  delayMs: { latency: number, throughput: number }
}

export type BatchPlan =
  | { action: 'dispatch', model: string, policy: Policy, count: number, /** the slot to take them from */ slot: BatchSlot }
  | { action: 'wait', until: number }
  | { action: 'idle' }

const BOTH = ['latency', 'throughput'] as const
const LATENCY_ONLY = ['latency'] as const

export function planBatch (slots: readonly BatchSlot[], now: number, latencyOnly = false): BatchPlan {
  let wake = Infinity
  for (const policy of latencyOnly ? LATENCY_ONLY : BOTH) {
    let best: BatchSlot | null = null
    let bestDeadline = Infinity
    for (const slot of slots) {
      const list = slot.queue[policy]
      if (list.length === 0) continue
      const head = list[0]!
      // due is computed once and compared as is: `now − enqueuedAt ≥ delay` can be false by a
      // rounding error at the very time `enqueuedAt + delay` says to wake, and a timer at `now`
      // that finds nothing ready sets itself again at `now` for ever (on a virtual clock)
      const due = head.enqueuedAt + slot.delayMs[policy]
      const ready = list.length >= slot.maxBatchSize || now >= due
      if (!ready) {
        wake = Math.min(wake, due)
        continue
      }
      if (best === null || head.deadline < bestDeadline) { best = slot; bestDeadline = head.deadline } // (an infinite deadline is one too)
    }
    if (best) return { action: 'dispatch', model: best.model, policy, count: Math.min(best.queue[policy].length, best.maxBatchSize), slot: best }
    // a latency item still gathering company holds the worker: no bulk batch may jump in
    if (wake !== Infinity && policy === 'latency') return { action: 'wait', until: wake }
  }
  return wake === Infinity ? { action: 'idle' } : { action: 'wait', until: wake }
}
