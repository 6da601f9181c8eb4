// Every metric Switchyard exports, declared in one place with its labels (Prometheus naming:
// snake_case, `switchyard_` prefix, base units — seconds — and `_total` for counters).
// Each app gets its own registry, so two servers in one process (tests) never share state.
// Gauges that describe live state (queue depth, in flight, health, cost-model parameters)
// are read from the devices when Prometheus scrapes, never updated on the hot path.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Device } from '../devices/device.js'

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const ERROR_BUCKETS = [-1, -0.25, -0.1, -0.05, -0.025, -0.01, -0.005, 0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

export class Metrics {
  readonly registry = new Registry()
  readonly requests: Counter<'route' | 'model' | 'device' | 'status'>
  readonly decode: Histogram<'device' | 'model' | 'policy'>
  readonly queueWait: Histogram<'device' | 'model' | 'policy'>
  readonly inference: Histogram<'device' | 'model' | 'policy'>
  readonly request: Histogram<'device' | 'model' | 'policy'>
  readonly batchSize: Histogram<'device' | 'model'>
  readonly batchService: Histogram<'device' | 'model'>
  readonly predictionError: Histogram<'device' | 'model'>
  readonly decisions: Counter<'device' | 'model' | 'policy' | 'reason'>
  readonly rejected: Counter<'device' | 'model' | 'policy' | 'reason'>
  readonly retries: Counter<'device' | 'model'>
  readonly tiles: Counter<'device' | 'model'>

  constructor (devices: () => readonly Device[], modelReady: () => ReadonlyMap<string, boolean>) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' })
    const dm = ['device', 'model'] as const
    const dmp = ['device', 'model', 'policy'] as const
    this.requests = new Counter({ name: 'switchyard_http_requests_total', help: 'Inference requests answered, by route, model, device and HTTP status', labelNames: ['route', 'model', 'device', 'status'], registers })
    this.decode = new Histogram({ name: 'switchyard_decode_duration_seconds', help: 'Image decode and resize on the main thread (sharp), per request', labelNames: dmp, buckets: LATENCY_BUCKETS, registers })
    this.queueWait = new Histogram({ name: 'switchyard_queue_wait_duration_seconds', help: 'Time a request waited in its device queue before its batch started', labelNames: dmp, buckets: LATENCY_BUCKETS, registers })
    this.inference = new Histogram({ name: 'switchyard_inference_duration_seconds', help: 'Inference time of the batch that carried the request (tensor layout + run), as seen by the request', labelNames: dmp, buckets: LATENCY_BUCKETS, registers })
    this.request = new Histogram({ name: 'switchyard_request_duration_seconds', help: 'End-to-end time of a successful inference request, body read to response', labelNames: dmp, buckets: LATENCY_BUCKETS, registers })
    this.batchSize = new Histogram({ name: 'switchyard_batch_size', help: 'Images per executed batch', labelNames: dm, buckets: [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64], registers })
    this.batchService = new Histogram({ name: 'switchyard_batch_duration_seconds', help: 'Worker time per executed batch (layout + run + decode): what the cost model fits', labelNames: dm, buckets: LATENCY_BUCKETS, registers })
    this.predictionError = new Histogram({ name: 'switchyard_prediction_error_seconds', help: 'Actual minus predicted finish time of a request (negative: faster than predicted)', labelNames: dm, buckets: ERROR_BUCKETS, registers })
    this.decisions = new Counter({ name: 'switchyard_routing_decisions_total', help: 'Requests routed, by chosen device, policy and reason', labelNames: ['device', 'model', 'policy', 'reason'], registers })
    this.rejected = new Counter({ name: 'switchyard_rejected_requests_total', help: 'Requests refused by admission control or failed after retry, by reason', labelNames: ['device', 'model', 'policy', 'reason'], registers })
    this.tiles = new Counter({ name: 'switchyard_tile_images_total', help: 'Images run for tiled requests (the tiles and each whole-image pass), by device', labelNames: dm, registers })
    this.retries = new Counter({ name: 'switchyard_batch_retries_total', help: 'Requests whose batch failed on this device and were retried on another', labelNames: dm, registers })

    const each = (fn: (d: Device) => void): void => { for (const d of devices()) fn(d) }
    new Gauge({
      name: 'switchyard_queue_depth', help: 'Requests queued (not yet running) per device and model', labelNames: dm, registers,
      collect () { this.reset(); each((d) => { for (const l of d.lanes.values()) this.set({ device: d.id, model: l.model }, l.queue.size) }) }
    })
    new Gauge({
      name: 'switchyard_in_flight', help: 'Requests in batches running now per device and model', labelNames: dm, registers,
      collect () { this.reset(); each((d) => { for (const l of d.lanes.values()) this.set({ device: d.id, model: l.model }, l.inFlight) }) }
    })
    new Gauge({
      name: 'switchyard_device_healthy', help: '1 when the device has a live worker and serves requests', labelNames: ['device'], registers,
      collect () { this.reset(); each((d) => this.set({ device: d.id }, d.healthy ? 1 : 0)) }
    })
    new Gauge({
      name: 'switchyard_device_workers', help: 'Live inference workers per device', labelNames: ['device'], registers,
      collect () { this.reset(); each((d) => this.set({ device: d.id }, d.liveWorkers)) }
    })
    new Gauge({
      name: 'switchyard_cost_intercept_seconds', help: 'Fitted fixed cost a of a batch (t = a + b·n)', labelNames: dm, registers,
      collect () { this.reset(); each((d) => { for (const l of d.lanes.values()) this.set({ device: d.id, model: l.model }, l.cost.a / 1000) }) }
    })
    new Gauge({
      name: 'switchyard_cost_slope_seconds', help: 'Fitted cost b per image in a batch (t = a + b·n)', labelNames: dm, registers,
      collect () { this.reset(); each((d) => { for (const l of d.lanes.values()) this.set({ device: d.id, model: l.model }, l.cost.b / 1000) }) }
    })
    new Gauge({
      name: 'switchyard_model_ready', help: '1 when the model is loaded and warmed on at least one healthy device', labelNames: ['model'], registers,
      collect () { this.reset(); for (const [m, ok] of modelReady()) this.set({ model: m }, ok ? 1 : 0) }
    })
  }

  /** Batch-level observations come from the devices' 'batch' events. */
  watch (device: Device): void {
    device.on('batch', (e: { device: string, model: string, size: number, serviceMs: number }) => {
      this.batchSize.observe({ device: e.device, model: e.model }, e.size)
      this.batchService.observe({ device: e.device, model: e.model }, e.serviceMs / 1000)
    })
  }
}
