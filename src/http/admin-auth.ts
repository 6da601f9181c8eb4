// The admin key on operator routes (/admin/…). When config.auth.adminKeys is non-empty, every
// request to a route of the scope given to requireAdminKey() carries one of the keys in
// `X-Switchyard-Admin-Key`, else 401 SY_ADMIN_UNAUTHORIZED. The presented key is hashed and
// compared with every configured key's hash in constant time.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/schema.js'
import { AdminUnauthorized } from '../errors.js'

export const ADMIN_KEY_HEADER = 'x-switchyard-admin-key'

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest()

/** Puts the admin-key check on `scope` (an encapsulated context); no keys configured: open. */
export function requireAdminKey (scope: FastifyInstance, config: Pick<Config, 'auth'>): void {
  const hashes = config.auth.adminKeys.map(digest)
  if (hashes.length === 0) return
  scope.addHook('onRequest', async (request) => {
    const header = request.headers[ADMIN_KEY_HEADER]
    const key = Array.isArray(header) ? header[0] : header
    if (typeof key !== 'string' || key === '') throw new AdminUnauthorized()
    const d = digest(key)
    let ok = false
    for (const h of hashes) ok = timingSafeEqual(d, h) || ok // no early exit
    if (!ok) throw new AdminUnauthorized()
  })
}
