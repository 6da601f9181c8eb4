// API keys on the inference routes. When config.auth.apiKeys is empty the server is open.
// Otherwise every inference request carries a key, as `Authorization: Bearer <key>` or
// `X-API-Key: <key>`:
//   no key, or a key whose sha256 matches no configured hash → 401 SY_UNAUTHORIZED
//   a known key without access to the requested model         → 403 SY_FORBIDDEN
//
// Which routes need a key is decided by where they are registered, not by a list of URLs:
// requireApiKeys(scope) puts the check on one encapsulated Fastify context (src/app.ts builds
// it), and it applies to every route registered in that context or in a plugin registered
// inside it. A new inference route gets auth by being registered there; a route registered
// anywhere else (/healthz, /readyz, /models, /metrics) stays open. The requested model, for the
// 403, is the route's `:model` parameter, or else its `config.defaultModel`; a route in the
// context that has neither is refused when it is registered.
//
// Only the sha256 of a key is configured, the digest is compared with every configured hash in
// constant time, and what the logs learn is the key's name (bound to the request logger, so the
// access-log line carries `apiKey`).
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.js'
import { Forbidden, Unauthorized } from '../errors.js'

interface Principal {
  name: string
  /** null: every model */
  models: ReadonlySet<string> | null
}

declare module 'fastify' {
  interface FastifyRequest {
    /** name of the API key the request was authenticated with; set on requests to the routes of the inference context (null: auth is off) */
    apiKey: string | null
  }
  interface FastifyContextConfig {
    /** the model a request to this route asks for when its path has no `:model` */
    defaultModel?: string
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

/**
 * Puts the API-key check on `scope`, an encapsulated context (a plugin registered without
 * fastify-plugin): every route registered in it, or in a plugin registered inside it, needs a
 * key; routes outside it are untouched. Call it before registering the routes.
 */
export function requireApiKeys (scope: FastifyInstance, config: Config): void {
  const ring = new KeyRing(config.auth.apiKeys)
  scope.decorateRequest('apiKey', null)
  // every route in the context must say which model it serves, or a restricted key could not
  // be checked: refused at registration, whether or not keys are configured
  scope.addHook('onRoute', (route) => {
    if (!/(^|\/):model(\/|$)/.test(route.url) && typeof route.config?.defaultModel !== 'string') {
      throw new Error(`route ${route.method} ${route.url} needs an API key but names no model: give it a :model parameter or config.defaultModel`)
    }
  })
  if (ring.size === 0) return

  scope.addHook('onRequest', async (request, reply) => {
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
    const model = (request.params as { model?: string } | undefined)?.model ?? request.routeOptions.config.defaultModel!
    if (who.models !== null && !who.models.has(model)) {
      request.log.info({ model }, 'api key has no access to model')
      throw new Forbidden(model)
    }
  })
}
