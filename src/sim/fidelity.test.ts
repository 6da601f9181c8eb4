// The fidelity command's simulator side: which host it simulates for a live server's profile,
// and when it charges the load client's CPU (only where the profile says the client shares the
// host); profiles measured before the client's CPU was recorded load and simulate as they did.
import t from 'tap'
import { join } from 'node:path'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isLoopback } from './cli.js'
import { runScenario } from './engine.js'
import { chargesClient, chargesClientByRate, fidelityMarkdown, liveParts, fidelityScenario, type FidelityOptions, type FidelityRow } from './fidelity.js'
import { loadProfile, type Profile } from './profile.js'
import { generate } from './workload.js'

const profile = (host: Partial<NonNullable<Profile['host']>> = {}): Profile => ({
  name: 'p',
  source: 'measured: test',
  host: { cores: 2, decodeMs: { m: 10 }, decodeJitter: 0, requestMs: 2, ...host },
  devices: [{ id: 'cpu', kind: 'cpu', workers: 2, latencyWorkers: 1, threads: 2, models: { m: { a: 0, b: 15, maxBatchSize: 8, jitter: 0 } } }]
})
const opts = (p: Profile, clientOnHost?: boolean): Pick<FidelityOptions, 'profile' | 'model' | 'latencyShare' | 'deadlineMs' | 'decode' | 'seed' | 'clientOnHost'> =>
  ({ profile: p, model: 'm', latencyShare: 0.1, deadlineMs: { latency: 10_000, throughput: 30_000 }, decode: { slots: 4, bulkSlots: 2, maxWaiting: 64 }, seed: 1, ...(clientOnHost !== undefined ? { clientOnHost } : {}) })

t.test('the client\'s CPU is charged only where the profile (or the command) says the client shares the host', async (t) => {
  const measured = { clientCpuMs: { m: 3 } }
  t.same(fidelityScenario(opts(profile({ ...measured, clientOnHost: true }))).host.clientCpuMs, { m: 3 }, 'measured on the host: charged')
  t.equal(fidelityScenario(opts(profile(measured))).host.clientCpuMs, undefined, 'measured, the client elsewhere (no flag): not charged')
  t.equal(fidelityScenario(opts(profile({ ...measured, clientOnHost: true }), false)).host.clientCpuMs, undefined, '--client-on-host false wins over the profile')
  t.same(fidelityScenario(opts(profile(measured), true)).host.clientCpuMs, { m: 3 }, '--client-on-host true wins over the profile')
  t.equal(fidelityScenario(opts(profile({ ...measured, clientOnHost: true })), false).host.clientCpuMs, undefined, 'never in the "before" model (no shared cores)')
  t.equal(fidelityScenario(opts(profile({ clientOnHost: true }))).host.clientCpuMs, undefined, 'nothing measured: nothing charged')
  t.notOk(chargesClient(opts(profile(), true)), 'absent = 0')
})

t.test('the client\'s CPU slows the simulated server where charged: same arrivals, higher p99', async (t) => {
  const traffic = fidelityScenario(opts(profile())).traffic
  const w = generate({ kind: 'poisson' }, traffic, 40, 60_000, 1)
  const p99 = (p: Profile): number => runScenario(fidelityScenario(opts(p)), { strategy: 'switchyard', ratePerS: 40, durationMs: 60_000 }, w).byPolicy.latency!.p99
  const without = p99(profile())
  t.equal(p99(profile({ clientCpuMs: { m: 8 } })), without, 'measured but not on the host: the same run exactly')
  t.ok(p99(profile({ clientCpuMs: { m: 8 }, clientOnHost: true })) > without, 'on the host: slower')
})

t.test('a profile file without the client fields loads and simulates as before; a negative client CPU is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-fid-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // the committed profile as it was written before the fields existed
  const raw = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'bench', 'profiles', 'cpu-fidelity.json'), 'utf8')) as { host: Record<string, unknown> }
  delete raw.host.clientCpuMs
  delete raw.host.clientOnHost
  delete raw.host.clientCpu
  const older = join(dir, 'older.json')
  writeFileSync(older, JSON.stringify(raw))
  const committed = loadProfile(older)
  t.ok(committed.host !== undefined && committed.host.clientCpuMs === undefined && committed.host.clientOnHost === undefined, 'a profile without the fields')
  const s = fidelityScenario({ ...opts(committed), model: 'mobilenetv2' })
  t.equal(s.host.clientCpuMs, undefined, 'no client charged')
  t.equal(s.host.clientCpu, undefined, 'no client model either')
  t.equal(s.host.requestMs, committed.host!.requestMs, 'the rest of the host as it was')
  const bad = join(dir, 'bad.json')
  writeFileSync(bad, JSON.stringify(profile({ clientCpuMs: { m: -1 } })))
  t.throws(() => loadProfile(bad), /clientCpuMs for m must be ≥ 0/)
  writeFileSync(bad, JSON.stringify(profile({ clientCpu: { m: { answeredMs: 2, refusedMs: -1, perSecondMs: 0, points: [] } } })))
  t.throws(() => loadProfile(bad), /clientCpu for m: refusedMs must be a number ≥ 0/)
  // a profile with the flat number only (written before the model by rate): charged flat, as before
  const flatOnly = fidelityScenario({ ...opts({ ...committed, host: { ...committed.host!, clientCpuMs: { mobilenetv2: 3 }, clientOnHost: true } }), model: 'mobilenetv2' })
  t.same([flatOnly.host.clientCpuMs, flatOnly.host.clientCpu], [{ mobilenetv2: 3 }, undefined], 'the flat number alone: charged flat')
})

t.test('with the client\'s model by rate and outcome the fidelity run charges by it; its "flat" comparison by the flat number', async (t) => {
  const model = { answeredMs: 2, refusedMs: 1, perSecondMs: 30, points: [] }
  const p = profile({ clientCpuMs: { m: 3 }, clientCpu: { m: model }, clientOnHost: true })
  t.ok(chargesClientByRate(opts(p)))
  t.same(fidelityScenario(opts(p)).host.clientCpu, { m: model }, 'by rate')
  t.equal(fidelityScenario(opts(p), true, 'flat').host.clientCpu, undefined, 'the flat comparison: no model…')
  t.same(fidelityScenario(opts(p), true, 'flat').host.clientCpuMs, { m: 3 }, '…the flat number')
  t.equal(fidelityScenario(opts(p, false)).host.clientCpu, undefined, 'the client not on the host: not charged')
  t.ok(chargesClient(opts(profile({ clientCpu: { m: model }, clientOnHost: true }))), 'the model alone is enough to charge')
  t.notOk(chargesClientByRate(opts(profile({ clientCpu: { other: model }, clientOnHost: true }))), 'a model for another model: not by rate')
})

t.test('the live round trip taken apart by Server-Timing: outside the handler, the rest of the handler, decode, queue, inference', async (t) => {
  // class 1 (latency): 94 answers with round trip 40 = 5 outside + 35 handler (5 rest, 10 decode, 5 queue, 15 inference);
  // 5 slow ones, 200 = 150 outside + 50 handler (20 rest); one without Server-Timing; class 0: one answer, not counted
  const n = 101
  const w = { at: new Float64Array(n), cls: Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0 : 1)), count: n }
  const nan = (): Float64Array => new Float64Array(n).fill(NaN)
  const res = { latency: new Float64Array(n).fill(40), ok: new Uint8Array(n).fill(1), timing: { total: new Float64Array(n).fill(35), decode: new Float64Array(n).fill(10), queue: new Float64Array(n).fill(5), inference: new Float64Array(n).fill(15) } }
  for (let i = 95; i < 100; i++) { res.latency[i] = 200; res.timing.total[i] = 50 }
  res.timing.total[100] = NaN // an answer without Server-Timing: left out
  const x = liveParts(res, w, 1)!
  t.same(x.p50, { outside: 5, handlerRest: 5, decode: 10, queue: 5, inference: 15 })
  t.same(x.p99, { outside: 150, handlerRest: 20, decode: 10, queue: 5, inference: 15 })
  t.equal(x.tailN, 5, 'the tail: at or above the p95 round trip')
  t.same([x.tailMean.outside, x.tailMean.handlerRest], [150, 20], 'the slow answers\' time went outside the handler')
  t.equal(liveParts({ ...res, timing: { ...res.timing, total: nan() } }, w, 1), undefined, 'no Server-Timing: nothing')
})

t.test('the simulator reports each request\'s decode as it ran: the profile\'s ms alone, stretched on busy shared cores, none where refused', async (t) => {
  const s = fidelityScenario(opts(profile()))
  // three throughput-class requests (class 0): two alone, then four at once on 2 cores
  const w = { at: Float64Array.from([0, 1000, 2000, 2000, 2000, 2000]), cls: Uint8Array.from([0, 0, 0, 0, 0, 0]), count: 6 }
  const decodeWallMs = new Float64Array(w.count)
  runScenario(s, { strategy: 'switchyard', ratePerS: 1, durationMs: 5000, decodeWallMs }, w)
  t.same([decodeWallMs[0], decodeWallMs[1]], [10, 10], 'alone: the profile\'s 10 ms')
  t.ok(Math.max(...decodeWallMs.slice(2)) > 10, `four at once on 2 cores (2 bulk decode slots, batches beside them): stretched (${[...decodeWallMs.slice(2)].map((x) => x.toFixed(1)).join(', ')} ms)`)
  const refused = new Float64Array(1)
  runScenario(fidelityScenario({ ...opts(profile()), deadlineMs: { latency: 1, throughput: 1 } }), { strategy: 'switchyard', ratePerS: 1, durationMs: 1000, decodeWallMs: refused }, { at: Float64Array.from([0]), cls: Uint8Array.from([0]), count: 1 })
  t.ok(Number.isNaN(refused[0]!), 'refused at admission: no decode')
})

t.test('a server on loopback shares this machine\'s cores with its load client', async (t) => {
  t.ok(isLoopback('http://127.0.0.1:18431'))
  t.ok(isLoopback('http://localhost:8080/'))
  t.ok(isLoopback('http://[::1]:8080'))
  t.notOk(isLoopback('http://10.0.0.5:8080'))
  t.notOk(isLoopback('http://gpu-box.internal:8080'))
})

t.test('the report gives the client\'s CPU of each live run beside the profile\'s, and the simulator without it where charged', async (t) => {
  const side = (p99: number): { p50: number, p99: number, refused: number, offered: number } => ({ p50: p99 / 2, p99, refused: 0, offered: 100 })
  const row = (simNoClient: boolean): FidelityRow => ({
    ratePerS: 50, offered: 100, live: { latency: side(100), throughput: side(200) }, sim: { latency: side(90), throughput: side(180) }, simBefore: { latency: side(20), throughput: side(50) },
    ratio: { latency: 0.9, throughput: 0.9 }, liveStatuses: { 200: 100 }, loadAverage: [1, 1], clientCpuMs: 2.5, ...(simNoClient ? { simNoClient: { latency: side(60), throughput: side(120) } } : {})
  })
  const o = { ...opts(profile({ clientCpuMs: { m: 2.75 }, clientOnHost: true })), url: 'http://127.0.0.1:1', path: '/classify', image: 'dog.jpg', rates: [50], durationS: 30 }
  const md = fidelityMarkdown([row(true)], o, 'cmd', 'machine')
  t.match(md, /the load client's CPU 2\.75 ms\/request \(charged to the host's cores/)
  t.match(md, /each live run \(process\.cpuUsage of the sending process, src\/sim\/open-loop\.ts\): 50 req\/s 2\.50 ms; the profile's flat number: 2\.75 ms/)
  t.match(md, /\| 50 \| latency \| 30\.0 \/ 60\.0 \| 0\.60 \| 0\.0 % \|/, 'without the client: its p99 against live')
  const plain = fidelityMarkdown([row(false)], { ...o, profile: profile() }, 'cmd', 'machine')
  t.match(plain, /the load client's CPU not measured \(not charged\)/)
  t.notMatch(plain, /without the load client/)
})
