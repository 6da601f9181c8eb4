// What a worker's running batch still needs, in ms from `now`: the one reading of a worker slot's
// busyUntil that the router (router.ts, every strategy) and the scheduler's pull rule
// (scheduler.ts poolMember, late-binding.ts) share, so they cannot disagree about an overdue worker.
//
//   idle (busyUntil 0)             0
//   before its predicted end       busyUntil − now
//   past it (overdue)              now − busyUntil: the overrun so far, the only evidence of how far
//                                  off the prediction is; counted as 0 a slowed or stalled worker
//                                  would look free, the first place work goes

export function residualMs (busyUntil: number, now: number): number {
  return busyUntil > now ? busyUntil - now : busyUntil > 0 ? now - busyUntil : 0
}
