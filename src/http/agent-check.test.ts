// The HAProxy agent check: the reply line (pure, exact), and the real TCP endpoint of a real
// server answering the way HAProxy asks (connect, optional agent-send line, one line back).
import { connect } from 'node:net'
import t from 'tap'
import { UNAVAILABLE_MS, type PodSignals } from '../router/pod-signals.js'
import { REPO, startServer, testConfig } from '../test-support/server.js'
import { loadConfig } from '../config/load-config.js'
import { join } from 'node:path'
import { agentReply, parseAgentQuestion } from './agent-check.js'

function signals (finish: Partial<Record<'latency' | 'throughput' | 'cost', number>>): PodSignals {
  const f = { latency: UNAVAILABLE_MS, throughput: UNAVAILABLE_MS, cost: UNAVAILABLE_MS, ...finish }
  return { queued: 0, running: 0, liveWorkers: 1, busyWorkers: 0, freeBatchSlots: 1, utilisation: 0, finishMs: new Map([['m', f]]), waitMs: new Map([['m', f]]), costPerImage: new Map() }
}

t.test('the weight is 100 % × (referenceMs / predicted finish)^k (sharpness for latency, 1 otherwise), within HAProxy\'s 1 … 256 %', async (t) => {
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
