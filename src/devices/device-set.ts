// Opens every configured device, one after the other so that each calibration has the
// machine to itself. A device whose execution provider cannot load (CUDA on a machine
// without a GPU) is logged once and left out, unless the config marks it required; then
// startup fails naming the cause. A model no device could load fails startup too, unless
// it is configured optional: then it is reported not ready while the others serve.
// Beside the devices, the set lists their schedulers: what the dispatcher, the router, the
// metrics and the jobs' capacity read and drive (`scheduling`, a DeviceSource).
import type { Config } from '../config/schema.js'
import type { ModelInfo } from '../models/model-spec.js'
import { DeviceUnavailableError, StartupError } from '../errors.js'
import { modelsFor } from '../models/variants.js'
import { Device, type DeviceOptions } from './device.js'
import { RequestQueue } from './request-queue.js'
import { bindsLate } from '../router/strategies.js'
import type { Scheduler } from './scheduler.js'
import { round } from '../util/format.js'
import type { Log } from '../util/log.js'


export class DeviceSet {
  readonly devices: Device[] = []
  /** the devices' schedulers, in the same order */
  readonly schedulers: Scheduler[] = []
  /** what the dispatcher reads (router/dispatcher.ts DeviceSource): the schedulers, and one by device id */
  readonly scheduling: { readonly devices: readonly Scheduler[], get: (id: string) => Scheduler | undefined } = { devices: this.schedulers, get: (id) => this.get(id)?.scheduler }
  /** models that were configured but are served by no device, with why */
  readonly unavailableModels = new Map<string, string>()
  readonly skippedDevices = new Map<string, string>()

  constructor (readonly models: readonly ModelInfo[], readonly configured: readonly string[]) {}

  static async open (config: Config, models: ModelInfo[], missing: ReadonlyMap<string, string>, log: Log, opts: Partial<DeviceOptions> = {}): Promise<DeviceSet> {
    const set = new DeviceSet(models, config.models.enabled)
    for (const [name, why] of missing) set.unavailableModels.set(name, why)
    // Triton's rule (a baseline): every device consumes one queue per model
    const sharedQueues = config.routing.strategy === 'shared-queue' ? new Map(models.map((m) => [m.name, new RequestQueue()])) : undefined
    // late binding: one throughput pool per model that every device pulls from
    const pools = bindsLate(config.routing.strategy) ? new Map<string, RequestQueue>() : undefined
    for (const dc of config.devices) {
      const faults = { allowFaults: config.faults.allow, faults: config.faults.inject.filter((f) => f.device === dc.id) }
      const device = new Device(dc, { calibrationRuns: config.routing.calibrationRuns, costWindow: config.routing.costWindow, log, ...(sharedQueues ? { sharedQueues } : {}), ...(pools ? { pools } : {}), ...faults, ...opts })
      try {
        await device.start(modelsFor(dc, models)) // each model with the weights of this device's variant
      } catch (err) {
        if (!(err instanceof DeviceUnavailableError) || dc.required) {
          await set.stop()
          throw new StartupError(`required device ${dc.id} failed to start: ${(err as Error).message}`)
        }
        set.skippedDevices.set(dc.id, err.message)
        log.warn({ device: dc.id }, `${err.message}; running without ${dc.id}`)
        continue
      }
      set.devices.push(device)
      set.schedulers.push(device.scheduler)
      for (const lane of device.scheduler.lanes.values()) {
        log.info({ device: dc.id, model: lane.model, variant: lane.variant, maxBatchSize: lane.maxBatchSize, dynamicBatch: lane.report.dynamicBatch, a: round(lane.cost.a, 3), b: round(lane.cost.b, 3) }, 'model ready')
      }
    }
    if (set.devices.length === 0) {
      throw new StartupError(`no device could be opened: ${[...set.skippedDevices.values()].join('; ')}`)
    }
    const optional = new Set(config.models.optional)
    for (const m of models) {
      if (set.schedulers.some((s) => s.lanes.has(m.name))) continue
      const why = set.devices.map((d) => d.failures.get(m.name)).find(Boolean) ?? 'no device serves it'
      if (!optional.has(m.name)) {
        await set.stop()
        throw new StartupError(`model ${m.name} could not be loaded: ${why}`)
      }
      log.warn({ model: m.name }, `optional model ${m.name} is not available: ${why}`)
      set.unavailableModels.set(m.name, why)
    }
    return set
  }

  get (id: string): Device | undefined {
    return this.devices.find((d) => d.id === id)
  }

  /** Per configured model: loaded and warmed on at least one healthy device? */
  readiness (): Map<string, boolean> {
    const out = new Map<string, boolean>()
    for (const name of this.configured) out.set(name, this.schedulers.some((s) => s.healthy && s.lanes.has(name)))
    return out
  }

  async drain (): Promise<void> {
    await Promise.all(this.schedulers.map((s) => s.drain()))
  }

  async stop (): Promise<void> {
    await Promise.all(this.devices.map((d) => d.stop()))
  }
}
