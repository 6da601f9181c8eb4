// ORCA load reports on answers (the `endpoint-load-metrics` response header), as Envoy's
// client-side weighted round robin, Envoy Gateway's backend utilisation, vLLM and Triton speak it:
// a request that carries `endpoint-load-metrics-format: TEXT` or `JSON` gets
//
//   endpoint-load-metrics: TEXT application_utilization=0.5, named_metrics.queued_requests=3, …
//   endpoint-load-metrics: JSON {"application_utilization":0.5,"named_metrics":{"queued_requests":3,…}}
//
// (fields of xds.data.orca.v3.OrcaLoadReport). application_utilization is the share of live
// inference workers running a batch; the named metrics are the pod's signals
// (router/pod-signals.ts) for the request's model: queued and running requests, free batch slots,
// and per policy the predicted wait and finish of a reference request, in ms. Any other format
// (BIN, the protobuf form, included) gets no header: the answer is otherwise unchanged.
import type { Policy } from '../config/schema.js'
import { SIGNAL_POLICIES, type PodSignals } from '../router/pod-signals.js'

export const ORCA_FORMAT_HEADER = 'endpoint-load-metrics-format'
export const ORCA_HEADER = 'endpoint-load-metrics'

export function namedMetrics (s: PodSignals, model: string): Array<[string, number]> {
  const out: Array<[string, number]> = [
    ['queued_requests', s.queued],
    ['running_requests', s.running],
    ['free_batch_slots', s.freeBatchSlots]
  ]
  const wait = s.waitMs.get(model)
  const finish = s.finishMs.get(model)
  if (wait && finish) {
    for (const p of SIGNAL_POLICIES as readonly Policy[]) {
      out.push([`predicted_wait_${p}_ms`, round(wait[p])], [`predicted_finish_${p}_ms`, round(finish[p])])
    }
  }
  return out
}

/** The header's value for the requested format, or null (no or unknown format). */
export function orcaReport (format: string | string[] | undefined, s: PodSignals, model: string): string | null {
  const f = (Array.isArray(format) ? format[0] : format)?.trim().toUpperCase()
  if (f !== 'TEXT' && f !== 'JSON') return null
  const util = round(s.utilisation)
  const named = namedMetrics(s, model)
  if (f === 'TEXT') return `TEXT application_utilization=${util}, ${named.map(([k, v]) => `named_metrics.${k}=${v}`).join(', ')}`
  return `JSON ${JSON.stringify({ application_utilization: util, named_metrics: Object.fromEntries(named) })}`
}

function round (x: number): number {
  return Math.round(x * 1000) / 1000
}
