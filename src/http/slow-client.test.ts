// Slow clients (slowloris): a client that announces a body and then trickles it, or never
// finishes its headers, must not hold the server. server.requestTimeoutMs bounds the whole
// request, headers and body: past it the connection is answered 408 (or closed), within a
// bounded time, while other clients are served normally.
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { SHARED_IMAGES, startServer } from '../test-support/server.js'

const TIMEOUT_MS = 1500
const server = await startServer(t, { server: { requestTimeoutMs: TIMEOUT_MS } })
const { api } = await server.listen()
const { hostname, port } = new URL(api)
const eagle = readFileSync(join(SHARED_IMAGES, 'eagle.jpg'))

interface Outcome { ms: number, response: string, closed: boolean }

/** Opens a raw socket, sends `head`, then one byte of `trickle` every `everyMs` until the server answers or closes. */
function slowClient (head: string, trickle: string, everyMs: number, giveUpMs: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const socket: Socket = connect(Number(port), hostname)
    let response = ''
    let i = 0
    let timer: NodeJS.Timeout | undefined
    const giveUp = setTimeout(() => {
      socket.destroy()
      reject(new Error(`the server still held the connection after ${giveUpMs} ms (answered: ${JSON.stringify(response)})`))
    }, giveUpMs)
    const finish = (): void => {
      clearInterval(timer)
      clearTimeout(giveUp)
      resolve({ ms: Date.now() - started, response, closed: true })
    }
    socket.on('connect', () => {
      socket.write(head)
      timer = setInterval(() => {
        if (!socket.writable) return
        socket.write(trickle[i++ % trickle.length]!)
      }, everyMs)
    })
    socket.on('data', (d) => { response += d.toString('latin1') })
    socket.on('error', () => {}) // EPIPE/ECONNRESET once the server hangs up: that is the point
    socket.on('close', finish)
  })
}

async function classify (): Promise<Response> {
  return fetch(`${api}/classify`, { method: 'POST', body: eagle, headers: { 'content-type': 'image/jpeg' } })
}

t.test('a body trickled a few bytes a second is cut off with a 408', async (t) => {
  const head = `POST /classify HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n`
  const slow = slowClient(head, '\xff\xd8\xff\xe0', 300, TIMEOUT_MS + 6000)

  // meanwhile other clients are served
  await new Promise((r) => setTimeout(r, 200))
  const normal = await classify()
  t.equal(normal.status, 200, 'a normal request succeeds while the slow one is pending')

  const out = await slow
  t.ok(out.ms >= TIMEOUT_MS - 100, `not cut off before the timeout (${out.ms} ms)`)
  t.ok(out.ms <= TIMEOUT_MS + 2500, `cut off within a bounded time after the timeout (${out.ms} ms)`)
  t.match(out.response, /^(HTTP\/1\.1 408 |$)/, `answered 408 or simply closed: ${JSON.stringify(out.response.slice(0, 40))}`)
  t.ok(out.closed, 'the connection is closed')
})

t.test('headers that never finish are cut off too', async (t) => {
  const slow = slowClient(`POST /classify HTTP/1.1\r\nHost: ${hostname}\r\n`, 'X-Slow: aaaaaaaa\r\n', 300, TIMEOUT_MS + 6000)
  const out = await slow
  t.ok(out.ms <= TIMEOUT_MS + 2500, `cut off within a bounded time (${out.ms} ms)`)
  t.match(out.response, /^(HTTP\/1\.1 408 |$)/)
})

t.test('many slow clients at once do not starve a normal one', async (t) => {
  const head = `POST /detect HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n`
  const slow = Array.from({ length: 20 }, () => slowClient(head, 'x', 250, TIMEOUT_MS + 6000))
  await new Promise((r) => setTimeout(r, 300))
  const started = Date.now()
  const normal = await classify()
  t.equal(normal.status, 200)
  t.ok(Date.now() - started < TIMEOUT_MS, 'served without waiting for the slow clients to time out')
  const outs = await Promise.all(slow)
  t.ok(outs.every((o) => o.ms <= TIMEOUT_MS + 2500), `all cut off in time (slowest ${Math.max(...outs.map((o) => o.ms))} ms)`)
})
