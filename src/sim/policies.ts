// The request policies side by side on one scenario (issue: cost as a routing criterion):
// the scenario's throughput-class traffic is sent once as `throughput`, once as `cost` and once
// as `latency` — the same arrivals (same seed), the switchyard strategy — and for each the cost
// per 1,000 inferences (busy time × each device's price, src/router/price.ts), where the work
// ran, and the latencies. Latency-class traffic stays as it is in every run.
import type { Policy } from '../config/schema.js'
import { round } from '../util/format.js'
import { runScenario, type RunResult } from './engine.js'
import { capacity, type Scenario } from './scenario.js'
import { generate } from './workload.js'

export interface PolicyRow {
  policy: Policy
  result: RunResult
  /** Σ device cost / answered requests × 1000 */
  costPer1000: number
}

const AS: readonly Policy[] = ['throughput', 'cost', 'latency']

export function comparePolicies (s: Scenario, load = s.load, durationS = Math.min(s.durationS, 120)): PolicyRow[] {
  const ratePerS = load * capacity(s)
  const durationMs = durationS * 1000
  return AS.map((policy) => {
    const scenario: Scenario = { ...s, traffic: s.traffic.map((c) => (c.policy === 'latency' ? c : { ...c, policy })) }
    const result = runScenario(scenario, { strategy: 'switchyard', ratePerS, durationMs }, generate(scenario.arrivals, scenario.traffic, ratePerS, durationMs, s.seed))
    let served = 0
    for (const c of Object.values(result.byPolicy)) served += c.served
    const cost = result.devices.reduce((sum, d) => sum + d.cost, 0)
    return { policy, result, costPer1000: served > 0 ? cost / served * 1000 : 0 }
  })
}

export function policiesMarkdown (s: Scenario, rows: PolicyRow[], load: number, durationS: number): string {
  const prices = s.devices.map((d) => `${d.id} (${d.kind ?? 'cpu'}${d.pricePerHour !== undefined ? `, $${d.pricePerHour}/h` : ', default price'})`).join(', ')
  const lines = [
    `### ${s.name} at ${round(load * 100, 0)} % load: the batched traffic as throughput, cost or latency`,
    '',
    `Command: \`npm run simulate -- policies ${s.name}\`. ${round(load * 100, 0)} % of capacity (${round(load * capacity(s), 1)} req/s) for ${durationS} simulated s, identical arrivals, strategy switchyard; devices ${prices} (defaults: cpu $0.17/h, cuda $2.99/h — assumptions stated in src/router/price.ts). Cost = each device's busy time × its price per ms, per 1,000 answered requests. Latency-class traffic is unchanged; the rows differ in how the rest is sent.`,
    '',
    `| sent as | $ per 1,000 | p50 / p99 ms (that class) | refused | ${s.devices.map((d) => `${d.id} images`).join(' | ')} |`,
    `| --- | --- | --- | --- | ${s.devices.map(() => '---').join(' | ')} |`
  ]
  for (const r of rows) {
    const c = r.result.byPolicy[r.policy]!
    const refused = Object.values(r.result.byPolicy).reduce((n, x) => n + x.rejected + x.unfinished, 0) / Math.max(1, r.result.offered)
    lines.push(`| ${r.policy} | ${r.costPer1000.toFixed(5)} | ${round(c.p50, 1)} / ${round(c.p99, 1)} | ${round(refused * 100, 2)} % | ${r.result.devices.map((d) => d.images.toLocaleString('en')).join(' | ')} |`)
  }
  return lines.join('\n') + '\n'
}
