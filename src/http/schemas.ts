// The shapes of the API's answers, declared once as JSON Schema (TypeBox). The routes use them
// as response schemas, so they are both the OpenAPI document's (openapi.ts) and the
// serialisers Fastify compiles with fast-json-stringify — which writes only the properties
// listed here: a field missing from a schema disappears from the answer.
import { Type, type TSchema } from '@sinclair/typebox'
import * as errors from '../errors.js'

const Num = Type.Number()
const Int = Type.Integer()

export const Prediction = Type.Object({
  label: Type.String({ description: 'the class name from the model\'s label list' }),
  index: Type.Integer({ description: 'the class index in the model\'s output' }),
  score: Type.Number({ description: 'softmax probability (classify) or objectness × class score (detect)' })
})

export const Detection = Type.Object({
  label: Prediction.properties.label,
  index: Prediction.properties.index,
  score: Prediction.properties.score,
  box: Type.Object({ x1: Num, y1: Num, x2: Num, y2: Num }, { description: 'corners in original-image pixels (after EXIF orientation)' })
})

export const Timing = Type.Object({
  decodeMs: Num,
  queueMs: Num,
  inferenceMs: Num,
  postprocessMs: Num,
  totalMs: Num,
  predictedMs: Type.Number({ description: 'the router\'s prediction of queue + inference when it chose the device' })
}, { description: 'where the time went, in ms (also in the Server-Timing header)' })

const served = {
  model: Type.String(),
  variant: Type.String({ description: 'the variant of the model that ran (e.g. int8, fp32)' }),
  device: Type.String({ description: 'the device that ran the batch' }),
  batchSize: Type.Integer({ description: 'images in the batch that carried this one' }),
  policy: Type.Union([Type.Literal('latency'), Type.Literal('throughput'), Type.Literal('cost')])
}

export const ClassifyAnswer = Type.Object({
  ...served,
  predictions: Type.Array(Prediction, { description: 'top-k labels, best first' }),
  timing: Timing
}, { title: 'ClassifyAnswer' })

export const DetectAnswer = Type.Object({
  ...served,
  width: Type.Integer({ description: 'original image width (after EXIF orientation)' }),
  height: Type.Integer({ description: 'original image height' }),
  detections: Type.Array(Detection, { description: 'boxes after NMS, best first' }),
  tiles: Type.Optional(Type.Object({
    count: Type.Integer({ description: 'tiles cut from the image (the whole-image pass not counted)' }),
    grid: Type.Object({ columns: Type.Integer(), rows: Type.Integer() }),
    tileSize: Type.Object({ width: Type.Integer(), height: Type.Integer() }, { description: 'in image pixels' }),
    overlap: Type.Number(),
    wholeImage: Type.Boolean({ description: 'a whole-image pass ran beside the tiles' }),
    devices: Type.Record(Type.String(), Type.Integer(), { description: 'images (tiles and whole-image pass) per device' }),
    batches: Type.Array(Type.Object({ device: Type.String(), size: Type.Integer(), items: Type.Integer({ description: 'of this request' }), inferenceMs: Type.Number() }))
  }, { description: 'present when the image was tiled (?tiles=…)' })),
  timing: Timing
}, { title: 'DetectAnswer' })

/** Every declared error, from errors.ts: code and status. */
export const DECLARED_ERRORS: ReadonlyArray<{ code: string, statusCode: number }> = Object.values(errors)
  .filter((E): E is typeof errors.Internal => typeof E === 'function' && E.prototype instanceof Error && (E as unknown) !== errors.InternalError && !(E.prototype instanceof errors.InternalError))
  .map((E) => new E())
  .map((e) => ({ code: e.code, statusCode: e.statusCode ?? 500 }))

/** The error body for one status: `error` is one of the codes errors.ts declares with it. */
export function errorBody (statusCode: number): TSchema {
  const codes = DECLARED_ERRORS.filter((e) => e.statusCode === statusCode).map((e) => e.code)
  if (codes.length === 0) throw new Error(`no error is declared with status ${statusCode}`)
  return Type.Object({
    statusCode: Type.Literal(statusCode),
    error: Type.Unsafe<string>({ type: 'string', enum: codes, description: 'a stable code declared in src/errors.ts' }),
    message: Type.String()
  }, { description: codes.join(', ') })
}

/** Error bodies for the given statuses, keyed by status, for a route's `response` schema. */
export function errorResponses (statuses: readonly number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((s) => [s, errorBody(s)]))
}

/** Every status an error can carry (all of them can answer an inference request). */
export const ERROR_STATUSES: readonly number[] = [...new Set(DECLARED_ERRORS.map((e) => e.statusCode))].sort((a, b) => a - b)

export const Health = Type.Object({ status: Type.Literal('ok') })

export const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not ready')]),
  shuttingDown: Type.Boolean(),
  models: Type.Record(Type.String(), Type.Boolean(), { description: 'model → loaded and warmed on a healthy device' }),
  devices: Type.Record(Type.String(), Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy')]))
})

const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()])

const TensorSpec = Type.Object({ name: Type.String(), datatype: Type.String(), shape: Type.Array(Int, { description: '-1: the batch dimension (free) or a free output dimension' }) })

/** What waits for one device's lane (GET /models): its own queue, and what it shares with the other devices serving the model. */
const LaneQueue = Type.Object({
  latency: Int,
  throughput: Int,
  pool: Type.Optional(Type.Integer({ minimum: 0, description: 'throughput items waiting in the late-binding pool this device pulls from (shared with the other devices serving the model)' })),
  shared: Type.Optional(Type.Object({ latency: Int, throughput: Int }, { description: 'under the shared-queue rule: the items waiting in the model\'s queue that every device serving it takes from; latency and throughput above are then this device\'s own, the items pinned to it' })),
  max: Int
})

export const ModelsReport = Type.Object({
  models: Type.Array(Type.Object({
    name: Type.String(),
    task: Type.Union([Type.Literal('classify'), Type.Literal('detect')]),
    description: Type.Optional(Type.String()),
    version: Type.Optional(Type.String({ description: 'the version served (models/<name>/<version>/model.json; the flat layout: 1)' })),
    ready: Type.Boolean(),
    labels: Int,
    input: Type.Object({
      name: Type.String(),
      shape: Nullable(Type.Array(Type.Union([Int, Type.String()]))),
      width: Int,
      height: Int,
      channelOrder: Type.String(),
      dynamicBatch: Nullable(Type.Boolean())
    }),
    variants: Type.Array(Type.Object({
      name: Type.String(),
      kinds: Type.Array(Type.Union([Type.Literal('cpu'), Type.Literal('cuda')]), { description: 'device kinds it suits, preferred first' }),
      accuracyRank: Int,
      served: Type.Boolean({ description: 'some device runs it' }),
      unavailable: Nullable(Type.String({ description: 'why its weights could not be used' })),
      agreement: Nullable(Type.Object({
        reference: Type.String({ description: 'the variant compared with (the most accurate available)' }),
        images: Int,
        top1Agreement: Num,
        maxScoreDifference: Num
      }, { description: 'measured at startup on the calibration images' }))
    })),
    devices: Type.Array(Type.Object({
      id: Type.String(),
      kind: Type.Union([Type.Literal('cpu'), Type.Literal('cuda')]),
      variant: Type.String({ description: 'the variant this device runs' }),
      healthy: Type.Boolean(),
      price: Type.Object({ perHour: Num, watts: Type.Object({ busy: Num, idle: Num }) }, { description: 'configured price per hour and power (defaults in src/router/price.ts)' }),
      workers: Int,
      maxBatchSize: Int,
      batchDelayMs: Type.Object({ latency: Num, throughput: Num }),
      queue: LaneQueue,
      inFlight: Int,
      cost: Type.Object({ aMs: Num, bMs: Num, samples: Int }, { description: 'the fitted cost model t(n) = a + b·n' }),
      calibration: Type.Array(Type.Object({ batchSize: Int, ms: Num }))
    }))
  })),
  unavailable: Type.Record(Type.String(), Type.String(), { description: 'optional models that could not load, with why' }),
  skippedDevices: Type.Record(Type.String(), Type.String(), { description: 'devices left out at startup, with why' }),
  repository: Type.Array(Type.Object({
    name: Type.String(),
    ready: Type.Boolean({ description: 'some version serves on a healthy device' }),
    versions: Type.Array(Type.Object({
      version: Type.String(),
      state: Type.Union(['LOADING', 'READY', 'UNLOADING', 'UNAVAILABLE'].map((s) => Type.Literal(s))),
      reason: Type.String({ description: 'why it is unavailable (refused: the error; unloaded)' }),
      inputs: Type.Array(TensorSpec),
      outputs: Type.Array(TensorSpec),
      dynamicBatch: Nullable(Type.Boolean()),
      devices: Type.Array(Type.Object({
        id: Type.String(),
        maxBatchSize: Int,
        queue: LaneQueue,
        inFlight: Int,
        cost: Type.Object({ aMs: Num, bMs: Num, samples: Int }),
        calibration: Type.Array(Type.Object({ batchSize: Int, ms: Num }))
      }))
    }))
  }), { description: 'plain ONNX models of the model repository, served over /v2 with their own tensors; lanes and metric series are named <model>@<version>' })
})
