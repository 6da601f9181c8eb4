// A device's lane for one model is set up by one function, for the server's devices and the
// simulator's alike: the worker's batch size, batch delays perModel over device over the config
// schema's defaults, the queue cap, the variant, and the shared queue or late-binding pool.
import t from 'tap'
import { Value } from '@sinclair/typebox/value'
import { DeviceSchema } from '../config/schema.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import type { ModelReport } from '../worker/protocol.js'
import { VirtualClock } from './clock.js'
import { LANE_DEFAULTS, laneSettings } from './lane-settings.js'
import { RequestQueue } from './request-queue.js'

const report = (name: string, maxBatchSize = 8): ModelReport => ({ name, inputShape: [], outputShape: [], dynamicBatch: maxBatchSize > 1, maxBatchSize, calibration: [] })

t.test('what a device config leaves out is the config schema\'s default', async (t) => {
  const device = Value.Default(DeviceSchema, { id: 'cpu', kind: 'cpu' }) as { maxQueue: number, batchDelayMs: unknown }
  t.same(LANE_DEFAULTS, { maxQueue: device.maxQueue, batchDelayMs: device.batchDelayMs })
  const s = laneSettings({}, report('m', 4))
  t.same({ maxBatchSize: s.maxBatchSize, delayMs: s.delayMs, maxQueue: s.maxQueue, variant: s.variant }, { maxBatchSize: 4, delayMs: { latency: 0, throughput: 5 }, maxQueue: 256, variant: 'default' })
  t.equal(s.queue, undefined, 'its own queue')
  t.equal(s.pool, undefined, 'no pool')
})

t.test('batch delays: the model\'s (perModel) over the device\'s over the defaults', async (t) => {
  const config = { maxQueue: 9, batchDelayMs: { latency: 1, throughput: 20 }, perModel: { m: { batchDelayMs: { throughput: 40 } } } }
  t.same(laneSettings(config, report('m')).delayMs, { latency: 1, throughput: 40 })
  t.same(laneSettings(config, report('other')).delayMs, { latency: 1, throughput: 20 })
  t.same(laneSettings(config, report('m@2'), { perModelKey: 'm' }).delayMs, { latency: 1, throughput: 40 }, 'a repository version takes its model\'s settings')
  t.equal(laneSettings(config, report('m')).maxQueue, 9)
})

t.test('a shared queue per model; one pool per model variant, created by the first device that runs it', async (t) => {
  const shared = new RequestQueue()
  t.equal(laneSettings({}, report('m'), { sharedQueues: new Map([['m', shared]]) }).queue, shared)
  const pools = new Map<string, RequestQueue>()
  const a = laneSettings({}, report('m'), { pools, variant: 'int8' })
  const b = laneSettings({}, report('m'), { pools, variant: 'int8' })
  const c = laneSettings({}, report('m'), { pools, variant: 'fp32' })
  t.equal(a.variant, 'int8')
  t.equal(a.pool, b.pool, 'the same variant: the same pool')
  t.not(a.pool, c.pool, 'another variant: another pool')
  t.same([...pools.keys()], ['m@int8', 'm@fp32'])
})

t.test('the simulator\'s devices set their lanes up the same way', async (t) => {
  const pools = new Map<string, RequestQueue>()
  const clock = new VirtualClock()
  const spec = { id: 'cpu', workers: 1, models: { m: { a: 5, b: 10, maxBatchSize: 4 } } }
  const d1 = new SimDevice(spec, clock, seededRandom(1), { pools }).scheduler
  const d2 = new SimDevice({ ...spec, id: 'gpu', maxQueue: 7 }, clock, seededRandom(2), { pools }).scheduler
  const lane = d1.lanes.get('m')!
  t.same({ delayMs: lane.delayMs, maxQueue: lane.maxQueue, variant: lane.variant }, { delayMs: LANE_DEFAULTS.batchDelayMs, maxQueue: LANE_DEFAULTS.maxQueue, variant: 'default' })
  t.equal(d2.lanes.get('m')!.maxQueue, 7)
  t.equal(lane.pool, d2.lanes.get('m')!.pool, 'both pull from one pool')
  t.equal(pools.get('m@default'), lane.pool)
})
