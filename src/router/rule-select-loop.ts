// Choosing the rule by replay in the server (issue 17; docs/architecture.md, Routing, "Choosing
// the rule by replay"; `routing.select`). Every `everyMs` the arrivals of the last `windowMs`
// (since the loop started while that is shorter), as the request pipeline recorded them
// (arrival-record.ts), are snapshotted with the devices as they have learned themselves
// (src/sim/learned-replay.ts) and handed to `choose` — in the server the replay thread
// (replay-thread.ts), in tests a function — which answers the rule its replay chose; the
// RuleSelector (rule-select.ts: `confirm` verdicts in a row) decides, and Dispatcher.useRule
// switches. The simulator runs the same snapshot and the same selector inline
// (RunOptions.select with replay-select.ts learnedChooser), so what it measures is this loop.
//
// One replay at a time: a window that ends while the last replay still runs is skipped
// (counted 'busy'), never queued behind it. A replay that fails is logged (once) and counted; the
// rule stays.
import type { Clock, TimerHandle } from '../devices/clock.js'
import type { Scheduler } from '../devices/scheduler.js'
import { takeSnapshot, type ReplayHost, type ReplaySnapshot } from '../sim/learned-replay.js'
import type { Slo } from '../sim/scenario.js'
import type { Log } from '../util/log.js'
import type { ArrivalRecord } from './arrival-record.js'
import { RuleSelector, type Rule, type WindowOutcome } from './rule-select.js'

export interface RuleSelectObserver {
  windowEnded: (outcome: WindowOutcome) => void
  /** the rule in force now (at the start, and after each switch) */
  ruleInForce: (rule: Rule) => void
  /** a replay answered (or failed) `ms` after its window ended */
  replayTook: (ms: number) => void
}

export interface RuleSelectLoopOptions {
  dispatcher: { useRule: (rule: Rule) => void }
  /** the devices as they stand when a window ends */
  devices: () => readonly Scheduler[]
  record: ArrivalRecord
  host: ReplayHost
  /** the SLOs a replay judges the rules by (src/sim/judge.ts) */
  slo: Slo
  everyMs: number
  windowMs: number
  /** verdicts in a row before the rule changes (RuleSelector); default 2 */
  confirm?: number
  clock: Clock
  /** the replay: the rule the snapshot's traffic would have been served better by */
  choose: (snapshot: ReplaySnapshot) => Promise<Rule>
  observer?: RuleSelectObserver
  log?: Log
}

export class RuleSelectLoop {
  private readonly selector: RuleSelector
  private timer: TimerHandle | null = null
  private startedAt = 0
  private windows = 0
  private inFlight = false
  private closed = false
  private warned = false

  constructor (private readonly o: RuleSelectLoopOptions) {
    if (!(o.everyMs > 0 && o.windowMs > 0)) throw new RangeError(`everyMs and windowMs must be > 0, got ${o.everyMs} and ${o.windowMs}`)
    this.selector = new RuleSelector(o.confirm !== undefined ? { confirm: o.confirm } : {})
  }

  /** the rule in force */
  get rule (): Rule {
    return this.selector.current
  }

  /** Starts the windows, from now. */
  start (): void {
    this.startedAt = this.o.clock.now()
    this.o.observer?.ruleInForce(this.selector.current)
    this.schedule()
  }

  /** Stops the windows; a replay still running is ignored when it answers. */
  close (): void {
    this.closed = true
    if (this.timer !== null) { this.o.clock.clearTimer(this.timer); this.timer = null }
  }

  /** A window ends now: its replay is started (or skipped); resolves when its verdict has been acted on. */
  async windowEnds (): Promise<WindowOutcome> {
    const now = this.o.clock.now()
    if (this.inFlight) return this.outcome('busy')
    const from = Math.max(this.startedAt, now - this.o.windowMs)
    const snap = takeSnapshot(this.o.devices(), this.o.record, this.o.host, from, now, this.o.slo, ++this.windows)
    if (snap === null) return this.outcome('empty')
    this.inFlight = true
    let choice: Rule
    try {
      choice = await this.o.choose(snap)
    } catch (err) {
      if (!this.warned) { this.warned = true; this.o.log?.warn({ err: (err as Error).message }, 'routing rule replay failed; the rule stays (logged once)') }
      return this.outcome('failed')
    } finally {
      this.inFlight = false
      this.o.observer?.replayTook(this.o.clock.now() - now)
    }
    if (this.closed) return this.outcome(choice)
    const from0 = this.selector.current
    if (this.selector.observe(choice)) {
      this.o.dispatcher.useRule(this.selector.current)
      this.o.observer?.ruleInForce(this.selector.current)
      this.o.log?.info({ from: from0, to: this.selector.current, windowMs: Math.round(now - from), arrivals: snap.workload.count }, 'routing rule switched by replay')
    }
    return this.outcome(choice)
  }

  private outcome (o: WindowOutcome): WindowOutcome {
    this.o.observer?.windowEnded(o)
    return o
  }

  private schedule (): void {
    if (this.closed) return
    const h = this.o.clock.setTimer(this.o.clock.now() + this.o.everyMs, () => {
      this.timer = null
      void this.windowEnds()
      this.schedule()
    })
    ;(h as { unref?: () => void }).unref?.() // a server with nothing else to do may exit
    this.timer = h
  }
}
