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
  jitter: number
  command: string
}

export async function measureProfile (o: MeasureOptions, log: (s: string) => void): Promise<Profile> {
  const body = readFileSync(o.image)
  const tasks = await (await fetch(`${o.url}/models`)).json() as { models: Array<{ name: string, task: 'classify' | 'detect' }> }
  const decodeMs: Record<string, number> = {}
  for (const m of tasks.models) {
    const path = `${o.url}/${m.task}/${encodeURIComponent(m.name)}`
    const post = async (policy: string): Promise<number> => {
      const r = await fetch(path, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'x-switchyard-policy': policy } })
      await r.arrayBuffer()
      if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`)
      const timing = r.headers.get('server-timing') ?? ''
      const match = /decode;dur=([\d.]+)/.exec(timing)
      return match ? Number(match[1]) : NaN
    }
    const times: number[] = []
    for (let i = 0; i < o.sequential; i++) times.push(await post('latency'))
    times.sort((a, b) => a - b)
    decodeMs[m.name] = round(times[Math.floor(times.length / 2)]!, 3)
    log(`${m.name}: decode median ${decodeMs[m.name]} ms over ${o.sequential} sequential requests`)
    let sent = 0
    const lane = async (): Promise<void> => { while (sent < o.burst) { sent++; await post('throughput') } }
    await Promise.all(Array.from({ length: o.concurrency }, lane))
    log(`${m.name}: ${o.burst} throughput-class requests, ${o.concurrency} at a time`)
  }
  const after = await getModels(o.url)
  const cores = availableParallelism()
  const source = `measured on ${hostname()} (${cores} cores) at ${new Date().toISOString()} by ${o.command}: devices from GET /models (fitted cost after ${o.burst} throughput-class requests per model, ${o.concurrency} concurrent), decode from Server-Timing of ${o.sequential} sequential requests per model with ${o.image.split('/').pop()}; batch-time jitter ±${o.jitter * 100} % assumed`
  return profileFromModels(after, { name: o.name, source, host: { cores, decodeMs, decodeJitter: 0.1 }, latencyWorkers: o.latencyWorkers, jitter: o.jitter })
}

async function getModels (url: string): Promise<ModelsResponse> {
  const r = await fetch(`${url}/models`)
  if (!r.ok) throw new Error(`GET ${url}/models: HTTP ${r.status}`)
  return await r.json() as ModelsResponse
}
