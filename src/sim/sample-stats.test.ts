// The profile step's statistic (sample-stats.ts): a median with its spread, robust to the odd
// slow request, and a sampler that takes more samples until the median is known to ±5 %.
import t from 'tap'
import { describe, medianCiRanks, precise, sampleUntilPrecise, summarize } from './sample-stats.js'

const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i)

t.test('median, quartiles and trimmed mean', async (t) => {
  t.equal(summarize([3, 1, 2]).median, 2)
  t.equal(summarize([4, 1, 3, 2]).median, 2.5, 'even count: the mean of the middle two')
  const s = summarize(range(20))
  t.equal(s.q1, 5)
  t.equal(s.q3, 15)
  t.equal(s.trimmedMean, 10.5, '10 % cut off at each end: 3..18')
  t.equal(summarize([]).n, 0)
  t.ok(Number.isNaN(summarize([]).median))
})

t.test('one slow request among twenty moves the median not at all and the mean by half', async (t) => {
  const steady = Array.from({ length: 20 }, (_, i) => 18 + (i % 5) * 0.5) // 18–20 ms
  const slow = [...steady.slice(0, 19), 400]
  t.equal(summarize(slow).median, summarize(steady).median)
  t.equal(summarize(slow).trimmedMean, summarize(steady).trimmedMean, 'the trimmed mean drops it too')
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
  t.ok(mean(slow) > 1.9 * mean(steady), 'where the plain mean would be off by ~100 %')
})

t.test('the median\'s 95 % interval: order statistics, no distribution assumed', async (t) => {
  t.same(medianCiRanks(20), [5, 16], 'n = 20: the 5th and 16th values (the textbook ranks)')
  t.same(medianCiRanks(100), [40, 61])
  t.same(medianCiRanks(3), [1, 3], 'clamped to the sample')
  const s = summarize(range(20))
  t.equal(s.ciLow, 5)
  t.equal(s.ciHigh, 16)
  t.equal(s.relHalfWidth, (16 - 10.5) / 10.5, 'the larger side, relative to the median')
})

t.test('the interval narrows as samples are added; precise() says when it is within the target', async (t) => {
  // values spread ±10 % around 20 ms, in a fixed repeating order
  const spread = (n: number) => Array.from({ length: n }, (_, i) => 18 + ((i * 7) % 41) / 10)
  const w20 = summarize(spread(20)).relHalfWidth
  const w200 = summarize(spread(200)).relHalfWidth
  t.ok(w20 > 0.05, `20 samples: ±${(w20 * 100).toFixed(1)} %, not within ±5 %`)
  t.ok(w200 < 0.05, `200 samples: ±${(w200 * 100).toFixed(1)} %`)
  t.notOk(precise(summarize(spread(20)), 0.05))
  t.ok(precise(summarize(spread(200)), 0.05))
  t.notOk(precise(summarize([]), 0.05), 'nothing measured is not precise')
  t.ok(precise(summarize([0, 0, 0]), 0.05), 'all zero: exactly zero')
})

t.test('the spread as the profile\'s source writes it', async (t) => {
  t.equal(describe(summarize(range(20))), '10.5 ms (median of 20; IQR 5.00–15.0 ms; 95 % CI of the median ±52.4 %)')
  t.equal(describe(summarize([])), 'no samples')
})

t.test('sampling: warm-up discarded, at least min, more until within the target, at most max', async (t) => {
  const plan = { warmup: 3, min: 10, max: 200, target: 0.05 }
  // a steady server: every sample 20 ms; stops at min
  const steady: number[] = []; let warm = 0; let warmedAt = -1
  const n = await sampleUntilPrecise(plan, async (keep) => { if (keep) steady.push(20); else warm++ }, () => [summarize(steady)], async () => { warmedAt = steady.length })
  t.equal(warm, 3, 'three warm-up samples, discarded')
  t.equal(warmedAt, 0, 'afterWarmup runs before the first kept sample')
  t.equal(n, 10)
  t.equal(steady.length, 10)
  // a noisy one: ±10 % around 20 ms; keeps sampling until ±5 %, well past min, short of max
  const noisy: number[] = []
  const m = await sampleUntilPrecise(plan, async (keep) => { if (keep) noisy.push(18 + ((noisy.length * 7) % 41) / 10) }, () => [summarize(noisy)])
  t.ok(m > 20 && m < 200, `${m} samples`)
  t.ok(precise(summarize(noisy), 0.05))
  t.notOk(precise(summarize(noisy.slice(0, m - 1)), 0.05), 'and no more than needed')
  // every watched summary must be precise: one that never is runs to max
  const k = await sampleUntilPrecise({ ...plan, max: 50 }, async () => {}, () => [summarize([20]), summarize([])])
  t.equal(k, 50, 'capped')
})

t.test('the command line\'s sampling options: defaults enough for ±5 %, bad values refused', async (t) => {
  const { samplingArgs } = await import('./cli.js')
  t.same(samplingArgs({}), { samples: 40, maxSamples: 400, precision: 0.05, warmup: 200 })
  t.same(samplingArgs({ 'profile-samples': '10', 'profile-warmup': '0' }), { samples: 10, maxSamples: 100, precision: 0.05, warmup: 0 }, 'at most 10× the samples asked for')
  t.same(samplingArgs({ 'profile-samples': '10', 'profile-max-samples': '10', 'profile-precision': '0.1' }), { samples: 10, maxSamples: 10, precision: 0.1, warmup: 200 })
  t.throws(() => samplingArgs({ 'profile-samples': '0' }), /--profile-samples: a whole number ≥ 1/)
  t.throws(() => samplingArgs({ 'profile-samples': '20', 'profile-max-samples': '10' }), /--profile-max-samples: a whole number ≥ 20/)
  t.throws(() => samplingArgs({ 'profile-precision': '5' }), /--profile-precision: a fraction/)
})
