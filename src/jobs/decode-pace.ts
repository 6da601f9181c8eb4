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
// While the replica serves latency-class requests (one entered the decode gate within the last
// LATENCY_RECENT_MS), job decodes also keep off the cores those requests decode on: on a host
// whose CPU runs inference too, decoding has only the cores inference leaves it (a CPU device's
// workers take half the cores by default: devices[].intraOpThreads), and job decodes beyond them
// time-slice with the latency class's own decodes, whose tail then grows. So, then,
//
//   max = min(max, decodeCap) ,  decodeCap = max(1, host cores − Σ CPU inference threads)
//
// and with no latency-class traffic the devices get every bulk slot, as before. A GPU host (no
// CPU inference) is not capped. Measured on this project's 2-core machine (three replicas,
// nats-server; decodeCap is 1 there; bench/results/jobs-probe.md): with two job decodes the
// latency-class probe's p95 beside jobs was 0.99–1.06× its p95 beside the same rate of HTTP on a
// quiet machine (1.09–1.36× on a shared one); with this rule 0.89× and 0.83×, the probe's replica
// running 30 job images a second beside it instead of 38.5. One decode at all times
// (jobs.decodeSlots 1) gave 0.68×, but holds a fast replica to one decode stream with no
// latency-class traffic to protect.

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

/**
 * Job decodes at once under 'auto': decodeConcurrency within `max`, and within `latencyCap` too
 * while the replica serves latency-class requests (`latencyRecent`: LatencyWatch).
 */
export function jobDecodeSlots (ratePerMs: number, decodeMs: number, max: number, latencyCap: number, latencyRecent: boolean): number {
  return decodeConcurrency(ratePerMs, decodeMs, latencyRecent ? Math.min(max, latencyCap) : max)
}

/**
 * The most job images to decode at once on a host of `cores` whose CPU devices run
 * `cpuInferenceThreads` inference threads: the cores left to decoding, at least one.
 */
export function decodeCap (cores: number, cpuInferenceThreads: number): number {
  return Math.max(1, Math.floor(cores) - Math.max(0, cpuInferenceThreads))
}

/** how long after a latency-class request entered the decode gate the replica counts as serving that class */
export const LATENCY_RECENT_MS = 1000

/**
 * Whether latency-class requests came lately, from the decode gate's running count of them
 * (DecodeGate.latencyEntered): `observe(count, now)` is true while the count moved within the
 * last `windowMs`. O(1), two numbers.
 */
export class LatencyWatch {
  private seen = 0
  private at = -Infinity

  constructor (private readonly windowMs = LATENCY_RECENT_MS) {}

  observe (count: number, now: number): boolean {
    if (count !== this.seen) { this.seen = count; this.at = now }
    return now - this.at < this.windowMs
  }
}
