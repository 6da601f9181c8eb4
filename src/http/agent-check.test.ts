// The HAProxy agent check: the reply line (pure, exact), and the real TCP endpoint of a real
// server answering the way HAProxy asks (connect, optional agent-send line, one line back).
import { connect } from 'node:net'
import t from 'tap'
import { UNAVAILABLE_MS, type PodSignals } from '../router/pod-signals.js'
import { REPO, startServer, testConfig } from '../test-support/server.js'
import { loadConfig } from '../config/load-config.js'
import { join } from 'node:path'
import { agentReply, parseAgentQuestion } from './agent-check.js'

type P = Partial<Record<'latency' | 'throughput' | 'cost', number>>
/** a replica's signals for model m: predicted finish and wait per policy, time per image (default: finish − wait) */
function signals (finish: P, wait: P = {}, image: P = {}): PodSignals {
  const f = { latency: UNAVAILABLE_MS, throughput: UNAVAILABLE_MS, cost: UNAVAILABLE_MS, ...finish }
  const w = { latency: 0, throughput: 0, cost: 0, ...wait }
  const i = { latency: f.latency - w.latency, throughput: f.throughput - w.throughput, cost: f.cost - w.cost, ...image }
  return { queued: 0, running: 0, liveWorkers: 1, busyWorkers: 0, freeBatchSlots: 1, utilisation: 0, finishMs: new Map([['m', f]]), waitMs: new Map([['m', w]]), costPerImage: new Map(), imageMs: new Map([['m', i]]) }
}

t.test('idle, the weight is 100 % × (referenceMs / time per image)^k (sharpness for latency, 1 otherwise), within HAProxy\'s 1 … 256 %', async (t) => {
  const linear = { referenceMs: 10, sharpness: 1 }
  const squared = { referenceMs: 10, sharpness: 2 }
  t.equal(agentReply(signals({ latency: 10 }), 'latency', 'm', squared, 40, false), 'up ready 100% maxconn:40\n')
  t.equal(agentReply(signals({ latency: 60 }), 'latency', 'm', linear, 40, false), 'up ready 17% maxconn:40\n', 'six times slower, sharpness 1: a sixth of the weight')
  t.equal(agentReply(signals({ latency: 20 }), 'latency', 'm', squared, 40, false), 'up ready 25% maxconn:40\n', 'twice as slow, sharpness 2: a quarter')
  t.equal(agentReply(signals({ latency: 2 }), 'latency', 'm', squared, 40, false), 'up ready 256% maxconn:40\n', 'capped at 256 %')
  t.equal(agentReply(signals({ latency: 1e5 }), 'latency', 'm', squared, 40, false), 'up ready 1% maxconn:40\n', 'never 0: the server stays in rotation')
  t.equal(agentReply(signals({ latency: 10, throughput: 40 }), 'throughput', 'm', squared, 40, false), 'up ready 25% maxconn:40\n', 'per policy; throughput weights are linear whatever the sharpness')
  t.equal(agentReply(signals({}), 'latency', 'm', squared, 40, false), 'down\n', 'no healthy device serves the model')
  t.equal(agentReply(signals({ latency: 10 }), 'latency', 'other', squared, 40, false), 'down\n', 'an unknown model')
  t.equal(agentReply(signals({ latency: 10 }), 'latency', 'm', squared, 40, true), 'drain\n', 'shutting down: weight 0, connections finish')
})

t.test('a backlog lowers the weight by at most backlogFloor: speed sets the shares, a queue only tilts them', async (t) => {
  const w = { referenceMs: 10, sharpness: 2 }
  // service 10 ms; 10 ms of wait ahead: finish 20 ms, backlog factor 1/2
  t.equal(agentReply(signals({ latency: 20 }, { latency: 10 }), 'latency', 'm', w, 40, false), 'up ready 50% maxconn:40\n', 'a wait as long as the service: half')
  // a batch just started: 200 ms to wait. The finish alone would give (10/210)^2 → 1 %, and the
  // replica would get nothing until the next poll while its batch ends in the meantime
  t.equal(agentReply(signals({ latency: 210 }, { latency: 200 }), 'latency', 'm', w, 40, false), 'up ready 50% maxconn:40\n', 'a long wait: still half, never less')
  t.equal(agentReply(signals({ latency: 210 }, { latency: 200 }), 'latency', 'm', { ...w, backlogFloor: 0.1 }, 40, false), 'up ready 10% maxconn:40\n', 'agent.backlogFloor sets how far')
  // a replica three times slower per image (its injected delay is in its service time) stays far below
  t.equal(agentReply(signals({ latency: 30 }), 'latency', 'm', w, 40, false), 'up ready 11% maxconn:40\n', 'a slower device: (1/3)^2 whatever its queue')
  // throughput: the replica's capacity sets the weight (5 ms an image: every worker on full
  // batches), whatever one queued request's batch would take; 40 ms service of 90 finish: 0.5
  t.equal(agentReply(signals({ throughput: 90 }, { throughput: 50 }, { throughput: 5 }), 'throughput', 'm', w, 40, false), 'up ready 100% maxconn:40\n', 'throughput: 10/5 × max(0.5, 40/90)')
})

t.test('the agent-send line names the policy and model, both optional', async (t) => {
  t.same(parseAgentQuestion('', 'm'), { policy: 'latency', model: 'm' })
  t.same(parseAgentQuestion('throughput\n', 'm'), { policy: 'throughput', model: 'm' })
  t.same(parseAgentQuestion('cost yolox-nano', 'm'), { policy: 'cost', model: 'yolox-nano' })
  t.same(parseAgentQuestion('yolox-nano latency', 'm'), { policy: 'latency', model: 'yolox-nano' })
})

/** what HAProxy does: connect, send the agent-send string (if any), read to the end */
function ask (port: number, send: string | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => { if (send !== null) s.write(send) })
    let out = ''
    s.setEncoding('latin1')
    s.on('data', (d: string) => { out += d })
    s.on('end', () => resolve(out))
    s.on('error', reject)
  })
}

t.test('a real server answers on its agent port; off by default', async (t) => {
  t.equal(testConfig().agent.port, null, 'no agent port unless configured')
  t.equal(loadConfig({ file: join(REPO, 'config/default.json'), env: { SWITCHYARD_AGENT_PORT: '9901' }, root: REPO }).agent.port, 9901, 'SWITCHYARD_AGENT_PORT')
  const server = await startServer(t, { agent: { port: 0, host: '127.0.0.1' }, devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 1, maxBatchSize: 4, maxQueue: 32 }] })
  const { agent } = await server.listen()
  t.ok(agent !== null && agent > 0)
  const latency = await ask(agent!, 'latency\n')
  t.match(latency, /^up ready (\d+)% maxconn:(\d+)\n$/, latency.trim())
  const pct = Number(/(\d+)%/.exec(latency)![1])
  t.ok(pct >= 1 && pct <= 256)
  t.equal(Number(/maxconn:(\d+)/.exec(latency)![1]), 32 + 4, 'maxconn: the queue capacity plus a batch per live worker')
  t.match(await ask(agent!, null), /^up ready \d+% maxconn:\d+\n$/, 'HAProxy without agent-send: the default policy and model')
  t.match(await ask(agent!, 'throughput yolox-nano\n'), /^up ready \d+% maxconn:\d+\n$/)
  t.equal(await ask(agent!, 'latency no-such-model\n'), 'down\n')
})
