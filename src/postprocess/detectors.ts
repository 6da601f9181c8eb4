// The detector families: one output decoder per layout, selected by model.json's
// `output.decode.kind`. Each turns one item's slice of the output tensor (its dimensions without
// the batch) into boxes in original-image pixels, and says at load whether an output shape is
// one it can read.
//
//   yolox       [N, 5 + C]  grid-relative rows, objectness × class (yolox-decode.ts)
//   yolov8      [4 + C, N]  boxes and class scores, channels first; NMS (yolov8-decode.ts)
//   end-to-end  [N, 4 + C]  one box per query (RT-DETR style); no NMS (end-to-end-decode.ts)
// With model.json's `output.roles`, yolov8 and end-to-end read boxes and scores from separate
// outputs instead ([N, 4] and [N, C], or [N] with labels [N]; split-decode.ts), NMS as their kind.
import type { DetectorDecodeSpec } from '../models/model-spec.js'
import type { DetectGeometry } from './box-geometry.js'
import { decodeEndToEnd } from './end-to-end-decode.js'
import { checkSplitShapes, decodeSplit, type SplitOutputs } from './split-decode.js'
import type { Detection } from './types.js'
import { decodeYolov8 } from './yolov8-decode.js'
import { decodeYolox } from './yolox-decode.js'

export type { DetectGeometry } from './box-geometry.js'

export interface DetectParams { scoreThreshold: number, iouThreshold: number, maxDetections: number }

type Of<K extends DetectorDecodeSpec['kind']> = Extract<DetectorDecodeSpec, { kind: K }>
interface Decoder<S extends DetectorDecodeSpec> {
  /** the item's output dimensions (batch left out) this decoder reads, with C classes */
  layout: string
  check: (dims: ReadonlyArray<number | string>, spec: S) => boolean
  decode: (out: Float32Array, dims: readonly number[], spec: S, g: DetectGeometry, labels: readonly string[], p: DetectParams) => Detection[]
}

const known = (d: number | string | undefined): d is number => typeof d === 'number'

const DECODERS: { [K in DetectorDecodeSpec['kind']]: Decoder<Of<K>> } = {
  yolox: {
    layout: '[N, 5 + C], N = Σ cells of the strides',
    check: (dims) => dims.length === 2 && (!known(dims[1]) || dims[1] > 5),
    decode: (out, dims, spec, g, labels, p) => decodeYolox(out, dims[1]!, { ...g, strides: spec.strides }, labels, p.scoreThreshold, p.iouThreshold, p.maxDetections)
  },
  yolov8: {
    layout: '[4 + C, N]',
    check: (dims) => dims.length === 2 && (!known(dims[0]) || dims[0] > 4),
    decode: (out, dims, spec, g, labels, p) => decodeYolov8(out, dims, spec.box, g, labels, p.scoreThreshold, p.iouThreshold, p.maxDetections)
  },
  'end-to-end': {
    layout: '[N, 4 + C]',
    check: (dims) => dims.length === 2 && (!known(dims[1]) || dims[1] > 4),
    decode: (out, dims, spec, g, labels, p) => decodeEndToEnd(out, dims, spec.box, spec.scores, g, labels, p.scoreThreshold, p.maxDetections)
  }
}

function decoder<S extends DetectorDecodeSpec> (spec: S): Decoder<S> {
  return DECODERS[spec.kind] as unknown as Decoder<S>
}

/** Why an output of `shape` (batch first, as the session declares it) cannot be decoded by `spec`, or null. */
export function checkDetectorOutput (spec: DetectorDecodeSpec, shape: ReadonlyArray<number | string>): string | null {
  const d = decoder(spec)
  return d.check(shape.slice(1), spec) ? null : `output.decode.kind ${spec.kind} reads [B, ${d.layout.slice(1)}; the output's shape is [${shape.join(', ')}]`
}

/** One item's detections: `out` is its slice of the output, `dims` its dimensions without the batch. */
export function decodeDetections (spec: DetectorDecodeSpec, out: Float32Array, dims: readonly number[], g: DetectGeometry, labels: readonly string[], p: DetectParams): Detection[] {
  return decoder(spec).decode(out, dims, spec, g, labels, p)
}

/** Why split outputs (model.json `output.roles`) of these shapes cannot be decoded by `spec`, or null. */
export function checkSplitOutputs (spec: DetectorDecodeSpec, shapes: Parameters<typeof checkSplitShapes>[0]): string | null {
  if (spec.kind === 'yolox') return 'output roles are read by the yolov8 and end-to-end decoders only'
  return checkSplitShapes(shapes)
}

/** One item's detections from split outputs (its slices of boxes, scores and labels). */
export function decodeSplitDetections (spec: DetectorDecodeSpec, out: SplitOutputs, g: DetectGeometry, labels: readonly string[], p: DetectParams): Detection[] {
  if (spec.kind === 'yolox') throw new Error('output roles are read by the yolov8 and end-to-end decoders only')
  return decodeSplit(out, {
    box: spec.box,
    scores: spec.kind === 'end-to-end' ? spec.scores : 'probabilities',
    iouThreshold: spec.kind === 'yolov8' ? p.iouThreshold : null,
    scoreThreshold: p.scoreThreshold,
    maxDetections: p.maxDetections
  }, g, labels)
}
