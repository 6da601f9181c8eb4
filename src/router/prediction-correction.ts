// The pool's predicted finish, corrected by what came of the earlier ones. Pure state, no clock:
// the dispatcher feeds every answer of a pooled item back (its model prediction and the actual
// time), and the router multiplies the prediction it reports (X-Switchyard-Predicted-Ms) by the
// pool's recent mean of actual / predicted — learned from outcomes as the cost model is:
//
//   reported = F(P) · c_pool,   c_pool ← c_pool + α · (actual / F(P) − c_pool)   (α = max(ALPHA, 1/n))
//
// Why: F(P) assumes the pool drains at the devices' combined fluid rate, but an item admitted
// to the pool does not know which device will take it, nor what arrives meanwhile (later
// arrivals fill its batch; latency work jumps ahead). Those effects are steady under a steady
// load, so their mean is learnable where their cause per item is not. Only the reported value
// is corrected: admission (the deadline test) and the pull rule keep the model F(P), so routing
// is what it was. Keyed by the pool object (one per model variant): no allocation per answer.

/** weight of the newest answer once warmed up (≈ the last 50 answers) */
export const CORRECTION_ALPHA = 0.02
/** the factor stays within [1/MAX, MAX]: a prediction is never off by more than that from its model */
const MAX_FACTOR = 4

interface Ratio { mean: number, n: number }

export class PredictionCorrection {
  private readonly ratios = new WeakMap<object, Ratio>()

  constructor (private readonly alpha = CORRECTION_ALPHA) {}

  /** The factor for `key`'s predictions: 1 until an answer came back. */
  factor (key: object): number {
    const r = this.ratios.get(key)
    if (r === undefined) return 1
    return Math.min(MAX_FACTOR, Math.max(1 / MAX_FACTOR, r.mean))
  }

  /** One answer: the model's prediction (uncorrected) and the actual time, ms. */
  learn (key: object, modelMs: number, actualMs: number): void {
    if (!(modelMs > 0) || !(actualMs > 0) || !Number.isFinite(modelMs)) return
    const x = actualMs / modelMs
    const r = this.ratios.get(key)
    if (r === undefined) { this.ratios.set(key, { mean: x, n: 1 }); return }
    r.n++
    r.mean += Math.max(this.alpha, 1 / r.n) * (x - r.mean)
  }
}
