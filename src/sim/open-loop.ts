// The load client's open-loop sender (the fidelity command's live runs and the profile step's
// client burst): request i leaves at start + at[i], whatever is still running, and the sending
// process's own CPU time (process.cpuUsage(): user + system of every thread of this process —
// fetch, parsing, timers, GC) is read around the run. That is the client's CPU per request
// where it is representative: sending at a rate, as the live runs do, not one at a time. The
// server must run in another process (it does, for the fidelity command), or its CPU is counted too.
import { performance } from 'node:perf_hooks'
import type { Workload } from './workload.js'

export interface OpenLoopResult {
  /** round trip per request, ms (0 where it failed) */
  latency: Float64Array
  /** 1 where the answer was 2xx */
  ok: Uint8Array
  /** answers by HTTP status, and `error` for requests that got none */
  statuses: Record<string, number>
  /** the sending process's CPU ms (user + system) per request sent, over the whole run */
  clientCpuMs: number
  /**
   * per request, the answer's Server-Timing (NaN where absent or not 2xx): the server's
   * handler time (`total`) and its decode, queue, inference + postprocess; the rest of the round
   * trip (round trip − total) is outside the handler: the client, the kernel, the server's HTTP
   * parsing, its reading of the body and its event loop before and after the handler
   */
  timing: { total: Float64Array, decode: Float64Array, queue: Float64Array, inference: Float64Array }
}

export interface OpenLoopTarget {
  /** the full URL each request is POSTed to */
  url: string
  body: Buffer<ArrayBuffer>
  contentType: string
  /** X-Switchyard-Policy per traffic class index of the workload */
  policies: readonly string[]
  /** more headers on every request (the profile step's refused burst: X-Switchyard-Deadline-Ms: 1) */
  headers?: Readonly<Record<string, string>>
}

/** one duration from a Server-Timing header (NaN where absent) */
export function serverTiming (header: string | null, name: string): number {
  if (header === null) return NaN
  const at = header.indexOf(`${name};dur=`)
  return at < 0 ? NaN : parseFloat(header.slice(at + name.length + 5))
}

/** Sends the workload open loop and answers every request's round trip, status and the client's CPU per request. */
export async function sendOpenLoop (target: OpenLoopTarget, w: Workload): Promise<OpenLoopResult> {
  const latency = new Float64Array(w.count)
  const ok = new Uint8Array(w.count)
  const statuses: Record<string, number> = {}
  const pending: Array<Promise<void>> = []
  const headers = target.policies.map((policy) => ({ ...target.headers, 'content-type': target.contentType, 'x-switchyard-policy': policy }))
  const timing = { total: new Float64Array(w.count).fill(NaN), decode: new Float64Array(w.count).fill(NaN), queue: new Float64Array(w.count).fill(NaN), inference: new Float64Array(w.count).fill(NaN) }
  const cpu0 = process.cpuUsage()
  const start = performance.now() + 200
  for (let i = 0; i < w.count; i++) {
    const wait = start + w.at[i]! - performance.now()
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
    const t0 = performance.now()
    pending.push(fetch(target.url, { method: 'POST', body: target.body, headers: headers[w.cls[i]!]!, signal: AbortSignal.timeout(120_000) }).then(async (res) => {
      await res.arrayBuffer()
      latency[i] = performance.now() - t0
      ok[i] = res.ok ? 1 : 0
      if (res.ok) {
        const st = res.headers.get('server-timing')
        timing.total[i] = serverTiming(st, 'total'); timing.decode[i] = serverTiming(st, 'decode'); timing.queue[i] = serverTiming(st, 'queue')
        timing.inference[i] = serverTiming(st, 'inference') + serverTiming(st, 'postprocess')
      }
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
    }, () => { statuses.error = (statuses.error ?? 0) + 1 }))
  }
  await Promise.all(pending)
  const cpu = process.cpuUsage(cpu0)
  return { latency, ok, statuses, timing, clientCpuMs: w.count > 0 ? (cpu.user + cpu.system) / 1000 / w.count : 0 }
}
