// The rate at which riders drain a pool (rider-rate.ts): items per ms over about the last τ,
// an exponentially decaying count. Pure arithmetic on the times it is handed.
import t from 'tap'
import { RiderRate } from './rider-rate.js'

t.test('items that rode, per ms, decaying with e^(−Δ/τ)', async (t) => {
  const r = new RiderRate(1000)
  t.equal(r.perMs(0), 0, 'nothing rode: 0')
  r.add(10, 0)
  t.equal(r.perMs(0), 0.01, '10 items over τ = 1000 ms')
  t.ok(Math.abs(r.perMs(1000) - 0.01 * Math.exp(-1)) < 1e-12, 'a τ later: e⁻¹ of it')
  r.add(5, 1000)
  t.ok(Math.abs(r.perMs(1000) - (10 * Math.exp(-1) + 5) / 1000) < 1e-12, 'a later batch adds to what is left')
  r.add(0, 2000)
  t.ok(Math.abs(r.perMs(1000) - (10 * Math.exp(-1) + 5) / 1000) < 1e-12, 'adding nothing changes nothing')
  t.ok(r.perMs(60_000) < 1e-20, 'a minute without riders: none')
})
