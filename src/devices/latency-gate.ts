// The latency class's recent tail on one device, held against an objective: the gate through
// which a latency batch on a deeply backlogged device fills past its backlog budget (riders.ts).
//
// Riders under a backlog are bounded by t(n + f) ≤ (1 + backlogBudget)·t(n) because a filled
// batch is what a latency item waits behind and runs in: unbounded, the latency class's p99
// crossed its objective on GPUs whose full batch is slow. But that bound is blind to how much
// room the latency class has. On a GPU with t(n) = 3.2 + 0.755n (B = 32) it caps a latency batch
// at about 12 ms, 9–16 items, while a 53 ms latency p99 had room for full 27 ms batches; there the
// throughput class lost its capacity to short batches (bench/results/late-binding.md, session 26).
// Told the objective (devices[].riders.latencyObjectiveMs), the device watches its own latency
// items — the time from queueing to answer of each, over its last GATE_WINDOW — and lets a
// latency batch fill to its batch limit (the deadline still bounding it) only while their p95 is
// within GATE_FRACTION of the objective. Decoding and the request's fixed cost come on top of
// what the device sees, hence a fraction, not the objective itself.
//
// O(1) per item, no allocation: a ring of flags (above the threshold or not) and their count.
// The p95 of n samples is within the threshold iff at most n − 1 − ⌊0.95·(n − 1)⌋ of them are above it.

/** latency items remembered */
export const GATE_WINDOW = 200
/** fewer seen: the gate stays shut (nothing known of the tail yet) */
export const GATE_MIN_SAMPLES = 20
export const GATE_QUANTILE = 0.95
/**
 * The share of the objective the device's own p95 must stay within. Screened on seeds 1–640
 * against 0.5 (bench/results/late-binding.md): 0.5 rarely opened (one cell over 2× fewer, one cell
 * lost); 0.7 three fewer over 2×, no cell or sustainable rate lost in total.
 */
export const GATE_FRACTION = 0.7

export class LatencyGate {
  private readonly above = new Uint8Array(GATE_WINDOW)
  private next = 0
  private seen = 0
  private aboveCount = 0
  /** ms a latency item's queue-to-answer time may take and count as within */
  readonly thresholdMs: number

  constructor (objectiveMs: number) {
    this.thresholdMs = GATE_FRACTION * objectiveMs
  }

  /** One latency item answered `ms` after it was queued on this device. */
  observe (ms: number): void {
    const flag = ms > this.thresholdMs ? 1 : 0
    if (this.seen === GATE_WINDOW) this.aboveCount -= this.above[this.next]!
    else this.seen++
    this.above[this.next] = flag
    this.aboveCount += flag
    this.next = this.next === GATE_WINDOW - 1 ? 0 : this.next + 1
  }

  /** The p95 of the remembered items is within the threshold (and enough were seen to say so). */
  get open (): boolean {
    return this.seen >= GATE_MIN_SAMPLES && this.aboveCount <= this.seen - 1 - Math.floor(GATE_QUANTILE * (this.seen - 1))
  }
}
