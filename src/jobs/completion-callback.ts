// The optional completion callback: once a job's last result is stored, the replica that
// stored it POSTs a small JSON summary (no results: the receiver reads them with GET
// /jobs/{id} and the submitting key) to the callback URL — only to jobs.callbacks.allowedHosts,
// never following a redirect; three tries, then it is logged and given up. At least once:
// should that replica die between storing and calling, no other calls.
import type { Config } from '../config/schema.js'
import type { Log } from '../util/log.js'
import { checkAllowedUrl } from './allowed-hosts.js'
import type { JobView } from './job-types.js'

export function jobSummary (job: JobView): Record<string, unknown> {
  const failed = job.results.reduce((n, r) => n + (r.ok ? 0 : 1), 0)
  return {
    id: job.meta.id,
    model: job.meta.model,
    state: job.finishedAt !== null ? 'done' : job.results.length > 0 ? 'running' : 'queued',
    images: job.meta.images,
    done: job.results.length,
    failed,
    statusUrl: `/jobs/${job.meta.id}`
  }
}

export async function sendCallback (job: JobView, settings: Config['jobs']['callbacks'], log: Log, tries = 3): Promise<boolean> {
  const target = job.meta.callback
  if (target === null) return false
  const body = JSON.stringify(jobSummary(job))
  for (let attempt = 1; attempt <= tries; attempt++) {
    try {
      const url = checkAllowedUrl(target, settings.allowedHosts, 'callback') // the config may have changed since submission
      const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, redirect: 'manual', signal: AbortSignal.timeout(settings.timeoutMs) })
      void res.body?.cancel()
      if (res.ok) return true
      log.warn({ job: job.meta.id, status: res.status, attempt }, 'job callback refused')
    } catch (err) {
      log.warn({ job: job.meta.id, err: (err as Error).message, attempt }, 'job callback failed')
      if ((err as { code?: string }).code === 'SY_URL_NOT_ALLOWED') return false
    }
    if (attempt < tries) await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt))
  }
  return false
}
