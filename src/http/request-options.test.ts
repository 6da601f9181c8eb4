// The routing headers a request may send, parsed: policy (latency, throughput, cost), deadline,
// device pin and model variant. Bad values are 400 SY_INVALID_HEADER naming the header.
import t from 'tap'
import { requestOptions } from './request-options.js'

const routing = { defaultPolicy: 'latency' as const, strategy: 'switchyard' as const, latencyDeadlineMs: 10_000, throughputDeadlineMs: 30_000, costWindow: 128, calibrationRuns: 1, maxQueuedBytes: 0 }

t.test('policy cost: batched work, so the throughput deadline by default', async (t) => {
  t.same(requestOptions({ 'x-switchyard-policy': 'Cost' }, routing), { policy: 'cost', deadlineMs: 30_000, pinned: undefined, variant: undefined })
  t.same(requestOptions({ 'x-switchyard-policy': 'cost', 'x-switchyard-deadline-ms': '250' }, routing).deadlineMs, 250)
  t.equal(requestOptions({}, { ...routing, defaultPolicy: 'cost' }).policy, 'cost', 'routing.defaultPolicy may be cost')
})

t.test('X-Switchyard-Variant: a variant name or most-accurate, case-insensitive', async (t) => {
  t.equal(requestOptions({ 'x-switchyard-variant': ' FP32 ' }, routing).variant, 'fp32')
  t.equal(requestOptions({ 'x-switchyard-variant': 'most-accurate' }, routing).variant, 'most-accurate')
  t.equal(requestOptions({}, routing).variant, undefined)
})

t.test('bad values name the header', async (t) => {
  const bad: Array<[Record<string, string | string[]>, RegExp]> = [
    [{ 'x-switchyard-policy': 'cheapest' }, /Invalid header X-Switchyard-Policy: expected "latency", "throughput" or "cost", got "cheapest"/],
    [{ 'x-switchyard-variant': '' }, /Invalid header X-Switchyard-Variant: expected a variant name or "most-accurate", got ""/],
    [{ 'x-switchyard-variant': 'int8/../fp32' }, /X-Switchyard-Variant/],
    [{ 'x-switchyard-variant': 'a'.repeat(40) }, /X-Switchyard-Variant/],
    [{ 'x-switchyard-variant': ['int8', 'fp32'] }, /X-Switchyard-Variant: given more than once/],
    [{ 'x-switchyard-variant': 'int8,fp32' }, /X-Switchyard-Variant: given more than once or as a list/]
  ]
  for (const [headers, message] of bad) t.throws(() => requestOptions(headers, routing), { code: 'SY_INVALID_HEADER', statusCode: 400, message }, JSON.stringify(headers))
})
