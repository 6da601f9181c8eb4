// Capacity planning: "how many of which device do I need for this load at this p99?"
// Enumerates sets of devices from the given profiles, keeps those whose summed capacity covers
// the rate, and simulates them — fewest devices first — with the switchyard strategy on the
// same arrivals, until a set meets the SLO (p99 per class, ≤ 0.1 % refused). Every answer is
// a simulation of the server's own routing and batching, not a formula.
import { runScenario, type RunResult } from './engine.js'
import { meetsSlo, refused } from './experiment.js'
import { loadProfile, type DeviceProfile, type Profile } from './profile.js'
import { capacity, decodeCapacity, deviceCapacity, profilePath, type Scenario, type Slo } from './scenario.js'
import { generate } from './workload.js'

const MAX_SIMULATED = 40

export interface PlanOptions {
  profiles: string[]
  ratePerS: number
  slo: Slo
  model?: string
  /** fraction of latency-class requests; default 0.1 */
  latencyShare: number
  deadlineMs: { latency: number, throughput: number }
  /** host decoding: profile (default: the first given profile with a host section) and cores */
  hostProfile?: string
  cores: number
  durationS: number
  seed: number
  maxEach: number
}

export interface PlanCandidate {
  counts: Record<string, number>
  devices: number
  capacityPerS: number
  result?: RunResult
  pass?: boolean
}

export interface PlanReport {
  assumptions: string[]
  candidates: PlanCandidate[]
  answer: PlanCandidate | null
  /** why nothing was simulated, when the host cannot decode the load at all */
  blocked?: string
  /** per device type alone: the fewest that pass */
  homogeneous: Array<{ type: string, count: number | null }>
}

export function plan (o: PlanOptions, progress?: (s: string) => void): PlanReport {
  const profiles: Profile[] = o.profiles.map((p) => loadProfile(profilePath(p)))
  const types: Array<{ name: string, device: DeviceProfile, source: string }> = []
  for (const p of profiles) for (const d of p.devices) types.push({ name: p.devices.length > 1 ? `${p.name}/${d.id}` : p.name, device: d, source: p.source })
  const hostP = o.hostProfile !== undefined ? loadProfile(profilePath(o.hostProfile)) : profiles.find((p) => p.host)
  if (!hostP?.host) throw new Error('plan needs a host profile with decode costs (--host cpu-here)')
  const model = o.model ?? Object.keys(types[0]!.device.models)[0]!
  if (hostP.host.decodeMs[model] === undefined) throw new Error(`host profile ${hostP.name} has no decode cost for ${model}`)
  const traffic = [
    ...(o.latencyShare < 1 ? [{ model, policy: 'throughput' as const, share: 1 - o.latencyShare, deadlineMs: o.deadlineMs.throughput }] : []),
    ...(o.latencyShare > 0 ? [{ model, policy: 'latency' as const, share: o.latencyShare, deadlineMs: o.deadlineMs.latency }] : [])
  ]
  const usable = types.filter((t) => t.device.models[model] !== undefined)
  if (usable.length === 0) throw new Error(`no profile serves ${model}`)
  const base: Omit<Scenario, 'devices' | 'sources'> = {
    name: 'plan',
    description: '',
    seed: o.seed,
    durationS: o.durationS,
    load: 1,
    sweep: [],
    sweepS: o.durationS,
    host: { slots: o.cores, bulkSlots: Math.max(1, o.cores - 1), maxWaiting: null, decodeMs: hostP.host.decodeMs, jitter: hostP.host.decodeJitter ?? 0.1, source: `${hostP.name}: ${hostP.source}` },
    traffic,
    arrivals: { kind: 'poisson' },
    events: [],
    slo: o.slo,
    strategies: ['switchyard']
  }
  const scenarioFor = (counts: number[]): Scenario => {
    const devices: DeviceProfile[] = []; const sources: Record<string, string> = {}
    counts.forEach((k, i) => {
      for (let j = 0; j < k; j++) {
        const d = usable[i]!.device
        const id = k > 1 ? `${d.id}-${j + 1}` : d.id
        devices.push({ ...d, id })
        sources[id] = usable[i]!.source
      }
    })
    return { ...base, devices, sources }
  }
  const caps = usable.map((t) => deviceCapacity(t.device, traffic))
  const maxEach = usable.map((_, i) => Math.min(o.maxEach, Math.ceil(o.ratePerS / caps[i]! * 2) + 1))
  // every combination of counts, enough capacity, fewest devices (then least capacity) first
  const combos: number[][] = []
  const rec = (i: number, acc: number[]): void => {
    if (i === usable.length) { if (acc.some((k) => k > 0)) combos.push([...acc]); return }
    for (let k = 0; k <= maxEach[i]!; k++) { acc.push(k); rec(i + 1, acc); acc.pop() }
  }
  rec(0, [])
  const total = (c: number[]): number => c.reduce((a, b) => a + b, 0)
  const capOf = (c: number[]): number => c.reduce((a, k, i) => a + k * caps[i]!, 0)
  const feasible = combos.filter((c) => capOf(c) >= o.ratePerS).sort((a, b) => total(a) - total(b) || capOf(a) - capOf(b))
  const assumptions = [
    `load: ${o.ratePerS} req/s of ${model}, Poisson arrivals, ${Math.round(o.latencyShare * 100)} % latency class (deadline ${o.deadlineMs.latency} ms), the rest throughput class (deadline ${o.deadlineMs.throughput} ms); ${o.durationS} simulated s per candidate, seed ${o.seed}`,
    `SLO: latency-class p99 ≤ ${o.slo.latency} ms, throughput-class p99 ≤ ${o.slo.throughput} ms, ≤ 0.1 % refused; routing: switchyard`,
    `host: ${o.cores} decode slots, ${hostP.host.decodeMs[model]} ms per image (${hostP.name}: ${hostP.source}); decode capacity ${Math.round(decodeCapacity({ host: base.host, traffic }))} images/s`,
    ...usable.map((t, i) => `device type ${t.name}: ${t.device.workers} worker(s), ${t.device.latencyWorkers ?? 0} reserved for latency, t(n) = ${t.device.models[model]!.a} + ${t.device.models[model]!.b}·n ms, batch ≤ ${t.device.models[model]!.maxBatchSize}; capacity ${Math.round(caps[i]!)} req/s — ${t.source}`)
  ]
  const decodeCap = decodeCapacity({ host: base.host, traffic })
  if (decodeCap < o.ratePerS) {
    const need = Math.ceil(o.ratePerS * hostP.host.decodeMs[model]! / 1000 / 0.9)
    return { assumptions, candidates: [], answer: null, homogeneous: [], blocked: `the host cannot decode ${o.ratePerS} images/s: ${o.cores} slots × 1000 / ${hostP.host.decodeMs[model]} ms = ${Math.round(decodeCap)} images/s, whatever the devices. Decoding saturates first: give the host more cores (--cores ${need} keeps decoding below 90 % busy).` }
  }
  const workload = generate(base.arrivals, traffic, o.ratePerS, o.durationS * 1000, o.seed)
  const candidates: PlanCandidate[] = []
  const simulate = (c: number[]): PlanCandidate => {
    const s = scenarioFor(c)
    progress?.(`plan: ${describe(c)}`)
    const result = runScenario(s, { strategy: 'switchyard', ratePerS: o.ratePerS, durationMs: o.durationS * 1000 }, workload)
    const cand: PlanCandidate = { counts: Object.fromEntries(usable.map((t, i) => [t.name, c[i]!])), devices: total(c), capacityPerS: capacity(s), result, pass: meetsSlo(s, result) }
    candidates.push(cand)
    return cand
  }
  const describe = (c: number[]): string => c.map((k, i) => (k > 0 ? `${k}× ${usable[i]!.name}` : '')).filter(Boolean).join(' + ')
  let answer: PlanCandidate | null = null
  let answerSize = Infinity
  for (const c of feasible) {
    if (total(c) > answerSize || candidates.length >= MAX_SIMULATED) break
    const cand = simulate(c)
    if (cand.pass === true && answer === null) { answer = cand; answerSize = total(c) }
  }
  const homogeneous = usable.map((t, i) => {
    for (let k = 1; k <= maxEach[i]!; k++) {
      const c = usable.map((_, j) => (j === i ? k : 0))
      if (capOf(c) < o.ratePerS) continue
      const known = candidates.find((x) => x.devices === k && x.counts[t.name] === k)
      if ((known ?? simulate(c)).pass === true) return { type: t.name, count: k }
    }
    return { type: t.name, count: null }
  })
  return { assumptions, candidates, answer, homogeneous }
}

export function planText (r: PlanReport): string {
  const lines = ['Assumptions:', ...r.assumptions.map((a) => `  - ${a}`), '']
  if (r.blocked !== undefined) return `${lines.join('\n')}Answer: none. ${r.blocked}\n`
  lines.push('Candidates simulated (fewest devices first, then least capacity; at most 40):', '')
  lines.push('| devices | capacity req/s | latency p99 ms | throughput p99 ms | refused | meets SLO |', '| --- | --- | --- | --- | --- | --- |')
  for (const c of r.candidates) {
    const l = c.result?.byPolicy.latency; const t = c.result?.byPolicy.throughput
    lines.push(`| ${Object.entries(c.counts).filter(([, k]) => k > 0).map(([n, k]) => `${k}× ${n}`).join(' + ')} | ${Math.round(c.capacityPerS)} | ${l ? l.p99.toFixed(1) : '–'} | ${t ? t.p99.toFixed(1) : '–'} | ${c.result ? (refused(c.result) * 100).toFixed(2) : '–'} % | ${c.pass === true ? 'yes' : 'no'} |`)
  }
  lines.push('')
  lines.push(r.answer
    ? `Answer: ${Object.entries(r.answer.counts).filter(([, k]) => k > 0).map(([n, k]) => `${k}× ${n}`).join(' + ')} (${r.answer.devices} device${r.answer.devices > 1 ? 's' : ''}).`
    : 'Answer: no combination tried meets the SLO (raise --max-each, or the host\'s --cores if decoding saturates).')
  for (const h of r.homogeneous) lines.push(`  ${h.type} alone: ${h.count === null ? 'not within the counts tried' : `${h.count}`}`)
  return `${lines.join('\n')}\n`
}
