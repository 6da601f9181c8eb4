// The one typed configuration of a Switchyard process. `config/default.json` holds the
// defaults a user sees; this schema is what every file and environment override is checked
// against, so an invalid value fails at startup with the JSON path of the field.
import { Type, type Static } from '@sinclair/typebox'
import { FaultInjectionSchema } from '../devices/faults.js'
import { STRATEGIES } from '../router/strategies.js'

/** What a request asks for (X-Switchyard-Policy); the one declaration of the union.
 *  latency: earliest finish · throughput: best images per second · cost: cheapest per inference in time */
const policy = (options: { default?: string } = {}) => Type.Union([Type.Literal('latency'), Type.Literal('throughput'), Type.Literal('cost')], options)
const Policy = policy()
export type Policy = Static<typeof Policy>

const BatchDelay = Type.Object({
  latency: Type.Number({ minimum: 0, maximum: 1000, default: 0, description: 'ms a latency-class batch may wait to fill (0: never waits)' }),
  throughput: Type.Number({ minimum: 0, maximum: 1000, default: 5, description: 'ms a throughput-class batch may wait to fill' })
}, { additionalProperties: false, default: {} })

const DeviceModelSettings = Type.Object({
  maxBatchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 256 })),
  batchDelayMs: Type.Optional(Type.Partial(BatchDelay))
}, { additionalProperties: false })

export const DeviceSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9:._-]*$', description: 'unique name; appears in headers and metric labels' }),
  kind: Type.Union([Type.Literal('cpu'), Type.Literal('cuda')]),
  deviceId: Type.Integer({ minimum: 0, default: 0, description: 'CUDA ordinal (cuda only)' }),
  required: Type.Boolean({ default: false, description: 'fail startup when this device cannot be opened' }),
  workers: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
  latencyWorkers: Type.Integer({ minimum: 0, maximum: 63, default: 0, description: 'of the workers, how many take latency-class work only (capped at workers − 1)' }),
  intraOpThreads: Type.Integer({ minimum: 0, maximum: 256, default: 0, description: '0: auto — CPU: half the cores shared by the workers (decoding needs the rest); CUDA: 2' }),
  maxBatchSize: Type.Integer({ minimum: 1, maximum: 256, default: 8, description: 'capped to 1 for models whose batch dimension is static' }),
  batchDelayMs: BatchDelay,
  maxQueue: Type.Integer({ minimum: 1, maximum: 100000, default: 256, description: 'queued requests per device and model before admission control answers 429' }),
  models: Type.Optional(Type.Array(Type.String(), { description: 'models this device serves (default: all)' })),
  perModel: Type.Record(Type.String(), DeviceModelSettings, { default: {} }),
  variants: Type.Record(Type.String(), Type.String(), { default: {}, description: 'model → the variant this device loads (default: the first variant that lists this device kind)' }),
  memoryBytes: Type.Optional(Type.Integer({ minimum: 1, description: 'memory the device may hold for model sessions, estimated as weights file × workers per model; a repository load beyond it is refused (default: the machine\'s memory on a CPU, no check on CUDA)' })),
  pricePerHour: Type.Optional(Type.Number({ minimum: 0, description: 'what the device costs per hour, busy or not (default by kind: src/router/price.ts)' })),
  watts: Type.Optional(Type.Object({
    busy: Type.Number({ minimum: 0, description: 'power drawn while running a batch' }),
    idle: Type.Number({ minimum: 0, description: 'power drawn while idle' })
  }, { additionalProperties: false, description: 'default by kind: src/router/price.ts; measured by nvidia-smi on a CUDA device where it exists' })),
  watchdog: Type.Object({
    factor: Type.Number({ minimum: 1, default: 4, description: 'a batch may run this many times its predicted time' }),
    floorMs: Type.Integer({ minimum: 1, default: 5000, description: 'and at least this long' })
  }, { additionalProperties: false, default: {}, description: 'a batch running past max(floorMs, factor × predicted ms) fails (its requests are retried elsewhere) and its worker is retired and replaced' }),
  startTimeoutMs: Type.Integer({ minimum: 1, default: 120000, description: 'a worker (first or replacement) that has not started after this long counts as a failed start (a replacement: the backoff goes on)' }),
  riders: Type.Object({
    budget: Type.Number({ minimum: 0, maximum: 100, default: 1, description: 'throughput items may ride with a latency batch where the cost model says filling a batch is cheap (b < a), as long as the batch takes at most (1 + budget) × its time alone and meets its deadline; 0: latency batches run alone (src/devices/riders.ts)' }),
    backlogBudget: Type.Number({ minimum: 0, maximum: 100, default: 2, description: 'when more throughput work waits for the device than its next full batch takes, a latency batch also takes that excess, as long as it takes at most (1 + backlogBudget) × its time alone and meets its deadline: a backlogged GPU stops losing capacity to short latency batches; 0: only the budget above (src/devices/riders.ts)' }),
    latencyObjectiveMs: Type.Optional(Type.Number({ minimum: 1, maximum: 600000, description: 'the latency class\'s objective (its p99, end to end), where you have one: a device at least 4 full batches behind on throughput work lets a latency batch fill past backlogBudget to its batch limit (its deadline still bounding it) while the p95 of its last 200 latency items, queued to answered, is within 0.7 × this; unset: never (src/devices/latency-gate.ts)' }))
  }, { additionalProperties: false, default: {} }),
  batchShapes: Type.Optional(Type.Union([Type.Literal('any'), Type.Literal('calibrated')], { description: 'calibrated: a batch of n runs padded to the next calibrated size (1, 2, 4, … max batch), so the session only ever sees shapes every worker ran before it took traffic; any: each batch runs at its own size. On CUDA the first run of each new input shape has onnxruntime time every cuDNN convolution algorithm (onnxruntime-node 1.29 sets no other search mode): seconds per shape for a detector on an H200, paid mid-traffic by a batcher that forms batches of every size (docs/gpu.md). Default by kind: cuda calibrated, cpu any' })),
  isolation: Type.Optional(Type.Union([Type.Literal('thread'), Type.Literal('process')], { description: 'where the workers run: thread (worker_threads; a native crash or a hung run takes the server down or the worker for good) or process (a child process per worker, killed and replaced on a crash or hang; costs a copy of each image through a pipe). Default by kind: cpu thread, cuda process' }))
}, { additionalProperties: false })
export type DeviceConfig = Static<typeof DeviceSchema>

const ApiKey = Type.Object({
  name: Type.String({ minLength: 1, description: 'who holds the key; appears in logs instead of the key' }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'hex sha256 of the key; the key itself is never stored' }),
  models: Type.Array(Type.String(), { default: ['*'] })
}, { additionalProperties: false })
export type ApiKeyConfig = Static<typeof ApiKey>

const TilingDefault = Type.Union([Type.Literal('off'), Type.Literal('auto')], { description: 'when a request gives no ?tiles: off, or auto (tile an image the whole-image pass would shrink more than autoScale)' })
const TilingModelSettings = Type.Object({
  default: Type.Optional(TilingDefault),
  tileSize: Type.Optional(Type.Integer({ minimum: 32, maximum: 4096, description: 'square tile side in image pixels (default: the model input size)' })),
  overlap: Type.Optional(Type.Number({ minimum: 0, maximum: 0.75 })),
  maxTiles: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 })),
  autoScale: Type.Optional(Type.Number({ minimum: 1, maximum: 100 }))
}, { additionalProperties: false })

/** which versions of a repository model are served (Triton's version_policy) */
const versionPolicy = (options: { description?: string } = {}) => Type.Union([
  Type.Object({ latest: Type.Integer({ minimum: 1, description: 'the newest n versions' }) }, { additionalProperties: false }),
  Type.Object({ specific: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, description: 'these versions' }) }, { additionalProperties: false }),
  Type.Object({ all: Type.Literal(true) }, { additionalProperties: false })
], options)

export const ConfigSchema = Type.Object({
  server: Type.Object({
    host: Type.String({ default: '0.0.0.0' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
    logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
    requestTimeoutMs: Type.Integer({ minimum: 0, default: 30000, description: 'whole request, body included (slow uploads get 408)' }),
    shutdownGraceMs: Type.Integer({ minimum: 0, default: 25000, description: 'in-flight work gets this long after SIGTERM' }),
    shutdownDelayMs: Type.Integer({ minimum: 0, default: 1000, description: 'after SIGTERM, /readyz answers 503 and new inference requests get 503 this long before the port closes, so load balancers stop sending' })
  }, { additionalProperties: false, default: {} }),
  metrics: Type.Object({
    port: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()], { default: null, description: 'serve /metrics on its own port instead of the API port' }),
    host: Type.String({ default: '127.0.0.1' })
  }, { additionalProperties: false, default: {} }),
  agent: Type.Object({
    port: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()], { default: null, description: 'TCP port of the HAProxy agent-check endpoint (src/http/agent-check.ts): answers `up NN% maxconn:N` from the predicted finish; null: off' }),
    host: Type.String({ default: '0.0.0.0' }),
    referenceMs: Type.Number({ exclusiveMinimum: 0, default: 10, description: 'predicted service time (ms) of a one-image request reported as weight 100 %; the weight is 100 × (referenceMs / service)^k × backlog, between 1 and 256 % (k: sharpness for latency, 1 for throughput and cost)' }),
    sharpness: Type.Number({ minimum: 0.5, maximum: 4, default: 2, description: 'exponent of the latency weight: 2 gives a replica twice as slow per image a quarter of the latency work' }),
    backlogFloor: Type.Number({ minimum: 0.01, maximum: 1, default: 0.5, description: 'the least the backlog factor (service / predicted finish) may be: how far a queue may lower a replica\'s weight between two agent polls' })
  }, { additionalProperties: false, default: {} }),
  models: Type.Object({
    repository: Type.String({ default: 'models', description: 'directory of <model>/model.json configs (or <model>/<version>/model.json, served by modelRepository.versionPolicy), relative to the project root' }),
    localDir: Type.Union([Type.String(), Type.Null()], { default: null, description: 'directory searched for weights before any download (SWITCHYARD_MODELS_DIR)' }),
    cacheDir: Type.String({ default: '.cache/models', description: 'downloaded weights, sha256-verified' }),
    download: Type.Boolean({ default: true, description: 'fetch missing weights from their pinned URL' }),
    enabled: Type.Array(Type.String(), { minItems: 1, default: ['mobilenetv2', 'yolox-nano'] }),
    optional: Type.Array(Type.String(), { default: [], description: 'models whose failure to load leaves the server up (reported not ready)' }),
    calibrationImages: Type.Union([Type.String(), Type.Null()], { default: null, description: 'directory of images (jpg, png, webp) the variants of a model are compared on at startup; null: the built-in synthetic set' }),
    staticBatch: Type.Array(Type.String(), { default: [], description: 'models served with the batch dimension their file declares: no batch rewrite at load (src/models/batchable.ts)' }),
    variantDrift: Type.Object({
      minTop1Agreement: Type.Number({ minimum: 0, maximum: 1, default: 0, description: 'a variant whose top-1 agrees with the most accurate variant on fewer of the calibration images is refused' }),
      maxScoreDifference: Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'a variant whose scores differ more than this from the most accurate variant on some calibration image is refused' })
    }, { additionalProperties: false, default: {} })
  }, { additionalProperties: false, default: {} }),
  modelRepository: Type.Object({
    serve: Type.Boolean({ default: true, description: 'serve the plain ONNX models (no model.json) of the models directory over /v2, with their versions' }),
    dir: Type.Union([Type.String(), Type.Null()], { default: null, description: 'the directory of <model>/<version>/model.onnx (null: models.localDir)' }),
    pollMs: Type.Integer({ minimum: 0, default: 5000, description: 'rescan the directory this often and load what is new or changed, unload what is gone (0: only on /v2/repository load calls)' }),
    // no schema default: TypeBox would merge it into a given policy of another kind
    versionPolicy: Type.Optional(versionPolicy({ description: 'which versions are served: {"latest": n} (absent: {"latest": 1}), {"specific": [v, …]} or {"all": true}' })),
    perModel: Type.Record(Type.String(), Type.Object({ versionPolicy: versionPolicy() }, { additionalProperties: false }), { default: {} })
  }, { additionalProperties: false, default: {} }),
  routes: Type.Object({
    classify: Type.String({ default: 'mobilenetv2' }),
    detect: Type.String({ default: 'yolox-nano' })
  }, { additionalProperties: false, default: {} }),
  images: Type.Object({
    maxBodyBytes: Type.Integer({ minimum: 1, default: 16 * 1024 * 1024 }),
    maxPixels: Type.Integer({ minimum: 1, default: 40_000_000, description: 'width × height, checked from the header before decoding' }),
    maxDimension: Type.Integer({ minimum: 1, default: 16384 }),
    formats: Type.Array(Type.String(), { default: ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif'] })
  }, { additionalProperties: false, default: {} }),
  decode: Type.Object({
    slots: Type.Integer({ minimum: 1, maximum: 256, default: 4, description: 'images decoded at once (libuv pool size)' }),
    bulkSlots: Type.Integer({ minimum: 1, maximum: 256, default: 2, description: 'of those, how many throughput-class requests may hold' }),
    maxWaiting: Type.Union([Type.Integer({ minimum: 0, maximum: 100000 }), Type.Null()], { default: null, description: 'requests waiting for a decode slot before more are refused with 429 (a count; 64, the default until issue 17 bounded the room by time); null (the default): no count, a request waits while its predicted wait for a slot is within the time its deadline leaves (and its body\'s bytes fit the memory budget, routing.maxQueuedBytes), and admission runs again once it is decoded; a waiter whose deadline would pass before it decoded is refused at its turn: src/preprocess/decode-gate.ts' })
  }, { additionalProperties: false, default: {} }),
  tiling: Type.Object({
    default: Type.Union([Type.Literal('off'), Type.Literal('auto')], { default: 'off', description: 'when a request gives no ?tiles: off, or auto (tile an image the whole-image pass would shrink more than autoScale)' }),
    overlap: Type.Number({ minimum: 0, maximum: 0.75, default: 0.2, description: 'least overlap of neighbouring tiles, as a share of the tile side' }),
    maxTiles: Type.Integer({ minimum: 1, maximum: 1024, default: 64, description: 'tiles one request may be cut into (the whole-image pass not counted); more: 422' }),
    autoScale: Type.Number({ minimum: 1, maximum: 100, default: 2, description: 'auto tiles an image when the whole-image pass would shrink it by more than this' }),
    mergeIos: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'intersection over the smaller box from which pieces of one object cut at tile borders are merged' }),
    edgeMargin: Type.Number({ minimum: 0, maximum: 64, default: 4, description: 'pixels from a tile\'s inner side within which a box counts as cut' }),
    perModel: Type.Record(Type.String(), TilingModelSettings, { default: {} })
  }, { additionalProperties: false, default: {} }),
  routing: Type.Object({
    defaultPolicy: policy({ default: 'latency' }),
    strategy: Type.Union(STRATEGIES.map((s) => Type.Literal(s)), { default: 'switchyard', description: 'how devices are chosen: switchyard (policy, queues and learned costs), or a baseline to measure it against — fastest-only, round-robin, join-shortest-queue, shared-queue (Triton: one queue per model, the first free worker takes the next batch), speed-aware (least predicted work weighted by device speed), late-binding (the same as switchyard: throughput items wait in one pool per model that free workers pull from, cost-aware), early-binding (switchyard\'s rule before late binding: each throughput item bound to one device at arrival)' }),
    throughputDeadlineMs: Type.Integer({ minimum: 1, default: 30000, description: 'deadline assumed for throughput requests that give none' }),
    latencyDeadlineMs: Type.Integer({ minimum: 1, default: 10000, description: 'deadline assumed for latency requests that give none' }),
    costWindow: Type.Integer({ minimum: 4, maximum: 10000, default: 128, description: 'executed batches the cost model is fitted over' }),
    maxQueuedBytes: Type.Integer({ minimum: 0, default: 0, description: 'bytes of prepared images accepted requests may hold while queued or running; past it, 429 SY_OVERLOADED with Retry-After. 0: sized from the machine (an eighth of its memory, at most 2 GiB; src/devices/queue-budget.ts)' }),
    calibrationRuns: Type.Integer({ minimum: 1, maximum: 50, default: 3, description: 'timed runs per batch size at startup' }),
    latencyObjectiveMs: Type.Optional(Type.Number({ minimum: 1, maximum: 600000, description: 'the latency class\'s objective for every device that sets no devices[].riders.latencyObjectiveMs of its own (what that key does: there); unset: none' })),
    select: Type.Object({
      enabled: Type.Boolean({ default: false, description: 'choose the routing rule by replay as the server runs (strategy switchyard only): every everyMs the arrivals of the last windowMs are replayed, in a worker thread, on the devices as they have learned themselves, under switchyard\'s rule and under the shared queue\'s (Triton\'s), and the server switches to the one that served them better by the SLOs below after `confirm` such verdicts in a row (docs/architecture.md, Routing, "Choosing the rule by replay"). Off by default: measured in the simulator as a small gain on the generated scenarios (bench/results/replay-select.md)' }),
      everyMs: Type.Integer({ minimum: 100, maximum: 3600000, default: 5000, description: 'ms between replays' }),
      windowMs: Type.Integer({ minimum: 100, maximum: 3600000, default: 15000, description: 'ms of arrivals each replay runs (since the start while shorter)' }),
      confirm: Type.Integer({ minimum: 1, maximum: 100, default: 2, description: 'replays in a row that chose the other rule before the rule changes' }),
      latencySloMs: Type.Number({ minimum: 1, default: 100, description: 'the latency class\'s p99 objective the replay judges the rules by' }),
      throughputSloMs: Type.Number({ minimum: 1, default: 2000, description: 'the throughput class\'s p99 objective the replay judges the rules by' })
    }, { additionalProperties: false, default: {} })
  }, { additionalProperties: false, default: {} }),
  devices: Type.Array(DeviceSchema, {
    minItems: 1,
    default: [
      { id: 'cpu', kind: 'cpu', required: true },
      { id: 'cuda:0', kind: 'cuda', deviceId: 0 }
    ]
  }),
  jobs: Type.Object({
    enabled: Type.Boolean({ default: true, description: 'serve POST /jobs and GET /jobs/:id (asynchronous jobs, src/jobs/)' }),
    pull: Type.Boolean({ default: true, description: 'this replica runs queued job images on its devices when they have free throughput capacity (false: it only takes submissions and answers status)' }),
    replica: Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()], { default: null, description: 'name of this replica in job results (default: hostname:pid) (SWITCHYARD_JOBS_REPLICA)' }),
    maxImages: Type.Integer({ minimum: 1, maximum: 100000, default: 1000, description: 'images in one job; more: 413' }),
    maxBytes: Type.Integer({ minimum: 1, default: 256 * 1024 * 1024, description: 'bytes of all images of one job; more: 413' }),
    maxOutstandingPerKey: Type.Integer({ minimum: 1, default: 20000, description: 'images one API key may have queued or running; a job that would pass it: 429' }),
    retentionMs: Type.Integer({ minimum: 1000, default: 3600000, description: 'how long a finished job and its results are kept' }),
    itemDeadlineMs: Type.Integer({ minimum: 1, default: 600000, description: 'deadline each image of a job is dispatched with (throughput class)' }),
    decodeSlots: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 256 })], { default: 'auto', description: "job images this replica decodes at once: 'auto' decodes only as fast as its devices run them (src/jobs/decode-pace.ts), so bulk decoding does not burst beside latency-class requests, and while latency-class requests come, on no more cores than CPU inference leaves; a number: that many (at most decode.bulkSlots; with jobs.decodeNice, at most the larger of it and 4, the background decoder's threads)" }),
    decodeNice: Type.Union([Type.Integer({ minimum: 0, maximum: 19 }), Type.Null()], { default: null, description: 'a number: job images are decoded in a child process at this nice value (src/preprocess/decode-process.ts), so on busy cores requests get the CPU before background work (docs/jobs.md: what it costs in images per second on a host whose replicas share the cores); null (default): decoded in the server process, through the decode gate, at its priority' }),
    urls: Type.Object({
      allowedHosts: Type.Array(Type.String(), { default: [], description: 'hosts (name or name:port) the image URLs of a job may name; empty: URL jobs are refused' }),
      timeoutMs: Type.Integer({ minimum: 1, default: 10000 })
    }, { additionalProperties: false, default: {} }),
    callbacks: Type.Object({
      allowedHosts: Type.Array(Type.String(), { default: [], description: 'hosts (name or name:port) a completion callback may be sent to; empty: callbacks are refused' }),
      timeoutMs: Type.Integer({ minimum: 1, default: 5000 })
    }, { additionalProperties: false, default: {} }),
    nats: Type.Object({
      url: Type.Union([Type.String(), Type.Null()], { default: null, description: 'NATS server(s) with JetStream, comma-separated; null: the in-memory queue of this process (SWITCHYARD_JOBS_NATS_URL)' }),
      prefix: Type.String({ pattern: '^[A-Za-z0-9_-]+$', default: 'SWITCHYARD', description: 'names of the stream, object store and key-value buckets start with it' }),
      ackWaitMs: Type.Integer({ minimum: 1000, default: 30000, description: 'an image handed to a replica that has not stored its result by then is delivered again' }),
      maxDeliver: Type.Integer({ minimum: 1, default: 10, description: 'deliveries of one image before it is stored as failed' })
    }, { additionalProperties: false, default: {} })
  }, { additionalProperties: false, default: {} }),
  auth: Type.Object({
    apiKeys: Type.Array(ApiKey, { default: [] }),
    adminKeys: Type.Array(Type.String({ minLength: 16 }), { default: [], description: 'keys for /admin and /v2/repository load/unload (X-Switchyard-Admin-Key); empty: those routes are off' })
  }, { additionalProperties: false, default: {} }),
  faults: Type.Object({
    allow: Type.Boolean({ default: false, description: 'accept fault injection (config inject, POST /admin/faults): tests, benchmarks, failure rehearsals; never in production (SWITCHYARD_ALLOW_FAULTS=1)' }),
    inject: Type.Array(FaultInjectionSchema, { default: [], description: 'faults applied at startup (SWITCHYARD_FAULTS: a JSON array of these; implies allow)' })
  }, { additionalProperties: false, default: {} })
}, { additionalProperties: false })
export type Config = Static<typeof ConfigSchema>

/** Whether a device pads its batches to calibrated shapes when its config does not say: on CUDA, where a new shape costs seconds (docs/gpu.md). */
export function deviceBatchShapes (d: Pick<DeviceConfig, 'kind' | 'batchShapes'>): 'any' | 'calibrated' {
  return d.batchShapes ?? (d.kind === 'cuda' ? 'calibrated' : 'any')
}

/** Where a device's workers run when its config does not say: processes for CUDA (where native faults come from), threads for the CPU (bench/results/isolation.md). */
export function deviceIsolation (d: Pick<DeviceConfig, 'kind' | 'isolation'>): 'thread' | 'process' {
  return d.isolation ?? (d.kind === 'cuda' ? 'process' : 'thread')
}
