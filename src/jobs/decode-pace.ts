// How many job images a replica decodes at once (policy: no I/O, no clock). A job's images are
// taken from the queue a batch at a time, so decoding them as fast as the decode gate allows
// runs them in bursts: every bulk decode slot busy at once (and libvips spreads each decode over
// the cores), right when a batch starts on the devices. A latency-class request that arrives
// then waits for the cores behind that burst, although the devices will not need those images
// before the running batch ends. Throughput-class HTTP requests at the same rate do not burst:
// they arrive spread out. So the puller decodes only as fast as its devices consume, by
// Little's law:
//
//   k = ⌈ margin × rate × decodeMs ⌉, within [1, max]
//
//   rate      throughput-class images per ms the model's devices run at full batches (their
//             cost models: Σ over bulk workers of B / t(B), capacity.ts drainRate)
//   decodeMs  the wall time of one job image's decode, as measured (a moving average)
//   margin    DECODE_MARGIN: decoding keeps ahead of the devices despite the average's error
//   max       the decode gate's throughput-class slots (decode.bulkSlots): never more than
//             HTTP bulk work may hold
//
// A CPU that runs ten images a second and decodes one in 20 ms needs 0.2 decodes at once: one.
// A GPU that runs 400 a second needs 12: the gate's bulk slots, as before.
//
// Where the devices could run faster than one decode stream feeds them but the cores are
// shared (this project's 2-core machine: three replicas, nats-server), the rule still asks for
// two, and the choice is a trade measured in bench/results/jobs-probe*.md and jobs-rate*.md:
// one job decode at once (jobs.decodeSlots 1) brings the latency-class probe's p95 beside jobs
// near its p95 beside the same rate of HTTP, and costs images per second; two keep the rate.

/** decoding keeps this far ahead of the devices' rate */
export const DECODE_MARGIN = 1.5

/**
 * Decodes to run at once for devices that take `ratePerMs` images per ms, when one decode takes
 * `decodeMs` (0 when not measured yet: one, until it is); at most `max`, at least one.
 */
export function decodeConcurrency (ratePerMs: number, decodeMs: number, max: number): number {
  const top = Math.max(1, Math.floor(max))
  if (!(decodeMs > 0) || !(ratePerMs > 0)) return 1
  if (!Number.isFinite(ratePerMs)) return top
  return Math.min(top, Math.max(1, Math.ceil(DECODE_MARGIN * ratePerMs * decodeMs)))
}
