// The fleet simulator's logic on a small fleet (2 GPU pods, 6 CPU pods, a few simulated
// seconds): capacity arithmetic, determinism, and what each picker does with what it knows.
import t from 'tap'
import { resolveFleet, runFleet, type FleetScenarioFile } from './fleet.js'

const file: FleetScenarioFile = {
  name: 'fleet-small',
  description: 'test',
  seed: 3,
  durationS: 4,
  load: 0.7,
  pods: [
    { type: 'gpu', count: 2, host: { profile: 'cpu-here', cores: 16 }, devices: [{ profile: 'gpu-fast-assumed' }, { profile: 'cpu-here' }] },
    { type: 'cpu', count: 6, host: { profile: 'cpu-here', cores: 4 }, devices: [{ profile: 'cpu-here' }] }
  ],
  traffic: [
    { model: 'mobilenetv2-12-int8', policy: 'latency', share: 0.3, deadlineMs: 1000 },
    { model: 'mobilenetv2-12-int8', policy: 'throughput', share: 0.7, deadlineMs: 30000 }
  ],
  arrivals: { kind: 'poisson' }
}
const s = resolveFleet(file)

t.test('fleet capacity: per pod the lesser of its devices and its decoding, times the pods', async (t) => {
  const [gpu, cpu] = s.podTypes
  t.ok(gpu!.capacity > 5 * cpu!.capacity, `a GPU pod serves several CPU pods' worth (${Math.round(gpu!.capacity)} vs ${Math.round(cpu!.capacity)} /s)`)
  const decodeBound = 16 * 1000 / 47.77
  t.ok(gpu!.capacity <= decodeBound + 1e-9, 'never more than its 16 cores decode')
  t.equal(s.capacity, 2 * gpu!.capacity + 6 * cpu!.capacity)
  t.same(s.staleness, [0, 50, 200, 1000])
  t.equal(s.stalenessMs, 50, 'the default scrape interval')
})

t.test('a run repeats exactly', async (t) => {
  const a = runFleet(s, { strategy: 'epp', stalenessMs: 50 })
  const b = runFleet(s, { strategy: 'epp', stalenessMs: 50 })
  t.same({ ...a, wallMs: 0 }, { ...b, wallMs: 0 })
  t.ok(a.offered > 1000, `${a.offered} requests`)
  t.equal(a.byPolicy.latency!.served + a.byPolicy.latency!.refused + a.byPolicy.latency!.unfinished, a.byPolicy.latency!.offered, 'every request accounted for')
})

t.test('round-robin gives every pod the same share, knowing nothing', async (t) => {
  const r = runFleet(s, { strategy: 'round-robin', stalenessMs: 50 })
  const all = r.byPolicy.latency!.offered + r.byPolicy.throughput!.offered
  const gpuShare = (r.byPolicy.latency!.toPodType.gpu! * r.byPolicy.latency!.offered + r.byPolicy.throughput!.toPodType.gpu! * r.byPolicy.throughput!.offered) / all
  t.ok(Math.abs(gpuShare - 2 / 8) < 1 / all + 1e-9, `GPU pods get 2 of 8 turns (${gpuShare})`)
})

t.test('the gauge-reading pickers send more work per pod to the GPU pods than round-robin', async (t) => {
  const rr = runFleet(s, { strategy: 'round-robin', stalenessMs: 50 })
  for (const strategy of ['epp', 'haproxy-agent'] as const) {
    const r = runFleet(s, { strategy, stalenessMs: 50 })
    t.ok(r.byPolicy.throughput!.toPodType.gpu! > 1.4 * rr.byPolicy.throughput!.toPodType.gpu!, `${strategy}: throughput to GPU pods ${r.byPolicy.throughput!.toPodType.gpu!.toFixed(2)} vs round-robin ${rr.byPolicy.throughput!.toPodType.gpu!.toFixed(2)}`)
    t.ok(r.byPolicy.throughput!.p99 < rr.byPolicy.throughput!.p99, `${strategy}: and a lower throughput-class p99`)
    t.ok(r.refused <= rr.refused, `${strategy}: refusing no more`)
  }
})

t.test('least-requests balances the picker\'s own in-flight counts, so the faster GPU pods take more', async (t) => {
  const rr = runFleet(s, { strategy: 'round-robin', stalenessMs: 50 })
  const lr = runFleet(s, { strategy: 'least-requests', stalenessMs: 50 })
  t.ok(lr.byPolicy.throughput!.toPodType.gpu! > rr.byPolicy.throughput!.toPodType.gpu!)
  t.same(runFleet(s, { strategy: 'least-requests', stalenessMs: 1000 }).byPolicy, lr.byPolicy, 'it reads no gauge: staleness changes nothing')
})

t.test('staleness: the EPP decides on gauges refreshed only every interval', async (t) => {
  const fresh = runFleet(s, { strategy: 'epp', stalenessMs: 0 })
  const stale = runFleet(s, { strategy: 'epp', stalenessMs: 1000 })
  t.notSame(fresh.byPolicy, stale.byPolicy, 'a 1 s old view places requests differently')
  t.equal(fresh.stalenessMs, 0)
})
