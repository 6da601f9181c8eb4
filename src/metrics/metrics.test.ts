// Metrics from the first scrape: on a server that has answered nothing yet, every labelled
// series it can name — device × model × policy, routing and rejection reasons, retries — is
// exported at 0, so dashboards and alert rules read 0 instead of "No data"; and Prometheus'
// own linter (promtool check metrics) finds nothing in Switchyard's series.
import { spawnSync } from 'node:child_process'
import t from 'tap'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { CANCEL_REASONS, Metrics, POLICIES, REJECTION_REASONS, ROUTE_REASONS } from './metrics.js'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { SHARED, startServer } from '../test-support/server.js'

const server = await startServer(t)
const res = await server.app.inject({ method: 'GET', url: '/metrics' })
const text = res.body
const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]))
const MODELS = ['mobilenetv2', 'yolox-nano']

/** the sample of a counter `name` whose labels are exactly `labels` */
function sample (name: string, labels: Record<string, string>) {
  const f = families.get(name)
  return f?.metrics.find((m) => sameLabels(m.labels ?? {}, labels))
}

/** a histogram's count and bucket values for exactly `labels` (read from the text: the parser drops histogram labels) */
function histogram (name: string, labels: Record<string, string>): { count: string | undefined, buckets: string[] } {
  const out = { count: undefined as string | undefined, buckets: [] as string[] }
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line)
    if (!m) continue
    const ls = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]))
    const { le, ...rest } = ls
    if (!sameLabels(rest, labels)) continue
    if (m[1] === `${name}_count`) out.count = m[3]
    if (m[1] === `${name}_bucket` && le !== undefined) out.buckets.push(m[3]!)
  }
  return out
}

function sameLabels (a: Record<string, string>, b: Record<string, string>): boolean {
  return JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort())
}

t.test('a fresh server exports its rejection and retry series at 0', async (t) => {
  t.equal(res.statusCode, 200)
  for (const model of MODELS) {
    for (const policy of POLICIES) {
      for (const reason of REJECTION_REASONS) {
        t.equal(sample('switchyard_rejected_requests_total', { device: '', model, policy, reason })?.value, '0', `rejected ${model} ${policy} ${reason}`)
      }
    }
    t.equal(sample('switchyard_batch_retries_total', { device: 'cpu', model })?.value, '0', `retries cpu ${model}`)
    for (const reason of CANCEL_REASONS) {
      t.equal(sample('switchyard_requests_cancelled_total', { model, reason })?.value, '0', `cancelled ${model} ${reason}`)
    }
  }
})

t.test('the memory budget admission keeps (routing.maxQueuedBytes): nothing held yet, the limit sized from the machine', async (t) => {
  t.equal(sample('switchyard_queued_bytes', {})?.value, '0')
  const limit = Number(sample('switchyard_queued_bytes_limit', {})?.value)
  t.ok(limit > 0 && limit <= 2 * 1024 ** 3, `limit ${limit} bytes: an eighth of the memory, at most 2 GiB`)
})

t.test('and every device × model × policy series', async (t) => {
  for (const model of MODELS) {
    for (const policy of POLICIES) {
      for (const name of ['switchyard_decode_duration_seconds', 'switchyard_queue_wait_duration_seconds', 'switchyard_inference_duration_seconds', 'switchyard_request_duration_seconds', 'switchyard_prediction_ratio']) {
        const h = histogram(name, { device: 'cpu', model, policy })
        t.equal(h.count, '0', `${name} ${model} ${policy} count 0`)
        t.ok(h.buckets.length > 5 && h.buckets.every((v) => v === '0'), 'every bucket at 0')
      }
      for (const reason of ROUTE_REASONS) {
        t.equal(sample('switchyard_routing_decisions_total', { device: 'cpu', model, policy, reason })?.value, '0', `decisions ${model} ${policy} ${reason}`)
      }
    }
    for (const name of ['switchyard_batch_size', 'switchyard_prediction_error_seconds']) {
      t.equal(histogram(name, { device: 'cpu', model }).count, '0', `${name} ${model}`)
    }
  }
  const route = { classify: ['mobilenetv2', 'int8'], detect: ['yolox-nano', 'fp32'] } as const
  for (const [task, [model, variant]] of Object.entries(route)) {
    for (const r of [`/${task}`, `/${task}/:model`]) {
      t.equal(sample('switchyard_http_requests_total', { route: r, model, device: 'cpu', variant, status: '200' })?.value, '0', `requests ${r} ${model} (${variant})`)
    }
  }
  t.notOk(sample('switchyard_http_requests_total', { route: '/classify', model: 'yolox-nano', device: 'cpu', variant: 'fp32', status: '200' }), 'no series a request can never produce')
})

t.test('a real rejection counts on top of its zero series', async (t) => {
  const r = await server.app.inject({ method: 'POST', url: '/classify', payload: Buffer.from([0xff, 0xd8, 0xff]), headers: { 'content-type': 'image/jpeg', 'x-switchyard-deadline-ms': '1' } })
  t.equal(r.statusCode, 429, r.body)
  const after = parsePrometheusTextFormat((await server.app.inject({ method: 'GET', url: '/metrics' })).body)
  const rejected = after.find((f) => f.name === 'switchyard_rejected_requests_total')!.metrics
  t.same(rejected.filter((m) => m.value !== '0').map((m) => [m.labels, m.value]), [[{ device: '', model: 'mobilenetv2', policy: 'latency', reason: 'deadline' }, '1']])
})

t.test('the latency gate per device: 0 without a latency objective (devices[].riders.latencyObjectiveMs), 1 while a device reports it open', async (t) => {
  t.equal(sample('switchyard_riders_deep_fill', { device: 'cpu' })?.value, '0')
  const device = (id: string, ridersDeep: boolean) => ({ id, healthy: true, liveWorkers: 1, config: { kind: 'cuda' as const }, lanes: new Map(), ridersDeep, on: () => undefined })
  const m = new Metrics(() => [device('cuda:0', true), device('cuda:1', false)], () => new Map())
  const text = await m.registry.getSingleMetricAsString('switchyard_riders_deep_fill')
  t.match(text, /switchyard_riders_deep_fill\{device="cuda:0"\} 1/)
  t.match(text, /switchyard_riders_deep_fill\{device="cuda:1"\} 0/)
})

t.test('the throughput pool every device pulls from (late binding, the default) has its queue depth', async (t) => {
  for (const model of MODELS) t.equal(sample('switchyard_queue_depth', { device: 'pool', model })?.value, '0', `switchyard_queue_depth{device="pool",model="${model}"} 0`)
})

t.test('an answered request records actual / predicted finish for its device and class', async (t) => {
  const image = readFileSync(join(SHARED, 'images', 'dog.jpg'))
  const r = await server.app.inject({ method: 'POST', url: '/classify', payload: image, headers: { 'content-type': 'image/jpeg', 'x-switchyard-policy': 'latency' } })
  t.equal(r.statusCode, 200, r.body)
  const predicted = Number(r.headers['x-switchyard-predicted-ms'])
  t.ok(predicted > 0, `predicted ${predicted} ms`)
  const after = (await server.app.inject({ method: 'GET', url: '/metrics' })).body
  const count = /^switchyard_prediction_ratio_count\{device="cpu",model="mobilenetv2",policy="latency"\} (\S+)$/m.exec(after)?.[1]
  t.equal(count, '1', 'one observation in switchyard_prediction_ratio{device="cpu",model="mobilenetv2",policy="latency"}')
  const sum = Number(/^switchyard_prediction_ratio_sum\{device="cpu",model="mobilenetv2",policy="latency"\} (\S+)$/m.exec(after)?.[1])
  t.ok(sum > 0, `ratio ${sum}`)
})

// prom-client's default Node.js metrics name three gauges *_total, which promtool's linter
// flags: the library's names, not Switchyard's. Any other finding fails.
const PROM_CLIENT_LINT = new Set(['switchyard_nodejs_active_handles_total', 'switchyard_nodejs_active_requests_total', 'switchyard_nodejs_active_resources_total'])

const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
const missing = (lint.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
// skipped only on a developer's machine: in CI (.ci/run sets CI=true and installs promtool) a
// missing promtool is a failure, not a skip
const noPromtool = missing && process.env.CI !== 'true'
  ? 'promtool is not installed: Debian\'s prometheus package ships it (apt-get install prometheus); .ci/run installs it'
  : false

t.test('promtool check metrics is clean on Switchyard\'s series', { skip: noPromtool }, async (t) => {
  t.notOk(missing, 'promtool is installed (CI=true: .ci/run installs it)')
  if (missing) return
  const out = `${lint.stdout}${lint.stderr}`
  t.not(lint.status, 1, 'no error', { output: out })
  const findings = out.split('\n').map((l) => l.trim()).filter(Boolean)
  t.same(findings.filter((l) => !PROM_CLIENT_LINT.has(l.split(/\s/)[0]!)), [], 'no finding on Switchyard\'s own metrics')
})

t.test('the rule chosen by replay (routing.select): the rule in force, each window\'s outcome from zero, the replays\' time; promtool-clean', { skip: noPromtool }, async (t) => {
  const m = new Metrics(() => [], () => new Map())
  const none = await m.registry.metrics()
  t.notMatch(none, /switchyard_routing_rule\{/, 'no rule series where the rule is not chosen by replay')
  m.ruleInForce('switchyard')
  m.windowEnded('shared-queue'); m.windowEnded('shared-queue'); m.ruleInForce('shared-queue'); m.replayTook(40)
  const text = await m.registry.metrics()
  t.match(text, /switchyard_routing_rule\{rule="switchyard"\} 0/)
  t.match(text, /switchyard_routing_rule\{rule="shared-queue"\} 1/)
  t.match(text, /switchyard_routing_rule_replays_total\{outcome="shared-queue"\} 2/)
  for (const o of ['switchyard', 'empty', 'busy', 'failed']) t.match(text, new RegExp(`switchyard_routing_rule_replays_total\\{outcome="${o}"\\} 0`), `${o} from zero`)
  t.match(text, /switchyard_routing_rule_replay_duration_seconds_bucket\{le="0.05"\} 1/)
  const l = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  t.notOk(missing, 'promtool is installed')
  if (missing) return
  const findings = `${l.stdout}${l.stderr}`.split('\n').map((x) => x.trim()).filter(Boolean)
  t.same(findings.filter((x) => !PROM_CLIENT_LINT.has(x.split(/\s/)[0]!)), [], 'no finding on the rule\'s series')
})

t.test('queue depth under the shared-queue rule: the shared queue once, as device="pool"; a device\'s own series, what is pinned to it', async (t) => {
  const shared = { size: 5 }
  const lane = (bound: number) => ({ model: 'm', variant: 'default', queue: shared, inFlight: 0, cost: { a: 1, b: 1 }, bound: { size: bound } })
  const device = (id: string, bound: number) => ({ id, healthy: true, liveWorkers: 1, config: { kind: 'cuda' as const }, lanes: new Map([['m', lane(bound)]]), on: () => undefined })
  const m = new Metrics(() => [device('cuda:0', 2), device('cuda:1', 0)], () => new Map())
  const text = await m.registry.getSingleMetricAsString('switchyard_queue_depth')
  t.match(text, /switchyard_queue_depth\{device="cuda:0",model="m"\} 2/)
  t.match(text, /switchyard_queue_depth\{device="cuda:1",model="m"\} 0/)
  t.match(text, /switchyard_queue_depth\{device="pool",model="m"\} 5/, 'summed over devices (the HPA\'s rule): 7, not 12')
})
