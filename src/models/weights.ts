// Finds a model's weights: a local models directory first (SWITCHYARD_MODELS_DIR; what tests
// and CI use), then the download cache, then the pinned upstream URL. Every file is checked
// against the sha256 pinned in model.json before it is used; a download that does not match
// is deleted and never reaches the cache.
import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import cliProgress from 'cli-progress'
import { WeightsError } from '../errors.js'
import type { WeightsSpec } from './model-spec.js'


export interface WeightsOptions {
  localDir: string | null
  cacheDir: string
  download: boolean
  /** draw a progress bar (default: when stderr is a terminal) */
  progress?: boolean
  log?: (msg: string) => void
}

export async function resolveWeights (spec: { name: string, weights: WeightsSpec }, opts: WeightsOptions): Promise<string> {
  const { file, url, sha256 } = spec.weights
  if (opts.localDir !== null) {
    const local = resolve(opts.localDir, file)
    if (await exists(local)) {
      const actual = await sha256File(local)
      if (actual !== sha256) {
        throw new WeightsError(`model ${spec.name}: ${local} has sha256 ${actual}, expected ${sha256}`)
      }
      return local
    }
  }
  const cached = resolve(opts.cacheDir, spec.name, `${sha256}.onnx`)
  if (await exists(cached)) {
    if (await sha256File(cached) === sha256) return cached
    await rm(cached, { force: true }) // corrupted cache entry: fetch again
  }
  const searched = opts.localDir === null ? 'no local models directory is set' : `not found in ${resolve(opts.localDir)}`
  if (url === null) {
    throw new WeightsError(`model ${spec.name}: weights ${file} ${searched}, and the model has no download URL (set SWITCHYARD_MODELS_DIR)`)
  }
  if (!opts.download) {
    throw new WeightsError(`model ${spec.name}: weights ${file} ${searched}, and downloads are disabled`)
  }
  await download(url, cached, sha256, spec.name, opts)
  return cached
}

async function download (url: string, dest: string, sha256: string, name: string, opts: WeightsOptions): Promise<void> {
  await mkdir(join(dest, '..'), { recursive: true })
  // unique per download: containers sharing a cache volume all run as PID 1
  const tmp = `${dest}.${randomUUID()}.partial`
  opts.log?.(`model ${name}: downloading ${url}`)
  let res: Response
  try {
    res = await fetch(url, { redirect: 'follow' })
  } catch (err) {
    throw new WeightsError(`model ${name}: download from ${url} failed: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`)
  }
  if (!res.ok || res.body === null) {
    throw new WeightsError(`model ${name}: download from ${url} failed: HTTP ${res.status}`)
  }
  const total = Number(res.headers.get('content-length')) || 0
  const showBar = opts.progress ?? process.stderr.isTTY === true
  const bar = showBar
    ? new cliProgress.SingleBar({ format: `${name} [{bar}] {percentage}% {value}/{total} bytes`, stream: process.stderr }, cliProgress.Presets.shades_classic)
    : null
  bar?.start(total, 0)
  const hash = createHash('sha256')
  let received = 0
  const meter = new Transform({
    transform (chunk: Buffer, _enc, cb) {
      hash.update(chunk)
      received += chunk.length
      bar?.update(received)
      cb(null, chunk)
    }
  })
  try {
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), meter, createWriteStream(tmp))
  } catch (err) {
    await rm(tmp, { force: true })
    throw new WeightsError(`model ${name}: download from ${url} broke off: ${(err as Error).message}`)
  } finally {
    bar?.stop()
  }
  const actual = hash.digest('hex')
  if (actual !== sha256) {
    await rm(tmp, { force: true })
    throw new WeightsError(`model ${name}: download from ${url} has sha256 ${actual}, expected ${sha256}; nothing was cached`)
  }
  await rename(tmp, dest)
  opts.log?.(`model ${name}: ${received} bytes verified and cached at ${dest}`)
}

export async function sha256File (path: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(path), hash)
  return hash.digest('hex')
}

async function exists (path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}
