// Switchyard's steady-state prediction error on the generated scenarios' cells, switchyard alone
// (issue 17 item 4): the cells of `npm run simulate -- random --seeds 1-50 --duration 30
// --max-requests 20000 --min-duration 15` — the same scenarios, loads and arrivals, so the same
// switchyard runs — without the baselines and the sustainable-rate bisection, in about a
// twentieth of the time: for trying a predictor against the committed numbers. Per cell: the
// worst device and class with ≥ 50 steady-state answers (as random.md counts it), every device
// and class (error, mean actual / predicted), and a fingerprint of the routing (latency and
// throughput p99, refused) that a change of what is only reported must leave identical. At the
// end, besides the count per device, the same count per class over every device that answered
// it (what a client of the class gets, whichever device serves it): the error per device is
// partly which device took a pooled item, which no report at admission can know.
//
// Usage: node --import tsx bench/prediction-cells.ts [seeds, default 1-50] [loads, default 0.2,…,1] [--md]
import { runScenario } from '../src/sim/engine.js'
import { refused } from '../src/sim/experiment.js'
import { RANDOM_LOADS } from '../src/sim/random-run.js'
import { randomScenario } from '../src/sim/random-scenario.js'
import { capacity } from '../src/sim/scenario.js'
import { generate } from '../src/sim/workload.js'

function seedsOf (spec: string): number[] {
  const out: number[] = []
  for (const part of spec.split(',')) {
    const [a, b] = part.split('-').map(Number)
    for (let s = a!; s <= (b ?? a!); s++) out.push(s)
  }
  return out
}

const args = process.argv.slice(2).filter((a) => a !== '--md')
const md = process.argv.includes('--md')
const seeds = seedsOf(args[0] ?? '1-50')
const loads = args[1] !== undefined ? args[1].split(',').map(Number) : RANDOM_LOADS
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`

let cells = 0; let within = 0
// per class over every device: cells with a class of ≥ 50 answers, those whose worst class is within 20 %
let classCells = 0; let classWithin = 0
const classWorsts: number[] = []
const worsts: number[] = []
if (md) {
  process.stdout.write(`Command: \`node --import tsx bench/prediction-cells.ts ${args[0] ?? '1-50'}${args[1] !== undefined ? ` ${args[1]}` : ''} --md\`\n\n`)
  process.stdout.write('| seed | load | worst (device class) | every device and class: error, ×actual/predicted | routing: latency p99 / throughput p99 ms, refused |\n| --- | --- | --- | --- | --- |\n')
}
for (const seed of seeds) {
  const s = randomScenario(seed, { durationS: 30, maxRequests: 20000, minDurationS: 15 })
  const C = capacity(s)
  for (const load of loads) {
    const w = generate(s.arrivals, s.traffic, load * C, s.durationS * 1000, s.seed)
    const r = runScenario(s, { strategy: 'switchyard', ratePerS: load * C, durationMs: s.durationS * 1000 }, w)
    let worst: { at: string, e: number } | null = null
    const each: string[] = []
    for (const d of r.devices) {
      for (const [policy, p] of Object.entries(d.prediction)) {
        if (p.n < 50) continue
        each.push(`${d.id} ${policy} ${pct(p.meanAbsRelError)} ×${p.meanRatio.toFixed(2)}`)
        if (worst === null || p.meanAbsRelError > worst.e) worst = { at: `${d.id} ${policy}`, e: p.meanAbsRelError }
      }
    }
    if (worst !== null) { cells++; worsts.push(worst.e); if (worst.e <= 0.2) within++ }
    // the class's answers on every device together: Σ n·error / Σ n
    let classWorst = -1
    for (const policy of ['latency', 'throughput', 'cost']) {
      let e = 0; let n = 0
      for (const d of r.devices) { const p = d.prediction[policy]; if (p !== undefined && p.n > 0) { e += p.meanAbsRelError * p.n; n += p.n } }
      if (n >= 50) classWorst = Math.max(classWorst, e / n)
    }
    if (classWorst >= 0) { classCells++; classWorsts.push(classWorst); if (classWorst <= 0.2) classWithin++ }
    const routing = `${r.byPolicy.latency?.p99.toFixed(1) ?? '–'} / ${r.byPolicy.throughput?.p99.toFixed(1) ?? '–'}, ${pct(refused(r))}`
    const w0 = worst === null ? '–' : `${pct(worst.e)} (${worst.at})`
    process.stdout.write(md ? `| ${seed} | ${load * 100} % | ${w0} | ${each.join('; ')} | ${routing} |\n` : `seed ${seed} load ${load} worst ${w0} | ${each.join(', ')} | ${routing}\n`)
  }
}
worsts.sort((a, b) => a - b)
const median = worsts.length > 0 ? worsts[Math.floor(worsts.length / 2)]! : NaN
process.stdout.write(`\ncells whose worst device and class is within 20 %: ${within} of ${cells}; median worst ${pct(median)}\n`)
classWorsts.sort((a, b) => a - b)
const classMedian = classWorsts.length > 0 ? classWorsts[Math.floor(classWorsts.length / 2)]! : NaN
process.stdout.write(`cells whose worst class, over every device that answered it, is within 20 %: ${classWithin} of ${classCells}; median worst ${pct(classMedian)}\n`)
