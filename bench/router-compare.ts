// Old against new on the live server (issue 17's last target): `npm run bench:router -- --base <ref>`.
// The base commit is checked out in a temporary git worktree (this checkout's node_modules
// linked in) and built; then ROUNDS rounds each start the base's and this tree's
// `dist/main.js` in turn (the order alternates, so drift of the machine over the run falls on
// both), with the same config, and measure on each: (1) /classify throughput, 8 closed-loop
// throughput-class connections; (2) /detect, 8 throughput-class connections saturating plus a
// latency-class probe at 5 req/s (open loop), the probe's p50/p99 and bulk req/s.
// "No worse beyond the runs' spread": this tree's median is compared with the base's range
// (min–max over its rounds). Both servers run as child processes, load from child processes.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO, SHARED, image, runLoad, table } from './harness.js'
import { PARTS, pooledProbes, type Probe } from './pooled-probes.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

/** The environment a run was given beyond the defaults, as the command's prefix (so the command line reproduces it). */
function envPrefix (): string {
  const set = ['BENCH_SECONDS', 'BENCH_ROUNDS'].filter((k) => process.env[k] !== undefined)
  return set.map((k) => `${k}=${process.env[k]!} `).join('')
}

/** The config both trees run: bench/router.ts's policy server (keys both versions know). */
function config (port: number): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port, logLevel: 'warn', shutdownDelayMs: 0 },
    models: { localDir: join(SHARED, 'models'), download: false, enabled: ['mobilenetv2', 'yolox-nano-dynamic'] },
    routes: { detect: 'yolox-nano-dynamic' },
    decode: { slots: 4, bulkSlots: 2 },
    devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 2, latencyWorkers: 1, intraOpThreads: 1, maxBatchSize: 8, batchDelayMs: { latency: 0, throughput: 4 } }]
  }
}

function git (...args: string[]): string {
  return execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim()
}

function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** The base commit, checked out and built beside this tree. */
function prepareBase (ref: string): { sha: string, root: string, remove: () => void } {
  const sha = git('rev-parse', '--verify', `${ref}^{commit}`)
  const root = mkdtempSync(join(tmpdir(), `switchyard-base-${sha.slice(0, 7)}-`))
  rmSync(root, { recursive: true, force: true })
  git('worktree', 'add', '--detach', root, sha)
  const remove = (): void => {
    try { git('worktree', 'remove', '--force', root) } catch { rmSync(root, { recursive: true, force: true }) }
  }
  try {
    if (!existsSync(join(root, 'node_modules'))) symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir')
    process.stderr.write(`building ${sha.slice(0, 7)} in ${root}…\n`)
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  } catch (err) {
    remove()
    throw err
  }
  return { sha, root, remove }
}

async function startServer (root: string, dir: string): Promise<{ url: string, stop: () => Promise<void> }> {
  const port = await freePort()
  const file = join(dir, `config-${port}.json`)
  writeFileSync(file, JSON.stringify(config(port)))
  const env: NodeJS.ProcessEnv = { ...process.env, SWITCHYARD_CONFIG: file, LOG_LEVEL: 'warn' }
  delete env.PORT; delete env.HOST; delete env.SWITCHYARD_DEVICES; delete env.SWITCHYARD_MODELS_DIR
  const proc: ChildProcess = spawn(process.execPath, [join(root, 'dist/main.js')], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  proc.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-8000) })
  const reap = (): void => { if (proc.exitCode === null) proc.kill('SIGKILL') }
  process.once('exit', reap)
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const until = Date.now() + 240_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server in ${root} exited ${proc.exitCode}: ${log}`)
    const ready = await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false)
    if (ready) break
    if (Date.now() > until) { reap(); throw new Error(`server in ${root} not ready in 240 s: ${log}`) }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  return {
    url,
    stop: async () => { proc.kill('SIGTERM'); await exited; process.off('exit', reap) }
  }
}

interface Sample { classifyRps: number, detectBulkRps: number, probeP50: number, probeP99: number, probeOk: number, probeSent: number, non2xx: number, /** every probe answer of the round (load-client.ts) */ probes: Probe[] }

async function measure (root: string, dir: string): Promise<Sample> {
  const server = await startServer(root, dir)
  try {
    const dog = image('dog.jpg')
    const bulk = { connections: 8, headers: { 'x-switchyard-policy': 'throughput' } }
    const r1 = await runLoad({ url: server.url, image: dog, seconds: SECONDS, bulk: { path: '/classify', ...bulk } })
    const r2 = await runLoad({
      url: server.url, image: dog, seconds: SECONDS,
      bulk: { path: '/detect', ...bulk },
      probe: { path: '/detect', rate: 5, headers: { 'x-switchyard-policy': 'latency' } }
    })
    return {
      classifyRps: r1.bulk!.rps,
      detectBulkRps: r2.bulk!.rps,
      probeP50: r2.probe!.p50,
      probeP99: r2.probe!.p99,
      probeOk: r2.probe!.ok,
      probeSent: r2.probe!.sent,
      non2xx: r1.bulk!.non2xx + r2.bulk!.non2xx,
      probes: r2.probe!.each
    }
  } finally {
    await server.stop()
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const r1 = (x: number): number => Math.round(x * 10) / 10

export async function compare (ref: string): Promise<void> {
  const head = git('rev-parse', 'HEAD')
  const dirty = git('status', '--porcelain', '--untracked-files=no') !== ''
  const base = prepareBase(ref)
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-compare-'))
  const samples: Record<'base' | 'head', Sample[]> = { base: [], head: [] }
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Array<'base' | 'head'> = round % 2 === 1 ? ['base', 'head'] : ['head', 'base']
      for (const which of order) {
        process.stderr.write(`round ${round}/${ROUNDS}: ${which}…\n`)
        samples[which].push(await measure(which === 'base' ? base.root : REPO, dir))
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
    base.remove()
  }

  const metrics: Array<{ key: Exclude<keyof Sample, 'probes'>, label: string, better: 'higher' | 'lower' }> = [
    { key: 'classifyRps', label: '(1) classify req/s', better: 'higher' },
    { key: 'detectBulkRps', label: '(2) detect bulk req/s beside the probe', better: 'higher' },
    { key: 'probeP50', label: '(2) latency probe p50 ms', better: 'lower' },
    { key: 'probeP99', label: '(2) latency probe p99 ms', better: 'lower' }
  ]
  const summary = metrics.map(({ key, label, better }) => {
    const b = samples.base.map((s) => s[key])
    const h = samples.head.map((s) => s[key])
    const [bMin, bMax, hMed, bMed] = [Math.min(...b), Math.max(...b), median(h), median(b)]
    const ok = better === 'higher' ? hMed >= bMin : hMed <= bMax
    return { label, key, better, base: b, head: h, baseMedian: bMed, headMedian: hMed, baseMin: bMin, baseMax: bMax, ratio: Math.round((hMed / bMed) * 100) / 100, noWorse: ok }
  })
  const pooled = pooledProbes(samples.base.flatMap((x) => x.probes), samples.head.flatMap((x) => x.probes))
  const results = {
    pooled,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    seconds: SECONDS, rounds: ROUNDS,
    base: { ref, sha: base.sha }, head: { sha: head, dirty },
    samples, summary
  }
  const md = [
    `# Router benchmark, old against new — ${new Date().toISOString().slice(0, 10)}, ${results.machine.cpus} × ${results.machine.model}, Node ${results.machine.node}, ${SECONDS} s per phase, ${ROUNDS} rounds`,
    '',
    `Command: \`${envPrefix()}npm run bench:router -- --base ${ref}\` — base ${base.sha.slice(0, 7)} against ${head.slice(0, 7)}${dirty ? ' (with uncommitted changes)' : ''}. ` +
      'Both servers run `dist/main.js` in a child process with the same config (one CPU device, 2 workers, 1 reserved for latency, batch ≤ 8); the order alternates per round.',
    '',
    '| round | tree | classify req/s | detect bulk req/s | probe p50 ms | probe p99 ms | probe ok/sent | non-2xx |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...Array.from({ length: ROUNDS }, (_, i) => (['base', 'head'] as const).map((w) => {
      const s = samples[w][i]!
      return `| ${i + 1} | ${w} | ${r1(s.classifyRps)} | ${r1(s.detectBulkRps)} | ${r1(s.probeP50)} | ${r1(s.probeP99)} | ${s.probeOk}/${s.probeSent} | ${s.non2xx} |`
    })).flat(),
    '',
    table(summary.map((s) => ({
      metric: s.label,
      'base median (min–max)': `${r1(s.baseMedian)} (${r1(s.baseMin)}–${r1(s.baseMax)})`,
      'head median': r1(s.headMedian),
      'head / base': `${s.ratio}×`,
      'no worse beyond the spread': s.noWorse ? 'yes' : '**no**'
    }))),
    '',
    `The latency probe pooled over the rounds (every probe answer of each tree; head/base p99 ${pooled.p99Ratio}×, bootstrap 95 % interval ${pooled.p99RatioCi[0]}–${pooled.p99RatioCi[1]}×), and where its time goes: the mean ms of each Server-Timing part over the probes slower than the tree's pooled p95 (the tail) and over all of them; "server" is the rest of the server's total (the decode gate's wait, routing), "outside" what the total leaves out (HTTP, the client, the event loops).`,
    '',
    table((['base', 'head'] as const).map((w) => {
      const t = pooled[w]
      return {
        tree: w, probes: t.n, 'p50 ms': t.p50, 'p90 ms': t.p90, 'p95 ms': t.p95, 'p99 ms': t.p99, 'max ms': t.max,
        'tail: decode / queue / inference / postprocess / server / outside': [...PARTS, 'server', 'outside'].map((k) => t.tail[k]).join(' / '),
        'all: decode / queue / inference / postprocess / server / outside': [...PARTS, 'server', 'outside'].map((k) => t.all[k]).join(' / ')
      }
    })),
    ''
  ].join('\n')
  process.stdout.write(`${md}\n`)
  writeFileSync(join(REPO, 'bench/results/router-compare.md'), md)
  writeFileSync(join(REPO, 'bench/results/router-compare.json'), JSON.stringify(results, null, 2))
}
