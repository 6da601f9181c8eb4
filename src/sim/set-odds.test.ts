// What the held-out seeds say about a set not yet drawn (set-odds.ts): a seed counted as a report
// counts it, a set scored against issue 17's three targets, and the bootstrap's fractions.
import t from 'tap'
import { scoreSet, seedOutcome, setOdds, type SeedOutcome, type StoredSeed } from './set-odds.js'

const stored = (seed: number, verdicts: string, ratios: number[], ok: boolean): StoredSeed => ({
  seed,
  cells: [...verdicts].map((v, i) => ({ judgement: { verdict: v === 'L' ? 'loss' : v === 'W' ? 'win' : 'tie', worstRatio: ratios[i] ?? 0 } })),
  sustainableCheck: { ok }
})

t.test('a seed counts its cells not beaten and its cells over 2× as the report totals do', async (t) => {
  t.same(seedOutcome(stored(7, 'TWLTLW', [0, 0, 2.5, 0, 1.5, 0], false)), { seed: 7, cells: 6, notBeaten: 4, over2x: 1, sustainableOk: false })
  t.equal(seedOutcome(stored(8, 'L', [2], true)).over2x, 0, 'exactly 2× is not over it')
})

t.test('a set meets the share target at 95 %, the 2× target with no cell over, the sustainable target with no scenario failing', async (t) => {
  const good: SeedOutcome = { seed: 1, cells: 20, notBeaten: 19, over2x: 0, sustainableOk: true }
  t.same(scoreSet([good]), { notBeatenShare: 0.95, over2x: 0, sustainableFails: 0 })
  t.same(scoreSet([good, { seed: 2, cells: 20, notBeaten: 20, over2x: 1, sustainableOk: false }]), { notBeatenShare: 39 / 40, over2x: 1, sustainableFails: 1 })
})

t.test('drawn sets: a pool that always meets the targets always does; one bad seed in ten fails sets in proportion', async (t) => {
  const ok = (seed: number): SeedOutcome => ({ seed, cells: 6, notBeaten: 6, over2x: 0, sustainableOk: true })
  const perfect = setOdds([ok(1), ok(2)], 50, 200)
  t.same([perfect.notBeaten, perfect.noOver2x, perfect.allSustainable, perfect.all], [1, 1, 1, 1])
  t.same(perfect.share, { p5: 1, p50: 1, p95: 1 })
  // one seed in ten has a cell over 2× and half its cells lost: a set of n seeds has none with probability 0.9^n
  const pool = [...Array.from({ length: 9 }, (_, i) => ok(i + 1)), { seed: 10, cells: 6, notBeaten: 3, over2x: 1, sustainableOk: true }]
  const o = setOdds(pool, 10, 20_000, 3)
  t.ok(Math.abs(o.noOver2x - 0.9 ** 10) < 0.02, `0.9^10 = ${(0.9 ** 10).toFixed(3)}, drawn ${o.noOver2x}`)
  t.equal(o.allSustainable, 1)
  // the share is ≥ 95 % (57 of 60 cells) with at most one bad seed among ten: 0.9^10 + 10·0.1·0.9^9 (drawn sets are
  // deterministic, the tolerance is for the sample: its standard error is 0.003)
  t.ok(Math.abs(o.notBeaten - (0.9 ** 10 + 10 * 0.1 * 0.9 ** 9)) < 0.02, `${(0.9 ** 10 + 10 * 0.1 * 0.9 ** 9).toFixed(3)}, drawn ${o.notBeaten}`)
  t.equal(o.all, o.noOver2x, 'every set with no cell over 2× here meets the other two')
  t.same(setOdds(pool, 10, 500, 3), setOdds(pool, 10, 500, 3), 'the same seed draws the same sets')
})

t.test('an empty pool is an error, not a set that meets every target', async (t) => {
  t.throws(() => setOdds([], 50, 10), /empty pool/)
})
