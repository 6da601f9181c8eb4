// A robust summary of a measured sample (the profile step's decode ms and fixed cost per
// request): the median, with its spread — the interquartile range and a distribution-free 95 %
// confidence interval of the median from order statistics — and a sampler that keeps taking
// samples until that interval is within a target (±5 %: a profile steady enough that the
// fidelity check does not move with it), or a cap is reached.

export interface SampleSummary {
  n: number
  median: number
  /** mean of the middle values, `trim` of the sample cut off at each end */
  trimmedMean: number
  /** first and third quartiles (nearest rank) */
  q1: number
  q3: number
  /** 95 % confidence interval of the median: order statistics, no distribution assumed */
  ciLow: number
  ciHigh: number
  /** the interval's larger side relative to the median (Infinity when the median is 0) */
  relHalfWidth: number
}

/** 1-based ranks of the order statistics bounding a 95 % confidence interval of the median of n values. */
export function medianCiRanks (n: number, z = 1.96): [number, number] {
  const h = z * Math.sqrt(n) / 2
  return [Math.max(1, Math.floor(n / 2 - h)), Math.min(n, Math.ceil(1 + n / 2 + h))]
}

export function summarize (xs: readonly number[], trim = 0.1): SampleSummary {
  const n = xs.length
  if (n === 0) return { n: 0, median: NaN, trimmedMean: NaN, q1: NaN, q3: NaN, ciLow: NaN, ciHigh: NaN, relHalfWidth: Infinity }
  const a = Float64Array.from(xs).sort()
  const median = n % 2 === 1 ? a[(n - 1) / 2]! : (a[n / 2 - 1]! + a[n / 2]!) / 2
  const rank = (q: number): number => a[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!
  const cut = Math.floor(n * trim)
  let sum = 0
  for (let i = cut; i < n - cut; i++) sum += a[i]!
  const [lo, hi] = medianCiRanks(n)
  const ciLow = a[lo - 1]!; const ciHigh = a[hi - 1]!
  const side = Math.max(median - ciLow, ciHigh - median)
  return { n, median, trimmedMean: sum / (n - 2 * cut), q1: rank(0.25), q3: rank(0.75), ciLow, ciHigh, relHalfWidth: median !== 0 ? side / Math.abs(median) : (side === 0 ? 0 : Infinity) }
}

/** Whether the median is known to within ±target (the 95 % interval's larger side). */
export function precise (s: SampleSummary, target: number): boolean {
  return s.n > 0 && s.relHalfWidth <= target
}

const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2))

/** "18.5 ms (median of 60; IQR 17.9–19.3 ms; 95 % CI of the median ±2.1 %)" */
export function describe (s: SampleSummary, unit = 'ms'): string {
  if (s.n === 0) return 'no samples'
  const ci = Number.isFinite(s.relHalfWidth) ? `±${(s.relHalfWidth * 100).toFixed(1)} %` : `${fmt(s.ciLow)}–${fmt(s.ciHigh)} ${unit}`
  return `${fmt(s.median)} ${unit} (median of ${s.n}; IQR ${fmt(s.q1)}–${fmt(s.q3)} ${unit}; 95 % CI of the median ${ci})`
}

export interface SamplingPlan {
  /** samples taken and discarded first (connections, first-use allocations, caches) */
  warmup: number
  /** samples at least */
  min: number
  /** samples at most, precise or not */
  max: number
  /** stop once every watched median is within ±target (e.g. 0.05) */
  target: number
}

/**
 * Takes `plan.warmup` samples and throws them away (`take(false)`), calls `afterWarmup`, then samples (`take(true)`)
 * until at least `min` are kept and every summary `watched()` returns is precise to
 * ±target, or `max` are kept. Answers the samples kept.
 */
export async function sampleUntilPrecise (plan: SamplingPlan, take: (keep: boolean) => Promise<void>, watched: () => SampleSummary[], afterWarmup?: () => Promise<void>): Promise<number> {
  for (let i = 0; i < plan.warmup; i++) await take(false)
  if (afterWarmup !== undefined) await afterWarmup()
  let n = 0
  while (n < plan.max && (n < plan.min || !watched().every((s) => precise(s, plan.target)))) {
    await take(true)
    n++
  }
  return n
}
