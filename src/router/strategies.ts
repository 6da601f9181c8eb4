// The routing strategies a server can run (routing.strategy): Switchyard's own, and the
// baselines it is measured against. A leaf module, so the config schema can name them.
export const STRATEGIES = ['switchyard', 'fastest-only', 'round-robin', 'join-shortest-queue', 'shared-queue', 'speed-aware', 'late-binding'] as const
export type Strategy = typeof STRATEGIES[number]
