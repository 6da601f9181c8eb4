// Which variant of a model each device loads, and what a request's X-Switchyard-Variant means.
//
// A device loads, per model, the variant its config names (`devices[].variants`), else the
// first variant in model.json whose `kinds` lists the device's kind (shipped: int8 on a CPU,
// fp32 on CUDA), else the most accurate one. A variant whose weights are missing, or that the
// startup comparison refused (variant-agreement.ts), is never loaded: named in the config it
// fails startup; by default the next suitable variant is taken.
import type { DeviceConfig } from '../config/schema.js'
import { ModelConfigError } from '../errors.js'
import type { ModelInfo, VariantInfo } from './model-spec.js'

/** X-Switchyard-Variant value that asks for the most accurate variant served */
export const MOST_ACCURATE = 'most-accurate'

function usable (v: VariantInfo): boolean {
  return v.weightsPath !== null && v.unavailable === null
}

/** The variant `device` loads for `model`; throws ModelConfigError for a configured one it cannot. */
export function variantFor (model: ModelInfo, device: Pick<DeviceConfig, 'id' | 'kind' | 'variants'>): VariantInfo {
  const named = device.variants[model.name]
  if (named !== undefined) {
    const v = model.variants.find((x) => x.name === named)
    if (!v) throw new ModelConfigError(`device ${device.id}: model ${model.name} has no variant "${named}" (variants: ${model.variants.map((x) => x.name).join(', ')})`)
    if (!usable(v)) throw new ModelConfigError(`device ${device.id}: variant ${named} of model ${model.name} cannot be served: ${v.unavailable ?? 'no weights'}`)
    return v
  }
  const ok = model.variants.filter(usable)
  const byRank = [...ok].sort((a, b) => a.accuracyRank - b.accuracyRank)
  const v = ok.find((x) => x.kinds.includes(device.kind)) ?? byRank[0]
  if (!v) throw new ModelConfigError(`model ${model.name}: no variant can be served (${model.variants.map((x) => `${x.name}: ${x.unavailable ?? 'no weights'}`).join('; ')})`)
  return v
}

/** The models as `device` loads them: each with the weights of its variant. */
export function modelsFor (device: Pick<DeviceConfig, 'id' | 'kind' | 'variants'>, models: readonly ModelInfo[]): ModelInfo[] {
  return models.map((m) => {
    const v = variantFor(m, device)
    return { ...m, variant: v.name, weightsPath: v.weightsPath! }
  })
}

/** Startup check of `devices[].variants`: every entry names an enabled model and a variant it can serve. */
export function checkDeviceVariants (devices: ReadonlyArray<Pick<DeviceConfig, 'id' | 'kind' | 'variants'>>, models: readonly ModelInfo[], enabled: readonly string[]): void {
  for (const d of devices) {
    for (const name of Object.keys(d.variants)) {
      if (!enabled.includes(name)) throw new ModelConfigError(`device ${d.id}: variants names model ${name}, which is not enabled (models.enabled: ${enabled.join(', ')})`)
    }
    modelsFor(d, models)
  }
}

/** A model name as a request gives it: a model, or an alias meaning a model with a variant pinned. */
export function resolveModelName (name: string, models: ReadonlyMap<string, ModelInfo>): { model: ModelInfo, variant?: string } | undefined {
  const m = models.get(name)
  if (m) return { model: m }
  for (const model of models.values()) {
    const variant = model.aliases?.[name]
    if (variant !== undefined) return { model, variant }
  }
  return undefined
}

/**
 * The concrete variant a request asks for, given the variants served now (by some device):
 * `most-accurate` → the lowest accuracyRank served; a name → itself. undefined: any.
 */
export function requestedVariant (model: ModelInfo, asked: string | undefined, served: ReadonlySet<string>): string | undefined {
  if (asked !== MOST_ACCURATE) return asked
  const ranked = model.variants.filter((v) => served.has(v.name)).sort((a, b) => a.accuracyRank - b.accuracyRank)
  return ranked[0]?.name
}

/** Devices that load a variant not meant for their kind (its better variant being unavailable): one line each, for a warning. */
export function unsuitedVariants (devices: ReadonlyArray<Pick<DeviceConfig, 'id' | 'kind' | 'variants'>>, models: readonly ModelInfo[]): string[] {
  const out: string[] = []
  for (const d of devices) {
    for (const m of models) {
      const v = variantFor(m, d)
      if (m.variants.length > 1 && !v.kinds.includes(d.kind)) {
        const meant = m.variants.filter((x) => x.kinds.includes(d.kind)).map((x) => `${x.name} (${x.unavailable ?? 'unavailable'})`).join(', ')
        out.push(`device ${d.id} runs variant ${v.name} of ${m.name}, which does not list ${d.kind}; ${meant || 'no variant lists it'}`)
      }
    }
  }
  return out
}
