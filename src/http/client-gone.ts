// The signal a request's dispatch listens to: it aborts when the client closes the connection
// before its answer is sent, so the dispatcher can take the request's items out of the device
// queues (router/dispatcher.ts). Items already in a running batch run to the end.
import type { FastifyReply } from 'fastify'

export function clientGone (reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  const res = reply.raw
  res.once('close', () => { if (!res.writableFinished) controller.abort() })
  return controller.signal
}
