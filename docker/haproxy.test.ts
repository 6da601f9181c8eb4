// HAProxy, for real: Debian's haproxy (2.6) runs the shipped docker/haproxy/haproxy.cfg in front
// of three Switchyard processes on loopback; the third is made slow by fault injection (every
// batch on its CPU device takes 80 ms longer: SWITCHYARD_FAULTS, mode 'slow'). What is checked
// is placement — counts read from the X-Switchyard-Replica header HAProxy adds and weights read
// from HAProxy's own stats — with margins that hold on an idle or a loaded machine, never a time:
//   - the agent check sets each server's weight from that replica's predicted finish, per
//     policy (agent-send): the slow replica's latency weight ends well below the others'
//   - latency-class requests avoid it (roundrobin over the sharp latency weights)
//   - throughput-class requests (leastconn over the throughput weights) still use it
//   - /readyz is the health check: a replica that stops is taken out, the rest answer
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { closedLoop, haproxyBinary, haproxyConfig, SHARED, startHaproxy, startReplicas, stats, stopReplicas, tempDir, weights, type Haproxy, type Replica } from './haproxy-fleet.js'
import { run, waitFor } from './support.js'

const image = readFileSync(join(SHARED, 'images', 'dog.jpg'))
// the slow replica's injected delay per batch. The agent weighs replicas by their service time per
// image, which on a loaded 2-core machine grows for all three alike: 80 ms keeps the slow one at
// least twice as slow per image however loaded the machine is (40 ms did not when a one-image
// batch took 150 ms)
const SLOW_MS = 80
const tmp = tempDir()
t.teardown(() => tmp.remove())

t.test('the shipped configuration is valid for Debian\'s haproxy', async (t) => {
  const env = { SY1: '127.0.0.1:1', SY2: '127.0.0.1:2', SY3: '127.0.0.1:3', SY1_AGENT: '4', SY2_AGENT: '5', SY3_AGENT: '6', HAPROXY_BIND: '127.0.0.1:18080', HAPROXY_STATS: '127.0.0.1:18081' }
  const r = run('/usr/bin/env', [...Object.entries(env).map(([k, v]) => `${k}=${v}`), haproxyBinary(), '-c', '-f', 'docker/haproxy/haproxy.cfg'])
  t.equal(r.status, 0, r.out)
  const cfg = readFileSync(join('docker', 'haproxy', 'haproxy.cfg'), 'utf8')
  for (const policy of ['latency', 'throughput', 'cost']) t.match(cfg, new RegExp(`agent-send "${policy}\\\\n"`), `the ${policy} backend asks the agent about ${policy}`)
  t.match(cfg, /option httpchk GET \/readyz/)
})

let replicas: Replica[] = []
let h: Haproxy
t.before(async () => {
  replicas = await startReplicas([{}, {}, { slowMs: SLOW_MS }], tmp.dir)
  h = await startHaproxy(haproxyConfig('agent'), replicas, tmp.dir)
})
t.teardown(async () => { await h?.stop(); await stopReplicas(replicas) })

const count = (answers: Array<{ replica: string, status: number }>): Record<string, number> => {
  const out: Record<string, number> = { sy1: 0, sy2: 0, sy3: 0 }
  for (const a of answers) if (a.status === 200) out[a.replica] = (out[a.replica] ?? 0) + 1
  return out
}

t.test('throughput work uses every replica, the slow one too; the agent learns it is slow', async (t) => {
  // leastconn over the throughput weights: the slow replica's batches teach its cost model the delay
  const thr = await closedLoop(h.port, 90, 6, { 'x-switchyard-policy': 'throughput' }, image)
  t.ok(thr.every((a) => a.status === 200), 'every request answered 200')
  const c = count(thr)
  t.ok(c.sy3! >= 5, `the slow replica took throughput work: ${JSON.stringify(c)} (≥ 5 %)`)
  t.ok(c.sy1! >= 5 && c.sy2! >= 5, 'so did the others')
  // the slow replica's latency weight falls below half of either fast replica's (agent-inter 250 ms)
  let last: Record<string, number> = {}
  const w = await waitFor('the slow replica\'s latency weight below half the others\'', 60_000, async () => {
    last = await weights(h, 'switchyard_latency')
    return last.sy3! * 2 < Math.min(last.sy1!, last.sy2!) ? last : undefined
  }).catch((e: Error) => { t.fail(`${e.message}; last latency weights ${JSON.stringify(last)}`); return last })
  t.pass(`latency weights ${JSON.stringify(w)}`)
})

t.test('latency-class requests avoid the slow replica; throughput work still reaches it', async (t) => {
  const lat = await closedLoop(h.port, 40, 1, { 'x-switchyard-policy': 'latency' }, image)
  t.ok(lat.every((a) => a.status === 200), 'every request answered 200')
  const cl = count(lat)
  // its weight is below half of either other's, so roundrobin gives it under a fifth (a third if even)
  t.ok(cl.sy3! <= 8, `at most 20 % of the latency requests on the slow replica: ${JSON.stringify(cl)}`)
  const thr = await closedLoop(h.port, 60, 6, { 'x-switchyard-policy': 'throughput' }, image)
  const ct = count(thr)
  t.ok(ct.sy3! >= 3, `while throughput work keeps reaching it: ${JSON.stringify(ct)} (≥ 5 %)`)
  const noHeader = await closedLoop(h.port, 20, 1, {}, image)
  t.ok(count(noHeader).sy3! <= 4, 'no policy header: the latency backend (Switchyard\'s default policy)')
})

t.test('/readyz is the health check: a stopped replica leaves the pool, the others answer', async (t) => {
  const stopped = replicas[0]!
  stopped.proc.kill('SIGTERM')
  await waitFor('sy1 marked down', 60_000, async () => {
    const rows = await stats(h)
    return rows.filter((r) => r.svname === 'sy1').every((r) => r.status.startsWith('DOWN')) ? true : undefined
  })
  const after = await closedLoop(h.port, 10, 1, { 'x-switchyard-policy': 'latency' }, image)
  t.same(after.map((a) => a.status), Array(10).fill(200), 'every request still answered')
  t.equal(count(after).sy1, 0, 'none by the stopped replica')
})
