// Late binding for the throughput class (routing.strategy `late-binding`): throughput items
// wait in one pool per model that every device serving it pulls from, instead of being
// committed to one device's queue at arrival. Pure arithmetic, shared by the router (the
// prediction it answers and admits by) and the scheduler (whether a free worker pulls).
//
// For the devices f sharing a pool, each with eff_f = B_f / t_f(B_f) (items per ms at its best
// batch), G_f general workers and reach_f = min_{w∈G_f} r_w + ownBacklog_f / G_f (when its
// first worker could start on pool work: residual busy time, then its own bound queue):
//
//   F(P) = min_f reach_f + max( t_*(min(P, B_*)), P / Σ_f G_f·eff_f )
//
// the time the set drains a pool of P items (t_* the most efficient device's cost: a small
// pool still costs one batch). A free worker of device d pulls the largest n ≤ min(B_d, P) with
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
  let reach = Infinity; let rate = 0; let best: PoolMember | null = null
  for (const m of members) {
    if (m.workers <= 0) continue
    if (m.reachMs < reach) reach = m.reachMs
    rate += m.workers * m.eff
    if (best === null || m.eff > best.eff) best = m
  }
  if (best === null || rate <= 0) return Infinity
  return reach + Math.max(best.predict(Math.min(items, best.maxBatchSize)), items / rate)
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
