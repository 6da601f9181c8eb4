// The schema of models/<name>/model.json: what a model is for, where its weights come from,
// and exactly how pixels become its input tensor and its output becomes an answer.
import { Type, type Static } from '@sinclair/typebox'

const Resize = Type.Union([
  Type.Object({
    mode: Type.Literal('center-crop'),
    /** the shorter side is resized to this, then the input size is cut from the centre */
    shorterSide: Type.Integer({ minimum: 1 })
  }, { additionalProperties: false }),
  Type.Object({
    mode: Type.Literal('letterbox'),
    /** pad colour on every channel, 0–255 */
    fill: Type.Integer({ minimum: 0, maximum: 255 }),
    anchor: Type.Union([Type.Literal('top-left'), Type.Literal('center')])
  }, { additionalProperties: false }),
  Type.Object({ mode: Type.Literal('stretch') }, { additionalProperties: false })
])
export type ResizeSpec = Static<typeof Resize>

const Decode = Type.Union([
  Type.Object({
    kind: Type.Literal('softmax'),
    topK: Type.Integer({ minimum: 1, default: 5 })
  }, { additionalProperties: false }),
  Type.Object({
    kind: Type.Literal('yolox'),
    strides: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 }),
    scoreThreshold: Type.Number({ minimum: 0, maximum: 1 }),
    iouThreshold: Type.Number({ minimum: 0, maximum: 1 }),
    maxDetections: Type.Integer({ minimum: 1, default: 300 })
  }, { additionalProperties: false })
])
export type DecodeSpec = Static<typeof Decode>

export const ModelSpecSchema = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$' }),
  task: Type.Union([Type.Literal('classify'), Type.Literal('detect')]),
  description: Type.Optional(Type.String()),
  license: Type.Optional(Type.String()),
  weights: Type.Object({
    /** path inside a local models directory (SWITCHYARD_MODELS_DIR) */
    file: Type.String({ minLength: 1 }),
    /** pinned upstream URL; null when the file only exists locally */
    url: Type.Union([Type.String({ pattern: '^https?://' }), Type.Null()]),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    bytes: Type.Optional(Type.Integer({ minimum: 1 }))
  }, { additionalProperties: false }),
  labels: Type.String({ minLength: 1, description: 'labels file beside model.json, one label a line' }),
  input: Type.Object({
    name: Type.String(),
    width: Type.Integer({ minimum: 1 }),
    height: Type.Integer({ minimum: 1 }),
    channelOrder: Type.Union([Type.Literal('RGB'), Type.Literal('BGR')])
  }, { additionalProperties: false }),
  preprocess: Type.Object({
    resize: Resize,
    /** x = (pixel · scale − mean[c]) / std[c], channels in RGB order */
    scale: Type.Number(),
    mean: Type.Tuple([Type.Number(), Type.Number(), Type.Number()]),
    std: Type.Tuple([Type.Number(), Type.Number(), Type.Number()])
  }, { additionalProperties: false }),
  output: Type.Object({
    name: Type.String(),
    decode: Decode
  }, { additionalProperties: false })
}, { additionalProperties: false })
export type ModelSpec = Static<typeof ModelSpecSchema>

/** A model spec with its labels read: what the worker and the routes need. */
export interface ModelInfo extends ModelSpec {
  labelList: string[]
  /** absolute path of the verified weights file */
  weightsPath: string
}
