// GET /metrics in the Prometheus text format. Served on the API port, or on its own
// port when config.metrics.port is set (so it need not be exposed with the API).
import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../../metrics/metrics.js'

export async function metricsRoute (app: FastifyInstance, opts: { metrics: Metrics }): Promise<void> {
  const { registry } = opts.metrics
  const schema = {
    summary: 'Prometheus metrics (text exposition format)',
    tags: ['status'],
    response: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } } }
  }
  app.get('/metrics', { schema }, async (_request, reply) => {
    void reply.header('content-type', registry.contentType)
    return registry.metrics()
  })
}
