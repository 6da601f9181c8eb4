// Energy and cost metrics from the busy time of executed batches ('batch' events of a device):
// joules = busy watts × seconds (measured watts where a sampler has a reading, else the
// configured or default figure), cost = pricePerHour × hours. A stand-in device emits the
// events; the arithmetic is the metric's, not the device's.
import { EventEmitter } from 'node:events'
import t from 'tap'
import { DEFAULT_PRICES } from '../router/price.js'
import { GpuPowerSampler } from './gpu-power.js'
import { Metrics, type ObservedDevice } from './metrics.js'

function fakeDevice (id: string, config: Record<string, unknown>): ObservedDevice & EventEmitter {
  const d = new EventEmitter() as unknown as ObservedDevice & EventEmitter
  Object.assign(d, { id, config, lanes: new Map([['m', { model: 'm', variant: 'fp32', queue: { size: 0 }, inFlight: 0, cost: { a: 0, b: 0 } }]]), healthy: true, liveWorkers: 1 })
  return d
}

const sample = (text: string, name: string, device: string): number => {
  const m = new RegExp(`^${name}\\{device="${device}"[^}]*\\} (\\S+)$`, 'm').exec(text)
  return m ? Number(m[1]) : NaN
}

t.test('joules and cost per device, model and variant; measured watts replace the configured ones', async (t) => {
  const cpu = fakeDevice('cpu', { kind: 'cpu', pricePerHour: 0.36, watts: { busy: 40, idle: 10 } })
  const gpu = fakeDevice('cuda:0', { kind: 'cuda', deviceId: 0 })
  const devices = [cpu, gpu]
  const metrics = new Metrics(() => devices, () => new Map())
  const sampler = new GpuPowerSampler({ index: 0 })
  metrics.watch(cpu)
  metrics.watch(gpu, sampler)
  cpu.emit('batch', { device: 'cpu', model: 'm', size: 4, serviceMs: 500, predictedMs: 0 })
  gpu.emit('batch', { device: 'cuda:0', model: 'm', size: 8, serviceMs: 100, predictedMs: 0 }) // no reading yet: 700 W default
  sampler.watts = 250
  gpu.emit('batch', { device: 'cuda:0', model: 'm', size: 8, serviceMs: 100, predictedMs: 0 })
  const text = await metrics.registry.metrics()
  t.equal(sample(text, 'switchyard_energy_joules_total', 'cpu'), 40 * 0.5, '40 W × 0.5 s')
  t.ok(Math.abs(sample(text, 'switchyard_cost_total', 'cpu') - 0.36 * 0.5 / 3600) < 1e-12, '$0.36/h × 0.5 s')
  t.ok(Math.abs(sample(text, 'switchyard_energy_joules_total', 'cuda:0') - (DEFAULT_PRICES.cuda.watts.busy * 0.1 + 250 * 0.1)) < 1e-9, 'default 700 W, then the measured 250 W')
  t.match(text, /switchyard_energy_joules_total\{device="cpu",model="m",variant="fp32"\}/)
  t.match(text, /switchyard_device_power_watts\{device="cuda:0",source="measured"\} 250/)
  t.match(text, /switchyard_device_power_watts\{device="cpu",source="configured"\} 40/)
  t.match(text, /switchyard_device_price_per_hour\{device="cuda:0"\} 2.99/)
})
