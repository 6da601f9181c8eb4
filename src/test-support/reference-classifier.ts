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

/** Top-5 of `model` (a directory of ../shared/models with the int8 model's input) on a photo. */
export async function referenceTop5 (file: string, model: 'mobilenetv2-12-int8' | 'mobilenetv2-12-fp32' = 'mobilenetv2-12-int8'): Promise<Array<{ index: number, score: number }>> {
  if (!sessions.has(model)) sessions.set(model, ort.InferenceSession.create(join(SHARED_MODELS, model, 'model.onnx')))
  const s = await sessions.get(model)!
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
  const logits = (await s.run({ input: new ort.Tensor('float32', x, [1, 3, 224, 224]) })).output!.data as Float32Array
  const max = Math.max(...logits)
  const sum = logits.reduce((acc, v) => acc + Math.exp(v - max), 0)
  return [...logits.keys()].sort((a, b) => logits[b]! - logits[a]!).slice(0, 5).map((index) => ({ index, score: Math.exp(logits[index]! - max) / sum }))
}
