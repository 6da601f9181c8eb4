// An independent implementation of MODEL.md's classifier pipeline, straight from its text
// (sharp resize 256 outside, floor centre crop 224, /255, mean/std, NCHW RGB, softmax), run
// with onnxruntime in the test process. The server must reproduce it exactly on whatever CPU
// runs the tests, even where int8 kernels make both differ from EXPECTED.json. On the float32
// variant (same preprocessing) it reproduces EXPECTED.json on any x86 CPU, which is what makes
// it a reference (src/http/routes/classify-fp32.test.ts checks that).
import { join } from 'node:path'
import sharp from 'sharp'
import * as ort from 'onnxruntime-node'
import { SHARED_MODELS } from './server.js'

const sessions = new Map<string, Promise<ort.InferenceSession>>()

/** MODEL.md's input tensor for `file`: 1×3×224×224 float32, NCHW, RGB, normalised. */
export async function referenceInput (file: string): Promise<Float32Array> {
  const { data, info } = await sharp(file).removeAlpha().resize({ width: 256, height: 256, fit: 'outside' }).raw().toBuffer({ resolveWithObject: true })
  const left = Math.floor((info.width - 224) / 2)
  const top = Math.floor((info.height - 224) / 2)
  const mean = [0.485, 0.456, 0.406]
  const std = [0.229, 0.224, 0.225]
  const x = new Float32Array(3 * 224 * 224)
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 224; y++) {
      for (let i = 0; i < 224; i++) {
        x[c * 224 * 224 + y * 224 + i] = (data[((top + y) * info.width + left + i) * 3 + c]! / 255 - mean[c]!) / std[c]!
      }
    }
  }
  return x
}

/**
 * The model's 1000 logits for `file`, run in the test process by `weights`: a model file
 * relative to the shared models, or a directory there holding model.onnx.
 */
export async function referenceLogits (file: string, weights = 'mobilenetv2-12-int8/model.onnx'): Promise<Float32Array> {
  if (!weights.endsWith('.onnx')) weights = `${weights}/model.onnx`
  let session = sessions.get(weights)
  if (!session) { session = ort.InferenceSession.create(join(SHARED_MODELS, weights)); sessions.set(weights, session) }
  const s = await session
  return (await s.run({ input: new ort.Tensor('float32', await referenceInput(file), [1, 3, 224, 224]) })).output!.data as Float32Array
}

/** softmax probabilities of all 1000 classes for the photo `file` */
export async function referenceScores (file: string, weights?: string): Promise<Float64Array> {
  const logits = await referenceLogits(file, weights)
  const max = Math.max(...logits)
  const sum = logits.reduce((acc, v) => acc + Math.exp(v - max), 0)
  return Float64Array.from(logits, (v) => Math.exp(v - max) / sum)
}

export async function referenceTop5 (file: string, weights?: string): Promise<Array<{ index: number, score: number }>> {
  const p = await referenceScores(file, weights)
  return [...p.keys()].sort((a, b) => p[b]! - p[a]!).slice(0, 5).map((index) => ({ index, score: p[index]! }))
}
