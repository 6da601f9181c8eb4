// Reads models/<name>/model.json and its labels for every enabled model, validates them
// against the model spec schema and resolves their weights. A missing or invalid model fails
// here, at startup, with a message that names the model and the field.
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { ModelConfigError } from '../errors.js'
import { ModelSpecSchema, type ModelInfo, type ModelSpec } from './model-spec.js'
import { resolveWeights, type WeightsOptions } from './weights.js'


export async function readModelSpec (repository: string, name: string): Promise<Omit<ModelInfo, 'weightsPath'>> {
  const dir = resolve(repository, name)
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
  const labelsFile = resolve(dir, spec.labels)
  let labelList: string[]
  try {
    labelList = (await readFile(labelsFile, 'utf8')).split('\n').map((l) => l.trimEnd()).filter((l) => l.length > 0)
  } catch (err) {
    throw new ModelConfigError(`model ${name}: cannot read labels ${labelsFile}: ${(err as Error).message}`)
  }
  return { ...spec, labelList }
}

export async function loadModel (repository: string, name: string, weights: WeightsOptions): Promise<ModelInfo> {
  const spec = await readModelSpec(repository, name)
  return { ...spec, weightsPath: await resolveWeights(spec, weights) }
}
