// What every inference answer says about how it was served: X-Switchyard-* headers and
// Server-Timing. Shared by /classify, /detect and the Open Inference Protocol's infer.
import type { FastifyReply } from 'fastify'

export interface Served {
  /** device id, or several joined by commas (a multi-item protocol request) */
  device: string
  /** the model variant that ran (several joined by commas; '' when not known) */
  variant?: string
  batchSize: number | string
  policy: string
  predictedMs: number
  decodeMs: number
  queueMs: number
  inferenceMs: number
  postprocessMs: number
  totalMs: number
}

export function annotate (reply: FastifyReply, s: Served): void {
  void reply
    .header('x-switchyard-device', s.device)
  if (s.variant !== undefined && s.variant !== '') void reply.header('x-switchyard-variant', s.variant)
  void reply
    .header('x-switchyard-batch-size', String(s.batchSize))
    .header('x-switchyard-policy', s.policy)
    .header('x-switchyard-predicted-ms', s.predictedMs.toFixed(1))
    .header('x-switchyard-actual-ms', (s.totalMs - s.decodeMs).toFixed(1))
    .header('server-timing', `decode;dur=${s.decodeMs.toFixed(2)}, queue;dur=${s.queueMs.toFixed(2)}, inference;dur=${s.inferenceMs.toFixed(2)}, postprocess;dur=${s.postprocessMs.toFixed(2)}, total;dur=${s.totalMs.toFixed(2)}`)
}
