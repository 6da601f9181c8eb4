// The open-loop sender: every request of the workload sent at its time (none waits for an
// answer), each answer's status and round trip kept, and the sender's own CPU per request read.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sendOpenLoop, serverTiming } from './open-loop.js'

t.test('sends every request with its class\'s policy, counts answers by status, reads the client\'s CPU per request', async (t) => {
  const seen: string[] = []; const seenHeader: string[] = []
  // answers a latency-class request at once and holds throughput-class ones until all have come:
  // an open-loop sender gets every request out; a closed-loop one would wait forever
  const held: Array<() => void> = []
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const policy = String(req.headers['x-switchyard-policy'])
      seen.push(policy)
      seenHeader.push(String(req.headers['x-extra']))
      const answer = (): void => { res.writeHead(policy === 'latency' ? 200 : 429, { 'server-timing': 'decode;dur=10.50, queue;dur=1.00, inference;dur=3.25, postprocess;dur=0.25, total;dur=16.00' }).end('{}') }
      if (policy === 'latency') answer(); else held.push(answer)
      if (held.length === 3) for (const a of held) a()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/classify`
  const w = { at: Float64Array.from([0, 5, 10, 15]), cls: Uint8Array.from([0, 0, 1, 0]), count: 4 }
  const r = await sendOpenLoop({ url, body: Buffer.from('x'), contentType: 'image/jpeg', policies: ['throughput', 'latency'], headers: { 'x-extra': 'yes' } }, w)
  t.same(seen.sort(), ['latency', 'throughput', 'throughput', 'throughput'])
  t.same(r.statuses, { 200: 1, 429: 3 })
  t.same([...r.ok], [0, 0, 1, 0])
  t.ok([...r.latency].every((x) => x > 0), 'a round trip for every answer')
  t.same(seenHeader, ['yes', 'yes', 'yes', 'yes'], 'the extra headers on every request')
  t.same([r.timing.total[2], r.timing.decode[2], r.timing.queue[2], r.timing.inference[2]], [16, 10.5, 1, 3.5], 'the 2xx answer\'s Server-Timing: total, decode, queue, inference + postprocess')
  t.ok(Number.isNaN(r.timing.total[0]!), 'none read from a refusal')
  t.ok(r.clientCpuMs > 0, `the sending process's CPU per request (${r.clientCpuMs.toFixed(3)} ms)`)
})

t.test('one duration read from a Server-Timing header, NaN where it is not there', async (t) => {
  const h = 'decode;dur=10.50, queue;dur=1.00, total;dur=16.00'
  t.equal(serverTiming(h, 'decode'), 10.5)
  t.equal(serverTiming(h, 'total'), 16)
  t.ok(Number.isNaN(serverTiming(h, 'inference')), 'a part the server did not send')
  t.ok(Number.isNaN(serverTiming(null, 'decode')), 'no header')
})
