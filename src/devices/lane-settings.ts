// How a device sets up its lane for one model — batch size, batch delays, queue cap, variant,
// and which queue it takes work from (its own, a queue shared by every device, a late-binding
// pool) — in one place, for the server's devices (device.ts) and the simulator's
// (sim/sim-device.ts) alike. What a device's config leaves out comes from the config schema's
// defaults, so the simulator and the server cannot drift apart in them.
import { Value } from '@sinclair/typebox/value'
import { DeviceSchema, type DeviceConfig } from '../config/schema.js'
import type { ModelReport } from '../worker/protocol.js'
import { RequestQueue } from './request-queue.js'
import type { LaneSettings } from './scheduler.js'

/** What of a device's config shapes its lanes; absent fields take the schema's defaults. */
export type LaneConfig = Partial<Pick<DeviceConfig, 'batchDelayMs' | 'maxQueue' | 'perModel'>>

/** The config schema's defaults for a lane (devices[].maxQueue, devices[].batchDelayMs). */
export const LANE_DEFAULTS: { readonly maxQueue: number, readonly batchDelayMs: Readonly<DeviceConfig['batchDelayMs']> } = Object.freeze({
  maxQueue: Value.Default(DeviceSchema.properties.maxQueue, undefined) as number,
  batchDelayMs: Object.freeze(Value.Default(DeviceSchema.properties.batchDelayMs, {}) as DeviceConfig['batchDelayMs'])
})

/** Where a lane's work waits besides its own queue (the shared-queue and late-binding strategies). */
export interface LaneQueues {
  /** per model, a queue shared by every device */
  sharedQueues?: ReadonlyMap<string, RequestQueue> | undefined
  /** per `model@variant`, the throughput pool every device running it pulls from; filled here as devices add lanes */
  pools?: Map<string, RequestQueue> | undefined
}

export interface LaneOptions extends LaneQueues {
  /** the model variant the lane runs (default 'default') */
  variant?: string | undefined
  /** the devices[].perModel key whose settings apply (default: the lane's model; a repository version `m@2` passes `m`) */
  perModelKey?: string | undefined
}

/**
 * The lane of `report.name` on a device configured by `config`: the batch size the worker
 * reported, the batch delays (perModel over the device's over the schema's), the queue cap,
 * and the shared queue or pool to take work from. A pool missing from `pools` is created there,
 * so every device that runs the same model variant joins the same one.
 */
export function laneSettings (config: LaneConfig, report: ModelReport, o: LaneOptions = {}): LaneSettings {
  const variant = o.variant ?? 'default'
  const per = config.perModel?.[o.perModelKey ?? report.name]
  const queue = o.sharedQueues?.get(report.name)
  let pool: RequestQueue | undefined
  if (o.pools !== undefined) {
    const key = `${report.name}@${variant}`
    pool = o.pools.get(key)
    if (pool === undefined) { pool = new RequestQueue(); o.pools.set(key, pool) }
  }
  return {
    maxBatchSize: report.maxBatchSize,
    delayMs: { ...LANE_DEFAULTS.batchDelayMs, ...config.batchDelayMs, ...per?.batchDelayMs },
    maxQueue: config.maxQueue ?? LANE_DEFAULTS.maxQueue,
    report,
    variant,
    ...(queue !== undefined ? { queue } : {}),
    ...(pool !== undefined ? { pool } : {})
  }
}
