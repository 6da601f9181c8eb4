// What decoding a model's output yields for one image: the answers' building blocks.
// A leaf module: the worker produces these, the HTTP layer serialises them.

export interface Prediction { label: string, index: number, score: number }
export interface Detection extends Prediction { box: { x1: number, y1: number, x2: number, y2: number } }
/** One item's slice of the model's output, batch dimension 1: `shape[0]` is 1. */
export interface RawOutput { data: Float32Array, shape: number[] }
export type ItemResult = (
  | { kind: 'classify', predictions: Prediction[] }
  | { kind: 'detect', width: number, height: number, detections: Detection[] }
) & { raw?: RawOutput }
