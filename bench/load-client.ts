// A load generator process, so that client work never runs on the server's event loop.
// Usage: tsx bench/load-client.ts '<json LoadSpec>'  → prints one JSON LoadResult line.
//  - bulk: autocannon, closed loop, `connections` at once, for `seconds`
//  - probe: open loop at `rate` requests/s (a request every 1/rate s, whether or not the
//    previous one finished), each timed from send to full response
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import autocannon from 'autocannon'

export interface LoadSpec {
  url: string
  /** the body of every request: a photo, or (with contentType) any prepared body, e.g. a /v2 binary-tensor request */
  image: string
  /** default image/jpeg */
  contentType?: string
  seconds: number
  bulk?: { path: string, connections: number, headers: Record<string, string>, /** open loop: offered req/s over all connections */ rate?: number, timeoutS?: number }
  probe?: { path: string, rate: number, headers: Record<string, string>, timeoutS?: number, /** default POST (the image); GET sends no body */ method?: 'GET' | 'POST' }
}

export interface LoadResult {
  bulk?: { sent: number, requests: number, rps: number, non2xx: number, errors: number, timeouts: number, p50: number, p99: number, max: number, statuses: Record<string, number> }
  probe?: { sent: number, ok: number, p50: number, p99: number, max: number, devices: Record<string, number>, /** medians of the server's own Server-Timing parts */ server: Record<string, number>, /** every answer by status ('error' and 'timeout' for none) */ statuses: Record<string, number>, /** 429/503 answers that carried Retry-After */ retryAfter: number, /** p99 over all answers, ms */ p99All: number, /** each 200 answer, in the order they came back: its ms from send to full response and its Server-Timing parts, 0.1 ms */ each: Array<{ ms: number, parts: Record<string, number> }> }
}

const spec = JSON.parse(process.argv[2]!) as LoadSpec
const body = readFileSync(spec.image)
const result: LoadResult = {}

async function bulk (b: NonNullable<LoadSpec['bulk']>): Promise<void> {
  const r = await autocannon({
    url: spec.url + b.path,
    method: 'POST',
    connections: b.connections,
    duration: spec.seconds,
    headers: { 'content-type': spec.contentType ?? 'image/jpeg', ...b.headers },
    body,
    ...(b.rate ? { overallRate: b.rate } : {}),
    ...(b.timeoutS ? { timeout: b.timeoutS } : {})
  })
  const statuses: Record<string, number> = {}
  for (const [k, v] of Object.entries(r.statusCodeStats ?? {})) statuses[k] = (v as { count: number }).count
  result.bulk = { sent: r.requests.sent, requests: r.requests.total, rps: r.requests.average, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, statuses }
}

async function probe (p: NonNullable<LoadSpec['probe']>): Promise<void> {
  const times: number[] = []
  const devices: Record<string, number> = {}
  const parts: Record<string, number[]> = {}
  const statuses: Record<string, number> = {}
  const all: number[] = []
  const each: Array<{ ms: number, parts: Record<string, number> }> = []
  let retryAfter = 0
  const pending: Promise<void>[] = []
  const end = performance.now() + spec.seconds * 1000
  let sent = 0
  for (let next = performance.now() + 500; next < end; next += 1000 / p.rate) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())))
    sent++
    const t0 = performance.now()
    const init: RequestInit = p.method === 'GET' ? { method: 'GET', headers: p.headers } : { method: 'POST', body, headers: { 'content-type': spec.contentType ?? 'image/jpeg', ...p.headers } }
    pending.push(fetch(spec.url + p.path, { ...init, signal: AbortSignal.timeout((p.timeoutS ?? 30) * 1000) }).then(async (res) => {
      await res.arrayBuffer()
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
      all.push(performance.now() - t0)
      if ((res.status === 429 || res.status === 503) && Number(res.headers.get('retry-after')) >= 1) retryAfter++
      if (res.status === 200) {
        const ms = performance.now() - t0
        times.push(ms)
        const mine: Record<string, number> = {}
        for (const m of (res.headers.get('server-timing') ?? '').matchAll(/(\w+);dur=([\d.]+)/g)) {
          (parts[m[1]!] ??= []).push(Number(m[2]))
          mine[m[1]!] = Math.round(Number(m[2]) * 10) / 10
        }
        each.push({ ms: Math.round(ms * 10) / 10, parts: mine })
        const d = res.headers.get('x-switchyard-device') ?? '?'
        devices[d] = (devices[d] ?? 0) + 1
      }
    }, (err: Error) => {
      const k = err.name === 'TimeoutError' ? 'timeout' : 'error'
      statuses[k] = (statuses[k] ?? 0) + 1
    }))
  }
  await Promise.all(pending)
  times.sort((a, b) => a - b)
  const q = (f: number): number => times.length ? Math.round(times[Math.min(times.length - 1, Math.floor(f * times.length))]! * 10) / 10 : NaN
  const server = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, Math.round(v.sort((a, b) => a - b)[Math.floor(v.length / 2)]! * 10) / 10]))
  all.sort((a, b) => a - b)
  const p99All = all.length ? Math.round(all[Math.min(all.length - 1, Math.floor(0.99 * all.length))]! * 10) / 10 : NaN
  result.probe = { sent, ok: times.length, p50: q(0.5), p99: q(0.99), max: q(1), devices, server, statuses, retryAfter, p99All, each }
}

await Promise.all([spec.bulk ? bulk(spec.bulk) : null, spec.probe ? probe(spec.probe) : null])
process.stdout.write(JSON.stringify(result) + '\n')
