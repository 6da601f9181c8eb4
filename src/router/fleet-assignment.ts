// The fleet's best assignment of models to devices, and what it says a ms of each device's time
// is worth (issue 17; docs/architecture.md, Routing, "Near saturation, a latency item priced by
// the fleet"). Policy: it reads arrival rates, learned costs and worker counts, and answers
// numbers; the router decides with them.
//
// The linear program (maximum concurrent flow over a bipartite graph of models and devices):
//
//   maximise  t − ε · Σ_md c_md · f_md
//   subject to  Σ_d f_md ≥ t · λ_m          every model m: its offered rate, scaled by t, is served
//               Σ_m c_md · f_md ≤ W_d        every device d: its workers' ms per ms
//               f_md ≥ 0
//
//   λ_m   items per ms offered for model m (every class: the pool's decaying arrival count)
//   c_md  ms of a worker per item of m on d at its best batch, t_d(B)/B (the learned cost)
//   W_d   d's live workers
//   f_md  items per ms of m that d serves
//
// t is how far the offered mix could grow before the fleet is full under the best split of it
// over the devices; u* = 1/t the fleet's utilization under that split (1: exactly full). The ε
// term picks, among the splits that reach t, the one of least total work. Its duals: p_d ≥ 0 for
// device d's row — how much one more ms per ms of d's time would add to t, the value of a ms of d —
// and v_m for model m's. Where the devices' comparative advantages cross (one GPU 1.4× better at
// m1, the other at m2), the split is a partition and the prices say which device's time is
// scarcer; where one device is best at everything, its price is the highest.
//
// Solved by a dense simplex over ≤ rows whose right-hand sides are ≥ 0 (the origin is feasible:
// no phase one), Bland's rule against cycling on the degenerate rows. At most 4 devices and 3
// models in the generated fleets: 7 rows, 13 columns. Recomputed at most every
// REFRESH_MS of the clock by the router, not per request.
import type { DeviceView } from './router.js'

export interface AssignmentInput {
  /** λ_m, items per ms, per model */
  rates: readonly number[]
  /** c_md, ms of a worker per item: cost[m][d] (Infinity: d does not serve m) */
  cost: ReadonlyArray<readonly number[]>
  /** W_d, workers per device */
  workers: readonly number[]
}

export interface Assignment {
  /** u* = 1/t, the fleet's utilization under its best split (0: nothing offered; Infinity: a model offered that no device serves) */
  utilization: number
  /** share[m][d]: the fraction of model m's items device d serves in that split */
  share: number[][]
  /** p_d: what a ms of device d's time is worth, the dual of its row (0: its time is not scarce) */
  price: number[]
}

const EPS = 1e-12

/** The best split of the offered models over the devices, and the devices' prices (the program above). */
export function assign (inp: AssignmentInput): Assignment {
  const M = inp.rates.length; const D = inp.workers.length
  const share = inp.rates.map(() => new Array<number>(D).fill(0))
  const price = new Array<number>(D).fill(0)
  const active: number[] = []
  for (let m = 0; m < M; m++) if (inp.rates[m]! > 0) active.push(m)
  if (active.length === 0) return { utilization: 0, share, price }
  // columns: f_md for each offered model and each device serving it, then t, then the slacks
  const vars: Array<[number, number]> = []
  for (const m of active) for (let d = 0; d < D; d++) if (Number.isFinite(inp.cost[m]![d]!) && inp.workers[d]! > 0) vars.push([m, d])
  const n = vars.length + 1; const tCol = vars.length
  const rows = D + active.length
  const width = n + rows + 1; const rhs = width - 1
  const T: number[][] = []
  for (let d = 0; d < D; d++) {
    const r = new Array<number>(width).fill(0)
    vars.forEach(([m, dd], j) => { if (dd === d) r[j] = inp.cost[m]![d]! })
    r[n + d] = 1; r[rhs] = inp.workers[d]!
    T.push(r)
  }
  active.forEach((m, i) => {
    const r = new Array<number>(width).fill(0)
    vars.forEach(([mm], j) => { if (mm === m) r[j] = -1 })
    r[tCol] = inp.rates[m]!
    r[n + D + i] = 1
    T.push(r)
  })
  // the objective as a minimisation, −t + ε·Σ c·f: its row of reduced costs
  let totalW = 0
  for (const w of inp.workers) totalW += w
  const eps = 1e-3 / Math.max(1e-9, totalW)
  const z = new Array<number>(width).fill(0)
  vars.forEach(([m, d], j) => { z[j] = eps * inp.cost[m]![d]! })
  z[tCol] = -1
  const basis: number[] = []
  for (let i = 0; i < rows; i++) basis.push(n + i)
  for (let iter = 0; iter < 50 * width; iter++) {
    let enter = -1
    for (let j = 0; j < rhs; j++) if (z[j]! < -EPS) { enter = j; break }
    if (enter < 0) break
    let leave = -1; let best = Infinity
    for (let i = 0; i < rows; i++) {
      const a = T[i]![enter]!
      if (!(a > EPS)) continue
      const ratio = T[i]![rhs]! / a
      if (ratio < best - EPS || (Math.abs(ratio - best) <= EPS && basis[i]! < basis[leave]!)) { best = ratio; leave = i }
    }
    // unbounded: t grows without limit — every offered model costs nothing anywhere
    if (leave < 0) return { utilization: 0, share, price }
    const L = T[leave]!; const p = L[enter]!
    for (let j = 0; j < width; j++) L[j] = L[j]! / p
    for (let i = 0; i < rows; i++) {
      if (i === leave) continue
      const R = T[i]!; const f = R[enter]!
      if (f !== 0) for (let j = 0; j < width; j++) R[j] = R[j]! - f * L[j]!
    }
    const f = z[enter]!
    for (let j = 0; j < width; j++) z[j] = z[j]! - f * L[j]!
    basis[leave] = enter
  }
  const x = new Array<number>(n).fill(0)
  for (let i = 0; i < rows; i++) if (basis[i]! < n) x[basis[i]!] = T[i]![rhs]!
  const t = x[tCol]!
  if (!(t > 0)) return { utilization: Infinity, share, price }
  const served = new Array<number>(M).fill(0)
  vars.forEach(([m], j) => { served[m] = served[m]! + x[j]! })
  vars.forEach(([m, d], j) => { if (served[m]! > 0) share[m]![d] = x[j]! / served[m]! })
  // a slack column's reduced cost at the optimum is its row's dual
  for (let d = 0; d < D; d++) price[d] = z[n + d]!
  return { utilization: 1 / t, share, price }
}

/** How often the router solves the program again (ms of its clock): the arrival counts decay over about 2 s. */
export const REFRESH_MS = 100

/**
 * The router's reading of the program for one set of devices: solved from their views at most
 * every REFRESH_MS. Healthy devices only; λ_m from each model's pool
 * (RequestQueue.arrived: every request of the model, counted at admission, refused ones too);
 * no pools (a baseline strategy's devices), no rates: utilization 0.
 */
export class FleetPrices {
  private at = -Infinity
  private ids: string[] = []
  private result: Assignment = { utilization: 0, share: [], price: [] }

  refresh (devices: readonly DeviceView[], now: number): void {
    if (now - this.at < REFRESH_MS) return
    this.at = now
    const models: string[] = []; const rates: number[] = []
    const healthy: DeviceView[] = []
    for (const d of devices) if (d.healthy) healthy.push(d)
    for (const d of healthy) {
      for (const l of d.lanes.values()) {
        const arrived = l.pool?.arrived
        if (arrived === undefined || models.includes(l.model)) continue
        models.push(l.model); rates.push(arrived.perMs(now))
      }
    }
    const cost = models.map((m) => healthy.map((d) => {
      const l = d.lanes.get(m)
      return l === undefined ? Infinity : 1 / l.cost.throughput(l.maxBatchSize)
    }))
    const workers = healthy.map((d) => { let w = 0; for (const x of d.workers) if (x.alive) w++; return w })
    this.result = assign({ rates, cost, workers })
    this.ids = healthy.map((d) => d.id)
  }

  /** u* of the last solve */
  get utilization (): number { return this.result.utilization }

  /** p_d of device `id` in the last solve; 0 where it was not among them */
  price (id: string): number {
    const i = this.ids.indexOf(id)
    return i < 0 ? 0 : this.result.price[i]!
  }
}
