// The latency probe of bench:router (router-compare.ts) pooled over its rounds, per tree.
import { seededRandom } from '../src/sim/simulated-executor.js'

/** One probe answer (load-client.ts): ms from send to full response, its Server-Timing parts. */
export interface Probe { ms: number, parts: Record<string, number> }

const r1 = (x: number): number => Math.round(x * 10) / 10

/** Nearest-rank quantile of ascending `s`. */
const quantile = (s: readonly number[], f: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(f * s.length) - 1))]!

export const PARTS = ['decode', 'queue', 'inference', 'postprocess'] as const

/**
 * The probes of every round pooled per tree: a p99 of 48 probes is in effect their largest, so
 * one slow probe a round sets the per-round p99; pooled over the rounds the p99 has a tail to
 * stand on. Its 95 % interval for head/base is a bootstrap (each tree's probes resampled with
 * replacement, 2,000 times, a fixed seed so the same samples give the same interval). The tail's
 * breakdown: over the probes slower than the tree's pooled p95, the mean of each Server-Timing
 * part, of the rest of the server's total (the decode gate's wait, routing: 'server') and of what
 * the total leaves out (HTTP, the client, the event loops: 'outside').
 */
export function pooledProbes (base: readonly Probe[], head: readonly Probe[]): { base: PooledTree, head: PooledTree, p99Ratio: number, p99RatioCi: [number, number] } {
  const sorted = (ps: readonly Probe[]): number[] => ps.map((p) => p.ms).sort((a, b) => a - b)
  const [b, h] = [sorted(base), sorted(head)]
  const rand = seededRandom(17)
  const draw = (s: readonly number[]): number[] => Array.from({ length: s.length }, () => s[Math.floor(rand() * s.length)]!).sort((x, y) => x - y)
  const ratios: number[] = []
  for (let i = 0; i < 2000; i++) ratios.push(quantile(draw(h), 0.99) / quantile(draw(b), 0.99))
  ratios.sort((x, y) => x - y)
  const round2 = (x: number): number => Math.round(x * 100) / 100
  return { base: tree(base, b), head: tree(head, h), p99Ratio: round2(quantile(h, 0.99) / quantile(b, 0.99)), p99RatioCi: [round2(quantile(ratios, 0.025)), round2(quantile(ratios, 0.975))] }
}

export interface PooledTree { n: number, p50: number, p90: number, p95: number, p99: number, max: number, /** mean ms of each part over the probes above p95; 'server' = the server's total less its parts (the decode gate's wait, routing), 'outside' = ms − the server's total */ tail: Record<string, number>, /** the same over every probe */ all: Record<string, number> }

function tree (ps: readonly Probe[], s: readonly number[]): PooledTree {
  const p95 = quantile(s, 0.95)
  const means = (xs: readonly Probe[]): Record<string, number> => {
    const out: Record<string, number> = {}
    for (const k of [...PARTS, 'server', 'outside'] as const) {
      const v = xs.map((p) => k === 'outside' ? p.ms - (p.parts.total ?? p.ms) : k === 'server' ? (p.parts.total ?? 0) - PARTS.reduce((a, q) => a + (p.parts[q] ?? 0), 0) : p.parts[k] ?? 0)
      out[k] = r1(v.reduce((a, x) => a + x, 0) / Math.max(1, v.length))
    }
    return out
  }
  return { n: s.length, p50: r1(quantile(s, 0.5)), p90: r1(quantile(s, 0.9)), p95: r1(p95), p99: r1(quantile(s, 0.99)), max: r1(s[s.length - 1]!), tail: means(ps.filter((p) => p.ms > p95)), all: means(ps) }
}
