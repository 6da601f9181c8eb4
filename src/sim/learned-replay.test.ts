// The replay built from a server's own state (learned-replay.ts): what a router that chooses its
// rule by replay knows at a window's end — the devices as their schedulers learned them, the
// arrivals and decode times its pipeline recorded — read here from a simulated server mid-run,
// where the truth is known. Seeded, virtual time: the numbers are exact for these seeds.
import t from 'tap'
import { runScenario, type LiveState } from './engine.js'
import { learnedDevices, snapshotScenario, takeSnapshot, type ReplaySnapshot } from './learned-replay.js'
import { learnedChooser, pickByReplay, pickOnSnapshot, replayHostOf } from './replay-select.js'
import { capacity, type Scenario } from './scenario.js'
import { generate } from './workload.js'
import { ArrivalRecord } from '../router/arrival-record.js'
import { metricsOf } from './experiment.js'

const M = 'm'; const Y = 'y'
// a CPU serving two models, one worker reserved for latency; a GPU serving m only. y's requests are 4 images decoded once.
const scenario: Scenario = {
  name: 'learned',
  description: 'CPU t(n) = 5 + 60n (m), 4 + 30n (y), 2 workers, 1 for latency; GPU t(n) = 8 + 2n (m)',
  seed: 5,
  durationS: 20,
  load: 0.7,
  sweep: [],
  sweepS: 20,
  host: { slots: 8, bulkSlots: 7, maxWaiting: 64, decodeMs: { [M]: 2, [Y]: 3 }, imageBytes: { [M]: 1000, [Y]: 4000 }, jitter: 0.1, source: 'test' },
  devices: [
    { id: 'cpu', kind: 'cpu', workers: 2, latencyWorkers: 1, models: { [M]: { a: 5, b: 60, maxBatchSize: 4, jitter: 0.1 }, [Y]: { a: 4, b: 30, maxBatchSize: 4, jitter: 0.1 } } },
    { id: 'gpu', kind: 'cuda', workers: 1, models: { [M]: { a: 8, b: 2, maxBatchSize: 16, jitter: 0.1 } } }
  ],
  sources: { cpu: 'test', gpu: 'test' },
  traffic: [
    { model: M, policy: 'throughput', share: 0.8, deadlineMs: 30_000 },
    { model: M, policy: 'latency', share: 0.15, deadlineMs: 1000 },
    { model: Y, policy: 'latency', share: 0.05, deadlineMs: 5000, items: 4 }
  ],
  arrivals: { kind: 'poisson' },
  events: [{ atS: 4, device: 'gpu', slowdown: 3 }],
  slo: { latency: 100, throughput: 2000 },
  strategies: ['switchyard', 'shared-queue']
}

/** The snapshot a learned chooser would take at `atS` over the last `windowS`, and the live state it read. */
function snapshotAt (s: Scenario, atS: number, windowS: number): { snap: ReplaySnapshot, live: LiveState, arrivals: number } {
  const ratePerS = s.load * capacity(s)
  const w = generate(s.arrivals, s.traffic, ratePerS, s.durationS * 1000, s.seed)
  let got: { snap: ReplaySnapshot, live: LiveState } | undefined
  runScenario(s, {
    strategy: 'switchyard',
    ratePerS,
    durationMs: s.durationS * 1000,
    select: {
      everyMs: atS * 1000,
      windowMs: windowS * 1000,
      choose: (_w, fromMs, durationMs, live) => {
        got ??= { snap: takeSnapshot(live.devices, live.record, replayHostOf(s.host), fromMs, fromMs + durationMs, s.slo, 1)!, live }
        return null
      }
    }
  }, w)
  let arrivals = 0
  for (let i = 0; i < w.count; i++) if (w.at[i]! >= (atS - windowS) * 1000 && w.at[i]! < atS * 1000) arrivals++
  return { ...got!, arrivals }
}

t.test('the devices as learned: fitted costs (a slowed GPU replayed slow), live workers, batch limits', async (t) => {
  const { snap } = snapshotAt(scenario, 10, 5)
  const [cpu, gpu] = snap.devices
  t.same([cpu!.id, cpu!.kind, cpu!.workers, cpu!.latencyWorkers, gpu!.id, gpu!.kind, gpu!.workers], ['cpu', 'cpu', 2, 1, 'gpu', 'cuda', 1])
  t.same(Object.keys(cpu!.models), [M, Y]); t.same(Object.keys(gpu!.models), [M])
  const cm = cpu!.models[M]!; const gm = gpu!.models[M]!
  t.equal(gm.maxBatchSize, 16)
  // the GPU has run 3× slower since 4 s: t(16) = 3 × 40 = 120 ms; the CPU as it was, t(4) = 245 ms
  const t16 = gm.a + gm.b * 16; const c4 = cm.a + cm.b * 4
  t.ok(t16 > 100 && t16 < 140, `the GPU's learned t(16) ${t16.toFixed(1)} ms is about 3 × 40`)
  t.ok(c4 > 220 && c4 < 270, `the CPU's learned t(4) ${c4.toFixed(1)} ms is about 245`)
  t.ok(gm.jitter! > 0 && gm.jitter! <= 1, `the spread of its batch times is learned too (${gm.jitter})`)
})

t.test('the arrivals as recorded: the window\'s count, the classes with their shares, the host\'s decode and bytes as measured', async (t) => {
  const { snap, arrivals } = snapshotAt(scenario, 10, 5)
  t.equal(snap.workload.count, arrivals, 'every arrival of [5 s, 10 s), refused or not')
  t.equal(snap.durationMs, 5000)
  // in the order the classes were first seen
  t.same(snap.traffic.map((c) => [c.model, c.policy, c.deadlineMs, c.items ?? 1]), [[M, 'throughput', 30_000, 1], [Y, 'latency', 5000, 4], [M, 'latency', 1000, 1]])
  const shares = snap.traffic.map((c) => c.share)
  t.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-9)
  t.ok(shares[0]! > 0.7 && shares[0]! < 0.9, `throughput m about 80 % (${shares[0]})`)
  t.ok(Math.abs(snap.host.decodeMs[M]! - 2) < 0.3 && Math.abs(snap.host.decodeMs[Y]! - 3) < 0.45, `decode ms as measured under the slots (${snap.host.decodeMs[M]}, ${snap.host.decodeMs[Y]})`)
  t.same(snap.host.imageBytes, { [M]: 1000, [Y]: 4000 })
  t.same([snap.host.slots, snap.host.bulkSlots, snap.host.maxWaiting], [8, 7, 64])
})

t.test('a device with no live worker is left out, and with it the arrivals of a model no one else serves', async (t) => {
  const down: Scenario = { ...scenario, events: [{ atS: 2, device: 'cpu', down: true }] }
  const { snap, live } = snapshotAt(down, 10, 5)
  t.same(learnedDevices(live.devices).map((d) => d.id), ['gpu'])
  t.same(snap.traffic.map((c) => [c.model, c.policy]), [[M, 'throughput'], [M, 'latency']], 'y was served by the CPU alone')
  t.ok(snap.workload.count > 0)
  let bad = 0
  for (let i = 0; i < snap.workload.count; i++) if (snap.workload.cls[i]! > 1) bad++
  t.equal(bad, 0, 'no arrival of a dropped class')
})

t.test('the snapshot\'s scenario replays under both rules; the pick is the judge\'s on those runs', async (t) => {
  const { snap } = snapshotAt(scenario, 10, 5)
  const s = snapshotScenario(snap)
  t.same(s.events, [], 'what happened to the devices is in their learned costs')
  const rate = snap.workload.count / 5
  const sy = metricsOf(runScenario(s, { strategy: 'switchyard', ratePerS: rate, durationMs: 5000 }, snap.workload))
  const sq = metricsOf(runScenario(s, { strategy: 'shared-queue', ratePerS: rate, durationMs: 5000 }, snap.workload))
  t.equal(pickOnSnapshot(snap), pickByReplay(sy, sq, snap.slo))
})

t.test('a run that chooses its rule by the learned replay is reproducible and records every arrival', async (t) => {
  const ratePerS = 0.9 * capacity(scenario)
  const w = generate(scenario.arrivals, scenario.traffic, ratePerS, 20_000, scenario.seed)
  const run = (): ReturnType<typeof runScenario> => runScenario(scenario, { strategy: 'switchyard', ratePerS, durationMs: 20_000, select: { everyMs: 5000, windowMs: 15_000, choose: learnedChooser(scenario, 100003) } }, w)
  const a = run(); const b = run()
  t.same(a.ruleSwitches, b.ruleSwitches)
  t.same(metricsOf(a), metricsOf(b))
})

t.test('a record that has wrapped within the window: the part it holds is replayed, at its own length', async (t) => {
  const { live } = snapshotAt(scenario, 10, 5)
  const small = new ArrivalRecord(8)
  for (let i = 0; i < 20; i++) small.arrived(5000 + i * 100, M, 'throughput', 30_000, 1, 'together')
  const snap = takeSnapshot(live.devices, small, replayHostOf(scenario.host), 5000, 7000, scenario.slo, 1)!
  t.equal(snap.workload.count, 8)
  t.equal(snap.durationMs, 800, 'from the oldest held (6.2 s) to the window\'s end')
  t.same([...snap.workload.at], [0, 100, 200, 300, 400, 500, 600, 700])
})
