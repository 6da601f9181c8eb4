// Every error the API can return is declared once in errors.ts with a stable SY_* code, and
// documented in the README's error table.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import * as errors from './errors.js'
import { REPO } from './test-support/server.js'

const readme = readFileSync(join(REPO, 'README.md'), 'utf8')
type ErrorClass = new (...a: unknown[]) => Error & { code: string, statusCode: number }
const isErrorClass = (v: unknown): v is ErrorClass => typeof v === 'function' && v.prototype instanceof Error
// the API's errors; the internal ones (startup, devices, workers) are never sent as they are
const declared = Object.entries(errors).filter(([, v]) => isErrorClass(v) && (v as unknown) !== errors.InternalError && !(v.prototype instanceof errors.InternalError)) as Array<[string, ErrorClass]>
const internal = Object.entries(errors).filter(([, v]) => isErrorClass(v) && v.prototype instanceof errors.InternalError)

t.ok(declared.length >= 20, `${declared.length} errors declared`)
const codes = new Set<string>()
for (const [name, E] of declared) {
  const e = new E('x', 'y', 'z')
  t.match(e.code, /^SY_[A-Z_]+$/, `${name} has a stable code`)
  t.ok(e.statusCode >= 400 && e.statusCode < 600, `${name} has an HTTP status`)
  t.notOk(codes.has(e.code), `${e.code} declared once`)
  codes.add(e.code)
  t.ok(readme.includes(`\`${e.code}\``), `${e.code} is in the README's error table`)
}

t.test('internal errors are declared in errors.ts too, named after their class', async (t) => {
  t.ok(internal.length >= 8, `${internal.length} internal errors: ${internal.map(([n]) => n).join(', ')}`)
  for (const [name, E] of internal) t.equal(new (E as ErrorClass)('x', false).name, name)
})

t.test('Retry-After is attached in one way', async (t) => {
  const e = errors.withRetryAfter(new errors.Overloaded('x'), 3)
  t.equal(e.retryAfter, 3)
  t.equal(e.statusCode, 429)
})
