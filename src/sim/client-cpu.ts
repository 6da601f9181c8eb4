// The load client's CPU as a function of its rate and of each request's outcome (issue 17,
// fidelity). A sender in one Node process pays two kinds of CPU: per request (copying and
// writing the body, parsing the answer, the request's allocations and their GC) and per
// event-loop turn (epoll, timers, the microtask flush, the loop's own bookkeeping). At a low
// rate nearly every request has turns of its own; as the rate rises more sends and answers
// share a turn, so the per-turn part grows more slowly than the rate. Over the rates a fidelity
// run sends, the client's CPU per second is close to a line,
//
//   cpu/s = perSecondMs + answeredMs · answered/s + refusedMs · refused/s,
//
// and its CPU per request at rate λ is answeredMs (or refusedMs) + perSecondMs / λ: falling with
// the rate towards the per-request part. Measured with a stub server on this machine (answers
// held 1 s, 8 s bursts): 3.1 / 2.7 / 2.4 / 2.2 ms a request at 20 / 50 / 80 / 110 req/s, a line of
// ~2.0 ms a request + ~25 ms a second. The profile step fits the line to open-loop bursts at
// two rates answered and at two rates refused (X-Switchyard-Deadline-Ms: 1: the server's own
// admission refusal, after reading the body, as a 429 in a saturated live run is).
export type ClientOutcome = 'answered' | 'refused'

/** one open-loop burst: its rate, how long it sent, what it got back, the sender's CPU over it */
export interface ClientCpuPoint {
  ratePerS: number
  durationS: number
  answered: number
  refused: number
  /** the sending process's CPU (user + system), ms, over the whole burst */
  cpuMs: number
}

/** the line: the host profile's host.clientCpu[model] */
export interface ClientCpuModel {
  /** ms of the client's CPU per answered request (2xx) */
  answeredMs: number
  /** ms per refused request (429, 503, any non-2xx, none) */
  refusedMs: number
  /** ms per second of sending, whatever the rate (the per-turn part, as a constant over the fitted rates) */
  perSecondMs: number
  /** the bursts it was fitted to */
  points: ClientCpuPoint[]
}

/** What a simulated request costs the client at `ratePerS`: at send, and on top when its outcome is known. */
export interface ClientCharge {
  sendMs: number
  answeredMs: number
  refusedMs: number
}

/**
 * The model's charge at a simulated rate. At send every request pays the cheaper outcome plus its
 * share of the per-second part (perSecondMs / λ, λ the run's offered rate); the answer adds the
 * difference to its own outcome's cost. Per request on average: outcomeMs + perSecondMs / λ.
 */
export function clientChargeAt (m: ClientCpuModel, ratePerS: number): ClientCharge {
  const base = Math.min(m.answeredMs, m.refusedMs)
  return {
    sendMs: base + (ratePerS > 0 ? m.perSecondMs / ratePerS : 0),
    answeredMs: m.answeredMs - base,
    refusedMs: m.refusedMs - base
  }
}

/** The model's CPU per request at `ratePerS` with a share `refused` of the requests refused (for reports). */
export function clientCpuPerRequest (m: ClientCpuModel, ratePerS: number, refused = 0): number {
  return (1 - refused) * m.answeredMs + refused * m.refusedMs + (ratePerS > 0 ? m.perSecondMs / ratePerS : 0)
}

/**
 * Least squares of cpuMs = perSecondMs · durationS + answeredMs · answered + refusedMs · refused
 * over the bursts, every coefficient ≥ 0 (a negative one is fixed at 0 and the rest refitted).
 * With no refused request anywhere, refusedMs = answeredMs (nothing says otherwise); likewise
 * answeredMs = refusedMs with no answered one. Needs at least one point.
 */
export function fitClientCpu (points: readonly ClientCpuPoint[]): ClientCpuModel {
  if (points.length === 0) throw new Error('the client CPU model needs at least one burst')
  const rows = points.map((p) => [p.durationS, p.answered, p.refused])
  const y = points.map((p) => p.cpuMs)
  const anyAnswered = points.some((p) => p.answered > 0)
  const anyRefused = points.some((p) => p.refused > 0)
  // which of (perSecond, answered, refused) are free; the rate span decides whether perSecond is
  const rates = new Set(points.map((p) => p.ratePerS))
  const free = [rates.size > 1, anyAnswered, anyRefused]
  // only one outcome seen: one per-request cost for both
  if (!anyAnswered || !anyRefused) for (const r of rows) { r[1] = r[1]! + r[2]!; r[2] = 0 }
  if (!anyAnswered || !anyRefused) { free[1] = true; free[2] = false }
  let coef = [0, 0, 0]
  for (let tries = 0; tries < 3; tries++) {
    coef = leastSquares(rows, y, free)
    const neg = coef.findIndex((c, i) => free[i] && c < 0)
    if (neg < 0) break
    free[neg] = false
    coef[neg] = 0
  }
  coef = coef.map((c) => Math.max(0, c))
  const answeredMs = coef[1]!
  const refusedMs = anyAnswered && anyRefused ? coef[2]! : answeredMs
  const r = (x: number): number => Math.round(x * 1000) / 1000
  return { answeredMs: r(answeredMs), refusedMs: r(refusedMs), perSecondMs: r(coef[0]!), points: points.map((p) => ({ ...p })) }
}

/** Least squares over the free columns (normal equations, Gaussian elimination); fixed columns 0. */
function leastSquares (rows: number[][], y: number[], free: boolean[]): number[] {
  const cols = free.flatMap((f, i) => (f ? [i] : []))
  const k = cols.length
  const out = free.map(() => 0)
  if (k === 0) return out
  const a = cols.map((i) => cols.map((j) => rows.reduce((s, r) => s + r[i]! * r[j]!, 0)))
  const b = cols.map((i) => rows.reduce((s, r, n) => s + r[i]! * y[n]!, 0))
  for (let c = 0; c < k; c++) {
    let p = c
    for (let r = c + 1; r < k; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r
    if (Math.abs(a[p]![c]!) < 1e-12) continue // a column that cannot be told apart: left at 0
    ;[a[c], a[p]] = [a[p]!, a[c]!]; [b[c], b[p]] = [b[p]!, b[c]!]
    for (let r = 0; r < k; r++) {
      if (r === c) continue
      const f = a[r]![c]! / a[c]![c]!
      for (let j = c; j < k; j++) a[r]![j]! -= f * a[c]![j]!
      b[r]! -= f * b[c]!
    }
  }
  cols.forEach((col, c) => { out[col] = Math.abs(a[c]![c]!) < 1e-12 ? 0 : b[c]! / a[c]![c]! })
  return out
}

/** checks a profile's host.clientCpu entry; an error message or null */
export function checkClientCpu (m: ClientCpuModel): string | null {
  for (const k of ['answeredMs', 'refusedMs', 'perSecondMs'] as const) if (!(typeof m[k] === 'number' && m[k] >= 0)) return `${k} must be a number ≥ 0`
  if (!Array.isArray(m.points)) return 'points must be a list of bursts'
  return null
}
