// The fault and isolation settings of the config: faults are off unless allowed (in the file,
// or by SWITCHYARD_ALLOW_FAULTS / SWITCHYARD_FAULTS), an injected fault must name a device
// that can take it, and a device's isolation defaults by its kind.
import { join } from 'node:path'
import t from 'tap'
import { REPO } from '../test-support/server.js'
import { loadConfig } from './load-config.js'
import { deviceIsolation } from './schema.js'

const file = join(REPO, 'config/default.json')
const load = (env: NodeJS.ProcessEnv, overrides = {}) => loadConfig({ file, root: REPO, env, overrides })

t.test('never on by default', async (t) => {
  const c = load({})
  t.same(c.faults, { allow: false, inject: [] })
  t.same(c.auth.adminKeys, [])
})

t.test('the environment turns faults on', async (t) => {
  t.equal(load({ SWITCHYARD_ALLOW_FAULTS: '1' }).faults.allow, true)
  t.equal(load({ SWITCHYARD_ALLOW_FAULTS: 'false' }).faults.allow, false)
  t.throws(() => load({ SWITCHYARD_ALLOW_FAULTS: 'yes' }), /SWITCHYARD_ALLOW_FAULTS must be/)
  const c = load({ SWITCHYARD_FAULTS: '[{"device":"cpu","mode":"slow","delayMs":50}]' })
  t.same(c.faults, { allow: true, inject: [{ device: 'cpu', mode: 'slow', delayMs: 50 }] }, 'SWITCHYARD_FAULTS implies allow')
  t.throws(() => load({ SWITCHYARD_FAULTS: '[{"device":' }), /SWITCHYARD_FAULTS is not valid JSON/)
  t.throws(() => load({ SWITCHYARD_FAULTS: '[{"device":"cpu","mode":"melt"}]' }), /\/faults\/inject\/0\/mode.*SWITCHYARD_FAULTS/)
  t.same(load({ SWITCHYARD_ADMIN_KEYS: 'aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb' }).auth.adminKeys, ['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb'])
  t.throws(() => load({ SWITCHYARD_ADMIN_KEYS: 'short' }), /\/auth\/adminKeys\/0.*SWITCHYARD_ADMIN_KEYS/)
})

t.test('an injected fault names a device that can take it', async (t) => {
  t.throws(() => load({ SWITCHYARD_FAULTS: '[{"device":"gpu","mode":"hang"}]' }), /\/faults\/inject\/0\/device: no device "gpu"/)
  t.throws(() => load({ SWITCHYARD_FAULTS: '[{"device":"cpu","mode":"crash"}]' }), /\/faults\/inject\/0: mode 'crash'.*isolation 'process'/)
  t.throws(() => load({ SWITCHYARD_FAULTS: '[{"device":"cpu","mode":"slow"}]' }), /needs delayMs/)
  t.throws(() => load({}, { faults: { inject: [{ device: 'cpu', mode: 'throw' }] } }), /faults are injected but \/faults\/allow is false/)
  const crash = load({ SWITCHYARD_FAULTS: '[{"device":"cpu","mode":"crash"}]' }, { devices: [{ id: 'cpu', kind: 'cpu', isolation: 'process' }] })
  t.equal(crash.faults.inject[0]!.mode, 'crash', "'crash' on a process-isolated device")
})

t.test('isolation: threads for the CPU, processes for CUDA, unless configured', async (t) => {
  const c = load({})
  t.same(c.devices.map(deviceIsolation), ['thread', 'process'])
  t.equal(deviceIsolation({ kind: 'cpu', isolation: 'process' }), 'process')
  t.equal(deviceIsolation({ kind: 'cuda', isolation: 'thread' }), 'thread')
  t.throws(() => load({}, { devices: [{ id: 'cpu', kind: 'cpu', isolation: 'fork' }] }), /\/devices\/0\/isolation/)
})
