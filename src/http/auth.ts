// API keys on the inference routes (POST /classify[/:model], /detect[/:model]). When
// config.auth.apiKeys is empty the server is open. Otherwise every inference request carries
// a key, as `Authorization: Bearer <key>` or `X-API-Key: <key>`:
//   no key, or a key whose sha256 matches no configured hash → 401 SY_UNAUTHORIZED
//   a known key without access to the requested model         → 403 SY_FORBIDDEN
// /healthz, /readyz, /models and /metrics stay open (put /metrics on its own port with
// metrics.port to keep it off the API listener). Only the sha256 of a key is configured, the
// digest is compared with every configured hash in constant time, and what the logs learn is
// the key's name (bound to the request logger, so the access-log line carries `apiKey`).
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config/schema.js'
import { Forbidden, Unauthorized } from '../errors.js'

export interface AuthOptions {
  config: Config
}

interface Principal {
  name: string
  /** null: every model */
  models: ReadonlySet<string> | null
}

/**
 * The route URLs (as registered) that need a key, and the task that gives their default model
 * (null: the path always names the model, as the Open Inference Protocol's infer URLs do).
 */
const PROTECTED: ReadonlyMap<string, 'classify' | 'detect' | null> = new Map([
  ['/classify', 'classify'],
  ['/classify/:model', 'classify'],
  ['/detect', 'detect'],
  ['/detect/:model', 'detect'],
  ['/v2/models/:model/infer', null],
  ['/v2/models/:model/versions/:version/infer', null]
])

declare module 'fastify' {
  interface FastifyRequest {
    /** name of the API key the request was authenticated with (null: auth is off or not needed) */
    apiKey: string | null
  }
}

/** The key a request presents, or null. A Bearer Authorization header wins over X-API-Key. */
export function presentedKey (request: Pick<FastifyRequest, 'headers'>): string | null {
  const auth = request.headers.authorization
  if (typeof auth === 'string') {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth)
    if (m) return m[1]!
  }
  const header = request.headers['x-api-key']
  const key = Array.isArray(header) ? header[0] : header
  if (typeof key === 'string' && key.trim() !== '') return key.trim()
  return null
}

/** Matches keys against the configured hashes: every hash is compared, in constant time. */
export class KeyRing {
  private readonly hashes: Buffer[]
  private readonly principals: Principal[]

  constructor (keys: Config['auth']['apiKeys']) {
    this.hashes = keys.map((k) => Buffer.from(k.sha256, 'hex'))
    this.principals = keys.map((k) => ({ name: k.name, models: k.models.includes('*') ? null : new Set(k.models) }))
  }

  get size (): number {
    return this.hashes.length
  }

  identify (key: string): Principal | null {
    const digest = createHash('sha256').update(key, 'utf8').digest()
    let found = -1
    for (let i = 0; i < this.hashes.length; i++) {
      // no early exit: how long this takes does not depend on where (or whether) the key matches
      const equal = timingSafeEqual(digest, this.hashes[i]!)
      found = equal && found < 0 ? i : found
    }
    return found < 0 ? null : this.principals[found]!
  }
}

async function auth (app: FastifyInstance, opts: AuthOptions): Promise<void> {
  const ring = new KeyRing(opts.config.auth.apiKeys)
  const routes = opts.config.routes
  app.decorateRequest('apiKey', null)
  if (ring.size === 0) return

  app.addHook('onRequest', async (request, reply) => {
    const task = PROTECTED.get(request.routeOptions.url ?? '')
    if (task === undefined) return
    const key = presentedKey(request)
    if (key === null) {
      void reply.header('www-authenticate', 'Bearer realm="switchyard"')
      request.log.info({ reason: 'no key' }, 'api key rejected')
      throw new Unauthorized()
    }
    const who = ring.identify(key)
    if (who === null) {
      void reply.header('www-authenticate', 'Bearer realm="switchyard", error="invalid_token"')
      request.log.info({ reason: 'unknown key' }, 'api key rejected')
      throw new Unauthorized()
    }
    request.apiKey = who.name
    // every later line about this request (the access log included) names the key
    request.log = request.log.child({ apiKey: who.name })
    reply.log = request.log
    const model = (request.params as { model?: string } | undefined)?.model ?? (task === null ? '' : routes[task])
    if (who.models !== null && !who.models.has(model)) {
      request.log.info({ model }, 'api key has no access to model')
      throw new Forbidden(model)
    }
  })
}

export const authPlugin = fp(auth, { name: 'switchyard-auth', fastify: '5.x' })
