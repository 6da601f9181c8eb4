// The host's cores as one pool (fidelity): processor sharing, and what it does in the
// simulator — decoding and each request's fixed cost compete with the CPU device's batches.
import t from 'tap'
import { VirtualClock } from '../devices/clock.js'
import { CorePool } from './core-pool.js'
import { runScenario } from './engine.js'
import { fitCalibration, profileFromModels } from './profile.js'
import type { Scenario } from './scenario.js'

function finishes (cores: number, tasks: Array<{ at: number, ms: number, width: number }>): number[] {
  const clock = new VirtualClock(0)
  const pool = new CorePool(clock, cores)
  const out: number[] = tasks.map(() => NaN)
  tasks.forEach((x, i) => clock.setTimer(x.at, () => pool.run(x.ms, x.width, () => { out[i] = clock.now() })))
  while (clock.nextAt < Infinity) clock.step()
  return out.map((x) => Math.round(x * 1e6) / 1e6)
}

t.test('processor sharing: full speed while the tasks fit the cores, stretched alike beyond', async (t) => {
  t.same(finishes(2, [{ at: 0, ms: 10, width: 1 }, { at: 0, ms: 10, width: 1 }]), [10, 10], 'two tasks, two cores')
  t.same(finishes(1, [{ at: 0, ms: 10, width: 1 }, { at: 0, ms: 10, width: 1 }]), [20, 20], 'two tasks, one core: each at half speed')
  // a batch two cores wide and a decode on two cores: demand 3, each at 2/3 speed; the decode's
  // 4 ms take 6; then the batch has 10 − 4 = 6 ms left at full speed: 12
  t.same(finishes(2, [{ at: 0, ms: 10, width: 2 }, { at: 0, ms: 4, width: 1 }]), [12, 6])
  // a task arriving later slows the one running from then on: from 5 both at half speed, the
  // newcomer's 2 ms end at 9, the first one's 5 − 2 = 3 ms left then run alone: 12
  t.same(finishes(1, [{ at: 0, ms: 10, width: 1 }, { at: 5, ms: 2, width: 1 }]), [12, 9])
})

t.test('a cancelled task never finishes and stops taking cores', async (t) => {
  const clock = new VirtualClock(0)
  const pool = new CorePool(clock, 1)
  let a = NaN; let b = NaN
  const h = pool.run(10, 1, () => { a = clock.now() })
  pool.run(10, 1, () => { b = clock.now() })
  clock.setTimer(4, () => pool.cancel(h)) // both at half speed until 4: b has 8 left, alone
  while (clock.nextAt < Infinity) clock.step()
  t.ok(Number.isNaN(a))
  t.equal(b, 12)
})

const MODEL = 'm'
const cpuOnly = (sharedCores: boolean, requestMs = 0): Scenario => ({
  name: 'cpu', description: '', seed: 3, durationS: 60, load: 0, sweep: [], sweepS: 60,
  host: { slots: 4, bulkSlots: 2, maxWaiting: 64, decodeMs: { [MODEL]: 10 }, jitter: 0, source: 'test', cores: 2, sharedCores, requestMs },
  // one batch takes both cores (2 intra-op threads), as on the 2-core machine here
  devices: [{ id: 'cpu', kind: 'cpu', workers: 2, latencyWorkers: 1, threads: 2, models: { [MODEL]: { a: 0, b: 15, maxBatchSize: 8, jitter: 0 } } }],
  sources: { cpu: 'test' },
  traffic: [{ model: MODEL, policy: 'throughput', share: 0.9, deadlineMs: 30_000 }, { model: MODEL, policy: 'latency', share: 0.1, deadlineMs: 10_000 }],
  arrivals: { kind: 'poisson' }, events: [], slo: { latency: 100, throughput: 2000 }, strategies: ['switchyard']
})

t.test('shared cores: decoding competes with CPU inference, and every request pays its fixed cost', async (t) => {
  const apart = runScenario(cpuOnly(false), { strategy: 'switchyard', ratePerS: 40, durationMs: 60_000 })
  const shared = runScenario(cpuOnly(true), { strategy: 'switchyard', ratePerS: 40, durationMs: 60_000 })
  const la = apart.byPolicy.latency!; const ls = shared.byPolicy.latency!
  t.ok(ls.p50 > la.p50 * 1.2, `latency class p50 ${ls.p50.toFixed(1)} ms on shared cores > ${la.p50.toFixed(1)} ms with decoding apart`)
  t.ok(shared.byPolicy.throughput!.p99 > apart.byPolicy.throughput!.p99, 'bulk work slows too')
  // at a trickle nothing overlaps: the fixed cost adds itself to every answer
  const slow = runScenario(cpuOnly(false), { strategy: 'switchyard', ratePerS: 0.5, durationMs: 60_000 })
  const fixed = runScenario(cpuOnly(false, 7), { strategy: 'switchyard', ratePerS: 0.5, durationMs: 60_000 })
  t.ok(Math.abs(fixed.byPolicy.throughput!.p50 - slow.byPolicy.throughput!.p50 - 7) < 0.5, `+7 ms (${(fixed.byPolicy.throughput!.p50 - slow.byPolicy.throughput!.p50).toFixed(2)})`)
  t.equal(fixed.byPolicy.throughput!.unfinished + fixed.byPolicy.latency!.unfinished, 0, 'every request answered')
})

t.test('the fixed cost is each request\'s own work on the shared cores, not a queue on one thread', async (t) => {
  // 80 req/s × 15 ms = 1.2 s of fixed cost per second: more than one thread could do, well
  // within two cores beside 2 ms decodes and 2 ms images. One at a time on one (stretched)
  // core, the requests would queue without end and the latency class would wait seconds.
  const light = (): Scenario => {
    const s = cpuOnly(true, 15)
    return { ...s, host: { ...s.host, decodeMs: { [MODEL]: 2 } }, devices: [{ ...s.devices[0]!, models: { [MODEL]: { a: 0, b: 2, maxBatchSize: 8, jitter: 0 } } }] }
  }
  const r = runScenario(light(), { strategy: 'switchyard', ratePerS: 80, durationMs: 60_000 })
  const l = r.byPolicy.latency!
  t.equal(l.rejected + r.byPolicy.throughput!.rejected, 0, 'nothing refused')
  t.ok(l.p99 < 1000, `latency-class p99 ${l.p99.toFixed(1)} ms: the fixed cost, a decode and an image, stretched by sharing, not seconds of queue`)
  t.equal(l.unfinished + r.byPolicy.throughput!.unfinished, 0, 'every request answered')
})

t.test('the profile keeps the startup calibration\'s fit beside the fitted cost, and the threads', async (t) => {
  t.same(fitCalibration([{ batchSize: 1, ms: 12 }, { batchSize: 2, ms: 22 }, { batchSize: 4, ms: 42 }]), { a: 2, b: 10 })
  t.same(fitCalibration([{ batchSize: 1, ms: 9 }]), { a: 0, b: 9 })
  t.equal(fitCalibration([]), undefined)
  const p = profileFromModels({ models: [{ name: 'a', devices: [{ id: 'cpu', kind: 'cpu', workers: 2, maxBatchSize: 8, batchDelayMs: { latency: 0, throughput: 5 }, queue: { max: 256 }, cost: { aMs: 1, bMs: 20, samples: 40 }, calibration: [{ batchSize: 1, ms: 12 }, { batchSize: 2, ms: 22 }] }] }] }, { name: 'x', source: 'measured: test', threads: { cpu: 2 } })
  t.match(p.devices[0], { threads: 2, models: { a: { a: 1, b: 20, calibrated: { a: 2, b: 10 } } } })
})

t.test('the load client\'s CPU per request (fidelity) occupies the shared cores beside the request, off its path', async (t) => {
  // a trickle (nothing overlaps but a request's own tasks), one core: a request's 10 ms of
  // client CPU, charged as it arrives, shares the core with its 10 ms decode, which then ends
  // at 20 ms, not 10; on two cores the client has a core of its own and costs no time
  const trickle = (cores: number, clientCpuMs?: Record<string, number>, sharedCores = true): Scenario => {
    const s = cpuOnly(sharedCores)
    return { ...s, host: { ...s.host, cores, ...(clientCpuMs ? { clientCpuMs } : {}) }, devices: [{ ...s.devices[0]!, threads: 1 }] }
  }
  const run = (s: Scenario): number => runScenario(s, { strategy: 'switchyard', ratePerS: 0.5, durationMs: 60_000 }).byPolicy.throughput!.p50
  const base = run(trickle(1))
  t.ok(Math.abs(run(trickle(1, { [MODEL]: 10 })) - base - 10) < 0.5, `one core: +10 ms (${(run(trickle(1, { [MODEL]: 10 })) - base).toFixed(2)})`)
  t.ok(Math.abs(run(trickle(1, { [MODEL]: 4 })) - base - 4) < 0.5, 'one core, 4 ms of client CPU: +4 ms')
  t.equal(run(trickle(1, { other: 10 })), base, 'charged per request by its model: none for a model the client did not measure')
  t.equal(run(trickle(2, { [MODEL]: 10 })), run(trickle(2)), 'two cores: the client\'s CPU on the free core, off the request\'s path')
  t.equal(run(trickle(1, { [MODEL]: 10 }, false)), run(trickle(1, undefined, false)), 'no shared cores: nothing to charge it to')
  // under load it takes cores from decoding and inference: 40 req/s × 10 ms = 0.4 of a core more
  const load = (clientCpuMs?: Record<string, number>): number => runScenario(trickle(2, clientCpuMs), { strategy: 'switchyard', ratePerS: 40, durationMs: 60_000 }).byPolicy.latency!.p99
  t.ok(load({ [MODEL]: 10 }) > load() * 1.1, `latency-class p99 at 40 req/s ${load({ [MODEL]: 10 }).toFixed(1)} ms with the client's CPU > ${load().toFixed(1)} ms without`)
})
