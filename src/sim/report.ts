// The simulator's output: a markdown table per scenario (stdout and bench/results/simulate.md),
// the full measurements as JSON, and one SVG per scenario a person reads at a glance —
// latency percentiles and per-device load against offered load, and queue length over time.
import type { ExperimentReport, StrategyReport } from './experiment.js'
import { refused } from './experiment.js'
import type { RunResult } from './engine.js'
import { round } from '../util/format.js'
import { itemsOf } from './scenario.js'

const n0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–')
const ms = (x: number): string => (Number.isFinite(x) ? (x >= 100 ? Math.round(x).toString() : x.toFixed(1)) : '–')
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`

export function markdown (r: ExperimentReport): string {
  const s = r.scenario
  const lines: string[] = []
  lines.push(`### ${s.name}`, '', s.description, '')
  lines.push('Assumptions:', '')
  for (const d of s.devices) {
    const models = Object.entries(d.models).map(([m, c]) => `${m} t(n) = ${c.a} + ${c.b}·n ms, batch ≤ ${c.maxBatchSize}, jitter ±${(c.jitter ?? 0) * 100} %`).join('; ')
    lines.push(`- device \`${d.id}\` (${d.kind}, ${d.workers} worker${d.workers > 1 ? 's' : ''}, ${d.latencyWorkers ?? 0} reserved for latency, queue ≤ ${d.maxQueue ?? 256}): ${models}; capacity for this mix ${n0(r.deviceCapacityPerS[d.id]!)} req/s. Source — ${s.sources[d.id]}`)
  }
  lines.push(`- host decoding: ${s.host.slots} slots (cores), throughput class ≤ ${s.host.bulkSlots}, ${s.host.maxWaiting === null ? 'waiting bounded by time' : `≤ ${s.host.maxWaiting} waiting`}; ${Object.entries(s.host.decodeMs).map(([m, v]) => `${m} ${v} ms/image`).join(', ')}; capacity ${n0(r.decodeCapacityPerS)} ${s.traffic.every((c) => itemsOf(c) === 1) ? 'images/s' : 'req/s'}. Source — ${s.host.source}`)
  lines.push(`- traffic: ${s.traffic.map((c) => `${Math.round(c.share * 100)} % ${c.model} ${c.policy} (deadline ${c.deadlineMs} ms${itemsOf(c) > 1 ? `; ${itemsOf(c)} images per request, decoded ${c.itemsDecode === 'each' ? 'each under a slot of its own' : 'together under one slot'}` : ''})`).join(', ')}; arrivals ${s.arrivals.kind === 'poisson' ? 'Poisson' : `bursty (${s.arrivals.factor}× the mean rate for ${s.arrivals.burstS} s of every ${s.arrivals.periodS} s)`}; seed ${s.seed}`)
  if (s.events.length > 0) lines.push(`- events: ${s.events.map((e) => `at ${e.atS} s ${e.device} ${e.down === true ? 'fails' : e.down === false ? 'recovers' : ''}${e.slowdown !== undefined ? ` runs ×${e.slowdown} slower` : ''}`).join('; ')}`)
  lines.push(`- capacity (sum of devices' best-batch throughput for this mix, reserved latency workers not counted): **${n0(r.capacityPerS)} req/s**; SLO: latency-class p99 ≤ ${s.slo.latency} ms, throughput-class p99 ≤ ${s.slo.throughput} ms`)
  lines.push('')
  const head = r.strategies[0]!.headline
  lines.push(`Headline: ${pct(s.load)} of capacity (${n0(head.ratePerS)} req/s) for ${head.durationS} s, ${n0(head.offered)} requests, identical arrivals for every strategy. Latency from arrival to answer (decode included), answered requests only; goodput = answers within their deadline per second.`, '')
  const devIds = head.devices.map((d) => d.id)
  lines.push(`| strategy | latency p50 / p95 / p99 ms | latency p99 after decode | throughput p50 / p95 / p99 ms | thr. p99 1st / 2nd half | goodput /s | refused | ${devIds.map((d) => `${d} busy · images`).join(' | ')} |`)
  lines.push(`| --- | --- | --- | --- | --- | --- | --- | ${devIds.map(() => '---').join(' | ')} |`)
  for (const st of r.strategies) lines.push(headlineRow(st.headline, devIds))
  lines.push('')
  if (new Set(s.traffic.map((c) => c.model)).size > 1) {
    lines.push('Per traffic class (headline run): p50 / p95 / p99 ms, refused %.', '')
    lines.push(`| strategy | ${s.traffic.map((c) => `${c.model} ${c.policy}`).join(' | ')} |`)
    lines.push(`| --- | ${s.traffic.map(() => '---').join(' | ')} |`)
    for (const st of r.strategies) {
      lines.push(`| ${st.strategy} | ${st.headline.byClass.map((c) => `${ms(c.p50)} / ${ms(c.p95)} / ${ms(c.p99)} (${(c.offered > 0 ? (c.rejected + c.unfinished) / c.offered * 100 : 0).toFixed(1)})`).join(' | ')} |`)
    }
    lines.push('')
  }
  const bulk = r.strategies[0]!.bulk
  if (bulk !== head) {
    lines.push(`Throughput class alone (issue 9's first target): ${pct(s.load)} of its capacity (${n0(bulk.ratePerS)} req/s of ${n0(r.bulkCapacityPerS)}) for ${bulk.durationS} s, the same devices.`, '')
    lines.push(`| strategy | latency p50 / p95 / p99 ms | latency p99 after decode | throughput p50 / p95 / p99 ms | thr. p99 1st / 2nd half | goodput /s | refused | ${devIds.map((d) => `${d} busy · images`).join(' | ')} |`)
    lines.push(`| --- | --- | --- | --- | --- | --- | --- | ${devIds.map(() => '---').join(' | ')} |`)
    for (const st of r.strategies) lines.push(headlineRow(st.bulk, devIds))
    lines.push('')
  }
  lines.push('Prediction error (headline run, steady state: answers within 30 s after an event left out): mean |predicted − actual| / actual of the finish each answer\'s X-Switchyard-Predicted-Ms announced, per device and class (answers; mean actual / predicted).', '')
  lines.push(`| strategy | ${devIds.join(' | ')} |`)
  lines.push(`| --- | ${devIds.map(() => '---').join(' | ')} |`)
  for (const st of r.strategies) lines.push(`| ${st.strategy} | ${st.headline.devices.map(predictionCell).join(' | ')} |`)
  lines.push('')
  lines.push('Refusals by reason (headline run):', '')
  for (const st of r.strategies) {
    const rej = Object.entries(st.headline.rejections)
    lines.push(`- ${st.strategy}: ${rej.length === 0 ? 'none' : rej.map(([k, v]) => `${k} ${n0(v)}`).join(', ')}${st.headline.retries > 0 ? `; ${st.headline.retries} retried on another device` : ''}`)
  }
  lines.push('')
  const sweepS = r.strategies[0]!.sweep[0]?.result.durationS ?? 0
  lines.push(`Sweep (${sweepS} s per point): latency-class p99 / throughput-class p99 ms (refused %) at each offered load; ✓ = within both SLOs with ≤ 0.1 % refused.`, '')
  const loads = r.strategies[0]!.sweep.map((p) => p.load)
  lines.push(`| strategy | ${loads.map((l) => `${Math.round(l * 100)} %`).join(' | ')} | sustainable |`)
  lines.push(`| --- | ${loads.map(() => '---').join(' | ')} | --- |`)
  for (const st of r.strategies) lines.push(sweepRow(st))
  lines.push('')
  lines.push('Targets:', '')
  for (const t of r.targets) lines.push(`- ${t.pass === true ? 'PASS' : t.pass === false ? '**FAIL**' : 'n/a'} — ${t.name}: ${t.detail}`)
  lines.push('', `Simulated in ${(r.wallMs / 1000).toFixed(1)} s of wall time.`, '')
  return lines.join('\n')
}

/** "latency 12 % (1,234; ×1.05), throughput …" for one device */
export function predictionCell (d: RunResult['devices'][number]): string {
  const parts = Object.entries(d.prediction).filter(([, p]) => p.n > 0).map(([policy, p]) => `${policy} ${(p.meanAbsRelError * 100).toFixed(1)} % (${n0(p.n)}; ×${p.meanRatio.toFixed(2)})`)
  return parts.length > 0 ? parts.join(', ') : '–'
}

function headlineRow (h: RunResult, devIds: string[]): string {
  const l = h.byPolicy.latency; const t = h.byPolicy.throughput
  let good = 0
  for (const c of Object.values(h.byPolicy)) good += c.good
  const devs = devIds.map((id) => { const d = h.devices.find((x) => x.id === id)!; return `${pct(d.utilThroughput)} · ${n0(d.images)}` })
  return `| ${h.strategy} | ${l ? `${ms(l.p50)} / ${ms(l.p95)} / ${ms(l.p99)}` : '–'} | ${l ? ms(l.p99AfterDecode) : '–'} | ${t ? `${ms(t.p50)} / ${ms(t.p95)} / ${ms(t.p99)}` : '–'} | ${t ? `${ms(t.p99FirstHalf)} / ${ms(t.p99LastHalf)}` : '–'} | ${n0(good / h.durationS)} | ${pct(refused(h))} | ${devs.join(' | ')} |`
}

function sweepRow (st: StrategyReport): string {
  const cells = st.sweep.map((p) => {
    const l = p.result.byPolicy.latency; const t = p.result.byPolicy.throughput
    return `${l ? ms(l.p99) : '–'} / ${t ? ms(t.p99) : '–'} (${(refused(p.result) * 100).toFixed(1)})${p.pass ? ' ✓' : ''}`
  })
  return `| ${st.strategy} | ${cells.join(' | ')} | **${n0(st.sustainableRate)} req/s** (${pct(st.sustainableLoad)}) |`
}

/** JSON for bench/results: everything but the per-request arrays (there are none) and long series rounded. */
export function toJson (r: ExperimentReport, command: string): object {
  return {
    command,
    note: 'simulated: the server\'s own router, schedulers, batcher, cost model, admission control and decode gate on a virtual clock; batch and decode times from the profiles named in scenario.sources',
    scenario: r.scenario,
    capacityPerS: round(r.capacityPerS, 1),
    bulkCapacityPerS: round(r.bulkCapacityPerS, 1),
    deviceCapacityPerS: Object.fromEntries(Object.entries(r.deviceCapacityPerS).map(([k, v]) => [k, round(v, 1)])),
    decodeCapacityPerS: round(r.decodeCapacityPerS, 1),
    targets: r.targets,
    strategies: r.strategies.map((st) => ({
      strategy: st.strategy,
      sustainableRatePerS: round(st.sustainableRate, 1),
      sustainableLoad: round(st.sustainableLoad, 4),
      headline: roundDeep(st.headline),
      ...(st.bulk !== st.headline ? { throughputClassAlone: roundDeep(st.bulk) } : {}),
      sweep: st.sweep.map((p) => ({ load: p.load, ratePerS: round(p.ratePerS, 1), pass: p.pass, refused: round(refused(p.result), 5), ...roundDeep({ byPolicy: p.result.byPolicy, rejections: p.result.rejections, devices: p.result.devices, decodeUtil: p.result.decodeUtil }) as object }))
    })),
    wallMs: Math.round(r.wallMs)
  }
}

function roundDeep (x: unknown): unknown {
  if (typeof x === 'number') return Number.isFinite(x) ? round(x, 3) : null
  if (Array.isArray(x)) return x.map(roundDeep)
  if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, roundDeep(v)]))
  return x
}

// ---- SVG ----------------------------------------------------------------------------------

const COLORS: Record<string, string> = {
  switchyard: '#d62728', 'fastest-only': '#1f77b4', 'round-robin': '#2ca02c', 'join-shortest-queue': '#9467bd', 'shared-queue': '#ff7f0e', 'speed-aware': '#8c564b'
}
const DEVICE_COLORS = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02']

interface Panel { x: number, y: number, w: number, h: number }
interface Line { label: string, color: string, points: Array<[number, number]>, dash?: boolean }

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function niceTicks (lo: number, hi: number, count = 5): number[] {
  const span = hi - lo
  if (!(span > 0)) return [lo]
  const step0 = span / count
  const mag = 10 ** Math.floor(Math.log10(step0))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0)!
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(round(v, 6))
  return out
}

function chart (p: Panel, title: string, xLabel: string, yLabel: string, lines: Line[], opts: { logY?: boolean, yMax?: number, xMin?: number, xMax?: number, hLines?: Array<{ y: number, label: string }>, vLines?: Array<{ x: number, label: string }>, xFormat?: (x: number) => string }): string {
  const m = { l: 62, r: 24, t: 28, b: 44 }
  const iw = p.w - m.l - m.r; const ih = p.h - m.t - m.b
  const xs = lines.flatMap((l) => l.points.map((q) => q[0]))
  const ys = lines.flatMap((l) => l.points.map((q) => q[1])).filter((y) => Number.isFinite(y) && (!opts.logY || y > 0))
  for (const h of opts.hLines ?? []) ys.push(h.y)
  const x0 = opts.xMin ?? Math.min(...xs); const x1 = opts.xMax ?? Math.max(...xs)
  let y0 = opts.logY ? Math.min(...ys) : 0
  let y1 = opts.yMax ?? Math.max(...ys, 1e-9)
  if (opts.logY) { y0 = 10 ** Math.floor(Math.log10(Math.max(y0, 1e-3))); y1 = 10 ** Math.ceil(Math.log10(y1)) } else y1 *= 1.05
  const sx = (x: number): number => p.x + m.l + ((x - x0) / (x1 - x0 || 1)) * iw
  const sy = (y: number): number => {
    const f = opts.logY ? (Math.log10(Math.max(y, y0)) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0)) : (y - y0) / (y1 - y0)
    return p.y + m.t + ih - Math.min(1, Math.max(0, f)) * ih
  }
  const out: string[] = []
  out.push(`<text x="${p.x + m.l}" y="${p.y + 18}" font-size="14" font-weight="bold">${esc(title)}</text>`)
  out.push(`<rect x="${p.x + m.l}" y="${p.y + m.t}" width="${iw}" height="${ih}" fill="none" stroke="#999"/>`)
  const yt = opts.logY ? Array.from({ length: Math.round(Math.log10(y1 / y0)) + 1 }, (_, i) => y0 * 10 ** i) : niceTicks(y0, y1)
  for (const v of yt) {
    out.push(`<line x1="${p.x + m.l}" x2="${p.x + m.l + iw}" y1="${sy(v)}" y2="${sy(v)}" stroke="#eee"/>`)
    out.push(`<text x="${p.x + m.l - 4}" y="${sy(v) + 4}" font-size="11" text-anchor="end">${v >= 1000 ? `${v / 1000}k` : v}</text>`)
  }
  for (const v of niceTicks(x0, x1, 6)) {
    out.push(`<line x1="${sx(v)}" x2="${sx(v)}" y1="${p.y + m.t + ih}" y2="${p.y + m.t + ih + 4}" stroke="#999"/>`)
    out.push(`<text x="${sx(v)}" y="${p.y + m.t + ih + 16}" font-size="11" text-anchor="middle">${opts.xFormat ? opts.xFormat(v) : v}</text>`)
  }
  out.push(`<text x="${p.x + m.l + iw / 2}" y="${p.y + p.h - 6}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>`)
  out.push(`<text transform="translate(${p.x + 14},${p.y + m.t + ih / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(yLabel)}</text>`)
  for (const h of opts.hLines ?? []) {
    out.push(`<line x1="${p.x + m.l}" x2="${p.x + m.l + iw}" y1="${sy(h.y)}" y2="${sy(h.y)}" stroke="#000" stroke-dasharray="6 4"/>`)
    out.push(`<text x="${p.x + m.l + iw - 4}" y="${sy(h.y) - 4}" font-size="11" text-anchor="end">${esc(h.label)}</text>`)
  }
  for (const [i, v] of (opts.vLines ?? []).entries()) {
    out.push(`<line x1="${sx(v.x)}" x2="${sx(v.x)}" y1="${p.y + m.t}" y2="${p.y + m.t + ih}" stroke="#555" stroke-dasharray="3 3"/>`)
    out.push(`<text x="${sx(v.x) + 3}" y="${p.y + m.t + 12 + 13 * i}" font-size="11">${esc(v.label)}</text>`)
  }
  for (const l of lines) {
    const pts = l.points.filter((q) => Number.isFinite(q[1]))
    if (pts.length === 0) continue
    out.push(`<polyline fill="none" stroke="${l.color}" stroke-width="2"${l.dash ? ' stroke-dasharray="5 3"' : ''} points="${pts.map((q) => `${sx(q[0]).toFixed(1)},${sy(q[1]).toFixed(1)}`).join(' ')}"/>`)
    if (pts.length <= 30) for (const q of pts) out.push(`<circle cx="${sx(q[0]).toFixed(1)}" cy="${sy(q[1]).toFixed(1)}" r="2.5" fill="${l.color}"/>`)
  }
  // legend, top left inside the plot, on a veil so the lines behind it do not hide it
  const longest = Math.max(0, ...lines.map((l) => l.label.length))
  out.push(`<rect x="${p.x + m.l + 4}" y="${p.y + m.t + 3}" width="${36 + longest * 6.6}" height="${lines.length * 15 + 4}" fill="#fff" fill-opacity="0.85"/>`)
  lines.forEach((l, i) => {
    const ly = p.y + m.t + 14 + i * 15
    out.push(`<line x1="${p.x + m.l + 8}" x2="${p.x + m.l + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${l.color}" stroke-width="2"${l.dash ? ' stroke-dasharray="5 3"' : ''}/>`)
    out.push(`<text x="${p.x + m.l + 32}" y="${ly}" font-size="11">${esc(l.label)}</text>`)
  })
  return out.join('\n')
}

export function svg (r: ExperimentReport): string {
  const s = r.scenario
  const W = 1100; const H = 760
  const pw = W / 2; const ph = (H - 40) / 2
  const pctFmt = (x: number): string => `${Math.round(x * 100)}%`
  const sweepLine = (st: StrategyReport, policy: 'latency' | 'throughput'): Line => ({
    label: st.strategy,
    color: COLORS[st.strategy] ?? '#333',
    points: st.sweep.map((p) => [p.load, p.result.byPolicy[policy]?.p99 ?? NaN])
  })
  const parts: string[] = []
  parts.push(`<text x="12" y="24" font-size="16" font-weight="bold">${esc(`Simulated: ${s.name} — ${s.devices.map((d) => d.id).join(' + ')}; capacity ${Math.round(r.capacityPerS)} req/s`)}</text>`)
  const hasLat = r.strategies.some((st) => st.sweep.some((p) => p.result.byPolicy.latency))
  if (hasLat) {
    parts.push(chart({ x: 0, y: 40, w: pw, h: ph }, 'Latency class: p99 vs offered load', 'offered load (fraction of capacity)', 'p99 latency, ms (log)', r.strategies.map((st) => sweepLine(st, 'latency')), { logY: true, hLines: [{ y: s.slo.latency, label: `SLO ${s.slo.latency} ms` }], xFormat: pctFmt }))
  }
  parts.push(chart({ x: pw, y: 40, w: pw, h: ph }, 'Throughput class: p99 vs offered load', 'offered load (fraction of capacity)', 'p99 latency, ms (log)', r.strategies.map((st) => sweepLine(st, 'throughput')), { logY: true, hLines: [{ y: s.slo.throughput, label: `SLO ${s.slo.throughput} ms` }], xFormat: pctFmt }))
  const sy = r.strategies.find((st) => st.strategy === 'switchyard') ?? r.strategies[0]!
  const devLines: Line[] = sy.sweep[0]!.result.devices.map((d, i) => ({
    label: `${d.id} busy`,
    color: DEVICE_COLORS[i % DEVICE_COLORS.length]!,
    points: sy.sweep.map((p) => [p.load, p.result.devices[i]!.utilThroughput * 100])
  }))
  devLines.push(...sy.sweep[0]!.result.devices.map((d, i): Line => ({
    label: `${d.id} share of images`,
    color: DEVICE_COLORS[i % DEVICE_COLORS.length]!,
    dash: true,
    points: sy.sweep.map((p) => {
      const total = p.result.devices.reduce((a, x) => a + x.images, 0)
      return [p.load, total > 0 ? p.result.devices[i]!.images / total * 100 : 0]
    })
  })))
  parts.push(chart({ x: 0, y: 40 + ph, w: pw, h: ph }, `Per-device load under ${sy.strategy}`, 'offered load (fraction of capacity)', '% (busy: throughput workers)', devLines, { yMax: 100, xFormat: pctFmt }))
  const h = sy.bulk
  if (h.series) {
    const step = h.series.stepMs / 1000
    const ql: Line[] = Object.entries(h.series.queue).map(([id, q], i) => ({ label: `${id} queue`, color: DEVICE_COLORS[i % DEVICE_COLORS.length]!, points: q.map((v, k) => [(k + 1) * step, v]) }))
    ql.push({ label: 'waiting to decode', color: '#555', dash: true, points: h.series.decodeWaiting.map((v, k) => [(k + 1) * step, v]) })
    parts.push(chart({ x: pw, y: 40 + ph, w: pw, h: ph }, `Queue over time, ${sy.strategy}, ${h === sy.headline ? '' : 'throughput class alone '}at ${Math.round(s.load * 100)} %`, 'simulated time, s', 'requests queued', ql, { xMin: 0, xMax: h.durationS, vLines: s.events.map((e) => ({ x: e.atS, label: `${e.device} ${e.down === true ? 'fails' : e.down === false ? 'back' : `×${e.slowdown ?? 1}`}` })) }))
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`
}
