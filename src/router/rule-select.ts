// Choosing the routing rule by replay (issue 17; docs/architecture.md, Routing, "Choosing the
// rule by replay"). After each window of traffic a replay says which of two rules — switchyard's
// and Triton's shared queue — would have served what arrived better; this decides when the
// router follows it. Policy only: the replay and the switch (Dispatcher.useRule) are the
// caller's, so the same selector runs in the simulator (on its virtual clock) and in tests.
//
// Hysteresis: the rule changes only after `confirm` windows in a row whose replays all chose the
// other rule. A verdict near the judge's tolerances flips with the replay's noise; one window's
// verdict alone would flap the rule, and every switch moves the whole backlog between queues.
import type { Strategy } from './strategies.js'

/** The two rules a replay chooses between (Dispatcher.useRule switches between them). */
export type Rule = Extract<Strategy, 'switchyard' | 'shared-queue'>
export const RULES: readonly Rule[] = ['switchyard', 'shared-queue']

/** What became of a window in the server's loop (rule-select-loop.ts): the rule its replay chose, nothing to replay, the last replay still running, or a failed replay. */
export type WindowOutcome = Rule | 'empty' | 'busy' | 'failed'
export const WINDOW_OUTCOMES: readonly WindowOutcome[] = ['switchyard', 'shared-queue', 'empty', 'busy', 'failed']

export interface RuleSelectorOptions {
  /** the rule in force at the start; default 'switchyard' */
  start?: Rule
  /** windows in a row whose replay chose the other rule before the rule changes; default 2 */
  confirm?: number
}

export class RuleSelector {
  /** the rule in force */
  current: Rule
  /** switches so far */
  switches = 0
  private readonly confirm: number
  private against = 0

  constructor (o: RuleSelectorOptions = {}) {
    this.current = o.start ?? 'switchyard'
    this.confirm = o.confirm ?? 2
    if (!(Number.isInteger(this.confirm) && this.confirm >= 1)) throw new RangeError(`confirm must be a whole number ≥ 1, got ${this.confirm}`)
  }

  /** The replay's choice for the window that just ended; returns true when the rule changes now (`current` is then the new one). */
  observe (choice: Rule): boolean {
    if (choice === this.current) { this.against = 0; return false }
    if (++this.against < this.confirm) return false
    this.against = 0
    this.current = choice
    this.switches++
    return true
  }
}
