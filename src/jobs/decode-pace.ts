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
// On a host whose CPU runs inference too, decoding has only the cores that inference leaves it
// (a CPU device's workers take half the cores by default: devices[].intraOpThreads), and the
// latency class decodes on those same cores. Decoding job images faster than those cores allow
// does not feed the devices sooner: the decodes time-slice with inference and with the latency
// class's decodes, whose tail then grows. So max is also capped by the decoding cores:
//
//   max = min(decode.bulkSlots, max(1, host cores − Σ CPU inference threads))
//
// Measured on this project's 2-core machine (three replicas, nats-server; the cap is 1 there:
// bench/results/jobs-probe.md, jobs-rate.md): one job decode at once kept the latency-class
// probe's p95 at or under its p95 beside the same rate of HTTP, two did not (1.09–1.36×); the
// images per second stayed ≥ 0.9× the saturated HTTP rate with one.

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
 * The most job images to decode at once on a host of `cores` whose CPU devices run
 * `cpuInferenceThreads` inference threads: the cores left to decoding, at least one, at most
 * `bulkSlots` (the decode gate's throughput-class slots).
 */
export function decodeCap (cores: number, cpuInferenceThreads: number, bulkSlots: number): number {
  return Math.max(1, Math.min(Math.floor(bulkSlots), Math.floor(cores) - Math.max(0, cpuInferenceThreads)))
}

/**
 * Whether an idle worker should wait for the next job image being decoded rather than start a
 * batch of the `ready` ones now. On a device with t(n) = a + b·n, n images now and the rest in
 * another batch cost a again; waiting w ms for one more image runs n + 1 in w + a + b·(n + 1)
 * instead of n in a + b·n, which is more images per ms exactly when w < a / n. The wait is one
 * decode (`decodeMs`, the measured average) at most; nothing waits when nothing is being decoded
 * or the batch is already full. A device with no fixed cost per batch (a CPU, mostly) never waits.
 */
export function waitForFill (ready: number, preparing: number, batch: number, decodeMs: number, fixedMs: number): boolean {
  if (ready <= 0 || ready >= batch || preparing <= 0) return false
  if (!(decodeMs > 0) || !(fixedMs > 0)) return false
  return decodeMs < fixedMs / ready
}
