// Shared by the test-suite: where the real models and photos are (../shared beside the
// checkout, or SWITCHYARD_SHARED_DIR), a config for tests, and a server that is closed when
// the test ends.
import { readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { buildServer, type BuildOptions, type Switchyard } from '../app.js'
import { loadConfig } from '../config/load-config.js'
import type { Config } from '../config/schema.js'
import { deepMerge } from '../util/merge.js'

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const SHARED = process.env.SWITCHYARD_SHARED_DIR ?? resolve(REPO, '../shared')
export const SHARED_MODELS = join(SHARED, 'models')
export const SHARED_IMAGES = join(SHARED, 'images')
export const PHOTOS = readdirSync(SHARED_IMAGES).filter((f) => f.endsWith('.jpg')).sort()

/** The default config, on the shared models, one CPU device, quiet, no downloads. */
export function testConfig (overrides: Record<string, unknown> = {}): Config {
  const base = {
    server: { logLevel: 'silent', host: '127.0.0.1', port: 0, shutdownDelayMs: 0 },
    models: { localDir: SHARED_MODELS, download: false },
    routing: { calibrationRuns: 1 },
    devices: [{ id: 'cpu', kind: 'cpu', required: true, maxBatchSize: 4 }]
  }
  return loadConfig({ file: join(REPO, 'config/default.json'), env: {}, root: REPO, overrides: deepMerge(base, overrides) })
}

export async function startServer (t: Test, overrides: Record<string, unknown> = {}, opts: BuildOptions = {}): Promise<Switchyard> {
  const server = await buildServer(testConfig(overrides), { root: REPO, ...opts })
  t.teardown(() => server.close())
  return server
}

/** A multipart/form-data body built by hand, so tests control every byte of it. */
export function multipart (parts: Array<{ name: string, filename?: string, type?: string, data: Buffer | string }>): { payload: Buffer, headers: Record<string, string> } {
  const boundary = `----switchyard${Math.random().toString(16).slice(2)}`
  const chunks: Buffer[] = []
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`
    if (p.filename !== undefined) head += `; filename="${p.filename}"`
    head += '\r\n'
    if (p.type !== undefined) head += `Content-Type: ${p.type}\r\n`
    chunks.push(Buffer.from(`${head}\r\n`), Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data), Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}
