// Fault injection at run time (/admin/faults): off unless the config allows faults (the
// routes do not exist then: 404), behind the admin key when auth.adminKeys is set, and every
// body it cannot inject is a 400 SY_INVALID_FAULT that injects nothing.
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { BatchEvent } from '../../devices/device.js'
import { SHARED_IMAGES, startServer } from '../../test-support/server.js'

const KEY = `sy_admin_${randomBytes(18).toString('base64url')}`
const dog = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))
const jpeg = { 'content-type': 'image/jpeg' }
const json = { 'content-type': 'application/json' }

t.test('off by default: no /admin/faults route, and a device refuses faults', async (t) => {
  const { app, devices } = await startServer(t)
  const res = await app.inject({ method: 'POST', url: '/admin/faults', headers: json, payload: { device: 'cpu', mode: 'hang' } })
  t.equal(res.statusCode, 404)
  t.equal(res.json().error, 'SY_ROUTE_NOT_FOUND')
  t.equal((await app.inject({ method: 'DELETE', url: '/admin/faults/cpu' })).statusCode, 404)
  t.throws(() => devices.get('cpu')!.injectFault('hang'), /faults\.allow is off/)
  t.equal((await app.inject({ method: 'POST', url: '/classify', payload: dog, headers: jpeg })).statusCode, 200, 'and it serves')
})

t.test('allowed, with admin keys: the key is required; faults are injected, listed and cleared', async (t) => {
  const { app, devices } = await startServer(t, { faults: { allow: true }, auth: { adminKeys: [KEY] } })
  const cpu = devices.get('cpu')!
  const slow = { device: 'cpu', mode: 'slow', delayMs: 200 }
  for (const [headers, status, error] of [[json, 401, 'SY_ADMIN_KEY_REQUIRED'], [{ ...json, 'x-switchyard-admin-key': `${KEY}x` }, 403, 'SY_ADMIN_KEY_INVALID'], [{ ...json, 'x-api-key': KEY }, 401, 'SY_ADMIN_KEY_REQUIRED']] as const) {
    const res = await app.inject({ method: 'POST', url: '/admin/faults', headers, payload: slow })
    t.equal(res.statusCode, status)
    t.equal(res.json().error, error)
  }
  t.equal((await app.inject({ method: 'GET', url: '/admin/faults' })).statusCode, 401)
  t.equal((await app.inject({ method: 'DELETE', url: '/admin/faults/cpu' })).statusCode, 401)
  t.same(cpu.faults, { slowMs: 0, failStarts: 0 }, 'nothing was injected without the key')

  const admin = { ...json, 'x-switchyard-admin-key': KEY }
  const res = await app.inject({ method: 'POST', url: '/admin/faults', headers: admin, payload: slow })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { injected: slow, device: 'cpu', isolation: 'thread', healthy: true, slowMs: 200, failStarts: 0 })
  const batch = once(cpu.scheduler, 'batch')
  t.equal((await app.inject({ method: 'POST', url: '/classify', payload: dog, headers: jpeg })).statusCode, 200)
  t.ok(((await batch)[0] as BatchEvent).serviceMs >= 200, 'the device is slower by the delay')

  const fs = await app.inject({ method: 'POST', url: '/admin/faults', headers: admin, payload: { device: 'cpu', mode: 'fail-start', count: 3 } })
  t.equal(fs.json().failStarts, 3)
  t.match((await app.inject({ method: 'GET', url: '/admin/faults', headers: admin })).json(), { devices: [{ device: 'cpu', slowMs: 200, failStarts: 3 }] })
  const cleared = await app.inject({ method: 'DELETE', url: '/admin/faults/cpu', headers: admin })
  t.equal(cleared.statusCode, 200)
  t.match(cleared.json(), { device: 'cpu', slowMs: 0, failStarts: 0 })
  t.same(cpu.faults, { slowMs: 0, failStarts: 0 })
  t.equal((await app.inject({ method: 'DELETE', url: '/admin/faults/gpu:9', headers: admin })).json().error, 'SY_UNKNOWN_DEVICE')
})

t.test('bodies that cannot be injected are 400 SY_INVALID_FAULT (404 for an unknown device), and inject nothing', async (t) => {
  const { app, devices } = await startServer(t, { faults: { allow: true } })
  const cases: Array<[string | Record<string, unknown>, number, RegExp]> = [
    ['{"device": "cpu", "mode":', 400, /not JSON/],
    [{ device: 'cpu' }, 400, /mode/],
    [{ device: 'cpu', mode: 'explode' }, 400, /mode/],
    [{ device: 'cpu', mode: 'slow' }, 400, /needs delayMs/],
    [{ device: 'cpu', mode: 'slow', delayMs: -1 }, 400, /delayMs/],
    [{ device: 'cpu', mode: 'slow', delayMs: 10, extra: 1 }, 400, /extra|additional/i],
    [{ device: 'cpu', mode: 'crash' }, 400, /isolation 'process'/],
    [{ device: 'cpu', mode: 'fail-start', count: 0 }, 400, /count/],
    [{ device: 'nope', mode: 'throw' }, 404, /No device named nope/]
  ]
  for (const [payload, status, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/admin/faults', headers: json, payload })
    t.equal(res.statusCode, status, JSON.stringify(payload))
    t.match(res.json(), { statusCode: status, error: status === 400 ? 'SY_INVALID_FAULT' : 'SY_UNKNOWN_DEVICE', message }, JSON.stringify(payload))
  }
  t.same(devices.get('cpu')!.faults, { slowMs: 0, failStarts: 0 })
  t.equal((await app.inject({ method: 'POST', url: '/classify', payload: dog, headers: jpeg })).statusCode, 200, 'the device serves untouched')
  // no admin keys configured: the routes are open (faults.allow is the opt-in)
  const ok = await app.inject({ method: 'POST', url: '/admin/faults', headers: json, payload: { device: 'cpu', mode: 'throw' } })
  t.equal(ok.statusCode, 200)
  const failed = await app.inject({ method: 'POST', url: '/classify', payload: dog, headers: jpeg })
  t.equal(failed.statusCode, 503)
  t.match(failed.json(), { error: 'SY_INFERENCE_FAILED', message: /injected fault/ })
})
