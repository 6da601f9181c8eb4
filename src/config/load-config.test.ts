// One typed config: the file, then environment overrides; a bad value names its field.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { REPO } from '../test-support/server.js'
import { ConfigError } from '../errors.js'
import { loadConfig, parseDeviceList } from './load-config.js'

const file = join(REPO, 'config/default.json')

t.test('the shipped defaults', async (t) => {
  const c = loadConfig({ file, env: {}, root: REPO })
  t.equal(c.server.port, 8080)
  t.equal(c.server.host, '0.0.0.0')
  t.equal(c.models.localDir, null)
  t.same(c.models.enabled, ['mobilenetv2', 'yolox-nano'])
  t.same(c.devices.map((d) => d.id), ['cpu', 'cuda:0'])
  t.equal(c.devices[1]!.required, false, 'a GPU is used when present, not required')
  t.equal(c.devices[0]!.maxQueue, 256, 'schema defaults fill what the file leaves out')
  t.match(c.devices[0], { workers: 2, latencyWorkers: 1, intraOpThreads: 0 }, 'the CPU device: one worker kept for latency work, threads sized to the machine')
})

t.test('environment overrides', async (t) => {
  const c = loadConfig({ file, root: REPO, env: { PORT: '9000', HOST: '127.0.0.1', SWITCHYARD_MODELS_DIR: '/m', SWITCHYARD_DEVICES: 'cpu, cuda:1!', SWITCHYARD_MODELS: 'a,b', SWITCHYARD_CLASSIFY_MODEL: 'a', SWITCHYARD_DETECT_MODEL: 'b' } })
  t.equal(c.server.port, 9000)
  t.equal(c.server.host, '127.0.0.1')
  t.equal(c.models.localDir, '/m')
  t.same(c.models.enabled, ['a', 'b'])
  t.match(c.devices, [{ id: 'cpu', kind: 'cpu', required: false }, { id: 'cuda:1', kind: 'cuda', deviceId: 1, required: true }])
})

t.test('invalid values fail naming the field and its source', async (t) => {
  t.equal(loadConfig({ file, root: REPO, env: { SWITCHYARD_ROUTING_STRATEGY: 'join-shortest-queue' } }).routing.strategy, 'join-shortest-queue', 'a baseline strategy from the environment')
  t.equal(loadConfig({ file, root: REPO, env: { SWITCHYARD_ROUTING_STRATEGY: 'speed-aware' } }).routing.strategy, 'speed-aware', 'the speed-aware baseline from the environment')
  t.throws(() => loadConfig({ file, root: REPO, env: { SWITCHYARD_ROUTING_STRATEGY: 'random' } }), /\/routing\/strategy.*SWITCHYARD_ROUTING_STRATEGY/)
  t.throws(() => loadConfig({ file, root: REPO, env: { PORT: 'eighty' } }), new ConfigError('invalid config at /server/port: Expected integer (from PORT)'))
  t.throws(() => loadConfig({ file, root: REPO, env: { PORT: '70000' } }), /\/server\/port.*PORT/)
  t.throws(() => loadConfig({ file, root: REPO, env: { SWITCHYARD_DEVICES: 'tpu' } }), /\/devices\/0\/kind/)
  t.throws(() => loadConfig({ file, root: REPO, env: {}, overrides: { routing: { defaultPolicy: 'fast' } } }), /\/routing\/defaultPolicy/)
  t.throws(() => loadConfig({ file, root: REPO, env: {}, overrides: { surprise: true } }), /invalid config at \/surprise/)
  t.throws(() => loadConfig({ file, root: REPO, env: { SWITCHYARD_DEVICES: 'cpu,cpu' } }), /\/devices\/1\/id: duplicate device id "cpu"/)
  t.throws(() => loadConfig({ file, root: REPO, env: { SWITCHYARD_CLASSIFY_MODEL: 'resnet' } }), /\/routes\/classify: model "resnet" is not in \/models\/enabled/)
  t.throws(() => loadConfig({ file, root: REPO, env: {}, overrides: { decode: { slots: 2, bulkSlots: 3 } } }), /\/decode\/bulkSlots/)
  t.equal(loadConfig({ file, root: REPO, env: {} }).decode.maxWaiting, null, 'the decode waiting room by default: no count, bounded by time and memory (decode-gate.ts)')
  t.equal(loadConfig({ file, root: REPO, env: {}, overrides: { decode: { maxWaiting: 64 } } }).decode.maxWaiting, 64, 'a count where one is set (the default until issue 17 bounded it by time)')
  t.throws(() => loadConfig({ file, root: REPO, env: {}, overrides: { decode: { maxWaiting: -1 } } }), /\/decode\/maxWaiting/)
  t.throws(() => loadConfig({ file, root: REPO, env: {}, overrides: { devices: [{ id: 'cpu', kind: 'cpu', pricePerHour: -0.1 }] } }), /invalid config at \/devices\/0\/pricePerHour: Expected number to be greater or equal to 0/)
  t.throws(() => loadConfig({ file, root: REPO, env: {}, overrides: { devices: [{ id: 'cpu', kind: 'cpu', watts: { busy: -1, idle: 0 } }] } }), /\/devices\/0\/watts\/busy/)
  t.equal(loadConfig({ file, root: REPO, env: {}, overrides: { devices: [{ id: 'cpu', kind: 'cpu', riders: { latencyObjectiveMs: 100 } }] } }).devices[0]!.riders.latencyObjectiveMs, 100, 'the latency objective, beside the riders\' defaulted budgets')
  t.throws(() => loadConfig({ file, root: REPO, env: {}, overrides: { devices: [{ id: 'cpu', kind: 'cpu', riders: { latencyObjectiveMs: 0 } }] } }), /\/devices\/0\/riders\/latencyObjectiveMs/)
  const fleet = loadConfig({ file, root: REPO, env: {}, overrides: { routing: { latencyObjectiveMs: 150 }, devices: [{ id: 'cpu', kind: 'cpu' }, { id: 'cuda:0', kind: 'cuda', riders: { latencyObjectiveMs: 80 } }] } })
  t.same(fleet.devices.map((d) => d.riders.latencyObjectiveMs), [150, 80], 'routing.latencyObjectiveMs is every device\'s objective unless the device sets its own')
  t.equal(loadConfig({ file, root: REPO, env: {}, overrides: { devices: [{ id: 'cpu', kind: 'cpu' }] } }).devices[0]!.riders.latencyObjectiveMs, undefined, 'neither set: no objective')
  t.throws(() => loadConfig({ file, root: REPO, env: {}, overrides: { routing: { latencyObjectiveMs: 0 } } }), /\/routing\/latencyObjectiveMs/)
  t.same(loadConfig({ file, root: REPO, env: { SWITCHYARD_LATENCY_OBJECTIVE_MS: '120', SWITCHYARD_DEVICES: 'cpu' } }).devices.map((d) => d.riders.latencyObjectiveMs), [120], 'from the environment')
  t.throws(() => loadConfig({ file, root: REPO, env: { SWITCHYARD_LATENCY_OBJECTIVE_MS: 'soon' } }), /\/routing\/latencyObjectiveMs.*SWITCHYARD_LATENCY_OBJECTIVE_MS/)
  t.throws(() => loadConfig({ file, root: REPO, env: {}, overrides: { models: { variantDrift: { minTop1Agreement: 1.5 } } } }), /\/models\/variantDrift\/minTop1Agreement/)
})

t.test('unreadable or malformed config files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-config-'))
  writeFileSync(join(dir, 'bad.json'), '{ "server": ')
  t.throws(() => loadConfig({ file: join(dir, 'bad.json'), env: {} }), /is not valid JSON/)
  t.throws(() => loadConfig({ file: join(dir, 'missing.json'), env: {} }), /cannot read config file/)
  t.throws(() => loadConfig({ env: { SWITCHYARD_CONFIG: join(dir, 'missing.json') } }), /missing\.json/, 'SWITCHYARD_CONFIG names the file')
})

t.test('device lists', async (t) => {
  t.same(parseDeviceList('cpu,cpu:bulk,cuda:0'), [
    { id: 'cpu', kind: 'cpu', required: false },
    { id: 'cpu:bulk', kind: 'cpu', required: false },
    { id: 'cuda:0', kind: 'cuda', deviceId: 0, required: false }
  ])
})

t.test('intra-op threads sized to the machine when the config says 0', async (t) => {
  const { autoIntraOpThreads } = await import('../devices/device.js')
  t.equal(autoIntraOpThreads('cpu', 2, 2), 1, '2 cores, 2 workers: 1 thread each')
  t.equal(autoIntraOpThreads('cpu', 16, 2), 4, '16 cores, 2 workers: half the cores between them')
  t.equal(autoIntraOpThreads('cpu', 1, 4), 1, 'never 0')
  t.equal(autoIntraOpThreads('cuda', 16, 2), 2, 'a GPU session needs few CPU threads')
  const { intraOpThreadsOf } = await import('../devices/device.js')
  t.equal(intraOpThreadsOf({ kind: 'cpu', intraOpThreads: 0, workers: 2 }, 16), 4, '0: sized to the machine')
  t.equal(intraOpThreadsOf({ kind: 'cpu', intraOpThreads: 3, workers: 2 }, 16), 3, 'the config\'s when it gives one')
})
