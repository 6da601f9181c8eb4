// Late binding for the throughput class (routing.strategy `late-binding`): throughput items
// wait in one pool per model that every device serving it pulls from, instead of being
// committed to one device's queue at arrival. Pure arithmetic, shared by the router (the
// prediction it answers and admits by) and the scheduler (whether a free worker pulls).
//
// For the devices f sharing a pool, each with eff_f = B_f / t_f(B_f) (items per ms at its best
// batch), G_f general workers and reach_f = max(min_{w∈G_f} r_w + ownBacklog_f / G_f, delay_f)
// (when its first worker could start on pool work: residual busy time — for a worker past its
// predicted end, the overrun so far (residual.ts) — then its own bound queue; the router adds
// the device's share of its other models' pools; no sooner than what is left of its batch delay
// while the pool is short of its batch, counted from the pool head's arrival):
//
//   F(P) = max( min_f [reach_f + t_f(min(P, B_f))],  T(P) )
//   T(P): Σ_f G_f·eff_f · max(0, T − reach_f) = P
//
// the time the set drains a pool of P items: no sooner than the first device that could take
// the item finishes a batch holding it (a small pool still costs one batch, on whichever device
// reaches it first), nor than the devices, each from its own reach, drain P items at their
// combined rate (water-filling by reach). That is what the router admits by and, times the
// pool's learned actual / predicted (router/prediction-correction.ts), answers in
// X-Switchyard-Predicted-Ms. A free worker of device d pulls the largest n ≤ min(B_d, P) with
//
//   t_d(n) ≤ F̂_faster(P) = min_f reach_f + max( t_*(min(P, B_*)), P / Σ_f G_f·eff_f )
//
// over the devices f with eff_f > eff_d (t_* the most efficient one's cost; none faster:
// n = min(B_d, P)) — a bound optimistic for the faster devices (their earliest reach with the
// best cost), so a slow device takes a batch only when it would finish it before the faster
// devices could reach and finish the pool ahead of it: it never strands work a fast one
// reaches sooner, and a free slow device does take work when the fast ones are far behind.
// Which pool, when several are ready: the most urgent head, or near saturation the slower
// device's comparative advantage (choosePool).
//
// Latency items stay bound to the device the router placed them on (earliest predicted
// finish), with one correction when a batch forms: a general worker of device d starting a
// latency batch of n items of a model also takes the latency items of that model waiting on
// another device e that serves the same pool and has no worker free, the largest k of them
// (from the head) with
//
//   t_d(n + k) ≤ r_e + t_e(k)          (joinCount)
//
// r_e the residual of e's earliest worker (residual.ts): they leave in d's batch no later than
// e could start and run them alone. A placement is a prediction made at arrival; by the time a
// batch forms, e's running batch may have overrun, or more latency items come in behind it.
// Triton's rule (the shared queue) binds every item when a worker frees; this binds it at
// arrival and lets a batch that starts anyway take what would otherwise wait, which fills latency
// batches as a shared queue does (fewer, fuller latency batches: capacity) without moving an item
// to a later finish. Riders are added after (riders.ts), priced on the batch of n + k.

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
  const F = fasterFinishMs(faster, poolItems)
  if (own.predict(n0) <= F) return n0
  // t(n) grows with n: the largest n that still passes
  let lo = 0; let hi = n0 - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1
    if (own.predict(mid) <= F) lo = mid; else hi = mid - 1
  }
  return lo
}

/**
 * The pull rule's bound on when the faster devices finish a pool of `items`: their earliest
 * reach with the most efficient one's cost, at their combined rate — optimistic for them, so a
 * slower device takes only what even that bound leaves it (the expected finish, poolFinishMs,
 * made slow devices pull more, and lost cells and a sustainable rate on generated scenarios:
 * bench/results/prediction.md).
 */
function fasterFinishMs (members: readonly PoolMember[], items: number): number {
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

/**
 * Device d's efficiency at its best batch relative to the fastest other device serving the pool
 * (eff_d / max_f eff_f over the others with workers): below 1 where a faster device serves it
 * too; Infinity where none other does.
 */
export function relativeEff (own: PoolMember, others: readonly PoolMember[]): number {
  let fastest = 0
  for (const m of others) if (m.workers > 0 && m.eff > fastest) fastest = m.eff
  return fastest > 0 ? own.eff / fastest : Infinity
}

/** A pool a free worker may pull from now: the pull rule's count, its head's deadline, the device's relative efficiency there. */
export interface ReadyPool {
  count: number
  deadline: number
  advantage: number
}

/**
 * The offered load above which a slower device pulls by comparative advantage (choosePool):
 * Σ_m λ̂_m / cap_m over the pools it serves (offeredLoad). The estimate reads about 0.88× the
 * offered load of a Poisson scenario, so 0.8 is about 90 % of capacity; below it the fleet
 * keeps up in urgency order and reordering only delays the urgent head.
 */
export const ADVANTAGE_LOAD = 0.8

/**
 * How much better a slower device's relative efficiency must be in another pool for it to
 * leave the most urgent one (choosePool). Leaving it costs urgency for sure and gains
 * capacity in proportion to the difference: where the device is 10–20 % less far behind
 * (generated seeds 187 and 450), reordering put two cells over 2× and gained none. Chosen on
 * seeds 1–560 (1, 1.25, 1.5), judged on 561–640 (bench/results/late-binding.md).
 */
export const ADVANTAGE_MARGIN = 1.25

/** The decay constant of a pool's arrival count (RequestQueue.arrived): the rate of about the last 2 s. */
export const OFFERED_TAU_MS = 2000

/**
 * Which of the pools a free worker may pull from it takes (comparative advantage, issue 17):
 * the most urgent head, unless the device is slower than another member in one of them and
 * the pools it serves are near saturation (`saturated()`, asked only then); then, among the
 * pools whose head is due within `windowMs` of the most urgent one (the device's t(1) on that
 * one: about the time one of its batches takes), the one where its relative efficiency is
 * highest, ties by urgency, if that is at least ADVANTAGE_MARGIN × the urgent pool's. A CPU
 * serving two models beside a GPU that is 13× faster on one and 7.5× on the other spends its
 * time on the second: the same images leave the GPU more time for the first, where its lead
 * is largest (seed 441 at 100 %: throughput p99 1,036 → 871 ms). The window keeps the order
 * by deadline to within one of the device's batches: without it, the pool a slow device
 * leaves waits for the others alone, and the throughput p99 of many generated scenarios grew;
 * below saturation the fleet keeps up in urgency order and reordering gained nothing
 * (bench/results/late-binding.md).
 */
export function choosePool<T extends ReadyPool> (ready: readonly T[], windowMs: (urgent: T) => number, saturated: () => boolean): T | null {
  let urgent: T | null = null; let slower = false
  for (const p of ready) {
    if (urgent === null || p.deadline < urgent.deadline) urgent = p
    if (p.advantage < 1) slower = true
  }
  if (urgent === null || !slower || !saturated()) return urgent
  const due = urgent.deadline + windowMs(urgent)
  let pick = urgent
  for (const p of ready) {
    if (p.deadline > due) continue
    if (p.advantage > pick.advantage || (p.advantage === pick.advantage && p.deadline < pick.deadline)) pick = p
  }
  return pick.advantage >= ADVANTAGE_MARGIN * urgent.advantage ? pick : urgent
}

/**
 * How many of the `waiting` latency items another device holds a starting latency batch of `n`
 * items takes (the largest k ≤ min(waiting, room) with own(n + k) ≤ peerStartMs + peer(k)); 0:
 * none. `peerStartMs`: when the other device's earliest worker frees (0 or less: it is free
 * and takes its own).
 */
export function joinCount (own: Pick<PoolMember, 'predict'>, n: number, room: number, peer: Pick<PoolMember, 'predict'>, peerStartMs: number, waiting: number): number {
  if (!(peerStartMs > 0)) return 0
  let k = Math.min(waiting, room)
  // t_own(n + k) − t_peer(k) is linear in k (a + b·n each): the largest k that passes, from the top
  while (k > 0 && own.predict(n + k) > peerStartMs + peer.predict(k)) k--
  return Math.max(0, k)
}
