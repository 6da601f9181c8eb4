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
// the impossible.

export class CostModel {
  private readonly n: Float64Array
  private readonly t: Float64Array
  private size = 0
  private next = 0
  a = 0
  b = 0

  constructor (readonly window: number) {
    this.n = new Float64Array(window)
    this.t = new Float64Array(window)
  }

  /** Records one executed batch of `batchSize` items that took `ms`, and refits. */
  observe (batchSize: number, ms: number): void {
    this.n[this.next] = batchSize
    this.t[this.next] = ms
    this.next = (this.next + 1) % this.window
    if (this.size < this.window) this.size++
    this.fit()
  }

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
    if (sxx > 0) this.b = Math.max(0, sxy / sxx)
    else if (this.b === 0) this.b = mt / mn / 2 // one size seen, nothing fitted yet: split evenly
    this.a = Math.max(0, mt - this.b * mn)
  }
}
