// What a device costs to run and the energy it draws, and the cost policy's arithmetic.
//
// A device is paid for by the hour whether busy or not (pricePerHour: the all-in rate, energy
// included, as cloud prices are); a request is charged for the busy time it occupies:
//
//   price_per_ms(d)           = pricePerHour(d) / 3 600 000
//   cost_per_inference(d, n)  = price_per_ms(d) · t_d(n) / n       (t_d(n) = a + b·n, the lane's cost model)
//   energy_per_inference(d, n) = watts_busy(d) · t_d(n) / n / 1000  J (reported, not priced)
//
// n is the batch the request is predicted to run in: 1 for a latency request, otherwise
// min(B, throughput-class items queued + 1), as the router predicts its finish.
//
// Defaults per device kind, used where the config gives none. They are assumptions, stated
// with their source; set pricePerHour and watts per device for your own fleet:
//  - cpu:  $0.17/h — AWS EC2 c6i.xlarge (4 vCPU) on-demand, us-east-1, Linux.
//          20 W busy, 6 W idle — that instance's share of its host CPU: a Xeon Platinum
//          8375C has a 300 W TDP for 64 hardware threads (≈ 4.7 W per vCPU × 4), idle
//          taken as 30 % of busy.
//  - cuda: $2.99/h — one H100 SXM at an on-demand GPU cloud (Lambda's list price per
//          GPU-hour, 2024–25; hyperscalers charge more).
//          700 W busy — the H100 SXM5 TDP (NVIDIA H100 datasheet); 70 W idle — assumed 10 %
//          of TDP. On a machine with nvidia-smi the measured draw replaces both (power.ts).
import type { DeviceConfig } from '../config/schema.js'
import type { LaneView } from './router.js'
import type { Policy } from '../config/schema.js'

export interface DevicePrice {
  perHour: number
  watts: { busy: number, idle: number }
}

export const DEFAULT_PRICES: Readonly<Record<DeviceConfig['kind'], DevicePrice>> = {
  cpu: { perHour: 0.17, watts: { busy: 20, idle: 6 } },
  cuda: { perHour: 2.99, watts: { busy: 700, idle: 70 } }
}

/** what the router and the metrics read of a device's config */
export type PriceConfig = Pick<DeviceConfig, 'kind' | 'pricePerHour' | 'watts'>

export function priceOf (config: PriceConfig): DevicePrice {
  const d = DEFAULT_PRICES[config.kind]
  return { perHour: config.pricePerHour ?? d.perHour, watts: config.watts ?? d.watts }
}

/** price units per ms of busy time */
export function pricePerMs (price: DevicePrice): number {
  return price.perHour / 3_600_000
}

/** the batch a request joins, as the router predicts its finish */
export function predictedBatch (lane: LaneView, policy: Policy): number {
  return policy === 'latency' ? 1 : Math.min(lane.maxBatchSize, lane.queue.throughput.length + 1)
}

/** price_per_ms · t(n) / n for the batch the request is predicted to join */
export function costPerInference (config: PriceConfig | undefined, lane: LaneView, policy: Policy): number {
  if (config === undefined) return 0
  const n = predictedBatch(lane, policy)
  return pricePerMs(priceOf(config)) * lane.cost.predict(n) / n
}

/** joules for `ms` of work at `watts` */
export function joules (watts: number, ms: number): number {
  return watts * ms / 1000
}
