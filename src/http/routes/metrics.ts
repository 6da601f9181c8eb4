// GET /metrics in the Prometheus text format. Served on the API port, or on its own
// port when config.metrics.port is set (so it need not be exposed with the API).
import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../../metrics/metrics.js'

export async function metricsRoute (app: FastifyInstance, opts: { metrics: Metrics }): Promise<void> {
  const { registry } = opts.metrics
  app.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', registry.contentType)
    return registry.metrics()
  })
}
