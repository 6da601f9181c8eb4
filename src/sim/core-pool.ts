// SIMULATED HARDWARE — the host's CPU cores as one pool (issue 17, fidelity): decoding, each
// request's fixed cost on the main thread and the CPU device's batches all run on the same
// cores, as they do on a real host. Processor sharing: a task asks for `width` cores (a decode
// or the main thread 1, a CPU batch its intra-op threads); while the tasks running ask for at
// most `cores` in all, each runs at full speed, else every one at cores / demand of it, so an
// oversubscribed host stretches all of them alike. Work is in ms at full speed.
import type { TimerHandle, VirtualClock } from '../devices/clock.js'

interface Task { remaining: number, width: number, started: number, done: (elapsedMs: number) => void }

export class CorePool {
  private readonly tasks: Task[] = []
  private demand = 0
  private last = 0
  private timer: TimerHandle | null = null
  /** core-ms of work done (utilisation) */
  busyCoreMs = 0

  constructor (private readonly clock: VirtualClock, readonly cores: number) {
    if (!(cores > 0)) throw new Error('a core pool needs at least one core')
  }

  /** Runs `workMs` of work `width` cores wide; `done` gets the elapsed (stretched) time. Returns a handle for cancel(). */
  run (workMs: number, width: number, done: (elapsedMs: number) => void): object {
    this.advance()
    const task: Task = { remaining: Math.max(0, workMs), width: Math.max(1e-9, Math.min(width, this.cores)), started: this.clock.now(), done }
    this.tasks.push(task)
    this.demand += task.width
    this.schedule()
    return task
  }

  /** Drops a task (its worker died); its done() is not called. */
  cancel (handle: object): void {
    const i = this.tasks.indexOf(handle as Task)
    if (i < 0) return
    this.advance()
    this.tasks.splice(i, 1)
    this.demand -= (handle as Task).width
    this.schedule()
  }

  /** how many tasks run now */
  get running (): number { return this.tasks.length }

  private rate (): number {
    return this.demand <= this.cores ? 1 : this.cores / this.demand
  }

  private advance (): void {
    const now = this.clock.now()
    const dt = now - this.last
    this.last = now
    if (dt <= 0 || this.tasks.length === 0) return
    const r = this.rate()
    for (const t of this.tasks) t.remaining -= dt * r
    this.busyCoreMs += dt * Math.min(this.demand, this.cores)
  }

  private schedule (): void {
    if (this.timer !== null) { this.clock.clearTimer(this.timer); this.timer = null }
    if (this.tasks.length === 0) return
    let min = Infinity
    for (const t of this.tasks) if (t.remaining < min) min = t.remaining
    this.timer = this.clock.setTimer(this.clock.now() + Math.max(0, min) / this.rate(), () => this.fire())
  }

  private fire (): void {
    this.timer = null
    this.advance()
    const now = this.clock.now()
    const finished: Task[] = []
    for (let i = this.tasks.length - 1; i >= 0; i--) {
      const t = this.tasks[i]!
      if (t.remaining <= 1e-7) { finished.push(t); this.tasks.splice(i, 1); this.demand -= t.width }
    }
    if (this.tasks.length === 0) this.demand = 0 // no drift from float sums
    this.schedule()
    for (let i = finished.length - 1; i >= 0; i--) finished[i]!.done(now - finished[i]!.started)
  }
}
