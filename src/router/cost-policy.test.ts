// The cost policy on the pure router (router.ts, price.ts): among the devices that can finish
// in time, the lowest predicted cost per inference, price_per_ms · t(n) / n. Two CPU profiles
// of different configured price stand in for two devices, as in routing.test.ts: a cheap
// 1-thread pool without batching and a dearer 2-thread pool batching up to 8. Thousands of
// generated queue states (fixed seed: the same states every run) check the choice exactly.
import fc from 'fast-check'
import t from 'tap'
import { CostModel } from '../devices/cost-model.js'
import { DEFAULT_PRICES, costPerInference, priceOf } from './price.js'
import { predict, route, type DeviceView, type LaneView } from './router.js'

interface Profile { id: string, a: number, b: number, max: number, workers: number, pricePerHour: number }
interface State { residual: number, latencyQ: number, bulkQ: number }

// per-image costs like the int8 classifier's on this machine (bench/results/variants.md)
const CHEAP: Profile = { id: 'cpu-small', a: 0.4, b: 10.7, max: 1, workers: 1, pricePerHour: 0.085 }
const DEAR: Profile = { id: 'cpu-large', a: 1, b: 6, max: 8, workers: 2, pricePerHour: 0.17 }

function view (p: Profile, s: State): DeviceView {
  const cost = new CostModel(8)
  cost.observe(1, p.a + p.b); cost.observe(2, p.a + 2 * p.b)
  const latency = { length: s.latencyQ }
  const throughput = { length: s.bulkQ }
  const lane: LaneView = {
    model: 'm', maxBatchSize: p.max, maxQueue: 100_000, delayMs: { latency: 0, throughput: 5 },
    queue: { latency, throughput, size: latency.length + throughput.length }, inFlight: 0, cost, variant: 'int8'
  }
  const workers = Array.from({ length: p.workers }, (_, i) => ({ alive: true, takesThroughput: true, busyUntil: i === 0 ? s.residual : 0 }))
  return { id: p.id, healthy: true, workers, lanes: new Map([['m', lane]]), config: { kind: 'cpu', pricePerHour: p.pricePerHour } }
}

/** cost per inference computed here from the profile, not by price.ts */
const expectedCost = (p: Profile, s: State): number => {
  const n = Math.min(p.max, s.bulkQ + 1)
  return p.pricePerHour / 3_600_000 * (p.a + p.b * n) / n
}

const state = fc.record({ residual: fc.integer({ min: 0, max: 150 }), latencyQ: fc.integer({ min: 0, max: 12 }), bulkQ: fc.integer({ min: 0, max: 40 }) })
const scenarios = fc.sample(fc.record({ cheap: state, dear: state, deadlineMs: fc.integer({ min: 5, max: 400 }) }), { seed: 20261127, numRuns: 5000 })

t.test('cost: ≥ 90 % of what both can finish in time goes to the cheaper device, nothing it cannot finish does', async (t) => {
  let none = 0; let both = 0; let bothToCheap = 0; let cheapLate = 0; let cheapLateToCheap = 0; let wrong = 0
  for (const s of scenarios) {
    const cheap = view(CHEAP, s.cheap)
    const dear = view(DEAR, s.dear)
    const meets = (d: DeviceView): boolean => predict(d, d.lanes.get('m')!, 'cost', 0).finishMs <= s.deadlineMs
    const d = route([dear, cheap], { model: 'm', policy: 'cost', deadlineMs: s.deadlineMs }, 0)
    const ok = [cheap, dear].filter(meets)
    if (ok.length === 0) { if (d.ok) wrong++; none++; continue }
    const best = ok.reduce((x, y) => expectedCost(y === cheap ? CHEAP : DEAR, y === cheap ? s.cheap : s.dear) < expectedCost(x === cheap ? CHEAP : DEAR, x === cheap ? s.cheap : s.dear) ? y : x)
    if (!d.ok || d.device !== best.id || d.reason !== 'lowest-cost') wrong++
    if (ok.length === 2) { both++; if (d.ok && d.device === CHEAP.id) bothToCheap++ }
    if (!meets(cheap)) { cheapLate++; if (d.ok && d.device === CHEAP.id) cheapLateToCheap++ }
  }
  t.equal(wrong, 0, `every choice is the lowest cost per inference among the devices in time (and the ${none} states where none is: refused)`)
  t.ok(both > 500 && cheapLate > 500, `both in time: ${both} states; only the dearer in time: ${cheapLate}`)
  t.ok(bothToCheap / both >= 0.9, `${bothToCheap}/${both} of the requests both can finish in time go to the cheaper device`)
  t.equal(cheapLateToCheap, 0, `none of the ${cheapLate} it cannot finish in time`)
})

t.test('cost per inference is price per ms × t(n) / n, for the batch the request joins', async (t) => {
  const s = { residual: 0, latencyQ: 0, bulkQ: 7 }
  const lane = view(DEAR, s).lanes.get('m')!
  t.ok(Math.abs(costPerInference({ kind: 'cpu', pricePerHour: 0.17 }, lane, 'cost') - 0.17 / 3_600_000 * (1 + 6 * 8) / 8) < 1e-15, 'a full batch of 8')
  t.ok(Math.abs(costPerInference({ kind: 'cpu', pricePerHour: 0.17 }, lane, 'latency') - 0.17 / 3_600_000 * 7) < 1e-15, 'latency: a batch of one')
  t.equal(costPerInference(undefined, lane, 'cost'), 0, 'a device without a price is free')
  // batching can make the dearer device the cheaper one per inference: a 100 ms fixed cost
  // shared by 8 images beats a 50 ms one paid by each alone at half the price
  const batchy: Profile = { id: 'batchy', a: 100, b: 1, max: 8, workers: 1, pricePerHour: 2 }
  const single: Profile = { id: 'single', a: 50, b: 1, max: 1, workers: 1, pricePerHour: 1 }
  const full = { residual: 0, latencyQ: 0, bulkQ: 7 }
  t.match(route([view(single, full), view(batchy, full)], { model: 'm', policy: 'cost', deadlineMs: 10_000 }, 0), { ok: true, device: 'batchy' })
  t.match(route([view(single, full), view(batchy, { ...full, bulkQ: 0 })], { model: 'm', policy: 'cost', deadlineMs: 10_000 }, 0), { ok: true, device: 'single' })
})

t.test('prices: configured values win, defaults by kind otherwise', async (t) => {
  t.same(priceOf({ kind: 'cuda' }), DEFAULT_PRICES.cuda)
  t.same(priceOf({ kind: 'cpu', pricePerHour: 1, watts: { busy: 2, idle: 1 } }), { perHour: 1, watts: { busy: 2, idle: 1 } })
})

t.test('a variant request only considers lanes running that variant', async (t) => {
  const int8 = view(CHEAP, { residual: 0, latencyQ: 0, bulkQ: 0 })
  const fp32lane = { ...view(DEAR, { residual: 0, latencyQ: 0, bulkQ: 0 }).lanes.get('m')!, variant: 'fp32' }
  const fp32: DeviceView = { ...view(DEAR, { residual: 0, latencyQ: 0, bulkQ: 0 }), lanes: new Map([['m', fp32lane]]) }
  t.match(route([int8, fp32], { model: 'm', policy: 'cost', deadlineMs: 10_000, variant: 'fp32' }, 0), { ok: true, device: 'cpu-large' })
  t.match(route([int8, fp32], { model: 'm', policy: 'cost', deadlineMs: 10_000, variant: 'int8' }, 0), { ok: true, device: 'cpu-small' })
  t.match(route([int8, fp32], { model: 'm', policy: 'latency', deadlineMs: 10_000, variant: 'fp16' }, 0), { ok: false, reason: 'no-healthy-device' })
})
