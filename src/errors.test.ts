// Every error the API can return is declared once in errors.ts with a stable SY_* code, and
// documented in the README's error table.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import * as errors from './errors.js'
import { REPO } from './test-support/server.js'

const readme = readFileSync(join(REPO, 'README.md'), 'utf8')
const declared = Object.entries(errors).filter(([, v]) => typeof v === 'function') as Array<[string, new (...a: unknown[]) => Error & { code: string, statusCode: number }]>

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
