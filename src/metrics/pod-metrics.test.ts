// Pod-level gauges (no device label): one series each, so an Endpoint Picker or an HPA can read
// a pod's load without summing; they move with the work in the pod. On a virtual clock with the
// server's own Scheduler (a SimDevice's), read through the same Metrics registry a server scrapes.
import t from 'tap'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { VirtualClock } from '../devices/clock.js'
import { podSignals } from '../router/pod-signals.js'
import { SimDevice } from '../sim/sim-device.js'
import { seededRandom } from '../sim/simulated-executor.js'
import { Metrics } from './metrics.js'

const clock = new VirtualClock(0)
const devices = [
  new SimDevice({ id: 'cpu', kind: 'cpu', workers: 2, models: { m: { a: 2, b: 10, maxBatchSize: 4 } } }, clock, seededRandom(1)).scheduler,
  new SimDevice({ id: 'gpu', kind: 'cuda', workers: 1, models: { m: { a: 4, b: 0.5, maxBatchSize: 16 } } }, clock, seededRandom(2)).scheduler
]
const metrics = new Metrics(() => devices, () => new Map([['m', true]]), () => podSignals(devices, ['m'], clock.now()))

async function scrape (): Promise<Map<string, Array<{ labels: Record<string, string>, value: number }>>> {
  const families = parsePrometheusTextFormat(await metrics.registry.metrics())
  return new Map(families.map((f) => [f.name, f.metrics.map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) }))]))
}

const SCALARS = ['switchyard_pod_queued_requests', 'switchyard_pod_running_requests', 'switchyard_pod_free_batch_slots', 'switchyard_pod_busy_workers_ratio']

t.test('one series per pod (per model and policy where labelled), no device label', async (t) => {
  const s = await scrape()
  for (const name of SCALARS) {
    t.equal(s.get(name)?.length, 1, `${name}: one series`)
    t.same(s.get(name)![0]!.labels, {}, `${name}: no labels`)
  }
  const finish = s.get('switchyard_pod_predicted_finish_seconds')!
  t.same(finish.map((x) => `${x.labels.model}/${x.labels.policy}`).sort(), ['m/cost', 'm/latency', 'm/throughput'])
  t.equal(s.get('switchyard_pod_predicted_cost_per_image')?.length, 1)
  t.equal(finish.find((x) => x.labels.policy === 'latency')!.value, podSignals(devices, ['m'], 0).finishMs.get('m')!.latency / 1000, 'the router\'s prediction, in seconds')
  t.equal(s.get('switchyard_pod_free_batch_slots')![0]!.value, 3)
  t.ok(s.get('switchyard_queue_depth')!.some((x) => x.labels.device === 'gpu'), 'the per-device series stay')
})

t.test('the values move with the work in the pod', async (t) => {
  const idle = await scrape()
  const item = { image: { pixels: new Uint8Array(0), width: 0, height: 0, originalWidth: 0, originalHeight: 0 }, params: {}, policy: 'latency' as const, deadline: 1e9, enqueuedAt: 0, resolve: () => {}, reject: () => {} }
  for (let i = 0; i < 6; i++) devices[0]!.enqueue('m', { ...item })
  const busy = await scrape()
  const v = (s: typeof idle, name: string, policy?: string): number => s.get(name)!.find((x) => policy === undefined || x.labels.policy === policy)!.value
  t.equal(v(busy, 'switchyard_pod_running_requests'), 2, 'two CPU workers each run one latency item')
  t.equal(v(busy, 'switchyard_pod_queued_requests'), 4)
  t.equal(v(busy, 'switchyard_pod_free_batch_slots'), 1, 'the GPU is still free')
  t.ok(v(busy, 'switchyard_pod_busy_workers_ratio') > v(idle, 'switchyard_pod_busy_workers_ratio'))
  clock.advance(10_000)
  const after = await scrape()
  t.equal(v(after, 'switchyard_pod_queued_requests'), 0, 'and back once drained')
  t.equal(v(after, 'switchyard_pod_predicted_finish_seconds', 'latency'), v(idle, 'switchyard_pod_predicted_finish_seconds', 'latency'))
})
