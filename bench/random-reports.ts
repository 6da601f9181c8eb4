// The committed random reports (bench/results/random*.json, written by `npm run simulate --
// random …`), read back by the benches that replay their cells (screen-cells.ts,
// resample-cells.ts).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { RandomReport } from '../src/sim/random-run.js'

const results = fileURLToPath(new URL('./results/', import.meta.url))

/** A report by its name under bench/results, or by a path (a name with a slash; .json optional). */
export function readRandomReport (name: string): RandomReport {
  const file = name.includes('/') ? (name.endsWith('.json') ? name : `${name}.json`) : `${results}${name}.json`
  return JSON.parse(readFileSync(file, 'utf8')) as RandomReport
}
