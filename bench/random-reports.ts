// The committed random reports (bench/results/random*.json, written by `npm run simulate --
// random …`), read back by the benches that replay their cells (screen-cells.ts,
// resample-cells.ts).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { RandomReport } from '../src/sim/random-run.js'

const results = fileURLToPath(new URL('./results/', import.meta.url))

/**
 * The generated sets the README and issue 17's targets quote, in seed order: seeds 1–50 (the
 * set the rule was developed on), then the held-out sets, each generated after the rule it
 * judges, every seed 1–1800 in exactly one. What a screen of a rule replays by default.
 */
export const JUDGED_REPORTS = ['random', 'random-heldout', 'random-fresh', 'random-unseen', 'random-unseen-2', 'random-unseen-3', 'random-unseen-4', 'random-unseen-5', 'random-unseen-6', 'random-unseen-7', 'random-unseen-8', 'random-unseen-9', 'random-unseen-10', 'random-unseen-11', 'random-unseen-12', 'random-unseen-13', 'random-unseen-14', 'random-unseen-15', 'random-unseen-16', 'random-unseen-17', 'random-unseen-18', 'random-unseen-19', 'random-unseen-20', 'random-unseen-21', 'random-unseen-22', 'random-unseen-23', 'random-unseen-24', 'random-unseen-25', 'random-unseen-26', 'random-unseen-27', 'random-unseen-28', 'random-unseen-29', 'random-unseen-30', 'random-unseen-31', 'random-unseen-32', 'random-unseen-33', 'random-unseen-34', 'random-unseen-35', 'random-unseen-36', 'random-unseen-37', 'random-unseen-38', 'random-unseen-39', 'random-unseen-40', 'random-unseen-41', 'random-unseen-42'] as const

/** A report by its name under bench/results, or by a path (a name with a slash; .json optional). */
export function readRandomReport (name: string): RandomReport {
  const file = name.includes('/') ? (name.endsWith('.json') ? name : `${name}.json`) : `${results}${name}.json`
  return JSON.parse(readFileSync(file, 'utf8')) as RandomReport
}
