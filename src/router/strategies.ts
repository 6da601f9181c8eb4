// The routing strategies a server can run (routing.strategy): Switchyard's own, and the
// baselines it is measured against. `switchyard` binds throughput items late (one pool per
// model, late-binding.ts); `late-binding` names the same rule, `early-binding` today's rule before
// it (each throughput item bound to one device's queue at arrival), kept to be measured against. A leaf module, so the config schema can name them.
export const STRATEGIES = ['switchyard', 'fastest-only', 'round-robin', 'join-shortest-queue', 'shared-queue', 'speed-aware', 'late-binding', 'early-binding'] as const
export type Strategy = typeof STRATEGIES[number]
