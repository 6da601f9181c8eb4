// SIMULATED HARDWARE — device profiles: what a simulated device costs, and where the numbers
// come from. A profile file (bench/profiles/*.json) holds one or more devices — batch time
// t(n) = a + b·n per model, batch limit, workers — and, when it was measured on a host, that
// host's decoding cost (ms per image per model on one core). Its `source` says whether the
// numbers were measured (and by which command) or assumed.
//
// `profileFromModels` turns a running server's GET /models into a profile: each device lane
// reports its fitted cost {aMs, bMs} and its startup calibration.
import { readFileSync } from 'node:fs'
import { checkClientCpu, type ClientCpuModel } from './client-cpu.js'
import type { SimDeviceSpec } from './sim-device.js'

export interface HostProfile {
  /** cores the measurement ran on */
  cores: number
  /** ms to decode and resize one image for each model, on one core (median) */
  decodeMs: Record<string, number>
  /** relative spread of decode times (uniform ± this fraction) */
  decodeJitter?: number
  /**
   * ms of one core every request costs besides decoding and inference: HTTP parsing, body
   * read, routing, the answer (and the client's own share, measured from it); the median of
   * round trip − Server-Timing's decode, queue, inference and postprocess over sequential requests
   */
  requestMs?: number
  /**
   * ms of the server's CPU time (every thread) per sequential latency-class request, per model:
   * what a request takes of the cores, beside the wall times above (informational: the
   * simulator does not read it yet)
   */
  cpuMsPerRequest?: Record<string, number>
  /**
   * ms of the load client's CPU per request, per model: process.cpuUsage() of the sending
   * process over an open-loop burst at a known rate (src/sim/open-loop.ts). Optional: absent = 0
   * (profiles measured before it load as they did)
   */
  clientCpuMs?: Record<string, number>
  /**
   * the load client's CPU as a function of its rate and of the outcome, per model (client-cpu.ts:
   * answeredMs / refusedMs per request + perSecondMs, fitted to open-loop bursts at several rates).
   * Optional: where present, the fidelity run's simulator charges by it at the simulated rate
   * instead of the flat clientCpuMs; absent (profiles measured before it) = clientCpuMs as before
   */
  clientCpu?: Record<string, ClientCpuModel>
  /**
   * the load client ran on this host's cores (set by the fidelity command's profile step when its
   * client and server share the machine): the fidelity run's simulator then charges clientCpuMs
   * per request to the host's core pool. Absent = false; scenarios never charge it
   */
  clientOnHost?: boolean
}

export interface DeviceProfile extends SimDeviceSpec {
  kind: 'cpu' | 'cuda'
}

export interface Profile {
  name: string
  /** "measured on … by npm run simulate -- profile --url …" or "assumed: …" */
  source: string
  host?: HostProfile
  devices: DeviceProfile[]
}

export function loadProfile (file: string): Profile {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
  checkProfile(p, file)
  return p
}

export function checkProfile (p: Profile, where: string): void {
  const bad = (msg: string): never => { throw new Error(`profile ${where}: ${msg}`) }
  if (typeof p.name !== 'string' || p.name === '') bad('needs a name')
  if (typeof p.source !== 'string' || !/^(measured|assumed)/.test(p.source)) bad('source must start with "measured" or "assumed"')
  if (!Array.isArray(p.devices) || p.devices.length === 0) bad('needs at least one device')
  for (const d of p.devices) {
    if (!(d.workers >= 1)) bad(`device ${d.id}: workers must be ≥ 1`)
    for (const [m, c] of Object.entries(d.models)) {
      if (!(c.a >= 0 && c.b >= 0 && c.a + c.b > 0)) bad(`device ${d.id}, model ${m}: a and b must be ≥ 0, not both 0`)
      if (!(c.maxBatchSize >= 1)) bad(`device ${d.id}, model ${m}: maxBatchSize must be ≥ 1`)
    }
  }
  if (p.host) for (const [m, ms] of Object.entries(p.host.decodeMs)) if (!(ms > 0)) bad(`host decodeMs for ${m} must be > 0`)
  if (p.host?.clientCpuMs) for (const [m, ms] of Object.entries(p.host.clientCpuMs)) if (!(ms >= 0)) bad(`host clientCpuMs for ${m} must be ≥ 0`)
  if (p.host?.clientCpu) for (const [m, c] of Object.entries(p.host.clientCpu)) { const e = checkClientCpu(c); if (e !== null) bad(`host clientCpu for ${m}: ${e}`) }
}

/** The part of GET /models a profile is made from. */
export interface ModelsResponse {
  models: Array<{
    name: string
    devices: Array<{
      id: string
      kind: 'cpu' | 'cuda'
      workers: number
      maxBatchSize: number
      batchDelayMs: { latency: number, throughput: number }
      queue: { max: number }
      cost: { aMs: number, bMs: number, samples: number }
      calibration: Array<{ batchSize: number, ms: number }>
    }>
  }>
}

export interface ProfileMeta {
  name: string
  source: string
  host?: HostProfile
  /** per device id: reserved latency workers (GET /models does not say) */
  latencyWorkers?: Record<string, number>
  /** per device id: cores one batch takes (intra-op threads) */
  threads?: Record<string, number>
  jitter?: number
}

/** Least squares t(n) = a + b·n over calibration points (one point: a = 0); a and b kept ≥ 0. */
export function fitCalibration (points: ReadonlyArray<{ batchSize: number, ms: number }>): { a: number, b: number } | undefined {
  if (points.length === 0) return undefined
  const n = points.length
  let sx = 0; let sy = 0; let sxx = 0; let sxy = 0
  for (const p of points) { sx += p.batchSize; sy += p.ms; sxx += p.batchSize * p.batchSize; sxy += p.batchSize * p.ms }
  const den = n * sxx - sx * sx
  let b = den > 0 ? (n * sxy - sx * sy) / den : sy / sx
  let a = den > 0 ? (sy - b * sx) / n : 0
  if (a < 0) { a = 0; b = sxy / sxx }
  if (b < 0) { b = 0; a = sy / n }
  const r = (x: number): number => Math.round(x * 1000) / 1000
  return { a: r(a), b: r(b) }
}

/** One simulated device per served device, with each lane's fitted cost. */
export function profileFromModels (res: ModelsResponse, meta: ProfileMeta): Profile {
  const devices = new Map<string, DeviceProfile>()
  for (const m of res.models) {
    for (const d of m.devices) {
      let dev = devices.get(d.id)
      if (!dev) {
        dev = { id: d.id, kind: d.kind, workers: d.workers, latencyWorkers: meta.latencyWorkers?.[d.id] ?? 0, ...(meta.threads?.[d.id] !== undefined ? { threads: meta.threads[d.id] } : {}), maxQueue: d.queue.max, batchDelayMs: d.batchDelayMs, models: {} }
        devices.set(d.id, dev)
      }
      if (d.cost.samples === 0 && d.calibration.length === 0) throw new Error(`device ${d.id} reports no cost for ${m.name} (not calibrated)`)
      const calibrated = fitCalibration(d.calibration)
      dev.models[m.name] = { a: d.cost.aMs, b: d.cost.bMs, maxBatchSize: d.maxBatchSize, ...(meta.jitter !== undefined ? { jitter: meta.jitter } : {}), ...(calibrated ? { calibrated } : {}) }
    }
  }
  return { name: meta.name, source: meta.source, ...(meta.host ? { host: meta.host } : {}), devices: [...devices.values()] }
}
