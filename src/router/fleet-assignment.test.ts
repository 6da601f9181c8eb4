// The fleet's best split of the offered models over its devices, and the prices of the devices'
// time (fleet-assignment.ts): small fleets whose answers can be worked out by hand.
import t from 'tap'
import { assign } from './fleet-assignment.js'

const near = (x: number, y: number, tol = 2e-3): boolean => Math.abs(x - y) <= tol

t.test('two devices whose advantages cross: each model goes where it is relatively best', async (t) => {
  // A runs m1 in 1 ms and m2 in 2; B the other way round. 0.6 items per ms of m1, 0.4 of m2: m1 on
  // A, m2 on B, and A would be busier, so a fifteenth of m1 moves to B (0.6 − x = 0.4 + 2x,
  // x = 1/15): both devices 8/15 busy. Mixing the models the other way would cost twice the time.
  const a = assign({ rates: [0.6, 0.4], cost: [[1, 2], [2, 1]], workers: [1, 1] })
  t.ok(near(a.utilization, 8 / 15), `u* ${a.utilization}`)
  t.ok(near(a.share[0]![1]!, (1 / 15) / 0.6) && near(a.share[1]![1]!, 1), `m1 mostly on A, m2 on B: ${JSON.stringify(a.share)}`)
  // m1 runs on both, so a ms of A is worth two of B (A does an m1 item in half B's time), and
  // 0.6·v1 + 0.4·v2 = 1 with v1 = p_A, v2 = p_B: p_B = 1 / 1.6, p_A = 2 / 1.6
  t.ok(near(a.price[0]!, 1.25) && near(a.price[1]!, 0.625), `prices ${a.price}`)
})

t.test('one device best at everything: its time is the scarce one', async (t) => {
  // A serves either model at 1 ms an item, B at 4: together 1.25 items per ms; 1 offered: u* 0.8.
  // A ms more of A serves one item more, of B a quarter: p = 1 and 0.25.
  const a = assign({ rates: [0.5, 0.5], cost: [[1, 4], [1, 4]], workers: [1, 1] })
  t.ok(near(a.utilization, 0.8), `u* ${a.utilization}`)
  t.ok(near(a.price[0]!, 1) && near(a.price[1]!, 0.25), `prices ${a.price}`)
})

t.test('a price is what one more ms of the device adds to the fleet\'s scale', async (t) => {
  // three devices, two models, costs with no symmetry: the dual against a finite difference
  const inp = { rates: [0.3, 0.2], cost: [[1.3, 2.1, 9], [2.6, 1.7, 7]], workers: [1, 1, 3] }
  const a = assign(inp)
  for (let d = 0; d < 3; d++) {
    const workers = inp.workers.map((w, i) => (i === d ? w + 0.01 : w))
    const b = assign({ ...inp, workers })
    const dt = (1 / b.utilization - 1 / a.utilization) / 0.01
    t.ok(near(a.price[d]!, dt, 5e-3), `device ${d}: dual ${a.price[d]} against Δt/ΔW ${dt}`)
  }
  const total = a.share.map((s) => s.reduce((x, y) => x + y, 0))
  t.ok(total.every((x) => near(x, 1, 1e-9)), `each model served whole: ${total}`)
})

t.test('edges: nothing offered, a model nobody serves, a device with no workers', async (t) => {
  t.equal(assign({ rates: [0, 0], cost: [[1], [1]], workers: [1] }).utilization, 0, 'nothing offered: 0')
  t.equal(assign({ rates: [0.1, 0.1], cost: [[1], [Infinity]], workers: [1] }).utilization, Infinity, 'm2 has no device: Infinity')
  const a = assign({ rates: [0.5], cost: [[1, 1]], workers: [1, 0] })
  t.ok(near(a.utilization, 0.5) && a.share[0]![1] === 0, 'the device with no worker gets nothing')
})
