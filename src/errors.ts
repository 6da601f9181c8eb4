// Every error the HTTP API can answer with, declared once (stable code, message template, status).
// Handlers throw these; the error handler in http/error-handler.ts turns them into
// `{ statusCode, error: code, message }` bodies. Anything else that escapes becomes a 500,
// which the test-suite treats as a bug.
import createError from '@fastify/error'

// 400: the request itself is wrong
export const EmptyBody = createError('SY_EMPTY_BODY', 'The request carries no image bytes', 400)
export const InvalidImage = createError('SY_INVALID_IMAGE', 'The image could not be decoded: %s', 400)
export const MissingFile = createError('SY_MISSING_FILE', 'The multipart request has no file part', 400)
export const TooManyFiles = createError('SY_TOO_MANY_FILES', 'The multipart request has more than one file part; send exactly one', 400)
export const InvalidQuery = createError('SY_INVALID_QUERY', 'Invalid query string: %s', 400)
export const InvalidHeader = createError('SY_INVALID_HEADER', 'Invalid header %s: %s', 400)
export const InvalidMultipart = createError('SY_INVALID_MULTIPART', 'Malformed multipart/form-data body: %s', 400)
/** an Open Inference Protocol request that breaks the protocol or does not fit the model */
export const InvalidInferRequest = createError('SY_INVALID_INFER_REQUEST', 'Invalid inference request: %s', 400)
/** a POST /admin/faults body that names no fault this server can inject (devices/faults.ts) */
export const InvalidFault = createError('SY_INVALID_FAULT', 'Invalid fault: %s', 400)
/** a request HTTP or Fastify itself refuses (bad URL encoding, bad Content-Length, ...) */
export const BadRequest = createError('SY_BAD_REQUEST', 'Bad request: %s', 400)

// 401/403: access control
export const Unauthorized = createError('SY_UNAUTHORIZED', 'An API key is required (Authorization: Bearer <key> or X-API-Key)', 401)
export const Forbidden = createError('SY_FORBIDDEN', 'This API key has no access to model %s', 403)

// 404: nothing here by that name
export const RouteNotFound = createError('SY_ROUTE_NOT_FOUND', 'No route %s %s', 404)
export const ModelNotFound = createError('SY_MODEL_NOT_FOUND', 'No %s model named %s', 404)
export const ModelVersionNotFound = createError('SY_MODEL_VERSION_NOT_FOUND', 'Model %s has no version %s served (versions served: %s)', 404)
export const DeviceNotFound = createError('SY_DEVICE_NOT_FOUND', 'No usable device %s serves model %s', 404)
export const UnknownDevice = createError('SY_UNKNOWN_DEVICE', 'No device named %s', 404)
export const VariantNotFound = createError('SY_VARIANT_NOT_FOUND', 'No device serves variant %s of model %s%s', 404)

// the model repository (/v2/repository) and its admin key (auth.adminKeys)
export const AdminRoutesOff = createError('SY_ADMIN_OFF', 'This route is off: it needs an admin key configured (auth.adminKeys, SWITCHYARD_ADMIN_KEYS)', 404)
export const AdminKeyRequired = createError('SY_ADMIN_KEY_REQUIRED', 'This route needs an admin key (X-Switchyard-Admin-Key)', 401)
export const AdminKeyInvalid = createError('SY_ADMIN_KEY_INVALID', 'The admin key (X-Switchyard-Admin-Key) is not valid', 403)
export const ModelConfigured = createError('SY_MODEL_CONFIGURED', 'Model %s is configured (models.enabled, with its model.json): it is loaded at startup, not through the repository', 400)
export const ModelLoadRefused = createError('SY_MODEL_LOAD_REFUSED', 'Model %s was not loaded: %s', 422)

// 408: the client was too slow to send its body
export const RequestTimeout = createError('SY_REQUEST_TIMEOUT', 'The request body did not arrive in time', 408)

// 413/415/422/431: the image (or the request around it) is not one we accept
export const PayloadTooLarge = createError('SY_PAYLOAD_TOO_LARGE', 'The body exceeds the limit of %d bytes', 413)
export const TooManyItems = createError('SY_TOO_MANY_ITEMS', 'The request carries %d items; at most %d are accepted in one request', 413)
export const TooManyParts = createError('SY_TOO_MANY_PARTS', 'The multipart request has too many parts: send one file part and at most a few text fields', 413)
export const UnsupportedMediaType = createError('SY_UNSUPPORTED_MEDIA_TYPE', 'Unsupported Content-Type %s: send an image (image/jpeg, image/png, ...) or multipart/form-data', 415)
export const UnsupportedImageFormat = createError('SY_UNSUPPORTED_IMAGE_FORMAT', 'Image format %s is not accepted (allowed: %s)', 415)
export const ImageTooLarge = createError('SY_IMAGE_TOO_LARGE', 'The image is too large: %s', 422)
export const TooManyTiles = createError('SY_TOO_MANY_TILES', 'The image would be cut into %s tiles, over the limit of %d (tiling.maxTiles): ask for fewer (tiles=<n>, a larger tile_size, a smaller tile_overlap)', 422)
export const HeadersTooLarge = createError('SY_HEADERS_TOO_LARGE', 'The request headers are too large', 431)

// 429/503: overload and unavailability; both carry Retry-After
export const Overloaded = createError('SY_OVERLOADED', 'No device can take this request now: %s', 429)
export const DeadlineUnmeetable = createError('SY_DEADLINE_UNMEETABLE', 'No device can finish within the deadline: %d ms of it remain, the best device needs %d ms', 429)
export const NoHealthyDevice = createError('SY_NO_HEALTHY_DEVICE', 'No healthy device serves model %s', 503)
export const InferenceFailed = createError('SY_INFERENCE_FAILED', 'Inference failed on every device tried: %s', 503)
export const DecoderUnavailable = createError('SY_DECODER_UNAVAILABLE', 'The background decoder is not available: %s', 503)
export const ShuttingDown = createError('SY_SHUTTING_DOWN', 'The server is shutting down', 503)

// asynchronous jobs (src/jobs/): each bad submission is refused before anything is queued
export const InvalidJob = createError('SY_INVALID_JOB', 'Invalid job: %s', 400)
export const UrlNotAllowed = createError('SY_URL_NOT_ALLOWED', 'URL %s is not allowed: %s', 400)
export const JobNotFound = createError('SY_JOB_NOT_FOUND', 'No job %s', 404)
export const JobTooManyImages = createError('SY_JOB_TOO_MANY_IMAGES', 'The job carries more than %d images (jobs.maxImages); split it', 413)
export const JobTooLarge = createError('SY_JOB_TOO_LARGE', 'The job\'s images exceed %d bytes in all (jobs.maxBytes); split it', 413)
export const UrlFetchFailed = createError('SY_URL_FETCH_FAILED', 'Fetching %s failed: %s', 422)
export const JobQuotaExceeded = createError('SY_JOB_QUOTA', 'This API key has %d images queued or running; %d more would pass its limit of %d (jobs.maxOutstandingPerKey)', 429)
export const JobsUnavailable = createError('SY_JOBS_UNAVAILABLE', 'The job queue is unavailable: %s', 503)

// 504: accepted, but its deadline passed before it could run (a hung or slow device)
export const DeadlineExceeded = createError('SY_DEADLINE_EXCEEDED', 'The deadline passed before the request ran: it waited %d ms in the queue of device %s', 504)

// 500: a bug (logged with its stack; the client learns nothing more)
export const Internal = createError('SY_INTERNAL', 'Internal server error', 500)

/** Errors that answer 429/503 carry the seconds a client should wait before trying again. */
export interface RetryAfter { retryAfter?: number }

/** Attaches Retry-After (seconds) to an error: the one place that does. */
export function withRetryAfter<E extends Error> (err: E, seconds: number): E & RetryAfter {
  return Object.assign(err, { retryAfter: seconds })
}

// Internal errors: raised between Switchyard's own parts (startup, devices, workers), never
// sent to a client as they are. Startup prints them; the dispatcher turns batch failures into
// the API errors above.
export class InternalError extends Error {
  override get name (): string { return this.constructor.name }
}
/** config file or environment value invalid (names the JSON path and the variable) */
export class ConfigError extends InternalError {}
/** a models/<name>/model.json that is missing or invalid */
export class ModelConfigError extends InternalError {}
/** weights missing, unreachable or with the wrong sha256 */
export class WeightsError extends InternalError {}
/** the server cannot start: a required device, or a model no device could load */
export class StartupError extends InternalError {}
/** a device could not be opened (e.g. the CUDA provider does not load) */
export class DeviceUnavailableError extends InternalError {}
/** a worker thread failed to initialise */
export class WorkerStartError extends InternalError {
  constructor (message: string, readonly providerUnavailable: boolean) { super(message) }
}
/**
 * A batch was accepted by a worker that then failed: it threw (workerDied false) or the
 * thread exited (workerDied true). Its items may be retried on another device.
 */
export class BatchFailedError extends InternalError {
  constructor (message: string, readonly workerDied: boolean) { super(message) }
}
/** The client went away while its request was queued: the request was taken out of the queue; nobody reads this answer. */
export class RequestCancelledError extends InternalError {}
/** A device refused an item before running it (no live worker, stopped, model not here): no worker failed; the item may be placed elsewhere. */
export class DeviceRefusedError extends InternalError {}
