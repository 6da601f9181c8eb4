// metrics.port set: /metrics is served by its own listener (on metrics.host) and not on the
// API port, so it need not be exposed with the API. Port 0 means "any free port", not "unset":
// only null keeps /metrics on the API port.
import t from 'tap'
import { startServer } from '../../test-support/server.js'

const server = await startServer(t, {
  metrics: { port: 0, host: '127.0.0.1' },
  auth: { apiKeys: [{ name: 'ops', sha256: '0'.repeat(64), models: ['*'] }] }
})
const { api, metrics } = await server.listen()

t.test('the metrics listener has its own address', async (t) => {
  t.ok(server.metricsApp, 'a separate metrics server was built')
  t.type(metrics, 'string')
  t.match(metrics, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.not(new URL(metrics!).port, '0', 'port 0 was bound to a real port')
  t.not(new URL(metrics!).port, new URL(api).port, 'not the API port')
})

t.test('/metrics is served on the metrics port, without a key', async (t) => {
  const res = await fetch(`${metrics}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/plain/)
  const text = await res.text()
  t.match(text, /# TYPE \w+ (counter|gauge|histogram)/, 'Prometheus text format')
})

t.test('the API port answers 404 for /metrics', async (t) => {
  const res = await fetch(`${api}/metrics`)
  t.equal(res.status, 404)
  t.match(await res.json(), { statusCode: 404, error: 'SY_ROUTE_NOT_FOUND' })
  t.equal((await server.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404)
})

t.test('the metrics port serves nothing else', async (t) => {
  for (const [method, url] of [['GET', '/healthz'], ['GET', '/models'], ['POST', '/classify']] as const) {
    const res = await fetch(`${metrics}${url}`, { method })
    t.equal(res.status, 404, `${method} ${url}`)
  }
})

t.test('the API port still serves the API', async (t) => {
  const res = await fetch(`${api}/healthz`)
  t.equal(res.status, 200)
})
