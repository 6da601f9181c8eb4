// The signal behind "a client that disconnects removes its queued items": it aborts when the
// connection closes before the answer is sent, and never once the answer was sent. A real
// HTTP server and a raw socket; every wait is on an event, none on time.
import { once } from 'node:events'
import { connect } from 'node:net'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { clientGone } from './client-gone.js'

async function serve (t: Test): Promise<{ port: number, signals: AbortSignal[], closed: Array<Promise<unknown>>, release: () => void }> {
  const app = Fastify()
  const signals: AbortSignal[] = []
  const closed: Array<Promise<unknown>> = []
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  app.get('/held', async (_request, reply) => {
    signals.push(clientGone(reply))
    await held
    return { ok: true }
  })
  app.get('/quick', async (_request, reply) => {
    signals.push(clientGone(reply))
    closed.push(once(reply.raw, 'close'))
    return { ok: true }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { release(); await app.close() })
  return { port: (app.server.address() as { port: number }).port, signals, closed, release }
}

t.test('the client closes its connection while the request waits: the signal aborts', async (t) => {
  const { port, signals } = await serve(t)
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write('GET /held HTTP/1.1\r\nHost: x\r\n\r\n')
  while (signals.length === 0) await new Promise((resolve) => setImmediate(resolve))
  t.notOk(signals[0]!.aborted, 'not while the client waits')
  const aborted = once(signals[0]!, 'abort')
  socket.destroy()
  await aborted
  t.ok(signals[0]!.aborted)
})

t.test('an answered request never aborts, though the connection closes afterwards', async (t) => {
  const { port, signals, closed } = await serve(t)
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write('GET /quick HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  socket.resume()
  await once(socket, 'close')
  await closed[0] // the server saw the connection close too
  t.equal(signals.length, 1)
  t.notOk(signals[0]!.aborted)
})
