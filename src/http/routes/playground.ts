// GET / — the web playground: three static files (src/http/playground/, copied beside the
// compiled code by `npm run build`), read once at startup and served from memory. Plain
// HTML, CSS and JavaScript: no build step, nothing fetched from elsewhere (the CSP says so).
import { readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'

const DIR = new URL('../playground/', import.meta.url)
const FILES: ReadonlyArray<[string, string, string]> = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/playground/playground.js', 'playground.js', 'text/javascript; charset=utf-8'],
  ['/playground/playground.css', 'playground.css', 'text/css; charset=utf-8']
]
const CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

export async function playgroundRoutes (app: FastifyInstance): Promise<void> {
  for (const [url, file, type] of FILES) {
    const body = readFileSync(new URL(file, DIR))
    app.get(url, { schema: { hide: true } }, async (_request, reply) => {
      return reply.type(type).header('content-security-policy', CSP).header('cache-control', 'no-cache').send(body)
    })
  }
}
