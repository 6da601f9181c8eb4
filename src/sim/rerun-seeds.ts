// Rerunning some seeds of a committed random report in place (issue 17; bench/rerun-seeds.ts):
// for a change that can only move the seeds of one kind — the retry path moves only scenarios
// with a device failure, since a retry follows only a failed batch or a refusing device. Which
// seeds a change can move, the report merged from the seeds rerun, and its markdown with the
// readings added by hand kept. The premise is checked by the caller: seeds left out, rerun, must
// reproduce the report (`sameAsStored`). For a change to switchyard's rule alone, every seed is
// rerun with switchyard only (random-run.ts runSeed's stored baselines), and the premise is that
// the baselines do not move: seeds rerun in full must reproduce the report's baselines
// (`sameBaselines`).
import { compactReport, summarize, type RandomReport, type RandomRunOptions, type SeedResult } from './random-run.js'
import { reportScenario, reportWaiting } from './random-run.js'

/** The run options a report was written with (its seeds aside). */
export function runOptionsOf (r: RandomReport): Omit<RandomRunOptions, 'seeds'> {
  if (/--switchyard\b/.test(r.command)) throw new Error('a report written with --switchyard (a candidate in switchyard\'s place) cannot be rerun as it was')
  const o = r.options
  return {
    durationS: o.durationS,
    maxRequests: o.maxRequests,
    minDurationS: o.minDurationS,
    bisect: o.bisect,
    loads: o.loads,
    ...(o.ranges === 'wide' ? { ranges: 'wide' as const } : {}),
    ...(o.latencyObjectiveMs !== undefined ? { latencyObjectiveMs: o.latencyObjectiveMs } : {}),
    decodeWaiting: reportWaiting(o)
  }
}

/** The report's seeds whose scenario takes a device down (ScenarioEvent.down): the only ones a change to the retry path can move. */
export function failureSeeds (r: RandomReport): number[] {
  return r.seeds.filter((s) => reportScenario(r, s.seed).events.some((e) => e.down === true)).map((s) => s.seed)
}

/** `k` of `seeds`, spread over them (the first, then every len/k-th): the check of the premise. */
export function spread (seeds: readonly number[], k: number): number[] {
  if (k <= 0) return []
  const step = Math.max(1, Math.floor(seeds.length / k))
  return seeds.filter((_, i) => i % step === 0).slice(0, k)
}

/** Whether a seed's result is the report's as the json stores it (compactReport's 4 decimals), its wall time aside. */
export function sameAsStored (a: SeedResult, b: SeedResult): boolean {
  const stored = (s: SeedResult): string => {
    const { wallMs: _, ...rest } = s
    return JSON.stringify((compactReport({ seeds: [rest] } as unknown as RandomReport) as { seeds: unknown[] }).seeds[0])
  }
  return stored(a) === stored(b)
}

/** Whether two results of a seed hold the same baselines, as the json stores them: every strategy but switchyard, each cell's metrics and the sustainable rate. */
export function sameBaselines (a: SeedResult, b: SeedResult): boolean {
  const baselines = (s: SeedResult): string => {
    const cells = s.cells.map((c) => Object.fromEntries(Object.entries(c.metrics).filter(([k]) => k !== 'switchyard')))
    const sustainable = Object.fromEntries(Object.entries(s.sustainable).filter(([k]) => k !== 'switchyard'))
    return JSON.stringify(compactReport({ seeds: [{ cells, sustainable }] } as unknown as RandomReport))
  }
  return a.seed === b.seed && baselines(a) === baselines(b)
}

/** The report with `rerun`'s seeds in place of its own (totals summed again; its command and wall time kept), and the seeds whose stored numbers moved. */
export function mergeRerun (r: RandomReport, rerun: ReadonlyMap<number, SeedResult>): { report: RandomReport, moved: number[] } {
  const moved: number[] = []
  const seeds = r.seeds.map((s) => {
    const again = rerun.get(s.seed)
    if (again === undefined) return s
    if (!sameAsStored(again, s)) moved.push(s.seed)
    return again
  })
  return { report: summarize(seeds, r.options.loads, { ...runOptionsOf(r), seeds: r.options.seeds }, r.command, r.wallMs), moved }
}

/** The line a rerun adds above the tables: what changed, how, and the totals before and after. */
export function rerunLine (before: RandomReport, after: RandomReport, o: { date: string, note: string, rerun: number, checked: number, wallS: number, moved: readonly number[], onlySwitchyard?: boolean, where?: 'failures' | 'all', from?: { reports: readonly string[], taken: number, checked: number } }): string {
  const a = before.totals; const b = after.totals
  const how = o.onlySwitchyard === true
    ? `every seed rerun with switchyard alone, the baselines as stored, \`bench/rerun-seeds.ts --where all --only switchyard\`, ${o.wallS.toFixed(0)} s; ${o.checked} seed${o.checked === 1 ? '' : 's'} rerun in full hold${o.checked === 1 ? 's' : ''} the report's baselines`
    : o.where === 'all'
      ? `every seed rerun, every strategy, \`bench/rerun-seeds.ts --where all\`, ${o.wallS.toFixed(0)} s${o.from !== undefined && o.from.taken > 0 ? ` (${o.from.taken} of them taken from ${o.from.reports.join(', ')}, run with the same options: ${o.from.checked} rerun with this code reproduce${o.from.checked === 1 ? 's' : ''} them)` : ''}`
      : `the ${o.rerun} seeds with a device failure rerun, every strategy, \`bench/rerun-seeds.ts\`, ${o.wallS.toFixed(0)} s; ${o.checked} others rerun reproduce the report`
  return `**Rerun (${o.date}, ${o.note}; ${how}):** not beaten ${a.notBeaten} → ${b.notBeaten} of ${b.cells}, over 2× ${a.over2x} → ${b.over2x}, sustainable ≥ 0.97× ${a.sustainableOk} → ${b.sustainableOk} of ${b.scenarios}; seeds moved: ${o.moved.length === 0 ? 'none' : o.moved.join(', ')}; the tables below are this rerun.`
}

/**
 * A report's markdown after a rerun: what stands above its "Command:" line (the title and the
 * readings added by hand) kept, then `line`, then the tables written again (`body`, as
 * randomMarkdown writes them, from its own "Command:" line on).
 */
export function spliceMarkdown (old: string, line: string, body: string): string {
  const at = old.indexOf('\nCommand: `')
  const from = body.indexOf('Command: `')
  if (at < 0 || from < 0) throw new Error('a random report\'s markdown has a "Command:" line')
  return `${old.slice(0, at).replace(/\n+$/, '')}\n\n${line}\n\n${body.slice(from)}\n`
}
