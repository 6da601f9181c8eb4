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

/** How a detector's output gives a box: centre and size or corners, in input pixels or 0–1 of the input's width and height. */
const BoxFormat = (defaults: { format: 'cxcywh' | 'xyxy', normalized: boolean }) => Type.Object({
  format: Type.Union([Type.Literal('cxcywh'), Type.Literal('xyxy')], { default: defaults.format, description: 'cxcywh: centre x, centre y, width, height; xyxy: corners x1, y1, x2, y2' }),
  normalized: Type.Boolean({ default: defaults.normalized, description: 'true: 0–1 of the model input\'s width and height; false: model input pixels' })
}, { additionalProperties: false, default: {} })

const Decode = Type.Union([
  Type.Object({
    kind: Type.Literal('softmax'),
    topK: Type.Integer({ minimum: 1, default: 5 })
  }, { additionalProperties: false }),
  // the decoders of detectors (src/postprocess/detectors.ts): one per output layout
  Type.Object({
    /** YOLOX raw head: [B, N, 5 + classes] rows [tx, ty, tw, th, obj, cls…], grid-relative */
    kind: Type.Literal('yolox'),
    strides: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 }),
    scoreThreshold: Type.Number({ minimum: 0, maximum: 1 }),
    iouThreshold: Type.Number({ minimum: 0, maximum: 1 }),
    maxDetections: Type.Integer({ minimum: 1, default: 300 })
  }, { additionalProperties: false }),
  Type.Object({
    /** YOLOv8 / YOLO11 export: [B, 4 + classes, N], class scores, no objectness; per-class NMS */
    kind: Type.Literal('yolov8'),
    box: BoxFormat({ format: 'cxcywh', normalized: false }),
    scoreThreshold: Type.Number({ minimum: 0, maximum: 1 }),
    iouThreshold: Type.Number({ minimum: 0, maximum: 1 }),
    maxDetections: Type.Integer({ minimum: 1, default: 300 })
  }, { additionalProperties: false }),
  Type.Object({
    /** end-to-end (RT-DETR style): [B, N, 4 + classes], one box per query, no NMS */
    kind: Type.Literal('end-to-end'),
    box: BoxFormat({ format: 'cxcywh', normalized: true }),
    /** probabilities as they are, or logits that want a sigmoid */
    scores: Type.Union([Type.Literal('probabilities'), Type.Literal('logits')], { default: 'probabilities' }),
    scoreThreshold: Type.Number({ minimum: 0, maximum: 1 }),
    /** used only to merge the passes of a tiled request (no NMS within one image) */
    iouThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.45 }),
    maxDetections: Type.Integer({ minimum: 1, default: 300 })
  }, { additionalProperties: false })
])
export type DecodeSpec = Static<typeof Decode>
export type DetectorDecodeSpec = Exclude<DecodeSpec, { kind: 'softmax' }>

const Weights = Type.Object({
  /** path inside a local models directory (SWITCHYARD_MODELS_DIR) */
  file: Type.String({ minLength: 1 }),
  /** pinned upstream URL; null when the file only exists locally */
  url: Type.Union([Type.String({ pattern: '^https?://' }), Type.Null()]),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  bytes: Type.Optional(Type.Integer({ minimum: 1 }))
}, { additionalProperties: false })
export type WeightsSpec = Static<typeof Weights>

export const DeviceKind = Type.Union([Type.Literal('cpu'), Type.Literal('cuda')])
export type DeviceKind = Static<typeof DeviceKind>

const VARIANT_NAME = '^[a-z0-9][a-z0-9._-]{0,31}$'

/** One set of weights of a model: same input, output, labels and preprocessing as the others. */
const Variant = Type.Object({
  weights: Weights,
  /** the device kinds it suits, in order of preference: a device of the first kind listed
   *  by some variant loads that variant unless the config says otherwise */
  kinds: Type.Array(DeviceKind, { minItems: 1 }),
  /** 1 = the most accurate variant of the model; `most-accurate` requests the lowest rank */
  accuracyRank: Type.Integer({ minimum: 1 }),
  description: Type.Optional(Type.String())
}, { additionalProperties: false })
export type VariantSpec = Static<typeof Variant>

export const ModelSpecSchema = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$' }),
  task: Type.Union([Type.Literal('classify'), Type.Literal('detect')]),
  description: Type.Optional(Type.String()),
  license: Type.Optional(Type.String()),
  /** a model with one set of weights: `weights` (and the name of that variant, default "default") */
  weights: Type.Optional(Weights),
  variant: Type.Optional(Type.String({ pattern: VARIANT_NAME })),
  /** a model with several: variant name → weights and suitability (exclusive with `weights`) */
  variants: Type.Optional(Type.Record(Type.String({ pattern: VARIANT_NAME }), Variant)),
  /** other model names (URLs, config) that mean this model with one variant pinned */
  aliases: Type.Optional(Type.Record(Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$' }), Type.String())),
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
    /** the output tensor decoded, by its name in the ONNX file (YOLOv8 exports: output0); with `roles`, the one /v2 returns raw */
    name: Type.String(),
    /** detectors whose boxes and scores are separate outputs (src/postprocess/split-decode.ts): the output of each role, by name */
    roles: Type.Optional(Type.Object({
      boxes: Type.String({ description: '[B, N, 4], in decode.box\'s format' }),
      scores: Type.String({ description: '[B, N, C] class scores, or [B, N] with labels' }),
      labels: Type.Optional(Type.String({ description: '[B, N] class index of each box' }))
    }, { additionalProperties: false })),
    decode: Decode
  }, { additionalProperties: false })
}, { additionalProperties: false })
export type ModelSpec = Static<typeof ModelSpecSchema>

/** How a variant compares with the model's most accurate variant on the calibration images. */
export interface VariantAgreement {
  /** the variant compared with (the lowest accuracyRank available) */
  reference: string
  images: number
  /** share of images whose top-1 class is the reference's */
  top1Agreement: number
  /** largest |p − p_reference| over images and classes (softmax probabilities) */
  maxScoreDifference: number
}

/** A variant as loaded: its weights resolved, or why they could not be. */
export interface VariantInfo extends VariantSpec {
  name: string
  /** absolute path of the verified weights file; null when unavailable */
  weightsPath: string | null
  /** why the weights could not be resolved, or why the variant is refused (drift) */
  unavailable: string | null
  /** set at startup for every variant but the reference of a classifier with several */
  agreement: VariantAgreement | null
}

/** A model spec with its labels read and its variants resolved: what the worker and the routes need. */
export interface ModelInfo extends Omit<ModelSpec, 'weights' | 'variants' | 'variant'> {
  labelList: string[]
  /** every variant, in declaration order (a single-weights model has one) */
  variants: VariantInfo[]
  /** the variant these weights are (per device: the one configured for it) */
  variant: string
  /** absolute path of the verified weights file of `variant` */
  weightsPath: string
  /** the version served (`<name>/<version>/model.json`; the flat layout: 1) */
  version: number
  /** the versions on disk, ascending */
  versions: number[]
}
