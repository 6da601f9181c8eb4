// The model repository at run time: the plain ONNX models of the models directory
// (onnx-repository.ts), loaded onto the devices, reloaded when their directory changes, loaded
// and unloaded on request (/v2/repository), without a restart.
//
// A version of model m is served under the lane key `m@v` on every device that could load it:
// the device's workers create its session, the first one warms and calibrates it, and only
// then is its lane added — a new version takes traffic once it is calibrated. A request for m
// without a version goes to the newest version served. Under the default policy (latest 1) a
// new version replaces the old one: the new one is loaded first, then the old one unloaded —
// its lane leaves the router at once and what is queued for it still runs (Scheduler.removeLane).
// A version that cannot be loaded (not ONNX, truncated, shapes that do not run, too large for
// the device's memory) is refused with the reason, and whatever served before keeps serving.
//
// Operations on one model run one after another (a per-model promise chain); the poll (every
// modelRepository.pollMs) and the HTTP calls go through the same load()/unload()/rescan().
import { EventEmitter } from 'node:events'
import type { Config } from '../config/schema.js'
import type { DeviceSet } from '../devices/device-set.js'
import type { Device } from '../devices/device.js'
import { ModelConfigured, ModelLoadRefused, ModelNotFound, ModelVersionNotFound } from '../errors.js'
import type { Log } from '../util/log.js'
import type { ModelReport } from '../worker/protocol.js'
import { MODEL_NAME, scanModel, scanRepository, selectVersions, type ScannedVersion, type VersionPolicy } from './onnx-repository.js'

/** The repository extension's states (Triton's names) */
export type VersionState = 'LOADING' | 'READY' | 'UNLOADING' | 'UNAVAILABLE'

export interface VersionEntry {
  version: number
  state: VersionState
  /** why it is unavailable (refused, unloaded), '' otherwise */
  reason: string
  /** the files it was loaded from (signature); '' when not loaded */
  loadedSignature: string
  /** the files last refused (signature): the poll does not try them again */
  refusedSignature: string
  /** the devices it is loaded on */
  devices: string[]
}

interface Entry {
  name: string
  versions: Map<number, VersionEntry>
  /** loaded by the poll or a load call, and not unloaded since: the poll keeps it current */
  wanted: boolean
  chain: Promise<unknown>
}

export interface IndexEntry { name: string, version: string, state: VersionState, reason: string }

/** The lane key of a version: model names cannot hold '@'. */
export const laneKey = (name: string, version: number): string => `${name}@${version}`

export interface LiveRepositoryOptions {
  /** the directory scanned; null: no plain models */
  dir: string | null
  /** directory names that are configured models' (not plain models) */
  exclude: ReadonlySet<string>
  /** models served from model.json (listed in the index, never loaded or unloaded here) */
  configured: readonly string[]
  /** per configured model: the version served and the versions on disk (absent: version 1 alone) */
  configuredVersions?: ReadonlyMap<string, { version: number, versions: readonly number[] }>
  config: Pick<Config, 'modelRepository'>
  devices: DeviceSet
  log: Log
}

/**
 * Events: 'loaded' (key, device ids) after a version's lanes were added — the server zeroes its
 * metric series; 'unloaded' (key); 'refused' (version, reason).
 */
export class LiveRepository extends EventEmitter {
  readonly entries = new Map<string, Entry>()
  private timer: NodeJS.Timeout | null = null
  private closed = false

  constructor (private readonly opts: LiveRepositoryOptions) {
    super()
  }

  get enabled (): boolean {
    return this.opts.dir !== null
  }

  /** Loads every plain model found (startup), then polls when configured. */
  async start (): Promise<void> {
    if (!this.enabled) return
    await this.rescan()
    const ms = this.opts.config.modelRepository.pollMs
    if (ms > 0) {
      const tick = (): void => {
        this.timer = setTimeout(() => { this.rescan().catch((err: Error) => this.opts.log.warn({ err: err.message }, 'model repository poll failed')).finally(() => { if (!this.closed) tick() }) }, ms)
        this.timer.unref()
      }
      tick()
    }
  }

  /** Stops polling and waits for operations in progress. */
  async stop (): Promise<void> {
    this.closed = true
    if (this.timer !== null) clearTimeout(this.timer)
    await Promise.allSettled([...this.entries.values()].map((e) => e.chain))
  }

  policyOf (name: string): VersionPolicy {
    return this.opts.config.modelRepository.perModel[name]?.versionPolicy ?? this.opts.config.modelRepository.versionPolicy ?? { latest: 1 }
  }

  /**
   * One pass of the poll: loads models that appeared, reloads wanted ones whose files changed
   * or whose policy now selects other versions, unloads models whose directory is gone.
   * Failures are logged and left in the index; nothing is thrown for one model.
   */
  async rescan (): Promise<void> {
    if (!this.enabled || this.closed) return
    const found = await scanRepository(this.opts.dir!, this.opts.exclude)
    const jobs: Array<Promise<unknown>> = []
    for (const [name, m] of found) {
      const e = this.entries.get(name)
      if (e && !e.wanted) continue // unloaded on request: stays so until loaded again
      if (e && !this.changed(e, m.versions)) continue
      jobs.push(this.load(name).catch((err: Error) => this.opts.log.warn({ model: name, err: err.message }, 'model repository: not loaded')))
    }
    for (const [name, e] of this.entries) {
      if (!found.has(name) && e.wanted) jobs.push(this.unload(name, 'its directory is gone').catch(() => {}))
    }
    await Promise.all(jobs)
  }

  private changed (e: Entry, onDisk: ScannedVersion[]): boolean {
    const wanted = selectVersions(onDisk.map((v) => v.version), this.policyOf(e.name))
    for (const v of wanted) {
      const have = e.versions.get(v)
      const disk = onDisk.find((d) => d.version === v)!
      if (have?.state === 'READY' && have.loadedSignature === disk.signature) continue
      if (have?.refusedSignature === disk.signature) continue // refused as it is: tried again once its files change
      return true
    }
    // versions no longer selected go once a selected one serves (else they keep serving)
    if (!wanted.some((v) => e.versions.get(v)?.state === 'READY')) return false
    for (const [v, have] of e.versions) if (have.state === 'READY' && !wanted.includes(v)) return true
    return false
  }

  /** The index (POST /v2/repository/index): every model on disk or loaded, each version with its state. */
  async index (readyOnly = false): Promise<IndexEntry[]> {
    const out: IndexEntry[] = []
    const ready = this.opts.devices.readiness()
    for (const name of this.opts.configured) {
      const v = this.opts.configuredVersions?.get(name) ?? { version: 1, versions: [1] }
      const selected = selectVersions(v.versions, this.policyOf(name))
      for (const version of v.versions.length > 0 ? v.versions : [v.version]) {
        out.push(version === v.version
          ? { name, version: String(version), state: ready.get(name) === true ? 'READY' : 'UNAVAILABLE', reason: '' }
          : { name, version: String(version), state: 'UNAVAILABLE', reason: selected.includes(version) ? `a configured model serves one version, the newest its policy selects (${v.version})` : 'not selected by the version policy' })
      }
    }
    const found = this.enabled ? await scanRepository(this.opts.dir!, this.opts.exclude) : new Map()
    const names = [...new Set([...found.keys(), ...this.entries.keys()])].sort()
    for (const name of names) {
      const e = this.entries.get(name)
      const versions = new Set<number>([...(found.get(name)?.versions ?? []).map((v: ScannedVersion) => v.version), ...(e?.versions.keys() ?? [])])
      for (const v of [...versions].sort((a, b) => a - b)) {
        const have = e?.versions.get(v)
        out.push({ name, version: String(v), state: have?.state ?? 'UNAVAILABLE', reason: have?.reason ?? '' })
      }
    }
    return readyOnly ? out.filter((x) => x.state === 'READY') : out
  }

  /**
   * Loads (or reloads) a model: the versions its policy selects are loaded where new or
   * changed, then the versions no longer selected are unloaded — only if a selected one is
   * ready, so a refused new version leaves the old one serving. Throws ModelLoadRefused with the
   * reasons when a selected version could not be loaded.
   */
  load (name: string): Promise<void> {
    if (this.opts.configured.includes(name)) return Promise.reject(new ModelConfigured(name))
    if (!MODEL_NAME.test(name)) return Promise.reject(new ModelNotFound('repository', name))
    return this.serial(name, async (e) => {
      const m = this.enabled && !this.opts.exclude.has(name) ? await scanModel(this.opts.dir!, name) : null
      if (m === null) throw new ModelNotFound('repository', name)
      e.wanted = true
      const wanted = selectVersions(m.versions.map((v) => v.version), this.policyOf(name))
      if (wanted.length === 0) throw new ModelLoadRefused(name, `its version policy ${JSON.stringify(this.policyOf(name))} selects none of its versions (${m.versions.map((v) => v.version).join(', ')})`)
      const refused: string[] = []
      for (const v of wanted) {
        const disk = m.versions.find((d) => d.version === v)!
        const have = e.versions.get(v)
        if (have?.state === 'READY' && have.loadedSignature === disk.signature) continue
        const why = await this.loadVersion(e, disk)
        if (why !== null) refused.push(`version ${v}: ${why}`)
      }
      if (wanted.some((v) => e.versions.get(v)?.state === 'READY')) {
        for (const [v, have] of e.versions) {
          if (!wanted.includes(v) && have.state === 'READY') await this.unloadVersion(e, v, 'not selected by the version policy')
        }
      }
      if (refused.length > 0) throw new ModelLoadRefused(name, refused.join('; '))
    })
  }

  /** Unloads every version of a model: they leave the router at once, what is queued for them runs. */
  unload (name: string, reason = 'unloaded'): Promise<void> {
    if (this.opts.configured.includes(name)) return Promise.reject(new ModelConfigured(name))
    if (!this.entries.has(name)) return Promise.reject(new ModelNotFound('repository', name))
    return this.serial(name, async (e) => {
      e.wanted = false
      for (const [v, have] of e.versions) {
        if (have.state === 'READY') await this.unloadVersion(e, v, reason)
      }
    })
  }

  /** Versions served now, newest first. */
  served (name: string): number[] {
    const e = this.entries.get(name)
    if (!e) return []
    return [...e.versions.values()].filter((v) => v.state === 'READY').map((v) => v.version).sort((a, b) => b - a)
  }

  /**
   * The lane key a request for `name` (and `version`, if given) goes to. undefined: not a plain
   * model. Throws ModelNotFound when no version is served, ModelVersionNotFound for a version not served.
   */
  resolve (name: string, version?: string): { key: string, version: number } | undefined {
    const e = this.entries.get(name)
    if (!e) return undefined
    const served = this.served(name)
    const v = version === undefined ? served[0] : Number(version)
    if (v === undefined) throw new ModelNotFound('served', name) // known, but no version is served now
    if (!served.includes(v)) throw new ModelVersionNotFound(name, version, served.join(', ') || 'none')
    return { key: laneKey(name, v), version: v }
  }

  /** What a worker reported for a served version (inputs, outputs, shapes). */
  report (key: string): ModelReport | undefined {
    for (const s of this.opts.devices.schedulers) {
      const lane = s.lanes.get(key)
      if (lane) return lane.report
    }
    return undefined
  }

  /** Per plain model: some version ready on a healthy device? */
  readiness (): Map<string, boolean> {
    const out = new Map<string, boolean>()
    for (const [name, e] of this.entries) {
      out.set(name, [...e.versions.values()].some((v) => v.state === 'READY' && this.opts.devices.schedulers.some((s) => s.healthy && s.lanes.has(laneKey(name, v.version)))))
    }
    return out
  }

  private serial (name: string, fn: (e: Entry) => Promise<void>): Promise<void> {
    let e = this.entries.get(name)
    if (!e) {
      e = { name, versions: new Map(), wanted: false, chain: Promise.resolve() }
      this.entries.set(name, e)
    }
    const entry = e
    const run = entry.chain.then(() => fn(entry))
    entry.chain = run.catch(() => {})
    return run
  }

  /** Loads one version on every healthy device that can take it; null when some device serves it, else why not. */
  private async loadVersion (e: Entry, disk: ScannedVersion): Promise<string | null> {
    const key = laneKey(e.name, disk.version)
    const before = e.versions.get(disk.version)
    const entry: VersionEntry = before ?? { version: disk.version, state: 'LOADING', reason: '', loadedSignature: '', refusedSignature: '', devices: [] }
    e.versions.set(disk.version, entry)
    const serving = entry.state === 'READY'
    if (!serving) entry.state = 'LOADING'
    if (disk.file === null) return this.refuse(entry, disk, disk.problem ?? 'no ONNX file', serving)
    const reasons: string[] = []
    const loadedOn: string[] = []
    for (const d of this.opts.devices.devices) {
      if (!d.scheduler.healthy) continue
      try {
        await d.loadTensorModel({ kind: 'tensors', name: key, weightsPath: disk.file, maxBatchSize: maxBatch(d, e.name) }, disk.bytes)
        loadedOn.push(d.id)
      } catch (err) {
        reasons.push(`${d.id}: ${(err as Error).message}`)
      }
    }
    if (loadedOn.length === 0) return this.refuse(entry, disk, reasons.join('; ') || 'no healthy device', serving)
    if (reasons.length > 0) this.opts.log.warn({ model: e.name, version: disk.version, refused: reasons }, 'model version loaded on some devices only')
    Object.assign(entry, { state: 'READY', reason: '', loadedSignature: disk.signature, refusedSignature: '', devices: loadedOn } satisfies Partial<VersionEntry>)
    this.opts.log.info({ model: e.name, version: disk.version, devices: loadedOn }, 'model version ready')
    this.emit('loaded', key, loadedOn)
    return null
  }

  private refuse (entry: VersionEntry, disk: ScannedVersion, why: string, serving: boolean): string {
    entry.refusedSignature = disk.signature
    // a version that serves keeps serving what it was loaded from; otherwise it is unavailable
    if (!serving) Object.assign(entry, { state: 'UNAVAILABLE', reason: why, loadedSignature: '' } satisfies Partial<VersionEntry>)
    this.opts.log.warn({ version: disk.version, dir: disk.dir, reason: why }, 'model version refused')
    this.emit('refused', disk.version, why)
    return why
  }

  private async unloadVersion (e: Entry, version: number, reason: string): Promise<void> {
    const entry = e.versions.get(version)!
    const key = laneKey(e.name, version)
    entry.state = 'UNLOADING'
    await Promise.all(this.opts.devices.devices.filter((d) => d.scheduler.lanes.has(key) || entry.devices.includes(d.id)).map((d) => d.unloadTensorModel(key)))
    Object.assign(entry, { state: 'UNAVAILABLE', reason, loadedSignature: '', refusedSignature: '', devices: [] } satisfies Partial<VersionEntry>)
    this.opts.log.info({ model: e.name, version, reason }, 'model version unloaded')
    this.emit('unloaded', key)
  }
}

function maxBatch (d: Device, name: string): number {
  return d.config.perModel[name]?.maxBatchSize ?? d.config.maxBatchSize
}
