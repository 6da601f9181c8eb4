// The nats client's writes, once per event-loop turn (nats-write-batching.ts), against the real
// nats-server: what one turn publishes from several microtasks leaves in one socket write, in
// order, and still arrives; the client unpatched writes once per microtask checkpoint.
import t from 'tap'
import { connect, type NatsConnection } from 'nats'
import { startNatsServer } from '../test-support/nats-server.js'
import { batchNatsWrites } from './nats-write-batching.js'

const nats = await startNatsServer()
t.teardown(() => nats.stop())

/** socket writes carrying a PUB to `prefix`, counted from now on */
function countWrites (nc: NatsConnection, prefix: string): () => number {
  const socket = (nc as unknown as { protocol: { transport: { socket: { write: (...a: unknown[]) => boolean } } } }).protocol.transport.socket
  const write = socket.write.bind(socket)
  let n = 0
  socket.write = (...a: unknown[]) => {
    if (Buffer.from(a[0] as Uint8Array).toString('latin1').includes(`PUB ${prefix}`)) n++
    return write(...a)
  }
  return () => n
}

/** three publishes from three microtasks of one turn; what the subscriber got, and the writes */
async function oneTurn (nc: NatsConnection, prefix: string): Promise<{ writes: number, got: string[] }> {
  const sub = nc.subscribe(`${prefix}.>`, { max: 3 })
  await nc.flush()
  const writes = countWrites(nc, prefix)
  nc.publish(`${prefix}.a`)
  await Promise.resolve()
  nc.publish(`${prefix}.b`)
  await Promise.resolve()
  nc.publish(`${prefix}.c`)
  const got: string[] = []
  for await (const m of sub) got.push(m.subject)
  return { writes: writes(), got }
}

t.test('unpatched, the client writes once per microtask checkpoint', async (t) => {
  const nc = await connect({ servers: nats.url })
  t.teardown(() => nc.close())
  const r = await oneTurn(nc, 'before')
  t.same(r.got, ['before.a', 'before.b', 'before.c'])
  t.equal(r.writes, 3, 'one write per publish')
})

t.test('patched, one turn\'s publishes leave in one write, in order', async (t) => {
  t.equal(batchNatsWrites(), true, 'applied to the pinned client')
  t.equal(batchNatsWrites(), true, 'idempotent')
  const nc = await connect({ servers: nats.url })
  t.teardown(() => nc.close())
  const r = await oneTurn(nc, 'after')
  t.same(r.got, ['after.a', 'after.b', 'after.c'])
  t.equal(r.writes, 1)
  // request/reply and flush still work
  const sub = nc.subscribe('echo')
  void (async () => { for await (const m of sub) m.respond(m.data) })()
  const reply = await nc.request('echo', new TextEncoder().encode('hi'), { timeout: 5000 })
  t.equal(new TextDecoder().decode(reply.data), 'hi')
  await nc.flush()
})

t.test('a close still sends what was published just before it', async (t) => {
  const watcher = await connect({ servers: nats.url })
  t.teardown(() => watcher.close())
  const sub = watcher.subscribe('last', { max: 1, timeout: 10_000 }) // fails instead of hanging
  await watcher.flush()
  const nc = await connect({ servers: nats.url })
  nc.publish('last', new TextEncoder().encode('bye'))
  await nc.close()
  for await (const m of sub) t.equal(new TextDecoder().decode(m.data), 'bye')
})
