// The load client's CPU by rate and outcome: the line fitted to the profile step's bursts, and
// what the simulator charges at a rate (on a virtual clock: the host's core-ms, exactly).
import t from 'tap'
import { clientChargeAt, clientCpuPerRequest, fitClientCpu, type ClientCpuPoint } from './client-cpu.js'
import { runScenario } from './engine.js'
import { fidelityScenario, type FidelityOptions } from './fidelity.js'
import type { Profile } from './profile.js'
import { generate } from './workload.js'

// bursts as the profile step sends them, from a known line: 2 ms a request answered, 1.2 refused, 30 ms a second
const burst = (ratePerS: number, refused: boolean, line = { a: 2, r: 1.2, s: 30 }, durationS = 5): ClientCpuPoint => {
  const n = ratePerS * durationS
  return { ratePerS, durationS, answered: refused ? 0 : n, refused: refused ? n : 0, cpuMs: (refused ? line.r : line.a) * n + line.s * durationS }
}

t.test('the fit recovers the per-request costs of each outcome and the per-second part from bursts at several rates', async (t) => {
  const m = fitClientCpu([burst(21, false), burst(42, true), burst(42, false), burst(84, true)])
  t.same([m.answeredMs, m.refusedMs, m.perSecondMs], [2, 1.2, 30])
  t.equal(m.points.length, 4, 'the bursts kept in the profile')
  t.equal(clientCpuPerRequest(m, 50), 2 + 30 / 50, 'per request at 50 req/s, all answered')
  t.equal(clientCpuPerRequest(m, 100, 0.5), 0.5 * 2 + 0.5 * 1.2 + 30 / 100, 'at 100 req/s, half refused')
  t.ok(clientCpuPerRequest(m, 110) < clientCpuPerRequest(m, 80) && clientCpuPerRequest(m, 80) < clientCpuPerRequest(m, 50), 'falls with the rate')
})

t.test('the fit with what the bursts cannot tell apart: one rate, one outcome, a negative coefficient', async (t) => {
  const oneRate = fitClientCpu([burst(40, false), burst(40, true)])
  t.equal(oneRate.perSecondMs, 0, 'one rate: no per-second part (it cannot be told from the per-request one)')
  t.ok(oneRate.answeredMs > oneRate.refusedMs, 'the outcomes still apart')
  const answeredOnly = fitClientCpu([burst(20, false), burst(40, false)])
  t.same([answeredOnly.answeredMs, answeredOnly.refusedMs, answeredOnly.perSecondMs], [2, 2, 30], 'nothing refused: a refused request costs what an answered one does')
  // CPU per request rising with the rate would need a negative per-second part: fixed at 0, refitted
  const rising = fitClientCpu([{ ratePerS: 20, durationS: 5, answered: 100, refused: 0, cpuMs: 200 }, { ratePerS: 40, durationS: 5, answered: 200, refused: 0, cpuMs: 500 }])
  t.equal(rising.perSecondMs, 0)
  t.ok(rising.answeredMs > 2 && rising.answeredMs < 2.5, `one per-request cost (${rising.answeredMs} ms)`)
  t.throws(() => fitClientCpu([]), /at least one burst/)
})

t.test('the charge at a rate: the cheaper outcome and the per-second share at send, the rest with the answer', async (t) => {
  const m = { answeredMs: 2, refusedMs: 1.2, perSecondMs: 30, points: [] }
  const c = clientChargeAt(m, 60)
  t.equal(c.sendMs, 1.2 + 0.5)
  t.equal(c.refusedMs, 0)
  t.ok(Math.abs(c.answeredMs - 0.8) < 1e-12)
  t.ok(Math.abs(c.sendMs + c.answeredMs - clientCpuPerRequest(m, 60)) < 1e-12, 'an answered request pays the model\'s per-request cost')
  t.equal(clientChargeAt({ ...m, refusedMs: 3 }, 60).refusedMs, 1, 'a refusal dearer than an answer: the difference with the refusal')
})

// the simulator on a virtual clock: a CPU host whose cores every task shares; no jitter, so the
// host's core-ms are a sum of what was charged
const profile = (host: Partial<NonNullable<Profile['host']>> = {}): Profile => ({
  name: 'p',
  source: 'measured: test',
  host: { cores: 2, decodeMs: { m: 10 }, decodeJitter: 0, requestMs: 2, clientOnHost: true, ...host },
  devices: [{ id: 'cpu', kind: 'cpu', workers: 2, latencyWorkers: 1, threads: 2, models: { m: { a: 0, b: 15, maxBatchSize: 8, jitter: 0 } } }]
})
// the latency class's deadline (1 ms) refuses every one of its requests at admission
const opts = (p: Profile): Pick<FidelityOptions, 'profile' | 'model' | 'latencyShare' | 'deadlineMs' | 'decode' | 'seed' | 'clientOnHost'> =>
  ({ profile: p, model: 'm', latencyShare: 0.2, deadlineMs: { latency: 1, throughput: 30_000 }, decode: { slots: 4, bulkSlots: 2, maxWaiting: 64 }, seed: 1 })

t.test('the simulator charges the client by the model at the simulated rate and by each request\'s outcome', async (t) => {
  const model = { answeredMs: 2, refusedMs: 0.5, perSecondMs: 40, points: [] }
  for (const rate of [10, 20]) {
    const traffic = fidelityScenario(opts(profile())).traffic
    // arrivals for 20 s, the run 30 s: every request answered or refused well before the end
    const w = generate({ kind: 'poisson' }, traffic, rate, 20_000, 1)
    const run = (p: Profile) => runScenario(fidelityScenario(opts(p)), { strategy: 'switchyard', ratePerS: rate, durationMs: 30_000 }, w)
    const none = run(profile())
    const byRate = run(profile({ clientCpu: { m: model }, clientCpuMs: { m: 9 } }))
    const answered = byRate.byPolicy.throughput!.served; const refused = byRate.byPolicy.latency!.rejected
    t.equal(answered + refused, w.count, `${rate} req/s: every request answered or refused`)
    t.equal(refused, byRate.byPolicy.latency!.offered, 'the latency class refused (its deadline), the throughput class answered')
    t.same([none.byPolicy.throughput!.served, none.byPolicy.latency!.rejected], [answered, refused], 'the same outcomes without the client')
    const charged = byRate.hostCoreMs! - none.hostCoreMs!
    const expected = answered * model.answeredMs + refused * model.refusedMs + w.count * model.perSecondMs / rate
    t.ok(Math.abs(charged - expected) < 1e-6 * expected, `${rate} req/s: the host's cores ran ${charged.toFixed(3)} core-ms more, the model's ${expected.toFixed(3)} (not the flat 9 ms a request: ${9 * w.count})`)
    const flat = run(profile({ clientCpuMs: { m: 9 } }))
    t.ok(Math.abs(flat.hostCoreMs! - none.hostCoreMs! - 9 * w.count) < 1e-6 * 9 * w.count, 'a profile with the flat number alone: charged as before, 9 ms a request')
  }
})

t.test('a model that charges what a flat number does gives the same run exactly; a higher rate charges less a request', async (t) => {
  const traffic = fidelityScenario(opts(profile())).traffic
  const o = { ...opts(profile()), deadlineMs: { latency: 10_000, throughput: 30_000 } }
  const p99 = (p: Profile, rate: number): number => {
    const w = generate({ kind: 'poisson' }, traffic, rate, 30_000, 1)
    return runScenario(fidelityScenario({ ...o, profile: p }), { strategy: 'switchyard', ratePerS: rate, durationMs: 30_000 }, w).byPolicy.latency!.p99
  }
  const model = { answeredMs: 1, refusedMs: 1, perSecondMs: 200, points: [] }
  t.equal(p99(profile({ clientCpu: { m: model } }), 40), p99(profile({ clientCpuMs: { m: 6 } }), 40), '40 req/s: 1 + 200/40 = 6 ms a request, as flat 6')
  t.equal(p99(profile({ clientCpu: { m: model } }), 50), p99(profile({ clientCpuMs: { m: 5 } }), 50), '50 req/s: 1 + 200/50 = 5 ms a request, as flat 5')
  t.not(p99(profile({ clientCpu: { m: model } }), 50), p99(profile({ clientCpuMs: { m: 6 } }), 50), 'not the 40 req/s charge')
})
