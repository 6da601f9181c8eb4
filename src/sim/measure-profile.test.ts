// The profile step against a real server: what it measures lands in the profile.
import t from 'tap'
import { join } from 'node:path'
import { startServer, SHARED_IMAGES } from '../test-support/server.js'
import { measureProfile, processCpuSeconds } from './measure-profile.js'

t.test('a running server measured into a profile: decode, fixed cost, the server\'s CPU per request, the device', async (t) => {
  const server = await startServer(t, { models: { enabled: ['mobilenetv2'] }, routes: { detect: 'mobilenetv2' } })
  const { api } = await server.listen()
  const before = await processCpuSeconds(api)
  t.ok(before !== null && before > 0, `the process CPU counter read from /metrics (${before} s)`)
  const p = await measureProfile({ url: api, name: 'test', image: join(SHARED_IMAGES, 'dog.jpg'), sequential: 3, burst: 4, concurrency: 2, latencyWorkers: {}, jitter: 0.1, command: 'test' }, () => {})
  t.ok(p.host !== undefined)
  const h = p.host!
  t.ok(h.decodeMs.mobilenetv2! > 0, 'decode ms from Server-Timing')
  t.ok(h.requestMs! >= 0, 'the fixed cost')
  t.ok(h.cpuMsPerRequest?.mobilenetv2 !== undefined && h.cpuMsPerRequest.mobilenetv2 > 0, `the server's CPU per request (${h.cpuMsPerRequest?.mobilenetv2} ms)`)
  t.match(p.source, /switchyard_process_cpu_seconds_total/)
  t.equal(p.devices[0]?.id, 'cpu')
})
