// Free throughput capacity of this replica for one model: how many more throughput-class
// items its devices could take now without anything waiting longer than one batch. A read-only
// view of the schedulers' public state (worker slots, lane queues): it changes nothing there.
//
//   free = Σ over healthy devices serving the model,
//            over live workers that take throughput work:   B   (the lane's max batch size)
//        − Σ throughput-class items already queued in those lanes
//
// i.e. each worker that takes bulk work is offered one full batch beyond what it runs now: an
// idle worker starts it at once, a busy one finds it waiting when its batch ends, so pulling
// never leaves a worker idle for a round trip to the queue and never piles up more than one
// batch per worker (the rest stays in the shared queue, where another replica can take it).
// HTTP throughput-class requests queued on the devices count against it like job items —
// except those an idle worker is about to start (up to a batch per idle worker: a short batch
// waits the throughput batch delay for company before it starts). They are that worker's next
// batch, not the one beyond it: counted as waiting, they made a replica that had just handed a
// short batch over take only the images missing from it, and the rest of its next batch only
// when the puller next woke (up to 200 ms later). (This alone did not stop a slow replica's
// batches pairing off as 1 + 7; the release at a batch's end did: puller.ts, and
// bench/results/jobs-shares.md.)
//
// What may start now is narrower (startableSlots): the slots of workers that are idle this
// moment. The puller takes images up to freeThroughputSlots() (they are fetched and decoded
// ahead) but hands them to the devices only up to startableSlots(), so the order between API
// keys is decided when a worker can start them, not a batch earlier (job-stage.ts).
import type { RequestQueue } from '../devices/request-queue.js'
import type { Scheduler } from '../devices/scheduler.js'

type Devices = readonly Pick<Scheduler, 'healthy' | 'lanes' | 'workers'>[]
type Slot = Scheduler['workers'][number]

/** an idle, live worker that takes bulk work: it starts what is queued for it once the batch delay allows */
const idle = (w: Slot): boolean => w.alive && w.takesThroughput && w.running === null && w.held !== true

export function freeThroughputSlots (devices: Devices, model: string): number {
  return slots(devices, model, (w) => w.alive && w.takesThroughput, false, true)
}

/**
 * Throughput-class items this replica's devices would start now: a full batch per idle,
 * live worker that takes bulk work, minus the throughput items already queued for it.
 */
export function startableSlots (devices: Devices, model: string): number {
  return slots(devices, model, idle, true)
}

/**
 * Throughput-class images per ms the model's devices run when every worker that takes bulk
 * work runs full batches: Σ B / t(B) over those workers (their lane's cost model). What
 * decoding for them has to keep up with (decode-pace.ts). Infinity while a cost model has no
 * samples.
 */
export function drainRate (devices: Devices, model: string): number {
  let rate = 0
  for (const d of devices) {
    if (!d.healthy) continue
    const lane = d.lanes.get(model)
    if (lane === undefined) continue
    let n = 0
    for (const w of d.workers) if (w.alive && w.takesThroughput) n++
    if (n > 0) rate += n * lane.cost.throughput(lane.maxBatchSize)
  }
  return rate
}

/**
 * A batch per worker that `counts`, minus the throughput items queued in the lanes (each lane at
 * least 0 when `perLane`) and in their late-binding pools (shared by the devices: counted once).
 * With `startingFree`, items up to a batch per idle worker are not subtracted: they are about to
 * start on it (what its lane holds first, then the pools).
 */
function slots (devices: Devices, model: string, counts: (w: Slot) => boolean, perLane: boolean, startingFree = false): number {
  let free = 0
  /** room left on idle workers after their own lanes' queues: for the pools' items */
  let idleRoom = 0
  const pools = new Set<RequestQueue>()
  for (const d of devices) {
    if (!d.healthy) continue
    const lane = d.lanes.get(model)
    if (lane === undefined) continue
    let n = 0
    let idleN = 0
    for (const w of d.workers) {
      if (counts(w)) n++
      if (startingFree && idle(w)) idleN++
    }
    const queued = lane.queue.throughput.length
    const starting = Math.min(queued, idleN * lane.maxBatchSize)
    idleRoom += idleN * lane.maxBatchSize - starting
    const own = n * lane.maxBatchSize - (queued - starting)
    free += perLane ? Math.max(0, own) : own
    if (lane.pool !== undefined) pools.add(lane.pool)
  }
  for (const p of pools) {
    const starting = Math.min(p.throughput.length, idleRoom)
    idleRoom -= starting
    free -= p.throughput.length - starting
  }
  return Math.max(0, free)
}
