// How n slots are split between API keys that have work: every key with work gets at least
// one, the rest in inverse proportion to its backlog, so a key with ten images queued beside
// one with a million is served almost at once (it finishes about as fast as alone), and the big
// key still gets a slot every round and its full share once the small ones are done. Used where
// a replica takes images from the shared queue (nats-backend.ts) and where it hands the images
// it holds to its devices (job-stage.ts).

/**
 * `available[i]`: how many key i can be given at most; `backlog[i]`: its weight (the images it
 * has queued; defaults to `available`). A key with nothing available gets nothing.
 */
export function shares (n: number, available: readonly number[], backlog: readonly number[] = available): number[] {
  const alloc = available.map(() => 0)
  const active = available.map((p, i) => [p, i] as const).filter(([p]) => p > 0)
  if (active.length === 0 || n <= 0) return alloc
  const weightOf = (i: number): number => Math.max(1, backlog[i] ?? 1)
  const bySmallestBacklog = [...active].sort((a, b) => weightOf(a[1]) - weightOf(b[1]) || a[1] - b[1])
  let left = n
  // at least one each, smallest backlog first
  for (const [, i] of bySmallestBacklog) { if (left === 0) break; alloc[i] = 1; left-- }
  const weight = active.reduce((s, [, i]) => s + 1 / weightOf(i), 0)
  for (const [p, i] of active) {
    const extra = Math.min(p - alloc[i]!, Math.floor(left * (1 / weightOf(i)) / weight))
    alloc[i]! += extra
  }
  // what rounding left over: smallest backlog first
  let rest = n - alloc.reduce((a, b) => a + b, 0)
  for (const [p, i] of bySmallestBacklog) {
    if (rest <= 0) break
    const more = Math.min(rest, p - alloc[i]!)
    alloc[i]! += more
    rest -= more
  }
  return alloc
}
