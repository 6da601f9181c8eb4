// The admin key (auth.adminKeys, header X-Switchyard-Admin-Key) in front of the routes that
// change the server: /v2/repository load and unload, and /admin/faults. With no key configured
// the repository routes are off (404 SY_ADMIN_OFF) while /admin/faults, which exists only with
// faults.allow, stays open (`open: true`); with keys, a missing key is 401, a wrong one 403.
// Keys are compared as sha256 digests in constant time, so neither length nor content leaks by
// timing.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.js'
import { AdminKeyInvalid, AdminKeyRequired, AdminRoutesOff } from '../errors.js'

export const ADMIN_KEY_HEADER = 'x-switchyard-admin-key'

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest()

/** Throws the API error for a request without a valid admin key; nothing when it has one. */
export function checkAdminKey (request: Pick<FastifyRequest, 'headers'>, hashes: readonly Buffer[]): void {
  if (hashes.length === 0) throw new AdminRoutesOff()
  const raw = request.headers[ADMIN_KEY_HEADER]
  const key = Array.isArray(raw) ? raw[0] : raw
  if (key === undefined || key === '') throw new AdminKeyRequired()
  const d = digest(key)
  let ok = false
  for (const h of hashes) ok = timingSafeEqual(d, h) || ok // every key compared: no early exit
  if (!ok) throw new AdminKeyInvalid()
}

/**
 * Every route registered in `scope` needs the admin key (an onRequest hook). `open`: with no key
 * configured the routes are open rather than off (the fault routes, which exist only with
 * faults.allow).
 */
export function requireAdminKey (scope: FastifyInstance, config: Pick<Config, 'auth'>, opts: { open?: boolean } = {}): void {
  const hashes = config.auth.adminKeys.map(digest)
  if (hashes.length === 0 && opts.open === true) return
  scope.addHook('onRequest', async (request) => checkAdminKey(request, hashes))
}
