// burstFit: a burst's excess over the fleet's capacity and how long it takes to drain, against
// the throughput deadline (issue 17's burst target).
import t from 'tap'
import { burstFit } from './burst-fit.js'
import { seededRandom } from './simulated-executor.js'

t.test('3× for 4 s every 20 s at 80 % of capacity: 5.6 s of excess work, drained in 9.3 s', async (t) => {
  // h = 2.4 C for 4 s: 1.4 C beyond capacity; between bursts l = (0.8·20 − 2.4·4) / 16 = 0.4 C
  const f = burstFit({ kind: 'bursty', factor: 3, burstS: 4, periodS: 20 }, 100, 0.8, 30)!
  t.equal(Math.round(f.excess), 560, '560 requests beyond what 100 req/s serves in 4 s')
  t.equal(Math.round(f.drainS * 100) / 100, 9.33, 'drained at 60 req/s spare')
  t.ok(f.fits, 'within a 30 s deadline')
  t.notOk(burstFit({ kind: 'bursty', factor: 3, burstS: 4, periodS: 20 }, 100, 0.8, 5)!.fits, 'not within 5 s')
})

t.test('a burst under capacity brings no excess and fits', async (t) => {
  t.same(burstFit({ kind: 'bursty', factor: 2, burstS: 3, periodS: 12 }, 100, 0.4, 5), { excess: 0, drainS: 0, fits: true })
})

t.test('Poisson arrivals have no bursts', async (t) => {
  t.equal(burstFit({ kind: 'poisson' }, 100, 0.8, 5), null)
})

t.test('below capacity every burst drains before the next one starts', async (t) => {
  const r = seededRandom(5)
  for (let i = 0; i < 1000; i++) {
    const factor = 1.5 + 1.5 * r(); const burstS = 2 + 4 * r(); const periodS = factor * burstS * (1.5 + 1.5 * r())
    const f = burstFit({ kind: 'bursty', factor, burstS, periodS }, 100, 0.2 + 0.79 * r(), Infinity)!
    if (!(f.drainS <= periodS - burstS + 1e-9)) t.fail(`drain ${f.drainS} s past the ${periodS - burstS} s before the next burst`)
  }
  t.pass('1,000 draws')
})
