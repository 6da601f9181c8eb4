// Admission by memory: a budget for the bytes of prepared tensors that accepted requests hold
// while they wait and run (issue 17: queues bounded by what they cost, not by an item count).
// The router refuses (429 SY_OVERLOADED, every queue full, with a computed Retry-After) a request whose image would
// take the total past the budget; time is the other bound — a request is admitted only when its
// predicted finish meets its deadline (router.ts). The dispatcher charges an item's bytes when
// it is queued and gives them back when it is answered (or refused, cancelled, expired).
//
// Default size, from the machine: an eighth of its memory, at most 2 GiB — about 14,000
// MobileNetV2 inputs (224×224×3 bytes) or 4,000 YOLOX-Nano ones (416×416×3).
import { totalmem } from 'node:os'

export class QueueBudget {
  /** bytes held by accepted items now */
  bytes = 0

  constructor (readonly maxBytes: number) {}

  /** whether `n` more bytes fit */
  fits (n: number): boolean {
    return n <= 0 || this.bytes + n <= this.maxBytes
  }

  take (n: number): void { this.bytes += n }
  give (n: number): void { this.bytes = Math.max(0, this.bytes - n) }
}

export const MAX_DEFAULT_QUEUE_BYTES = 2 * 1024 ** 3

/** admission.maxQueuedBytes when the config leaves it 0: an eighth of the machine's memory, at most 2 GiB */
export function defaultQueueBytes (memoryBytes = totalmem()): number {
  return Math.min(MAX_DEFAULT_QUEUE_BYTES, Math.floor(memoryBytes / 8))
}
