// The fleet simulator's logic on a small fleet (2 GPU pods, 6 CPU pods, a few simulated
// seconds): capacity arithmetic, determinism, and what each picker does with what it knows.
import t from 'tap'
import { join } from 'node:path'
import { EPP_PROFILES, eppProfiles, eppProfilesFromConfig, loadFleet, resolveFleet, runFleet, type FleetScenarioFile } from './fleet.js'
import { resolveHardware } from './scenario.js'

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

t.test('every pod routes as a server with the default strategy: its throughput items wait in late-binding pools', async (t) => {
  const r = runFleet(s, { strategy: 'epp', stalenessMs: 50 })
  const throughput = Object.entries(r.decisions).filter(([k]) => k.startsWith('throughput:'))
  t.ok(throughput.length > 0, 'throughput decisions were made')
  // the fleet once built its pods' devices without pools: every throughput item was bound at arrival (best-throughput)
  t.same(throughput.map(([k]) => k), ['throughput:late-binding'], `pooled, none bound (${JSON.stringify(r.decisions)})`)
  t.ok(Object.keys(r.decisions).some((k) => k.startsWith('latency:')), 'latency items stay bound, placed by the router')
})

t.test('every pod admits as the server does: by time and by the bytes its queued images hold, not by an item count', async (t) => {
  // round robin at twice the fleet's capacity: the CPU pods fall behind
  const over = resolveFleet({ ...file, load: 2 })
  const r = runFleet(over, { strategy: 'round-robin', stalenessMs: 50 })
  t.notOk(Object.keys(r.refusals).some((k) => k.endsWith(':queue-full')), `within the 30 s deadline and the default 1 GiB, nothing refused as full (${JSON.stringify(r.refusals)})`)
  // a budget of 20 images per pod: the memory bound refuses (the assertion that fails on pods
  // without a budget, which fell back to their lanes' item caps and refused nothing here)
  const small = resolveFleet({ ...file, load: 2, pods: file.pods.map((p) => ({ ...p, host: { ...p.host, maxQueuedBytes: 20 * 224 * 224 * 3 } })) })
  const b = runFleet(small, { strategy: 'round-robin', stalenessMs: 50 })
  t.ok((b.refusals['throughput:queue-full'] ?? 0) > 0, `a small budget refuses as full (${JSON.stringify(b.refusals)})`)
  // the throughput deadline 1 s: refused where the predicted finish misses it
  const short = resolveFleet({ ...file, load: 2, traffic: file.traffic.map((c) => (c.policy === 'throughput' ? { ...c, deadlineMs: 1000 } : c)) })
  const d = runFleet(short, { strategy: 'round-robin', stalenessMs: 50 })
  t.ok((d.refusals['throughput:deadline'] ?? 0) > 0, `a 1 s deadline refuses by time (${JSON.stringify(d.refusals)})`)
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

// the fleet in small: detection (yolox-nano), a GPU whose single image takes 18 ms beside
// CPU pods whose single image takes 61 ms
const detect = resolveFleet({
  ...file,
  name: 'fleet-small-detect',
  durationS: 10,
  pods: [
    { type: 'gpu', count: 2, host: { profile: 'cpu-here', cores: 16 }, devices: [{ profile: 'gpu-slow-assumed' }, { profile: 'cpu-here' }] },
    { type: 'cpu', count: 6, host: { profile: 'cpu-here', cores: 4 }, devices: [{ profile: 'cpu-here' }] }
  ],
  traffic: [
    { model: 'yolox-nano-dynamic', policy: 'latency', share: 0.3, deadlineMs: 1000 },
    { model: 'yolox-nano-dynamic', policy: 'throughput', share: 0.7, deadlineMs: 30000 }
  ]
})

t.test('the EPP latency profile: its gauge over a fixed range, so the live in-flight count spreads what the last scrape showed as good', async (t) => {
  t.same(detect.epp, EPP_PROFILES, 'by default the profiles of docker/k8s/gaie/epp-config.yaml')
  const rr = runFleet(detect, { strategy: 'round-robin', stalenessMs: 50 })
  const fixed = runFleet(detect, { strategy: 'epp', stalenessMs: 50 })
  // the earlier profile: min–max over the candidates, queue scorer, in-flight weight 3
  const adaptive = runFleet(detect, { strategy: 'epp', stalenessMs: 50, epp: eppProfiles({ finish: 1, queue: 1, active: 3, picker: 'max-score' }) })
  const p99 = (r: typeof rr): number => r.byPolicy.latency!.p99
  t.ok(p99(fixed) < 0.85 * p99(adaptive), `latency p99 ${p99(fixed).toFixed(1)} ms, min–max ${p99(adaptive).toFixed(1)} ms`)
  t.ok(p99(fixed) < 0.8 * p99(rr), `and round robin ${p99(rr).toFixed(1)} ms`)
  t.ok(fixed.byPolicy.latency!.toPodType.gpu! > 0.7, `the latency class goes mostly to the GPU pods (${fixed.byPolicy.latency!.toPodType.gpu!.toFixed(2)})`)
  t.ok(fixed.refused <= rr.refused, 'refusing no more')
})

t.test('the oracle: every pod as it is now, the floor the pickers are judged against', async (t) => {
  const oracle = runFleet(detect, { strategy: 'oracle', stalenessMs: 50 })
  for (const strategy of ['round-robin', 'least-requests', 'epp', 'haproxy-agent'] as const) {
    const r = runFleet(detect, { strategy, stalenessMs: 50 })
    t.ok(oracle.byPolicy.latency!.p99 <= r.byPolicy.latency!.p99, `latency p99 ${oracle.byPolicy.latency!.p99.toFixed(1)} ms ≤ ${strategy}'s ${r.byPolicy.latency!.p99.toFixed(1)} ms`)
  }
  const again = runFleet(detect, { strategy: 'oracle', stalenessMs: 50 })
  t.same({ ...again, wallMs: 0 }, { ...oracle, wallMs: 0 }, 'and repeats exactly')
})

t.test('EPP profiles: from an EndpointPickerConfig, and the earlier one-profile form', async (t) => {
  const config = {
    plugins: [
      { name: 'f', type: 'endpoint-attribute-scorer', parameters: { attributeKey: 'x', algorithm: { type: 'linear_lower_is_better', normalization: { fixedRange: { min: 0.02, max: 0.5 } } } } },
      { name: 'g', type: 'endpoint-attribute-scorer', parameters: { attributeKey: 'y', algorithm: { type: 'linear_lower_is_better' } } },
      { type: 'queue-scorer' }, { type: 'active-request-scorer' }, { type: 'max-score-picker' }, { type: 'weighted-random-picker' }
    ],
    schedulingProfiles: [
      { name: 'latency', plugins: [{ pluginRef: 'f', weight: 2 }, { pluginRef: 'active-request-scorer', weight: 5 }, { pluginRef: 'max-score-picker' }] },
      { name: 'throughput', plugins: [{ pluginRef: 'g' }, { pluginRef: 'queue-scorer', weight: 2 }, { pluginRef: 'weighted-random-picker' }] },
      { name: 'cost', plugins: [{ pluginRef: 'g' }, { pluginRef: 'max-score-picker' }] }
    ]
  }
  t.same(eppProfilesFromConfig(config), {
    latency: { finish: 2, queue: 0, active: 5, picker: 'max-score', finishRangeMs: [20, 500] },
    throughput: { finish: 1, queue: 2, active: 0, picker: 'weighted-random' },
    cost: { finish: 1, queue: 0, active: 0, picker: 'max-score' }
  })
  const unknown = structuredClone(config)
  unknown.plugins.push({ type: 'prefix-cache-scorer' } as any)
  unknown.schedulingProfiles[0]!.plugins.push({ pluginRef: 'prefix-cache-scorer', weight: 1 })
  t.throws(() => eppProfilesFromConfig(unknown), /does not model prefix-cache-scorer/, 'a plugin the simulator does not model is an error, not ignored')
  const one = eppProfiles({ finish: 2, queue: 0, active: 1, picker: 'weighted-random' })
  t.same(one.latency, one.throughput, 'one profile for every policy (the earlier scenario form)')
  t.equal(one.cost.finish, 2)
})

t.test('a fleet scenario file: its pod types read by the scenario\'s own reading of a machine (resolveHardware)', async (t) => {
  const fleet = loadFleet(join(import.meta.dirname, '..', '..', 'bench', 'fleet-scenarios', 'fleet-100.json'))
  t.same(fleet.podTypes.map((p) => [p.type, p.count]), [['gpu', 20], ['cpu', 80]])
  const gpu = resolveHardware('x', { host: { profile: 'cpu-here', cores: 24 }, devices: [{ profile: 'gpu-slow-assumed' }, { profile: 'cpu-here' }] }, fleet.traffic)
  t.same({ host: fleet.podTypes[0]!.host, devices: fleet.podTypes[0]!.devices }, { host: gpu.host, devices: gpu.devices }, 'the same host and devices a scenario gets')
  t.throws(() => resolveFleet({ ...file, traffic: [{ ...file.traffic[0]!, share: 0.5 }] }), /scenario fleet-small\/gpu: traffic shares sum to 0.5/, 'checked as a scenario is, named by pod type')
  t.throws(() => resolveFleet({ ...file, pods: [{ ...file.pods[0]!, devices: [{ profile: 'cpu-here', device: 'nope' }] }] }), /fleet-small\/gpu: profile cpu-here has no device nope/)
})
