// Which URLs the server may contact for a job: image URLs (fetched at submission) and
// completion callbacks. Only http(s), only hosts listed in the config (a name, or name:port),
// never through a redirect (fetch-images.ts refuses those), and nothing when the list is empty.
import { UrlNotAllowed } from '../errors.js'

export function checkAllowedUrl (raw: string, allowedHosts: readonly string[], what: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UrlNotAllowed(raw.slice(0, 200), `not an absolute URL (${what})`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UrlNotAllowed(raw.slice(0, 200), `only http and https (${what})`)
  if (url.username !== '' || url.password !== '') throw new UrlNotAllowed(url.host, `credentials in a URL are refused (${what})`)
  const host = url.hostname.toLowerCase()
  const ok = allowedHosts.some((h) => {
    const a = h.toLowerCase()
    return a === host || a === url.host.toLowerCase()
  })
  if (!ok) throw new UrlNotAllowed(url.href.slice(0, 200), allowedHosts.length === 0 ? `no host is allowed (${what}: none configured)` : `host ${url.host} is not among the allowed hosts (${what})`)
  return url
}
