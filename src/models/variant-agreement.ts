// At startup, the variants of each classifier are compared on the calibration images
// (calibration-images.ts), with the server's own preprocessing (decodeImage + TensorLayout),
// on the CPU in this thread (nothing is served yet). Against the reference — the most
// accurate variant whose weights are available (lowest accuracyRank):
//
//   top1Agreement      = share of images whose top-1 class is the reference's
//   maxScoreDifference = max over images and classes of |p_variant − p_reference|
//                        (softmax probabilities)
//
// A variant whose file does not take the model's input (name, 3 × H × W) or whose output
// does not have one score per label is refused at startup (ModelConfigError). A variant
// beyond models.variantDrift is marked refused (VariantInfo.unavailable) and never loaded.
// Detection models are not compared (their agreement is null).
import * as ort from 'onnxruntime-node'
import type { Config } from '../config/schema.js'
import { softmaxTopK } from '../postprocess/softmax-top-k.js'
import { decodeImage } from '../preprocess/decode-image.js'
import { TensorLayout } from '../worker/tensor-layout.js'
import { round } from '../util/format.js'
import type { CalibrationImage } from './calibration-images.js'
import { ModelConfigError } from '../errors.js'
import type { ModelInfo, VariantAgreement, VariantInfo } from './model-spec.js'

export type Drift = Config['models']['variantDrift']

/** Compares every available variant of `model` with the reference; marks refused ones. */
export async function compareVariants (model: ModelInfo, images: readonly CalibrationImage[], limits: Config['images'], drift: Drift): Promise<Map<string, VariantAgreement>> {
  const out = new Map<string, VariantAgreement>()
  const available = model.variants.filter((v) => v.weightsPath !== null)
  if (model.task !== 'classify' || available.length < 2) return out
  const reference = [...available].sort((a, b) => a.accuracyRank - b.accuracyRank)[0]!
  const layout = new TensorLayout(model.input, model.preprocess)
  const tensors = await Promise.all(images.map(async (img) => {
    const data = new Float32Array(3 * layout.plane)
    layout.write(await decodeImage(img.bytes, model, limits), data, 0)
    return data
  }))
  const scores = new Map<string, Float64Array[]>()
  for (const v of available) scores.set(v.name, await score(model, v, tensors))
  const ref = scores.get(reference.name)!
  for (const v of available) {
    if (v === reference) continue
    const mine = scores.get(v.name)!
    let agree = 0; let maxDiff = 0
    for (let i = 0; i < images.length; i++) {
      if (argmax(mine[i]!) === argmax(ref[i]!)) agree++
      for (let c = 0; c < ref[i]!.length; c++) maxDiff = Math.max(maxDiff, Math.abs(mine[i]![c]! - ref[i]![c]!))
    }
    const a: VariantAgreement = { reference: reference.name, images: images.length, top1Agreement: agree / images.length, maxScoreDifference: maxDiff }
    out.set(v.name, a)
    v.agreement = a
    const why = a.top1Agreement < drift.minTop1Agreement
      ? `top-1 agreement with ${reference.name} ${round(a.top1Agreement, 3)} is under models.variantDrift.minTop1Agreement ${drift.minTop1Agreement}`
      : a.maxScoreDifference > drift.maxScoreDifference
        ? `largest score difference from ${reference.name} ${round(a.maxScoreDifference, 4)} is over models.variantDrift.maxScoreDifference ${drift.maxScoreDifference}`
        : null
    if (why !== null) v.unavailable = `refused: ${why}`
  }
  return out
}

/** softmax probabilities of every class, per image */
async function score (model: ModelInfo, v: VariantInfo, tensors: readonly Float32Array[]): Promise<Float64Array[]> {
  const session = await ort.InferenceSession.create(v.weightsPath!, { executionProviders: ['cpu'], intraOpNumThreads: 1 })
  try {
    const meta = session.inputMetadata.find((m) => m.name === model.input.name)
    const shape = meta?.isTensor ? meta.shape.slice(1) : null
    if (!shape || shape.length !== 3 || shape[0] !== 3 || shape[1] !== model.input.height || shape[2] !== model.input.width) {
      throw new ModelConfigError(`model ${model.name}: variant ${v.name} does not take the model's input ${model.input.name} [n, 3, ${model.input.height}, ${model.input.width}] (its inputs: ${session.inputMetadata.map((m) => `${m.name} ${m.isTensor ? `[${m.shape.join(', ')}]` : ''}`).join('; ')})`)
    }
    const out: Float64Array[] = []
    for (const t of tensors) {
      const res = await session.run({ [model.input.name]: new ort.Tensor('float32', t, [1, 3, model.input.height, model.input.width]) })
      const logits = res[model.output.name]
      if (!logits) throw new ModelConfigError(`model ${model.name}: variant ${v.name} has no output named ${model.output.name}`)
      const data = logits.data as Float32Array
      if (data.length !== model.labelList.length) throw new ModelConfigError(`model ${model.name}: variant ${v.name} gives ${data.length} scores per image; the model has ${model.labelList.length} labels`)
      const p = new Float64Array(data.length)
      for (const { index, score } of softmaxTopK(data, model.labelList, data.length)) p[index] = score
      out.push(p)
      for (const x of Object.values(res)) x.dispose()
    }
    return out
  } finally {
    await session.release()
  }
}

function argmax (p: Float64Array): number {
  let best = 0
  for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i
  return best
}
