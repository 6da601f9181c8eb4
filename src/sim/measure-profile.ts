// `npm run simulate -- profile --url …`: measures a running server into a profile. It sends
// each model a few latency-class requests one at a time (decode ms per image: the server's own
// Server-Timing `decode`), then a concurrent burst of throughput-class requests so the
// devices run batches of several sizes and refit their costs, then reads GET /models: each
// device lane's fitted cost {aMs, bMs} becomes the simulated device's t(n) = a + b·n.
import { readFileSync } from 'node:fs'
import { availableParallelism, hostname } from 'node:os'
import { round } from '../util/format.js'
import { profileFromModels, type ModelsResponse, type Profile } from './profile.js'

export interface MeasureOptions {
  url: string
  name: string
  image: string
  /** sequential latency-class requests per model (decode) */
  sequential: number
  /** throughput-class requests per model, sent `concurrency` at a time (cost refit) */
  burst: number
  concurrency: number
  latencyWorkers: Record<string, number>
  /** per device id: cores a batch takes (intra-op threads); default: cpu = this machine's cores */
  threads?: Record<string, number>
  jitter: number
  command: string
}

export async function measureProfile (o: MeasureOptions, log: (s: string) => void): Promise<Profile> {
  const body = readFileSync(o.image)
  const tasks = await (await fetch(`${o.url}/models`)).json() as { models: Array<{ name: string, task: 'classify' | 'detect' }> }
  const decodeMs: Record<string, number> = {}
  // the server's own CPU time per request (every thread: decoding, inference, the main thread),
  // from its process counter around the sequential requests: what a request takes of the cores,
  // beside decodeMs and requestMs, which are wall times
  const cpuMsPerRequest: Record<string, number> = {}
  // the per-request fixed cost: round trip − the parts the simulator models (decode, queue,
  // inference, postprocess), over the sequential requests of every model
  const fixed: number[] = []
  const median = (xs: number[]): number => { const a = [...xs].sort((x, y) => x - y); return a[Math.floor(a.length / 2)]! }
  for (const m of tasks.models) {
    const path = `${o.url}/${m.task}/${encodeURIComponent(m.name)}`
    const post = async (policy: string): Promise<number> => {
      const t0 = performance.now()
      const r = await fetch(path, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'x-switchyard-policy': policy } })
      await r.arrayBuffer()
      const rtt = performance.now() - t0
      if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`)
      const timing = r.headers.get('server-timing') ?? ''
      const part = (name: string): number => Number(new RegExp(`${name};dur=([\\d.]+)`).exec(timing)?.[1] ?? NaN)
      const modelled = part('decode') + part('queue') + part('inference') + part('postprocess')
      if (policy === 'latency' && Number.isFinite(modelled)) fixed.push(rtt - modelled)
      return part('decode')
    }
    const times: number[] = []
    await post('latency') // warm-up: connection, first-use allocations
    fixed.pop() // not the warm-up
    const cpu0 = await processCpuSeconds(o.url)
    for (let i = 0; i < o.sequential; i++) times.push(await post('latency'))
    const cpu1 = await processCpuSeconds(o.url)
    decodeMs[m.name] = round(median(times), 3)
    if (cpu0 !== null && cpu1 !== null && o.sequential > 0) cpuMsPerRequest[m.name] = round((cpu1 - cpu0) * 1000 / o.sequential, 3)
    log(`${m.name}: decode median ${decodeMs[m.name]} ms, the server's CPU ${cpuMsPerRequest[m.name] ?? '?'} ms per request, over ${o.sequential} sequential requests`)
    let sent = 0
    const lane = async (): Promise<void> => { while (sent < o.burst) { sent++; await post('throughput') } }
    await Promise.all(Array.from({ length: o.concurrency }, lane))
    log(`${m.name}: ${o.burst} throughput-class requests, ${o.concurrency} at a time`)
  }
  const after = await getModels(o.url)
  const cores = availableParallelism()
  const requestMs = round(Math.max(0, median(fixed)), 3)
  log(`fixed cost per request (round trip − decode − queue − inference − postprocess): median ${requestMs} ms over ${fixed.length} sequential requests`)
  const source = `measured on ${hostname()} (${cores} cores) at ${new Date().toISOString()} by ${o.command}: devices from GET /models (fitted cost after ${o.burst} throughput-class requests per model, ${o.concurrency} concurrent; calibrated: the startup calibration's fit), decode, the per-request fixed cost (round trip − Server-Timing's decode, queue, inference, postprocess) and the server's CPU time per request (switchyard_process_cpu_seconds_total) from ${o.sequential} sequential requests per model with ${o.image.split('/').pop()}; batch-time jitter ±${o.jitter * 100} % assumed`
  const threads = o.threads ?? Object.fromEntries(after.models.flatMap((m) => m.devices).filter((d) => d.kind === 'cpu').map((d) => [d.id, cores]))
  return profileFromModels(after, { name: o.name, source, host: { cores, decodeMs, decodeJitter: 0.1, requestMs, ...(Object.keys(cpuMsPerRequest).length > 0 ? { cpuMsPerRequest } : {}) }, latencyWorkers: o.latencyWorkers, threads, jitter: o.jitter })
}

/** The server's process CPU seconds (user + system, every thread) from its /metrics; null when not exposed. */
export async function processCpuSeconds (url: string): Promise<number | null> {
  const r = await fetch(`${url}/metrics`)
  if (!r.ok) return null
  const m = /^switchyard_process_cpu_seconds_total(?:\{[^}]*\})? ([\d.e+-]+)$/m.exec(await r.text())
  return m === null ? null : Number(m[1])
}

async function getModels (url: string): Promise<ModelsResponse> {
  const r = await fetch(`${url}/models`)
  if (!r.ok) throw new Error(`GET ${url}/models: HTTP ${r.status}`)
  return await r.json() as ModelsResponse
}
