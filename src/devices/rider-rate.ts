// How fast a late-binding pool is drained by riders (riders.ts): throughput items taken from it
// by latency batches, per ms, as an exponentially decaying count over RIDER_RATE_TAU_MS. Riders
// drain a pool past everything its predicted finish F(P) counts ahead of an item (the device's
// other models' pools, the pull rule's batch delays): with a latency class of its own model, a
// short pool behind deep ones rides the next latency batches and is answered in tens of ms where
// F says seconds (generated seed 1: ×0.05). The router bounds what it reports by the time riders
// alone would take to reach the item (router.ts, routePooled). Pure state on the time it is
// handed: two numbers, O(1), no allocation.

/** decay constant: the rate of about the last second */
export const RIDER_RATE_TAU_MS = 1000

export class RiderRate {
  private count = 0
  private at = 0

  constructor (private readonly tauMs = RIDER_RATE_TAU_MS) {}

  /** `n` items rode a batch that started at `now`. */
  add (n: number, now: number): void {
    if (!(n > 0)) return
    this.count = this.decayed(now) + n
    if (now > this.at) this.at = now
  }

  /** Items per ms that rode lately: 0 when none did. */
  perMs (now: number): number {
    return this.decayed(now) / this.tauMs
  }

  private decayed (now: number): number {
    return now > this.at && this.count > 0 ? this.count * Math.exp(-(now - this.at) / this.tauMs) : this.count
  }
}
