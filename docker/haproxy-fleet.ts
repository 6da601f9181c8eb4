// Real Switchyard processes behind Debian's real HAProxy, on loopback: what docker/haproxy.test.ts
// checks and bench/haproxy.ts measures. Each replica is `node dist/main.js` with a config file of
// its own (one CPU device, one worker) and its agent port; a replica may be made slow by the
// fault injection's per-batch delay (SWITCHYARD_FAULTS, mode 'slow'). HAProxy runs the shipped
// docker/haproxy/haproxy.cfg, or that file with its balancing rule swapped for a baseline.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { freePort, REPO, waitFor, which } from './support.js'

export const SHARED = process.env.SWITCHYARD_SHARED_DIR ?? join(REPO, '../shared')
export const HAPROXY_CFG = join(REPO, 'docker/haproxy/haproxy.cfg')

export interface Replica {
  name: string
  port: number
  agentPort: number
  slowMs: number
  proc: ChildProcess
  log: () => string
}

export interface ReplicaSpec {
  /** per-batch delay injected on the replica's CPU device (0: none) */
  slowMs?: number
  /** workers reserved for latency-class work beside the one bulk worker (config latencyWorkers; default 0) */
  latencyWorkers?: number
}

/** Starts the replicas side by side and waits until each answers /readyz 200. */
export async function startReplicas (specs: readonly ReplicaSpec[], dir: string): Promise<Replica[]> {
  const main = join(REPO, 'dist/main.js')
  const replicas: Replica[] = []
  for (const [i, spec] of specs.entries()) {
    const name = `sy${i + 1}`
    const port = await freePort()
    const agentPort = await freePort()
    const config = join(dir, `${name}.json`)
    writeFileSync(config, JSON.stringify({
      server: { host: '127.0.0.1', port, logLevel: 'warn', shutdownDelayMs: 0 },
      models: { localDir: join(SHARED, 'models'), download: false, enabled: ['mobilenetv2', 'yolox-nano'] },
      routing: { calibrationRuns: 1 },
      agent: { host: '127.0.0.1', port: agentPort, referenceMs: 30, sharpness: 2 },
      devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 1 + (spec.latencyWorkers ?? 0), latencyWorkers: spec.latencyWorkers ?? 0, intraOpThreads: 1, maxBatchSize: 8, maxQueue: 128, batchDelayMs: { latency: 0, throughput: 5 } }]
    }))
    const slowMs = spec.slowMs ?? 0
    const env: NodeJS.ProcessEnv = { ...process.env, SWITCHYARD_CONFIG: config, LOG_LEVEL: 'warn' }
    delete env.PORT; delete env.SWITCHYARD_DEVICES
    if (slowMs > 0) env.SWITCHYARD_FAULTS = JSON.stringify([{ device: 'cpu', mode: 'slow', delayMs: slowMs }])
    let out = ''
    const proc = spawn(process.execPath, [main], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-20_000) })
    proc.stderr!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-20_000) })
    replicas.push({ name, port, agentPort, slowMs, proc, log: () => out })
  }
  for (const r of replicas) {
    await waitFor(`${r.name} ready`, 240_000, async () => {
      if (r.proc.exitCode !== null) throw new Error(`${r.name} exited ${r.proc.exitCode}: ${r.log()}`)
      const res = await get(`http://127.0.0.1:${r.port}/readyz`).catch(() => null)
      return res?.status === 200 ? true : undefined
    })
  }
  return replicas
}

export async function stopReplicas (replicas: readonly Replica[]): Promise<void> {
  await Promise.all(replicas.map(async (r) => {
    if (r.proc.exitCode !== null) return
    const exited = new Promise((resolve) => r.proc.once('exit', resolve))
    r.proc.kill('SIGTERM')
    await exited
  }))
}

export type Balancing = 'agent' | 'roundrobin' | 'leastconn'

/**
 * The shipped configuration (agent), or a baseline: every backend balanced by plain
 * `roundrobin` or `leastconn` with the agent check removed (health from /readyz stays).
 */
export function haproxyConfig (balancing: Balancing): string {
  const text = readFileSync(HAPROXY_CFG, 'utf8')
  if (balancing === 'agent') return text
  return text
    .replace(/^(\s*)balance \w+$/gm, `$1balance ${balancing}`)
    .replace(/ agent-check agent-inter \S+/g, '')
    .replace(/ agent-port "\$\{\w+\}" agent-send "[^"]*"/g, '')
}

export interface Haproxy { port: number, statsPort: number, proc: ChildProcess, stop: () => Promise<void>, log: () => string }

/** Starts /usr/sbin/haproxy (or the one on PATH) on the config, in front of the replicas (three). */
export async function startHaproxy (config: string, replicas: readonly Replica[], dir: string): Promise<Haproxy> {
  const bin = haproxyBinary()
  const file = join(dir, `haproxy-${Math.random().toString(16).slice(2)}.cfg`)
  writeFileSync(file, config)
  const port = await freePort()
  const statsPort = await freePort()
  const env: NodeJS.ProcessEnv = { ...process.env, HAPROXY_BIND: `127.0.0.1:${port}`, HAPROXY_STATS: `127.0.0.1:${statsPort}` }
  replicas.forEach((r, i) => { env[`SY${i + 1}`] = `127.0.0.1:${r.port}`; env[`SY${i + 1}_AGENT`] = String(r.agentPort) })
  const check = spawnSync(bin, ['-c', '-f', file], { env, encoding: 'utf8' })
  if (check.status !== 0) throw new Error(`haproxy -c failed: ${check.stdout}${check.stderr}`)
  let out = ''
  const proc = spawn(bin, ['-db', '-f', file], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  proc.stdout!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-20_000) })
  proc.stderr!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-20_000) })
  const h: Haproxy = {
    port,
    statsPort,
    proc,
    log: () => out,
    stop: async () => {
      if (proc.exitCode !== null) return
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      await exited
    }
  }
  // every server of every backend up (health from /readyz)
  await waitFor('haproxy: every server up', 60_000, async () => {
    if (proc.exitCode !== null) throw new Error(`haproxy exited ${proc.exitCode}: ${out}`)
    const rows = await stats(h).catch(() => null)
    const servers = rows?.filter((r) => r.svname.startsWith('sy')) ?? []
    return servers.length === 3 * replicas.length && servers.every((s) => s.status.startsWith('UP')) ? true : undefined
  })
  return h
}

export function haproxyBinary (): string {
  const found = which('haproxy')
  if (typeof found === 'string') return found
  return '/usr/sbin/haproxy'
}

export interface StatRow { pxname: string, svname: string, status: string, weight: number, stot: number }

/** HAProxy's stats as CSV (`/stats;csv`): per backend and server, status, current weight, sessions. */
export async function stats (h: Haproxy): Promise<StatRow[]> {
  const res = await get(`http://127.0.0.1:${h.statsPort}/stats;csv`)
  const lines = res.body.split('\n').filter((l) => l.trim() !== '')
  const header = lines[0]!.replace(/^# /, '').split(',')
  const col = (name: string): number => header.indexOf(name)
  return lines.slice(1).map((l) => {
    const f = l.split(',')
    return { pxname: f[col('pxname')]!, svname: f[col('svname')]!, status: f[col('status')]!, weight: Number(f[col('weight')]), stot: Number(f[col('stot')]) }
  })
}

/** a backend's servers: name → current weight */
export async function weights (h: Haproxy, backend: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const r of await stats(h)) if (r.pxname === backend && r.svname.startsWith('sy')) out[r.svname] = r.weight
  return out
}

export interface Answer { status: number, replica: string, ms: number, body: string }

/**
 * A bounded closed loop: `concurrency` requests at a time until `total` were sent (or, with
 * `seconds`, until that much time has passed), each timed send to answer.
 */
export async function closedLoop (port: number, total: number, concurrency: number, headers: Record<string, string>, image: Buffer, seconds = Infinity): Promise<Answer[]> {
  const answers: Answer[] = []
  const until = performance.now() + seconds * 1000
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < total && performance.now() < until) {
      next++
      const t0 = performance.now()
      const r = await post(`http://127.0.0.1:${port}/classify`, image, { 'content-type': 'image/jpeg', ...headers })
        .catch(() => ({ status: 0, headers: {} as Record<string, string>, body: '' }))
      answers.push({ status: r.status, replica: r.headers['x-switchyard-replica'] ?? '', ms: performance.now() - t0, body: r.body })
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return answers
}

/** An open loop: a request every 1000/rate ms for `seconds`, whether or not earlier ones finished. */
export async function openLoop (port: number, ratePerS: number, seconds: number, headers: Record<string, string>, image: Buffer): Promise<Answer[]> {
  const answers: Array<Promise<Answer>> = []
  const start = performance.now()
  const n = Math.round(ratePerS * seconds)
  for (let i = 0; i < n; i++) {
    const due = start + (i * 1000) / ratePerS
    const wait = due - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    const t0 = performance.now()
    answers.push(post(`http://127.0.0.1:${port}/classify`, image, { 'content-type': 'image/jpeg', ...headers })
      .then((r) => ({ status: r.status, replica: r.headers['x-switchyard-replica'] ?? '', ms: performance.now() - t0, body: '' }))
      .catch(() => ({ status: 0, replica: '', ms: performance.now() - t0, body: '' })))
  }
  return await Promise.all(answers)
}

export function tempDir (): { dir: string, remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-haproxy-'))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

interface HttpAnswer { status: number, headers: Record<string, string>, body: string }

function get (url: string): Promise<HttpAnswer> {
  return call(url, 'GET', null, {})
}

function post (url: string, body: Buffer, headers: Record<string, string>): Promise<HttpAnswer> {
  return call(url, 'POST', body, headers)
}

const httpAgent = new Agent({ keepAlive: true, maxSockets: 256 })

function call (url: string, method: string, body: Buffer | null, headers: Record<string, string>): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }, agent: httpAgent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(60_000, () => req.destroy(new Error('timeout')))
    req.end(body ?? undefined)
  })
}
