// Shared by the benchmarks: a Switchyard server in this process (so its event loop can be
// watched), load from a child process, and the numbers printed as a table.
import { spawn } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
// the built server (npm run build): its workers load compiled JavaScript
import { buildServer, type Switchyard } from '../dist/app.js'
import { loadConfig } from '../dist/config/load-config.js'
import type { LoadResult, LoadSpec } from './load-client.js'

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const SHARED = process.env.SWITCHYARD_SHARED_DIR ?? resolve(REPO, '../shared')
export const image = (name: string): string => join(SHARED, 'images', name)

/** `prepare` runs before the server listens (hooks can still be added). */
export async function startBenchServer (overrides: Record<string, unknown>, prepare?: (server: Switchyard) => void): Promise<{ server: Switchyard, url: string }> {
  const config = loadConfig({
    file: join(REPO, 'config/default.json'),
    env: { SWITCHYARD_MODELS_DIR: join(SHARED, 'models'), HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn' },
    root: REPO,
    overrides
  })
  const server = await buildServer(config, { root: REPO })
  prepare?.(server)
  const { api } = await server.listen()
  return { server, url: api }
}

/** Bulk load and probe run in separate child processes, so neither delays the other's timing. */
export async function runLoad (spec: LoadSpec): Promise<LoadResult> {
  const { bulk, probe, ...common } = spec
  const [b, p] = await Promise.all([
    bulk ? runClient({ ...common, bulk }) : null,
    probe ? runClient({ ...common, probe }) : null
  ])
  return { ...(b?.bulk ? { bulk: b.bulk } : {}), ...(p?.probe ? { probe: p.probe } : {}) }
}

function runClient (spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'bench/load-client.ts'), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d })
    child.on('exit', (code) => code === 0 ? resolvePromise(JSON.parse(out.trim().split('\n').pop()!) as LoadResult) : reject(new Error(`load client exited ${code}`)))
  })
}

/** Runs `fn` while sampling this process's event-loop delay; returns p50/p99/max in ms. */
export async function withLoopDelay<T> (fn: () => Promise<T>): Promise<{ value: T, loop: { p50: number, p99: number, max: number } }> {
  const h: IntervalHistogram = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  const value = await fn()
  h.disable()
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100
  return { value, loop: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) } }
}

export function table (rows: Array<Record<string, string | number>>): string {
  const cols = Object.keys(rows[0]!)
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(width[i]!)).join(' | ')} |`
  return [line(cols), line(width.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => String(r[c]))))].join('\n')
}
