// The profile step against a real server: what it measures lands in the profile.
import t from 'tap'
import { join } from 'node:path'
import { startServer, SHARED_IMAGES } from '../test-support/server.js'
import { CLIENT_BURST_FALLBACK_RATE, clientBurstRate, clientBursts, measureProfile, processCpuSeconds } from './measure-profile.js'

t.test('the client burst runs at half what the server\'s CPU per request allows on the cores', async (t) => {
  t.equal(clientBurstRate(25, 2), 40, '2 cores, 25 ms of the server\'s CPU a request: 80 req/s at most, half of it')
  t.equal(clientBurstRate(25, 16), 320)
  t.equal(clientBurstRate(undefined, 2), CLIENT_BURST_FALLBACK_RATE, 'unknown: a light fixed rate')
  t.equal(clientBurstRate(0, 2), CLIENT_BURST_FALLBACK_RATE)
  t.same(clientBursts(42), [{ ratePerS: 21, refused: false }, { ratePerS: 42, refused: true }, { ratePerS: 42, refused: false }, { ratePerS: 84, refused: true }], 'answered at r/2 and r, refused at r and 2r, interleaved')
})

t.test('a running server measured into a profile: decode, fixed cost (medians, with their spread in the source), the server\'s CPU per request, the load client\'s, the device', async (t) => {
  const server = await startServer(t, { models: { enabled: ['mobilenetv2'] }, routes: { detect: 'mobilenetv2' } })
  const { api } = await server.listen()
  const before = await processCpuSeconds(api)
  t.ok(before !== null && before > 0, `the process CPU counter read from /metrics (${before} s)`)
  const p = await measureProfile({ url: api, name: 'test', image: join(SHARED_IMAGES, 'dog.jpg'), samples: 3, maxSamples: 6, warmup: 1, burst: 4, concurrency: 2, latencyWorkers: {}, jitter: 0.1, command: 'test', clientBurstS: 1, clientRate: 10, clientOnHost: true, clientModel: true }, () => {})
  t.ok(p.host !== undefined)
  const h = p.host!
  t.ok(h.decodeMs.mobilenetv2! > 0, 'decode ms from Server-Timing')
  t.ok(h.requestMs! >= 0, 'the fixed cost')
  t.ok(h.cpuMsPerRequest?.mobilenetv2 !== undefined && h.cpuMsPerRequest.mobilenetv2 > 0, `the server's CPU per request (${h.cpuMsPerRequest?.mobilenetv2} ms)`)
  // the client here is this process, the server's too: the number is not the client's alone, but it is read
  t.ok(h.clientCpuMs?.mobilenetv2 !== undefined && h.clientCpuMs.mobilenetv2 > 0, `the load client's CPU per request over an open-loop burst (${h.clientCpuMs?.mobilenetv2} ms)`)
  t.equal(h.clientOnHost, true, 'the client on the server\'s cores, as the caller said')
  t.match(p.source, /the load client's CPU per request \(process\.cpuUsage of the sending process\) over open-loop Poisson bursts of 1 s per model \(10 % latency class; at r = the given rate, answered at r\/2 and r, refused at admission at r and 2r; [^)]*\): mobilenetv2 [\d.]+ ms at 10 req\/s \(200: \d+\); by rate and outcome \(5 req\/s answered [\d.]+ ms, 10 req\/s refused [\d.]+ ms, 10 req\/s answered [\d.]+ ms, 20 req\/s refused [\d.]+ ms\): [\d.]+ ms answered, [\d.]+ ms refused \+ [\d.]+ ms\/s \(sequential [\d.]+ ms\), the client on the server's cores/)
  const m = h.clientCpu?.mobilenetv2
  t.ok(m !== undefined, 'the client\'s model by rate and outcome')
  t.same(m!.points.map((x) => [x.ratePerS, x.answered > 0, x.refused > 0]), [[5, true, false], [10, false, true], [10, true, false], [20, false, true]], 'answered at r/2 and r; refused at r and 2r (a 1 ms deadline: the server refuses at admission)')
  t.ok(m!.answeredMs >= 0 && m!.refusedMs >= 0 && m!.perSecondMs >= 0)
  t.match(p.source, /switchyard_process_cpu_seconds_total/)
  t.match(p.source, /1 warm-up discarded, then 3–6, until each median's 95 % CI is within ±5 %/, 'how it sampled')
  t.match(p.source, /decode mobilenetv2 [\d.]+ ms \(median of [3-6]; IQR [\d.]+–[\d.]+ ms; 95 % CI of the median /, 'the decode median\'s spread')
  t.match(p.source, /fixed cost -?[\d.]+ ms \(median of [3-6]; IQR /, 'the fixed cost\'s spread')
  t.equal(p.devices[0]?.id, 'cpu')
  // without clientModel (bench/gpu-check.ts): the one burst at r as before, no model, no more time
  const one = await measureProfile({ url: api, name: 'test', image: join(SHARED_IMAGES, 'dog.jpg'), samples: 3, maxSamples: 3, warmup: 1, burst: 2, concurrency: 2, latencyWorkers: {}, jitter: 0.1, command: 'test', clientBurstS: 1, clientRate: 10 }, () => {})
  t.equal(one.host!.clientCpu, undefined, 'one burst: no model by rate')
  t.ok(one.host!.clientCpuMs!.mobilenetv2! > 0, 'the flat number')
  t.match(one.source, /over an open-loop Poisson burst of 1 s per model \(10 % latency class\): mobilenetv2 [\d.]+ ms at 10 req\/s \(200: \d+; sequential [\d.]+ ms\); batch-time/)
})
