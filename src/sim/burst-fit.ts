// Whether a burst fits within the deadlines (issue 17's burst target): "bursts that fit within the
// deadlines (a burst's excess work drains in less than the throughput deadline): ≤ 0.1 % refused
// at ≤ 80 % mean load". Pure arithmetic on the arrival process workload.ts generates.
//
// Bursty arrivals run at h = factor × m for B of every P seconds and at l = (m·P − h·B) / (P − B)
// between, so the mean is m (= load × C, C the fleet's capacity in requests/s). Where h > C the
// burst leaves an excess of (h − C)·B requests; after it the fleet drains that at C − l a second,
// so the excess is gone (h − C)·B / (C − l) seconds after the burst ends. The burst fits when
// that drain time is at most the throughput class's deadline. (It always ends before the next
// burst when m < C: the spare capacity between bursts, (C − l)(P − B), exceeds the excess by
// (C − m)·P.) Where h ≤ C there is no excess, and the burst fits.
import type { Arrivals } from './scenario.js'

export interface BurstFit {
  /** requests a burst brings beyond what the fleet serves while it lasts (0: none) */
  excess: number
  /** seconds after the burst ends until that excess is served */
  drainS: number
  /** drainS ≤ the throughput deadline */
  fits: boolean
}

/**
 * The burst's excess and drain at mean load `load` of a fleet of `capacityPerS`, against the
 * throughput class's deadline `deadlineS`. Null for arrivals that are not bursty.
 */
export function burstFit (arrivals: Arrivals, capacityPerS: number, load: number, deadlineS: number): BurstFit | null {
  if (arrivals.kind !== 'bursty') return null
  const m = load * capacityPerS
  const { factor, burstS: B, periodS: P } = arrivals
  const h = factor * m
  const l = (m * P - h * B) / (P - B)
  if (h <= capacityPerS) return { excess: 0, drainS: 0, fits: true }
  const excess = (h - capacityPerS) * B
  const drainS = capacityPerS > l ? excess / (capacityPerS - l) : Infinity
  return { excess, drainS, fits: drainS <= deadlineS }
}
