// Reads config/default.json (or the file SWITCHYARD_CONFIG names), applies environment
// overrides, fills schema defaults and validates. A bad value throws a ConfigError naming the
// field (its JSON pointer) and, when it came from the environment, the variable.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { ConfigError } from '../errors.js'
import { faultProblem } from '../devices/faults.js'
import { deepMerge, type Json } from '../util/merge.js'
import { ConfigSchema, deviceIsolation, type Config } from './schema.js'



/** Environment variable → config path. Values are coerced by the field's type. */
const ENV: ReadonlyArray<readonly [string, string, 'string' | 'int' | 'list']> = [
  ['HOST', '/server/host', 'string'],
  ['PORT', '/server/port', 'int'],
  ['LOG_LEVEL', '/server/logLevel', 'string'],
  ['SWITCHYARD_SHUTDOWN_GRACE_MS', '/server/shutdownGraceMs', 'int'],
  ['SWITCHYARD_SHUTDOWN_DELAY_MS', '/server/shutdownDelayMs', 'int'],
  ['SWITCHYARD_METRICS_PORT', '/metrics/port', 'int'],
  ['SWITCHYARD_METRICS_HOST', '/metrics/host', 'string'],
  ['SWITCHYARD_AGENT_PORT', '/agent/port', 'int'],
  ['SWITCHYARD_AGENT_HOST', '/agent/host', 'string'],
  ['SWITCHYARD_MODELS_DIR', '/models/localDir', 'string'],
  ['SWITCHYARD_CACHE_DIR', '/models/cacheDir', 'string'],
  ['SWITCHYARD_MODELS', '/models/enabled', 'list'],
  ['SWITCHYARD_CLASSIFY_MODEL', '/routes/classify', 'string'],
  ['SWITCHYARD_DETECT_MODEL', '/routes/detect', 'string'],
  ['SWITCHYARD_DEFAULT_POLICY', '/routing/defaultPolicy', 'string'],
  ['SWITCHYARD_ROUTING_STRATEGY', '/routing/strategy', 'string'],
  ['SWITCHYARD_LATENCY_OBJECTIVE_MS', '/routing/latencyObjectiveMs', 'int'],
  ['SWITCHYARD_ADMIN_KEYS', '/auth/adminKeys', 'list'],
  ['SWITCHYARD_REPOSITORY_POLL_MS', '/modelRepository/pollMs', 'int'],
  ['SWITCHYARD_JOBS_NATS_URL', '/jobs/nats/url', 'string'],
  ['SWITCHYARD_JOBS_REPLICA', '/jobs/replica', 'string']
]

export interface LoadOptions {
  /** Config file; default: $SWITCHYARD_CONFIG, else config/default.json under `root`. */
  file?: string | null
  env?: NodeJS.ProcessEnv
  root?: string
  /** Applied after the file and before the environment (tests use this). */
  overrides?: Json
}

export function loadConfig (opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env
  const root = opts.root ?? process.cwd()
  const file = opts.file === undefined ? (env.SWITCHYARD_CONFIG ?? resolve(root, 'config/default.json')) : opts.file
  let raw: Json = {}
  if (file !== null) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`)
    }
    try {
      raw = JSON.parse(text) as Json
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`)
    }
  }
  if (opts.overrides) raw = deepMerge(raw, opts.overrides)
  const sources = new Map<string, string>()
  for (const [name, path, type] of ENV) {
    const value = env[name]
    if (value === undefined || value === '') continue
    setPath(raw, path, coerce(value, type))
    sources.set(path, name)
  }
  if (env.SWITCHYARD_DEVICES) {
    raw.devices = parseDeviceList(env.SWITCHYARD_DEVICES)
    sources.set('/devices', 'SWITCHYARD_DEVICES')
  }
  if (env.SWITCHYARD_FAULTS) {
    let inject: unknown
    try {
      inject = JSON.parse(env.SWITCHYARD_FAULTS)
    } catch (err) {
      throw new ConfigError(`SWITCHYARD_FAULTS is not valid JSON: ${(err as Error).message}`)
    }
    setPath(raw, '/faults/inject', inject)
    setPath(raw, '/faults/allow', true)
    sources.set('/faults/inject', 'SWITCHYARD_FAULTS')
  }
  if (env.SWITCHYARD_ALLOW_FAULTS !== undefined && env.SWITCHYARD_ALLOW_FAULTS !== '') {
    if (!/^(1|true|0|false)$/.test(env.SWITCHYARD_ALLOW_FAULTS)) throw new ConfigError(`SWITCHYARD_ALLOW_FAULTS must be 1, true, 0 or false (got "${env.SWITCHYARD_ALLOW_FAULTS}")`)
    if (env.SWITCHYARD_FAULTS === undefined || env.SWITCHYARD_FAULTS === '') setPath(raw, '/faults/allow', /^(1|true)$/.test(env.SWITCHYARD_ALLOW_FAULTS))
    sources.set('/faults/allow', 'SWITCHYARD_ALLOW_FAULTS')
  }
  if (env.SWITCHYARD_API_KEYS) {
    setPath(raw, '/auth/apiKeys', parseApiKeys(env.SWITCHYARD_API_KEYS))
    sources.set('/auth/apiKeys', 'SWITCHYARD_API_KEYS')
  }
  return validateConfig(raw, sources)
}

export function validateConfig (raw: unknown, sources = new Map<string, string>()): Config {
  const value = Value.Default(ConfigSchema, structuredClone(raw))
  const first = Value.Errors(ConfigSchema, value).First()
  if (first) {
    const path = first.path === '' ? '/' : first.path
    const from = [...sources].find(([p]) => path.startsWith(p))
    throw new ConfigError(`invalid config at ${path}: ${first.message}${from ? ` (from ${from[1]})` : ''}`)
  }
  const config = value as Config
  checkConsistency(config)
  inheritObjective(config)
  return config
}

/** routing.latencyObjectiveMs is every device's devices[].riders.latencyObjectiveMs where it sets none of its own. */
function inheritObjective (config: Config): void {
  const objective = config.routing.latencyObjectiveMs
  if (objective === undefined) return
  for (const d of config.devices) if (d.riders.latencyObjectiveMs === undefined) d.riders.latencyObjectiveMs = objective
}

/** What the schema cannot say: uniqueness and cross-references. */
function checkConsistency (config: Config): void {
  const ids = new Set<string>()
  for (const [i, d] of config.devices.entries()) {
    if (ids.has(d.id)) throw new ConfigError(`invalid config at /devices/${i}/id: duplicate device id "${d.id}"`)
    ids.add(d.id)
  }
  const enabled = new Set(config.models.enabled)
  for (const task of ['classify', 'detect'] as const) {
    const name = config.routes[task]
    if (!enabled.has(name)) throw new ConfigError(`invalid config at /routes/${task}: model "${name}" is not in /models/enabled`)
  }
  for (const [i, name] of config.models.optional.entries()) {
    if (!enabled.has(name)) throw new ConfigError(`invalid config at /models/optional/${i}: model "${name}" is not in /models/enabled`)
  }
  for (const [i, f] of config.faults.inject.entries()) {
    const device = config.devices.find((d) => d.id === f.device)
    if (device === undefined) throw new ConfigError(`invalid config at /faults/inject/${i}/device: no device "${f.device}"`)
    const problem = faultProblem(f, deviceIsolation(device))
    if (problem !== null) throw new ConfigError(`invalid config at /faults/inject/${i}: ${problem}`)
  }
  const sel = config.routing.select
  if (sel.enabled && config.routing.strategy !== 'switchyard' && config.routing.strategy !== 'late-binding') {
    throw new ConfigError(`invalid config at /routing/select/enabled: the rule is chosen by replay between switchyard's and the shared queue's, starting from switchyard's; routing.strategy is "${config.routing.strategy}"`)
  }
  if (config.faults.inject.length > 0 && !config.faults.allow) {
    throw new ConfigError('invalid config at /faults/inject: faults are injected but /faults/allow is false')
  }
  if (config.decode.bulkSlots > config.decode.slots) {
    throw new ConfigError('invalid config at /decode/bulkSlots: must not exceed /decode/slots')
  }
}

/** "cpu,cuda:0,cuda:1!" → device entries; a trailing "!" marks a device as required. */
export function parseDeviceList (list: string): Json[] {
  return list.split(',').map((s) => s.trim()).filter(Boolean).map((spec) => {
    const required = spec.endsWith('!')
    const id = required ? spec.slice(0, -1) : spec
    const m = /^cuda:(\d+)$/.exec(id)
    if (m) return { id, kind: 'cuda', deviceId: Number(m[1]), required }
    return { id, kind: id === 'cpu' || id.startsWith('cpu:') ? 'cpu' : id, required }
  })
}

/**
 * "ci:<sha256 hex>;app:<sha256 hex>:mobilenetv2-12-int8|yolox-nano" → auth.apiKeys entries:
 * `name:sha256[:model|model...]` separated by ";"; no model list (or "*") means every model.
 * Only hashes go here, never keys; a malformed entry is left for the schema to reject by path.
 */
export function parseApiKeys (list: string): Json[] {
  return list.split(';').map((s) => s.trim()).filter(Boolean).map((spec) => {
    const [name = '', sha256 = '', models] = spec.split(':').map((s) => s.trim())
    return {
      name,
      sha256: sha256.toLowerCase(),
      models: models === undefined || models === '' ? ['*'] : models.split('|').map((s) => s.trim()).filter(Boolean)
    }
  })
}

function coerce (value: string, type: 'string' | 'int' | 'list'): unknown {
  if (type === 'list') return value.split(',').map((s) => s.trim()).filter(Boolean)
  if (type === 'int') return /^-?\d+$/.test(value.trim()) ? Number(value) : value
  return value
}

function setPath (obj: Json, pointer: string, value: unknown): void {
  const keys = pointer.split('/').slice(1)
  let node = obj
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {}
    node = node[key] as Json
  }
  node[keys[keys.length - 1]!] = value
}
