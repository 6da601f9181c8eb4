// A decode slot (sharp work on the libuv pool) for one request, or 429 when too many requests
// already wait for one (or, with no count, when its wait would not leave it time, at once or at
// its turn). Shared by every route that decodes an image. The gate has two classes:
// latency-class requests, and batched work (throughput and cost).
import type { Policy } from '../config/schema.js'
import { Overloaded, withRetryAfter } from '../errors.js'
import type { Metrics } from '../metrics/metrics.js'
import type { ModelSpec } from '../models/model-spec.js'
import type { DecodeGate } from '../preprocess/decode-gate.js'
import { decodeImage, type ImageLimits } from '../preprocess/decode-image.js'
import type { PreparedImage } from '../worker/protocol.js'

/**
 * `bytes`: the body's, held against the memory budget while it waits; `waitLimitMs`: how long its
 * deadline lets it wait, where no count bounds the gate's waiting room (decode-gate.ts)
 */
export async function decodeSlot (gate: DecodeGate, metrics: Metrics, policy: Policy, model: string, bytes = 0, waitLimitMs = Infinity): Promise<() => void> {
  const release = await gate.acquire(policy === 'latency' ? 'latency' : 'throughput', bytes, waitLimitMs)
  if (release !== null) return release
  metrics.rejected('', model, policy, 'decode-queue-full')
  throw withRetryAfter(new Overloaded('too many images waiting to be decoded'), 1)
}

/** Decodes and resizes one image for `model` while holding a decode slot (`decode`: where, e.g. the background decoder); how long it took. */
export async function decodeGated (gate: DecodeGate, metrics: Metrics, policy: Policy, model: Pick<ModelSpec, 'name' | 'input' | 'preprocess'>, bytes: Buffer, limits: ImageLimits, decode: typeof decodeImage = decodeImage, waitLimitMs = Infinity): Promise<{ image: PreparedImage, decodeMs: number }> {
  const release = await decodeSlot(gate, metrics, policy, model.name, bytes.length, waitLimitMs)
  const start = performance.now()
  try {
    const image = await decode(bytes, model, limits)
    return { image, decodeMs: performance.now() - start }
  } finally {
    release()
  }
}
