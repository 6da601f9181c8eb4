// Service time of one batch on one (device, model): t(n) = a + b·n milliseconds.
//
//   a  fixed cost of a run: kernel launches, tensor set-up, thread hand-off (large on a GPU)
//   b  marginal cost of one more image in the batch (large on a CPU)
//
// Fitted by ordinary least squares over a sliding window of executed batches (n_i, t_i):
//   b = Σ(n−n̄)(t−t̄) / Σ(n−n̄)²,   a = t̄ − b·n̄
// Seeded at startup from a calibration run of the real model at n = 1, 2, 4, …, max batch,
// then refitted from every batch the device executes, so it follows contention and warm-up.
// When the window holds one batch size only (e.g. all traffic at n = 1) the slope cannot be
// fitted; the last fitted slope is kept and the intercept moves to match the observed mean.
// Both parameters are kept non-negative: a negative cost would let the router promise
// the impossible. The fit is constrained, not clamped: where the intercept comes out negative
// (fast small batches beside slow large ones, or one size in the window under a kept slope
// steeper than t̄ / n̄), the least-squares line with a ≥ 0 is the one through the origin,
// b = Σn·t / Σn² (with one size n̄, b = t̄ / n̄: t(n̄) is the observed mean); a negative slope
// gives b = 0, a = t̄.
//
// Drift: a window of 128 batches follows a device that suddenly slows down (thermal
// throttling, a noisy neighbour, a GPU shared with another job) or recovers only as the window
// turns over — seconds of promises off by the slowdown factor. Beside the fit, an exponentially
// weighted mean of actual / predicted over the last batches (weight DRIFT_WEIGHT each, so
// about five batches of memory) says how far the fit is off right now:
//   drift ← drift + w·(t_observed / t_fit(n) − drift)        before the batch is fitted in
// Outside a dead band (|drift − 1| > DRIFT_BAND: batch-time jitter stays inside it), a and b
// are scaled by drift; as the window absorbs the new speed, the ratio returns to 1 by itself.

export class CostModel {
  private readonly n: Float64Array
  private readonly t: Float64Array
  private size = 0
  private next = 0
  /** the least-squares fit over the window */
  private fitA = 0
  private fitB = 0
  private drift = 1
  /** drift, where it is outside the dead band; else 1 */
  private scale = 1

  constructor (readonly window: number) {
    this.n = new Float64Array(window)
    this.t = new Float64Array(window)
  }

  /** Records one executed batch of `batchSize` items that took `ms`, and refits. */
  observe (batchSize: number, ms: number): void {
    if (this.size >= DRIFT_MIN_SAMPLES) {
      const fit = this.fitA + this.fitB * batchSize
      if (fit > 0) {
        this.drift += DRIFT_WEIGHT * (ms / fit - this.drift)
        this.scale = Math.abs(this.drift - 1) > DRIFT_BAND ? this.drift : 1
      }
    }
    this.n[this.next] = batchSize
    this.t[this.next] = ms
    this.next = (this.next + 1) % this.window
    if (this.size < this.window) this.size++
    this.fit()
  }

  /** fixed cost of a run, ms (the fit, scaled by drift) */
  get a (): number { return this.fitA * this.scale }
  /** marginal cost of one more image, ms (the fit, scaled by drift) */
  get b (): number { return this.fitB * this.scale }

  /** how far the fit is off now: recent actual / predicted (1 inside the dead band) */
  get driftFactor (): number { return this.scale }

  /** Predicted ms to run a batch of n. */
  predict (n: number): number {
    return this.a + this.b * n
  }

  /** Items per ms at batch size n. */
  throughput (n: number): number {
    const t = this.predict(n)
    return t > 0 ? n / t : Infinity
  }

  get samples (): number {
    return this.size
  }

  /**
   * The spread of batch times around the fit over the window, as the ± fraction of a uniform
   * jitter with the same mean |actual − fit| / fit (uniform on ±j has mean |x| = j/2), at most 1;
   * 0 before two batches. What a replay of this device draws its batch times with
   * (src/sim/learned-replay.ts): computed when asked, off the hot path.
   */
  get spread (): number {
    const k = this.size
    if (k < 2) return 0
    let sum = 0
    for (let i = 0; i < k; i++) {
      const fit = this.fitA + this.fitB * this.n[i]!
      if (fit > 0) sum += Math.abs(this.t[i]! - fit) / fit
    }
    return Math.min(1, 2 * sum / k)
  }

  private fit (): void {
    const k = this.size
    let sn = 0; let st = 0
    for (let i = 0; i < k; i++) { sn += this.n[i]!; st += this.t[i]! }
    const mn = sn / k; const mt = st / k
    let sxx = 0; let sxy = 0
    for (let i = 0; i < k; i++) {
      const dn = this.n[i]! - mn
      sxx += dn * dn
      sxy += dn * (this.t[i]! - mt)
    }
    if (sxx > 0) this.fitB = Math.max(0, sxy / sxx)
    else if (this.fitB === 0) this.fitB = mt / mn / 2 // one size seen, nothing fitted yet: split evenly
    this.fitA = mt - this.fitB * mn
    if (this.fitA < 0) {
      // the least-squares line with a ≥ 0 lies on a = 0: through the origin, b = Σn·t / Σn²
      // (clamping a alone would keep the steeper slope, fitted or kept, and over-predict every size)
      let snn = 0; let snt = 0
      for (let i = 0; i < k; i++) { snn += this.n[i]! * this.n[i]!; snt += this.n[i]! * this.t[i]! }
      this.fitB = snt / snn
    }
    this.fitA = Math.max(0, this.fitA)
  }
}

/** drift's weight per batch, the dead band around 1, and the samples before it is tracked */
const DRIFT_WEIGHT = 0.25
const DRIFT_BAND = 0.2
const DRIFT_MIN_SAMPLES = 8
