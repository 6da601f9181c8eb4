// Fault injection, for tests, benchmarks (a slow replica on a shared CPU) and operators
// rehearsing failures. Never on by default: a device accepts faults only when the config says
// `faults.allow` (or SWITCHYARD_ALLOW_FAULTS / SWITCHYARD_FAULTS), and its workers ignore
// them otherwise.
//
//   exit        the next batch's worker exits mid-batch (the worker dies, as a native fault would)
//   throw       the next batch fails with an error (the worker lives)
//   hang        the next batch never returns: the worker blocks in Atomics.wait
//   crash       the next batch aborts the worker natively (process.abort()); process isolation
//               only — in a worker thread it would take the whole server down, so it is refused
//   slow        every batch takes delayMs longer, until cleared ({ mode: 'slow', delayMs: 0 });
//               the wait is Atomics.wait with a timeout inside the worker's timed section, so
//               the worker's reported service time (and the cost model) grow, and no CPU burns
//   fail-start  the next `count` (default 1) replacement workers fail to start
import { Type, type Static } from '@sinclair/typebox'

export type FaultMode = 'exit' | 'throw' | 'hang' | 'crash' | 'slow' | 'fail-start'

export interface Fault { mode: FaultMode, delayMs?: number, count?: number }

export const FAULT_MODES = ['exit', 'throw', 'hang', 'crash', 'slow', 'fail-start'] as const satisfies readonly FaultMode[]

/** One fault aimed at a device: a `faults.inject` entry in the config, the body of POST /admin/faults. */
export const FaultInjectionSchema = Type.Object({
  device: Type.String({ minLength: 1, maxLength: 64, description: 'device id' }),
  mode: Type.Union(FAULT_MODES.map((m) => Type.Literal(m)), { description: 'exit | throw | hang | crash (process isolation only) | slow | fail-start' }),
  delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000, description: "slow: ms added to every batch (0 clears)" })),
  count: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'fail-start: how many replacement starts fail (default 1)' }))
}, { additionalProperties: false })
export type FaultInjection = Static<typeof FaultInjectionSchema>

/** The old string form (`'exit'`, `'throw'`) and the object form, as one object. */
export function toFault (fault: FaultMode | Fault): Fault {
  return typeof fault === 'string' ? { mode: fault } : fault
}

/** Why a fault cannot be injected as asked (the caller answers 400 or refuses the config). */
export function faultProblem (fault: Fault, isolation: 'thread' | 'process'): string | null {
  if (fault.mode === 'crash' && isolation !== 'process') {
    return "mode 'crash' aborts the worker's process: only a device with isolation 'process' survives it (in a worker thread it would end the whole server)"
  }
  if (fault.mode === 'slow' && fault.delayMs === undefined) return "mode 'slow' needs delayMs (0 clears it)"
  return null
}
