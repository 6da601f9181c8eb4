// Reads models/<name>/model.json and its labels for every enabled model, validates them
// against the model spec schema and resolves the weights of each of its variants. A model may
// keep versions, `models/<name>/<version>/model.json` (labels beside each): the version policy
// (modelRepository.versionPolicy, as for plain models; latest by default) picks the one served
// — the newest it selects; the flat `models/<name>/model.json` is version 1. A missing
// or invalid model fails here, at startup, with a message that names the model and the field.
// A variant whose weights cannot be found is kept, marked unavailable with the reason: it
// fails startup only if a device is configured to load it (variants.ts).
import { existsSync, readdirSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { ModelConfigError } from '../errors.js'
import { ModelSpecSchema, type ModelInfo, type ModelSpec, type VariantInfo, type VariantSpec } from './model-spec.js'
import { selectVersions, VERSION_DIR, type VersionPolicy } from './onnx-repository.js'
import { resolveWeights, type WeightsOptions } from './weights.js'


/** the name of the one variant of a model that gives `weights` rather than `variants` */
export const DEFAULT_VARIANT = 'default'

export type ModelRead = ModelSpec & { labelList: string[], variantList: Array<VariantSpec & { name: string }>, version: number, versions: number[] }

/**
 * A configured model's versions on disk, ascending: the directories `<name>/<version>/` (a whole
 * number ≥ 1) that hold a model.json, else the flat `<name>/model.json` as version 1; none: [].
 */
export function configuredVersions (repository: string, name: string): Array<{ version: number, dir: string }> {
  const dir = resolve(repository, name)
  let names: string[]
  try { names = readdirSync(dir) } catch { return [] }
  const out: Array<{ version: number, dir: string }> = []
  for (const n of names) {
    const d = resolve(dir, n)
    if (VERSION_DIR.test(n) && isDir(d) && existsSync(resolve(d, 'model.json'))) out.push({ version: Number(n), dir: d })
  }
  if (out.length === 0 && existsSync(resolve(dir, 'model.json'))) out.push({ version: 1, dir })
  return out.sort((a, b) => a.version - b.version)
}

function isDir (path: string): boolean {
  try { return statSync(path).isDirectory() } catch { return false }
}

/** Reads the version of model `name` the policy serves (the newest it selects; default latest 1). */
export async function readModelSpec (repository: string, name: string, policy: VersionPolicy = { latest: 1 }): Promise<ModelRead> {
  const onDisk = configuredVersions(repository, name)
  const selected = selectVersions(onDisk.map((v) => v.version), policy)
  if (onDisk.length > 0 && selected.length === 0) {
    throw new ModelConfigError(`model ${name}: its version policy ${JSON.stringify(policy)} selects none of its versions (${onDisk.map((v) => v.version).join(', ')})`)
  }
  const version = selected.at(-1) ?? 1
  const dir = onDisk.find((v) => v.version === version)?.dir ?? resolve(repository, name)
  const file = resolve(dir, 'model.json')
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(file, 'utf8'))
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new ModelConfigError(e.code === 'ENOENT'
      ? `model ${name}: no ${file} (models are configured under ${resolve(repository)})`
      : `model ${name}: cannot read ${file}: ${e.message}`)
  }
  const value = Value.Default(ModelSpecSchema, raw)
  const first = Value.Errors(ModelSpecSchema, value).First()
  if (first) throw new ModelConfigError(`model ${name}: invalid ${file} at ${first.path || '/'}: ${first.message}`)
  const spec = value as ModelSpec
  if (spec.name !== name) throw new ModelConfigError(`model ${name}: ${file} names itself "${spec.name}"`)
  if (spec.output.roles !== undefined && spec.output.decode.kind !== 'yolov8' && spec.output.decode.kind !== 'end-to-end') {
    throw new ModelConfigError(`model ${name}: ${file} names output roles, which only the yolov8 and end-to-end decoders read (decode.kind is ${spec.output.decode.kind})`)
  }
  const variantList = variantsOf(spec, file)
  for (const [alias, variant] of Object.entries(spec.aliases ?? {})) {
    if (!variantList.some((v) => v.name === variant)) throw new ModelConfigError(`model ${name}: ${file} aliases ${alias} to variant "${variant}", which the model does not have`)
  }
  const labelsFile = resolve(dir, spec.labels)
  let labelList: string[]
  try {
    labelList = (await readFile(labelsFile, 'utf8')).split('\n').map((l) => l.trimEnd()).filter((l) => l.length > 0)
  } catch (err) {
    throw new ModelConfigError(`model ${name}: cannot read labels ${labelsFile}: ${(err as Error).message}`)
  }
  return { ...spec, labelList, variantList, version, versions: onDisk.map((v) => v.version) }
}

function variantsOf (spec: ModelSpec, file: string): Array<VariantSpec & { name: string }> {
  if ((spec.weights === undefined) === (spec.variants === undefined)) {
    throw new ModelConfigError(`model ${spec.name}: ${file} must give either "weights" (one variant) or "variants", not ${spec.weights ? 'both' : 'neither'}`)
  }
  if (spec.weights) {
    return [{ name: spec.variant ?? DEFAULT_VARIANT, weights: spec.weights, kinds: ['cpu', 'cuda'], accuracyRank: 1 }]
  }
  if (spec.variant !== undefined) throw new ModelConfigError(`model ${spec.name}: ${file} gives "variant" beside "variants"; name each variant in "variants"`)
  const list = Object.entries(spec.variants!).map(([name, v]) => ({ name, ...v }))
  if (list.length === 0) throw new ModelConfigError(`model ${spec.name}: ${file} has no variants`)
  return list
}

export async function loadModel (repository: string, name: string, weights: WeightsOptions, policy?: VersionPolicy): Promise<ModelInfo> {
  const { weights: _w, variants: _v, variant: _n, variantList, ...spec } = await readModelSpec(repository, name, policy)
  const variants: VariantInfo[] = []
  for (const v of variantList) {
    try {
      variants.push({ ...v, weightsPath: await resolveWeights({ name, weights: v.weights }, weights), unavailable: null, agreement: null })
    } catch (err) {
      // one variant alone: its failure is the model's (as before variants existed)
      if (variantList.length === 1) throw err
      variants.push({ ...v, weightsPath: null, unavailable: (err as Error).message, agreement: null })
    }
  }
  const first = variants.find((v) => v.weightsPath !== null)
  if (!first) throw new ModelConfigError(`model ${name}: no variant has weights: ${variants.map((v) => `${v.name}: ${v.unavailable}`).join('; ')}`)
  return { ...spec, variants, variant: first.name, weightsPath: first.weightsPath! }
}
