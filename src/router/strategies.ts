// The routing strategies a server can run (routing.strategy): Switchyard's own, and the
// baselines it is measured against. `switchyard` binds throughput items late (one pool per
// model, late-binding.ts); `late-binding` names the same rule, `early-binding` today's rule before
// it (each throughput item bound to one device's queue at arrival), kept to be measured against. A leaf module, so the config schema can name them.
export const STRATEGIES = ['switchyard', 'fastest-only', 'round-robin', 'join-shortest-queue', 'shared-queue', 'speed-aware', 'late-binding', 'early-binding'] as const
export type Strategy = typeof STRATEGIES[number]

/**
 * Whether `strategy` binds throughput items late: its devices are built with one pool per model
 * variant that their free workers pull from (late-binding.ts). The server's device set, the
 * simulator's engine and its fleet build their devices by it, so a simulated pod runs what a
 * server with that strategy runs.
 */
export function bindsLate (strategy: Strategy): boolean {
  return strategy === 'switchyard' || strategy === 'late-binding'
}
