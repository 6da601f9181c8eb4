// Slow clients (slowloris): a client that announces a body and then trickles it, or never
// finishes its headers, must not hold the server. server.requestTimeoutMs bounds the whole
// request, headers and body: past it the connection is answered 408 and closed, within a
// bounded time, while other clients are served normally.
//
// Real time is the subject here, so the test measures it, and judges it only against what the
// server promises and what this machine measurably did meanwhile:
//  - never cut off before requestTimeoutMs: the server's clock starts after the client's, so
//    this holds on any machine;
//  - cut off by requestTimeoutMs + one check period (docs/security.md: the server checks every
//    min(1 s, requestTimeoutMs / 4)) + the time this process was measurably stalled while the
//    client waited (the sum of every probe timer's lateness: a loaded machine that delays the
//    server's check delays the probe too) + one probe period;
//  - the answer is a 408 with the JSON error body, never an empty or missing one;
//  - a normal request is answered while the slow clients are still connected: an order of
//    events, not a duration.
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import { SHARED_IMAGES, startServer } from '../test-support/server.js'

const TIMEOUT_MS = 1500
const CHECK_EVERY_MS = Math.min(1000, TIMEOUT_MS / 4)
const PROBE_MS = 20
const server = await startServer(t, { server: { requestTimeoutMs: TIMEOUT_MS } })
const { api } = await server.listen()
const { hostname, port } = new URL(api)
const eagle = readFileSync(join(SHARED_IMAGES, 'eagle.jpg'))

/** How late this process's timers ran, summed, from start() to stop(). */
function stallProbe (): { stop: () => number } {
  let stall = 0
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    stall += Math.max(0, now - last - PROBE_MS)
    last = now
  }, PROBE_MS)
  return {
    stop () {
      clearInterval(timer)
      return stall + Math.max(0, performance.now() - last - PROBE_MS)
    }
  }
}

interface Outcome { ms: number, response: string, stallMs: number }

/**
 * Opens a raw socket, sends `head`, then one byte of `trickle` every `everyMs` until the server
 * closes the connection. `closed` counts the clients the server has closed so far.
 */
const closed = { count: 0 }
function slowClient (head: string, trickle: string, everyMs: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const probe = stallProbe()
    const started = performance.now()
    const socket: Socket = connect(Number(port), hostname)
    let response = ''
    let i = 0
    let timer: NodeJS.Timeout | undefined
    // a safety net only, far past any bound below: Node's own defaults (60 s for headers,
    // 300 s for a request) would be what ends the connection if the config were not applied
    const giveUp = setTimeout(() => {
      socket.destroy()
      reject(new Error(`the server still held the connection after 50 s (answered: ${JSON.stringify(response)})`))
    }, 50_000)
    socket.on('connect', () => {
      socket.write(head)
      timer = setInterval(() => {
        if (!socket.writable) return
        socket.write(trickle[i++ % trickle.length]!)
      }, everyMs)
    })
    socket.on('data', (d) => { response += d.toString('latin1') })
    socket.on('error', () => {}) // EPIPE/ECONNRESET once the server hangs up: that is the point
    socket.on('close', () => {
      const ms = performance.now() - started
      closed.count++
      clearInterval(timer)
      clearTimeout(giveUp)
      resolve({ ms, response, stallMs: probe.stop() })
    })
  })
}

/** The checks every slow client's outcome must pass. */
function cutOff (t: Test, out: Outcome, what: string): void {
  const bound = TIMEOUT_MS + CHECK_EVERY_MS + out.stallMs + PROBE_MS
  t.ok(out.ms >= TIMEOUT_MS, `${what}: not cut off before the ${TIMEOUT_MS} ms timeout (${out.ms.toFixed(0)} ms)`)
  t.ok(out.ms <= bound, `${what}: cut off by ${bound.toFixed(0)} ms = timeout + check period ${CHECK_EVERY_MS} + measured stall ${out.stallMs.toFixed(0)} + probe period ${PROBE_MS} (${out.ms.toFixed(0)} ms)`)
  const [head = '', body = ''] = out.response.split('\r\n\r\n')
  t.match(head, /^HTTP\/1\.1 408 Request Timeout\r\n/, `${what}: answered 408`)
  t.match(head, /\r\ncontent-type: application\/json/i, `${what}: with a JSON body`)
  let json: unknown = null
  try { json = JSON.parse(body) } catch {}
  t.match(json, { statusCode: 408, error: 'SY_REQUEST_TIMEOUT', message: /\S/ }, `${what}: the documented error body`)
}

async function classify (): Promise<Response> {
  return fetch(`${api}/classify`, { method: 'POST', body: eagle, headers: { 'content-type': 'image/jpeg' } })
}

t.test('a body trickled a few bytes a second is cut off with a 408', async (t) => {
  const head = `POST /classify HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n`
  const before = closed.count
  const slow = slowClient(head, '\xff\xd8\xff\xe0', 300)

  // meanwhile other clients are served
  const normal = await classify()
  t.equal(normal.status, 200, 'a normal request succeeds')
  t.equal(closed.count, before, 'while the slow one is still connected')

  cutOff(t, await slow, 'trickled body')
})

t.test('headers that never finish are cut off too', async (t) => {
  cutOff(t, await slowClient(`POST /classify HTTP/1.1\r\nHost: ${hostname}\r\n`, 'X-Slow: aaaaaaaa\r\n', 300), 'trickled headers')
})

t.test('many slow clients at once do not starve a normal one', async (t) => {
  const head = `POST /detect HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n`
  const before = closed.count
  const slow = Array.from({ length: 20 }, () => slowClient(head, 'x', 250))
  const normal = await classify()
  t.equal(normal.status, 200)
  t.equal(closed.count, before, 'served while all 20 slow clients are still connected: it did not wait for them to time out')
  const outs = await Promise.all(slow)
  outs.forEach((o, i) => cutOff(t, o, `slow client ${i + 1}`))
})
