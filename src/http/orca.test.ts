// ORCA load reports: an answer carries `endpoint-load-metrics` when its request asks for one
// (`endpoint-load-metrics-format: TEXT | JSON`), in the form Envoy, vLLM and Triton use, with
// the share of busy workers and the pod's signals (router/pod-signals.ts) as named metrics.
// Parsed back here by a reader written from the format, not from orcaReport().
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { SHARED_IMAGES, startServer } from '../test-support/server.js'

const photo = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))
const server = await startServer(t)
const jpeg = { 'content-type': 'image/jpeg' }
const NAMED = ['queued_requests', 'running_requests', 'free_batch_slots',
  ...['latency', 'throughput', 'cost'].flatMap((p) => [`predicted_wait_${p}_ms`, `predicted_finish_${p}_ms`])]

interface Report { application_utilization: number, named_metrics: Record<string, number> }

/** TEXT form: `TEXT key=value, key=value, named_metrics.name=value` */
function parseText (v: string): Report {
  t.match(v, /^TEXT /, 'TEXT prefix')
  const out: Report = { application_utilization: NaN, named_metrics: {} }
  for (const pair of v.slice(5).split(', ')) {
    const m = /^([a-z_]+(?:\.[a-z_]+)?)=(-?[0-9.e+-]+)$/.exec(pair)
    if (m === null) throw new Error(`not a key=value pair: ${pair}`)
    const [key, value] = [m[1]!, Number(m[2])]
    if (key.startsWith('named_metrics.')) out.named_metrics[key.slice('named_metrics.'.length)] = value
    else (out as unknown as Record<string, number>)[key] = value
  }
  return out
}

function checkReport (t: Test, r: Report): void {
  t.ok(r.application_utilization >= 0 && r.application_utilization <= 1, `application_utilization in [0, 1] (${r.application_utilization})`)
  t.same(Object.keys(r.named_metrics).sort(), [...NAMED].sort(), 'every named metric')
  for (const [k, v] of Object.entries(r.named_metrics)) t.ok(Number.isFinite(v) && v >= 0, `${k} = ${v}`)
  t.ok(r.named_metrics.predicted_finish_latency_ms! > 0, 'a predicted finish takes time')
  t.ok(r.named_metrics.predicted_finish_latency_ms! >= r.named_metrics.predicted_wait_latency_ms!, 'finish = wait + service')
}

t.test('TEXT: the header, parsed back', async (t) => {
  const res = await server.app.inject({ method: 'POST', url: '/classify', payload: photo, headers: { ...jpeg, 'endpoint-load-metrics-format': 'TEXT' } })
  t.equal(res.statusCode, 200)
  const v = res.headers['endpoint-load-metrics']
  t.type(v, 'string')
  checkReport(t, parseText(v as string))
})

t.test('JSON: the same fields as a JSON object', async (t) => {
  const res = await server.app.inject({ method: 'POST', url: '/classify', payload: photo, headers: { ...jpeg, 'endpoint-load-metrics-format': 'json' } })
  t.equal(res.statusCode, 200)
  const v = res.headers['endpoint-load-metrics'] as string
  t.match(v, /^JSON \{/)
  checkReport(t, JSON.parse(v.slice(5)) as Report)
})

t.test('the Open Inference Protocol answers carry it too, refusals as well', async (t) => {
  const meta = await server.app.inject({ method: 'POST', url: '/v2/models/mobilenetv2/infer', payload: { inputs: [] }, headers: { 'endpoint-load-metrics-format': 'TEXT' } })
  t.equal(meta.statusCode, 400, 'a bad request is still a 4xx')
  checkReport(t, parseText(meta.headers['endpoint-load-metrics'] as string))
})

t.test('no header asked, or a format Switchyard does not write: no header, same answer', async (t) => {
  for (const format of [undefined, 'BIN', 'yaml']) {
    const res = await server.app.inject({ method: 'POST', url: '/classify', payload: photo, headers: { ...jpeg, ...(format ? { 'endpoint-load-metrics-format': format } : {}) } })
    t.equal(res.statusCode, 200)
    t.notOk('endpoint-load-metrics' in res.headers, `format ${format ?? 'none'}: no report`)
  }
  const status = await server.app.inject({ method: 'GET', url: '/readyz', headers: { 'endpoint-load-metrics-format': 'TEXT' } })
  t.notOk('endpoint-load-metrics' in status.headers, 'only inference answers carry it')
})
