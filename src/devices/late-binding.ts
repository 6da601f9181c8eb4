// Late binding for the throughput class (routing.strategy `late-binding`): throughput items
// wait in one pool per model that every device serving it pulls from, instead of being
// committed to one device's queue at arrival. Pure arithmetic, shared by the router (the
// prediction it answers and admits by) and the scheduler (whether a free worker pulls).
//
// For the devices f sharing a pool, each with eff_f = B_f / t_f(B_f) (items per ms at its best
// batch), G_f general workers and reach_f = min_{w∈G_f} r_w + ownBacklog_f / G_f (when its
// first worker could start on pool work: residual busy time, then its own bound queue; the
// router adds the device's share of its other models' pools):
//
//   F(P) = max( min_f [reach_f + t_f(min(P, B_f))],  T(P) )
//   T(P): Σ_f G_f·eff_f · max(0, T − reach_f) = P
//
// the time the set drains a pool of P items: no sooner than the first device that could take
// the item finishes a batch holding it (a small pool still costs one batch, on whichever device
// reaches it first), nor than the devices, each from its own reach, drain P items at their
// combined rate (water-filling by reach). A free worker of device d pulls the largest
// n ≤ min(B_d, P) with
//
//   t_d(n) ≤ F_faster(P)        (F over the devices with eff_f > eff_d; none: n = min(B_d, P))
//
// i.e. it takes a batch only when it would finish it before the faster devices would reach and
// finish the pool ahead of it — so a slow device never strands work a fast one reaches sooner,
// and a free slow device does take work when the fast ones are far behind.

export interface PoolMember {
  /** items per ms at the best batch */
  eff: number
  /** ms from now until a general worker could start on pool work */
  reachMs: number
  /** general workers */
  workers: number
  maxBatchSize: number
  predict: (n: number) => number
}

/** F(P): ms from now until `members` drain a pool of `items` items. Infinity with no members. */
export function poolFinishMs (members: readonly PoolMember[], items: number): number {
  // the earliest any member would finish a batch holding the item (a small pool: one batch)
  let first = Infinity; let rate = 0
  for (const m of members) {
    if (m.workers <= 0) continue
    rate += m.workers * m.eff
    const f = m.reachMs + m.predict(Math.min(items, m.maxBatchSize))
    if (f < first) first = f
  }
  if (rate <= 0) return Infinity
  return Math.max(first, drainMs(members, items))
}

/** The fluid drain time of `items`: the T with Σ_f G_f·eff_f·max(0, T − reach_f) = items. */
function drainMs (members: readonly PoolMember[], items: number): number {
  // members are few (the devices serving one model): water-filling by start time, no allocation
  let T = Infinity; let rate = 0; let weighted = 0
  let prev = -Infinity
  for (;;) {
    // the next start after prev
    let next = Infinity; let nm: PoolMember | null = null
    for (const m of members) {
      if (m.workers <= 0) continue
      const s = m.reachMs
      if (s > prev && s < next) { next = s; nm = m }
    }
    if (rate > 0) {
      const t = (items + weighted) / rate
      if (t <= next) { T = t; break }
    }
    if (nm === null) break
    for (const m of members) {
      if (m.workers <= 0 || m.reachMs !== next) continue
      rate += m.workers * m.eff
      weighted += m.workers * m.eff * next
    }
    prev = next
  }
  return T
}

/** How many pool items device `own` pulls now: the largest n ≤ min(B, P) with t(n) ≤ F of the faster devices; 0: none. */
export function pullCount (own: PoolMember, others: readonly PoolMember[], poolItems: number): number {
  const n0 = Math.min(own.maxBatchSize, poolItems)
  if (n0 <= 0) return 0
  let faster: PoolMember[] | null = null
  for (const m of others) if (m.workers > 0 && m.eff > own.eff) (faster ??= []).push(m)
  if (faster === null) return n0
  const F = poolFinishMs(faster, poolItems)
  if (own.predict(n0) <= F) return n0
  // t(n) grows with n: the largest n that still passes
  let lo = 0; let hi = n0 - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1
    if (own.predict(mid) <= F) lo = mid; else hi = mid - 1
  }
  return lo
}
