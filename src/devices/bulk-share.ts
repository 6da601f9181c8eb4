// What share of a device's recent batch time went to bulk batches: batches of throughput items
// alone, no latency item among them. Each term decays exponentially over BULK_SHARE_TAU_MS
// (about the last second). The router reads it before it moves a latency item off a backlogged
// device to a busy reserved latency worker elsewhere (router.ts, spareReserved). Where the
// device's own latency batches carry most of its throughput work as riders (riders.ts), its bulk
// share is low. Moving the latency item would then take the riders' ride away, not free the
// device for bulk work. Pure state on the time it is handed: three numbers, O(1), no allocation.

/** decay constant: the batches of about the last second */
export const BULK_SHARE_TAU_MS = 1000

export class BulkShare {
  private bulk = 0
  private all = 0
  private at = 0

  constructor (private readonly tauMs = BULK_SHARE_TAU_MS) {}

  /** A batch predicted to take `ms` started at `now`; `bulk`: no latency item in it. */
  add (ms: number, bulk: boolean, now: number): void {
    if (!(ms > 0)) return
    if (now > this.at) {
      const k = Math.exp(-(now - this.at) / this.tauMs)
      this.bulk *= k
      this.all *= k
      this.at = now
    }
    this.all += ms
    if (bulk) this.bulk += ms
  }

  /** The bulk batches' share of the batch time lately, 0…1 (both sums decay alike, so no time is needed); 1 before any batch. */
  get share (): number {
    return this.all > 0 ? this.bulk / this.all : 1
  }
}
