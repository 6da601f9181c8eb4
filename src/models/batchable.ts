// Batching by default: at load, each variant whose batch dimension is fixed to 1 is rewritten
// to a free one (batch-rewrite.ts) and the result is accepted only when a batch of several
// calibration images gives the outputs of the same images run one by one through the original
// file (every output, within BATCH_TOLERANCE). An accepted rewrite is written to the weights
// cache (`<cacheDir>/batchable/<sha256 of the source>.v1.onnx`, atomically; the temporary
// directory if the cache is read-only) and the variant's
// weightsPath points at it, so workers (threads or processes) load it like any weights file
// and the device's max batch size applies (it is capped to 1 only for a static batch
// dimension, read from the session). Otherwise the model stays batch 1. One log line per
// variant either way.
//
// The check runs here, on the CPU, in the main thread, at load — as the variant comparison
// does (variant-agreement.ts) — before anything is served.
import { randomUUID } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import type { Config } from '../config/schema.js'
import { decodeImage } from '../preprocess/decode-image.js'
import { TensorLayout } from '../worker/tensor-layout.js'
import { rewriteBatch, type BatchRewrite } from './batch-rewrite.js'
import type { CalibrationImage } from './calibration-images.js'
import type { ModelInfo } from './model-spec.js'
import { calibrationImages } from './calibration-images.js'

/** |batched − alone| ≤ abs + rel·|alone| for every value of every output */
export const BATCH_TOLERANCE = { abs: 1e-4, rel: 1e-3 }
/** images in the checked batch */
export const CHECK_BATCH = 4
/** bump when the rewrite changes, so cached rewrites of older rules are not reused */
const REWRITE_VERSION = 1

export interface BatchableResult {
  model: string
  variant: string
  /** rewritten: now batchable; kept: stays batch 1 (see reason); dynamic: was batchable already */
  outcome: 'rewritten' | 'kept' | 'dynamic'
  reason?: string
  changes?: BatchRewrite['changes']
  path?: string
}

/**
 * Checks that `rewritten` run on a batch of `items` gives what `original` gives on each item
 * alone. `items` are one item's float32 values of the model's single input (shape `itemDims`).
 * Returns null when it does, else why not (one line).
 */
export async function checkBatch (original: string | Uint8Array, rewritten: Uint8Array, inputName: string, itemDims: readonly number[], items: readonly Float32Array[]): Promise<string | null> {
  const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'all' }
  const alone = typeof original === 'string' ? await ort.InferenceSession.create(original, options) : await ort.InferenceSession.create(original, options)
  let batched: ort.InferenceSession | null = null
  try {
    if (alone.inputNames.length !== 1) return `the model has ${alone.inputNames.length} inputs; only single-input models are checked`
    const reference: Array<Record<string, ort.Tensor>> = []
    for (const item of items) reference.push(await alone.run({ [inputName]: new ort.Tensor('float32', item, [1, ...itemDims]) }))
    batched = await ort.InferenceSession.create(rewritten, options)
    const size = items[0]!.length
    const data = new Float32Array(items.length * size)
    items.forEach((x, i) => data.set(x, i * size))
    let out: Record<string, ort.Tensor>
    try {
      out = await batched.run({ [inputName]: new ort.Tensor('float32', data, [items.length, ...itemDims]) })
    } catch (err) {
      return `a batch of ${items.length} fails: ${(err as Error).message.split('\n')[0]}`
    }
    for (const name of alone.outputNames) {
      const got = out[name]
      if (!got) return `the rewritten model has no output ${name}`
      if (Number(got.dims[0]) !== items.length) return `output ${name} of a batch of ${items.length} has shape [${got.dims.join(', ')}]`
      const all = got.data as ArrayLike<number | bigint>
      const per = all.length / items.length
      for (let i = 0; i < items.length; i++) {
        const ref = reference[i]![name]!.data as ArrayLike<number | bigint>
        if (ref.length !== per) return `output ${name}: item ${i} has ${per} values in the batch, ${ref.length} alone`
        for (let j = 0; j < per; j++) {
          const a = Number(all[i * per + j]!); const b = Number(ref[j]!)
          const diff = Math.abs(a - b)
          if (!(diff <= BATCH_TOLERANCE.abs + BATCH_TOLERANCE.rel * Math.abs(b)) && !(Number.isNaN(a) && Number.isNaN(b))) {
            return `a batch of ${items.length} differs from the images one by one: output ${name}, item ${i}, value ${j}: ${a} vs ${b}`
          }
        }
      }
    }
    for (const r of [...reference, out]) for (const t of Object.values(r)) t.dispose()
    return null
  } finally {
    await alone.release()
    await batched?.release()
  }
}

/** Largest batch any device may run of `model` (1: nothing to gain from a rewrite). */
export function largestBatch (config: Pick<Config, 'devices'>, model: string): number {
  return Math.max(1, ...config.devices.map((d) => d.perModel[model]?.maxBatchSize ?? d.maxBatchSize))
}

/**
 * Makes every usable variant of `model` batchable where its batch is fixed to 1 and the check
 * passes (see above); updates the variants' (and the model's) weightsPath in place.
 */
export async function makeBatchable (model: ModelInfo, images: readonly CalibrationImage[], config: Pick<Config, 'images'>, cacheDir: string): Promise<BatchableResult[]> {
  const results: BatchableResult[] = []
  const layout = new TensorLayout(model.input, model.preprocess)
  let items: Float32Array[] | null = null
  for (const v of model.variants) {
    if (v.weightsPath === null || v.unavailable !== null) continue
    const r = rewriteBatch(await readFile(v.weightsPath))
    if (r.status === 'dynamic') { results.push({ model: model.name, variant: v.name, outcome: 'dynamic' }); continue }
    if (r.status === 'impossible') { results.push({ model: model.name, variant: v.name, outcome: 'kept', reason: r.reason! }); continue }
    items ??= await Promise.all(images.slice(0, CHECK_BATCH).map(async (img) => {
      const data = new Float32Array(3 * layout.plane)
      layout.write(await decodeImage(img.bytes, model, config.images), data, 0)
      return data
    }))
    let why: string | null
    try {
      why = items.length < 2 ? 'fewer than 2 calibration images to check a batch with' : await checkBatch(v.weightsPath, r.bytes!, model.input.name, [3, model.input.height, model.input.width], items)
    } catch (err) {
      why = `the check failed: ${(err as Error).message.split('\n')[0]}`
    }
    if (why !== null) { results.push({ model: model.name, variant: v.name, outcome: 'kept', reason: why, changes: r.changes }); continue }
    const name = `${v.weights.sha256}.v${REWRITE_VERSION}.onnx`
    let path: string | null = null
    // the weights cache, else (read-only) the temporary directory
    for (const dir of [join(cacheDir, 'batchable'), join(tmpdir(), 'switchyard-batchable')]) {
      try {
        await writeAtomically(join(dir, name), r.bytes!)
        path = join(dir, name)
        break
      } catch (err) {
        why = `cannot write the rewritten model: ${(err as Error).message}`
      }
    }
    if (path === null) { results.push({ model: model.name, variant: v.name, outcome: 'kept', reason: why!, changes: r.changes }); continue }
    if (model.weightsPath === v.weightsPath && model.variant === v.name) model.weightsPath = path
    v.weightsPath = path
    results.push({ model: model.name, variant: v.name, outcome: 'rewritten', changes: r.changes, path })
  }
  return results
}

async function writeAtomically (path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true })
  const tmp = `${path}.${randomUUID()}.partial`
  try {
    await writeFile(tmp, bytes)
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

/** The one log line of a result: a message, and whether it is a warning. */
export function describeBatchable (r: BatchableResult): { warn: boolean, message: string } {
  if (r.outcome === 'rewritten') {
    const c = r.changes!
    return { warn: false, message: `model ${r.model} (variant ${r.variant}): batch dimension made free at load (inputs ${c.inputs.join(', ')}; ${c.reshapes.length} Reshape shape(s) rewritten; ${c.valueInfoDropped} value_info dropped); a batch of ${CHECK_BATCH} matches the images one by one` }
  }
  if (r.outcome === 'kept') return { warn: true, message: `model ${r.model} (variant ${r.variant}) stays at batch 1: ${r.reason}` }
  return { warn: false, message: `model ${r.model} (variant ${r.variant}): batch dimension already free` }
}

interface Log {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
}

/**
 * makeBatchable() for every model some device may batch (max batch > 1) and that
 * `models.staticBatch` does not list, on the calibration
 * images (`models.calibrationImages`, else the synthetic set, read only when needed); one log
 * line per variant rewritten or kept at batch 1.
 */
export async function makeAllBatchable (models: readonly ModelInfo[], config: Pick<Config, 'images' | 'devices'> & { models: Pick<Config['models'], 'staticBatch'> }, calibrationDir: string | null, cacheDir: string, log: Log): Promise<BatchableResult[]> {
  const out: BatchableResult[] = []
  let images: CalibrationImage[] | null = null
  for (const m of models) {
    if (largestBatch(config, m.name) < 2 || config.models.staticBatch.includes(m.name)) continue
    images ??= await calibrationImages(calibrationDir)
    for (const r of await makeBatchable(m, images, config, cacheDir)) {
      out.push(r)
      if (r.outcome === 'dynamic') continue
      const { warn, message } = describeBatchable(r)
      log[warn ? 'warn' : 'info']({ model: r.model, variant: r.variant, batchRewrite: r.outcome }, message)
    }
  }
  return out
}
