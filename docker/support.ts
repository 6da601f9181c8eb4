// Helpers for the deployment tests under docker/: where the files are, YAML and Dockerfile
// parsing, PromQL analysis (the real Prometheus grammar), the live metric catalogue, the
// external binaries (promtool, prometheus, kubectl) and a bounded wait.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { SyntaxNode } from '@lezer/common'
import { parser } from '@prometheus-io/lezer-promql'
import { parse as parseYaml, parseAllDocuments } from 'yaml'

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const repoPath = (...p: string[]): string => join(REPO, ...p)
export const readText = (...p: string[]): string => readFileSync(repoPath(...p), 'utf8')
export const readYaml = <T = any>(...p: string[]): T => parseYaml(readText(...p), { merge: true }) as T
export const readJson = <T = any>(...p: string[]): T => JSON.parse(readText(...p)) as T

/** Every YAML document of a multi-document text (kubectl kustomize output). */
export function yamlDocuments (text: string): any[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw new Error(d.errors.map((e) => e.message).join('; '))
    return d.toJS()
  }).filter((d) => d !== null)
}

// ---- external binaries ------------------------------------------------------------------

const HINTS: Record<string, string> = {
  promtool: 'install Debian\'s `prometheus` package (apt-get install prometheus): it ships promtool; .ci/run installs it',
  prometheus: 'install Debian\'s `prometheus` package (apt-get install prometheus); .ci/run installs it',
  kubectl: 'kubectl (with its built-in kustomize) comes with the machine image (google-cloud-cli); install kubectl >= 1.27'
}

/** The binary's path, or an Error that says what to install. Never a silent skip. */
export function which (name: string): string | Error {
  const r = spawnSync('/bin/sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
  const path = r.stdout.trim()
  if (r.status === 0 && path !== '') return path
  return new Error(`${name} is not on PATH: ${HINTS[name] ?? 'install it'}`)
}

export function run (cmd: string, args: string[], opts: { input?: string, cwd?: string } = {}): { status: number, out: string, stdout: string, stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, cwd: opts.cwd ?? REPO, timeout: 60_000 })
  if (r.error) throw r.error
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}`, stdout: r.stdout, stderr: r.stderr }
}

export async function freePort (): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolvePort(port))
    })
  })
}

/** Polls `probe` until it returns a value that is not undefined, or throws after `ms`. */
export async function waitFor<T> (what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

// ---- the live metric catalogue ------------------------------------------------------------

export interface MetricCatalogue {
  /** series name → label names seen on it (histograms: X_bucket (with le), X_sum, X_count) */
  series: Map<string, Set<string>>
  /** series name → its family (the # TYPE name), the family's type and the series' samples */
  family: Map<string, { name: string, type: string, samples: number }>
}

/**
 * Parses a /metrics text (Prometheus text format 0.0.4) into the series names PromQL can
 * select, with their label names. Series without samples (a labelled counter never
 * incremented) are known from their # TYPE line.
 */
export function catalogue (text: string): MetricCatalogue {
  const series = new Map<string, Set<string>>()
  const family = new Map<string, { name: string, type: string, samples: number }>()
  const suffixes: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] }
  for (const line of text.split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line)
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string]
      for (const s of suffixes[kind] ?? ['']) {
        series.set(name + s, new Set())
        family.set(name + s, { name, type: kind, samples: 0 })
      }
      continue
    }
    if (line.startsWith('#') || line.trim() === '') continue
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+\S+/.exec(line)
    if (!sample) throw new Error(`not a sample line: ${line}`)
    const name = sample[1]!
    if (!series.has(name)) {
      series.set(name, new Set())
      family.set(name, { name, type: 'untyped', samples: 0 })
    }
    const labels = series.get(name)!
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)) labels.add(m[1]!)
    family.get(name)!.samples++
  }
  return { series, family }
}

// ---- PromQL ---------------------------------------------------------------------------------

/** Grafana's variables made concrete so the expression is plain PromQL. */
export function grafanaToPromql (expr: string): string {
  return expr
    .replace(/\$\{?__(rate_interval|interval|range)(?::[a-z]+)?\}?/g, '1m')
    .replace(/\$\{([A-Za-z_]\w*)(?::[a-z]+)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)\]\]/g, '.*')
}

export interface PromqlAnalysis {
  /** syntax errors (the parser's error nodes), with their position */
  errors: string[]
  /** metric names selected, by identifier or by a __name__ matcher */
  metrics: string[]
  /** label names used in a selector's matchers, per selected metric */
  matchers: Array<{ metric: string | null, label: string }>
  /** `by (...)` labels of aggregations, with the metrics under the aggregation */
  groupings: Array<{ labels: string[], metrics: string[] }>
}

export function analysePromql (expr: string): PromqlAnalysis {
  const tree = parser.parse(expr)
  const out: PromqlAnalysis = { errors: [], metrics: [], matchers: [], groupings: [] }
  const text = (n: SyntaxNode): string => expr.slice(n.from, n.to)
  tree.iterate({
    enter (ref) {
      if (ref.type.isError) out.errors.push(`syntax error at ${ref.from}: …${expr.slice(Math.max(0, ref.from - 20), ref.from + 20)}…`)
    }
  })
  const selectorsUnder = (node: SyntaxNode): string[] => {
    const found: string[] = []
    const walk = (n: SyntaxNode): void => {
      if (n.name === 'VectorSelector') {
        const m = selectorMetric(n)
        if (m !== null) found.push(m)
      }
      for (let c = n.firstChild; c; c = c.nextSibling) walk(c)
    }
    walk(node)
    return found
  }
  const selectorMetric = (sel: SyntaxNode): string | null => {
    const id = sel.getChild('Identifier')
    if (id) return text(id)
    for (const m of matcherNodes(sel)) {
      const name = m.getChild('LabelName') ?? m.getChild('QuotedLabelName')
      if (name && unquote(text(name)) === '__name__') {
        const v = m.getChild('StringLiteral')
        if (v) return unquote(text(v))
      }
    }
    return null
  }
  const matcherNodes = (sel: SyntaxNode): SyntaxNode[] => {
    const lm = sel.getChild('LabelMatchers')
    if (!lm) return []
    const res: SyntaxNode[] = []
    for (let c = lm.firstChild; c; c = c.nextSibling) if (c.name.endsWith('LabelMatcher')) res.push(c)
    return res
  }
  const visit = (n: SyntaxNode): void => {
    if (n.name === 'VectorSelector') {
      const metric = selectorMetric(n)
      if (metric !== null) out.metrics.push(metric)
      for (const m of matcherNodes(n)) {
        const name = m.getChild('LabelName') ?? m.getChild('QuotedLabelName')
        if (name && unquote(text(name)) !== '__name__') out.matchers.push({ metric, label: unquote(text(name)) })
      }
    }
    if (n.name === 'AggregateExpr') {
      const mod = n.getChild('AggregateModifier')
      if (mod && mod.getChild('By')) {
        const labels = (mod.getChild('GroupingLabels')?.getChildren('LabelName') ?? []).map(text)
        out.groupings.push({ labels, metrics: selectorsUnder(n) })
      }
    }
    for (let c = n.firstChild; c; c = c.nextSibling) visit(c)
  }
  visit(tree.topNode)
  return out
}

function unquote (s: string): string {
  return /^["'`]/.test(s) ? s.slice(1, -1) : s
}

/** Labels a series gets from the scrape (target labels) rather than from the exporter. */
export const TARGET_LABELS = new Set(['instance', 'job', 'service', 'namespace', 'pod'])

/**
 * Problems of one PromQL expression against the live catalogue: syntax, metrics that are not
 * exported, matcher and by-labels that no selected metric carries.
 */
export function promqlProblems (expr: string, cat: MetricCatalogue, extraSeries: ReadonlyMap<string, ReadonlySet<string>> = new Map()): string[] {
  const a = analysePromql(expr)
  const problems = [...a.errors]
  const labelsOf = (m: string): ReadonlySet<string> | undefined => cat.series.get(m) ?? extraSeries.get(m)
  if (a.metrics.length === 0) problems.push('selects no metric')
  for (const m of a.metrics) {
    if (labelsOf(m)) continue
    const base = cat.series.has(`${m}_bucket`) ? ` (${m} is a histogram: select ${m}_bucket, _sum or _count)` : ''
    problems.push(`metric ${m} is not exported by the server${base}`)
  }
  for (const { metric, label } of a.matchers) {
    if (metric === null || !labelsOf(metric) || TARGET_LABELS.has(label)) continue
    if (!labelsOf(metric)!.has(label)) problems.push(`${metric} has no label "${label}" (it has: ${[...labelsOf(metric)!].join(', ') || 'none'})`)
  }
  for (const { labels, metrics } of a.groupings) {
    for (const label of labels) {
      if (TARGET_LABELS.has(label)) continue
      if (!metrics.some((m) => labelsOf(m)?.has(label) === true)) problems.push(`by (${label}): none of ${metrics.join(', ')} has that label`)
    }
  }
  return problems
}

// ---- Dockerfile ---------------------------------------------------------------------------

export interface Instruction { cmd: string, args: string, line: number }
export interface Stage { name: string | null, from: string, instructions: Instruction[] }

/** Dockerfile → stages of instructions (continuation lines joined, comments dropped). */
export function parseDockerfile (text: string): Stage[] {
  const stages: Stage[] = []
  const lines = text.split('\n')
  let buf = ''
  let start = 0
  const global: Instruction[] = []
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!
    if (buf === '' && /^\s*(#|$)/.test(raw)) continue
    if (buf !== '' && /^\s*#/.test(raw)) continue
    if (buf === '') start = i + 1
    if (/\\\s*$/.test(raw)) { buf += raw.replace(/\\\s*$/, ' '); continue }
    buf += raw
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(buf)
    buf = ''
    if (!m) continue
    const ins = { cmd: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start }
    if (ins.cmd === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)
      stages.push({ name: f?.[2] ?? null, from: f?.[1] ?? ins.args, instructions: [] })
    } else if (stages.length === 0) {
      global.push(ins)
    } else {
      stages[stages.length - 1]!.instructions.push(ins)
    }
  }
  return stages
}

/** ENV instructions of a stage as a map (KEY=VALUE pairs, quotes removed). */
export function stageEnv (stage: Stage): Record<string, string> {
  const env: Record<string, string> = {}
  for (const i of stage.instructions.filter((x) => x.cmd === 'ENV')) {
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S+)/g)) env[m[1]!] = m[2]!.replace(/^["']|["']$/g, '')
  }
  return env
}

/** A COPY instruction's flags, sources and destination (shell form or JSON form). */
export function parseCopy (args: string): { from: string | null, sources: string[], dest: string } {
  const words = args.startsWith('[') ? JSON.parse(args) as string[] : args.split(/\s+/)
  const flags = words.filter((w) => w.startsWith('--'))
  const rest = words.filter((w) => !w.startsWith('--'))
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length) ?? null
  return { from, sources: rest.slice(0, -1), dest: rest[rest.length - 1]! }
}

// ---- .dockerignore (moby/patternmatcher semantics, enough for these rules) -------------------

export function dockerignore (text: string): (path: string) => boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
    const exclusion = l.startsWith('!')
    const pattern = (exclusion ? l.slice(1) : l).replace(/^\/+|\/+$/g, '')
    return { exclusion, re: globToRegExp(pattern) }
  })
  /** true when the path is left out of the build context */
  return (path: string) => {
    const parts = path.replace(/^\.?\/+/, '').split('/')
    let excluded = false
    for (const r of rules) {
      let match = false
      for (let i = parts.length; i >= 1 && !match; i--) match = r.re.test(parts.slice(0, i).join('/'))
      if (match) excluded = !r.exclusion
    }
    return excluded
  }
}

function globToRegExp (glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*' && glob[i + 1] === '*') {
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*'
      i += glob[i + 2] === '/' ? 2 : 1
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

/** `${VAR:-default}`, `${VAR-default}` and `${VAR}` as `docker compose` interpolates them. */
export function interpolate (text: string, env: Record<string, string | undefined> = {}): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g, (_m, name: string, op: string | undefined, def: string | undefined) => {
    const v = env[name]
    if (op === ':-') return v === undefined || v === '' ? def ?? '' : v
    if (op === '-') return v === undefined ? def ?? '' : v
    return v ?? ''
  })
}

// Run by itself (`npx tap docker/` runs every file in the folder), this module has nothing to
// test: its helpers' tests are in docker/support.test.ts.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { default: t } = await import('tap')
  t.pass('helpers for docker/*.test.ts; their own tests are in docker/support.test.ts')
}
