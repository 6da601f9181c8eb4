// What a request asks of the router, from its headers:
//   X-Switchyard-Policy: latency | throughput | cost   (default from config)
//   X-Switchyard-Deadline-Ms: N                 (1 … 3 600 000; default per policy from config)
//   X-Switchyard-Device: <device id>            (pin: benchmarks and debugging)
//   X-Switchyard-Variant: <variant> | most-accurate   (which of the model's variants runs;
//                                               one no device serves is a 404, in the route)
import type { IncomingHttpHeaders } from 'node:http'
import type { Config, Policy } from '../config/schema.js'
import { InvalidHeader, InvalidQuery } from '../errors.js'
import { clip } from '../util/format.js'

export interface RequestOptions {
  policy: Policy
  deadlineMs: number
  pinned: string | undefined
  /** a variant name or MOST_ACCURATE; undefined: any */
  variant: string | undefined
}

const POLICIES: readonly Policy[] = ['latency', 'throughput', 'cost']
const VARIANT = /^[a-z0-9][a-z0-9._-]{0,31}$/

const DEVICE_ID = /^[a-z0-9][a-z0-9:._-]{0,63}$/

export function requestOptions (headers: IncomingHttpHeaders, routing: Pick<Config['routing'], 'defaultPolicy' | 'latencyDeadlineMs' | 'throughputDeadlineMs'>): RequestOptions {
  const rawPolicy = single(headers['x-switchyard-policy'], 'X-Switchyard-Policy')
  let policy: Policy = routing.defaultPolicy
  if (rawPolicy !== undefined) {
    const p = rawPolicy.trim().toLowerCase()
    if (!(POLICIES as readonly string[]).includes(p)) throw new InvalidHeader('X-Switchyard-Policy', `expected "latency", "throughput" or "cost", got "${clip(rawPolicy)}"`)
    policy = p as Policy
  }
  const rawDeadline = single(headers['x-switchyard-deadline-ms'], 'X-Switchyard-Deadline-Ms')
  let deadlineMs = policy === 'latency' ? routing.latencyDeadlineMs : routing.throughputDeadlineMs
  if (rawDeadline !== undefined) {
    const n = Number(rawDeadline.trim())
    if (!/^\d+$/.test(rawDeadline.trim()) || n < 1 || n > 3_600_000) {
      throw new InvalidHeader('X-Switchyard-Deadline-Ms', `expected whole milliseconds from 1 to 3600000, got "${clip(rawDeadline)}"`)
    }
    deadlineMs = n
  }
  const rawDevice = single(headers['x-switchyard-device'], 'X-Switchyard-Device')
  let pinned: string | undefined
  if (rawDevice !== undefined) {
    pinned = rawDevice.trim().toLowerCase()
    if (!DEVICE_ID.test(pinned)) throw new InvalidHeader('X-Switchyard-Device', `"${clip(rawDevice)}" is not a device id`)
  }
  const rawVariant = single(headers['x-switchyard-variant'], 'X-Switchyard-Variant')
  let variant: string | undefined
  if (rawVariant !== undefined) {
    variant = rawVariant.trim().toLowerCase()
    if (!VARIANT.test(variant)) throw new InvalidHeader('X-Switchyard-Variant', `expected a variant name or "most-accurate", got "${clip(rawVariant)}"`)
  }
  return { policy, deadlineMs, pinned, variant }
}

/**
 * Query numbers the route schema let through but no option can use. Ajv coerces "Infinity"
 * and "1e400" to Infinity and then skips minimum/maximum for non-finite numbers, so
 * ?score_threshold=Infinity passes a `maximum: 1` schema (and ?top_k=-Infinity a `minimum: 1`).
 * For the inference handler (routes/infer.ts) to call on request.query before using it.
 */
export function checkQueryNumbers (query: Record<string, unknown>): void {
  for (const [name, v] of Object.entries(query)) {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new InvalidQuery(`${name} must be a finite number`)
  }
}

function single (v: string | string[] | undefined, name: string): string | undefined {
  if (Array.isArray(v)) {
    if (v.length > 1) throw new InvalidHeader(name, 'given more than once')
    return v[0]
  }
  // Node joins a repeated header's values with ", "; no valid value of ours holds a comma
  if (v !== undefined && v.includes(',')) throw new InvalidHeader(name, `given more than once or as a list ("${clip(v, 40)}"); send one value`)
  return v
}
