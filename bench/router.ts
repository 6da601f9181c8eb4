// Router benchmark (issue 3): one script, one run, this machine.
//   npm run bench:router            → prints the tables and writes bench/results/router.{md,json}
//   npm run bench:router -- --base <git ref>  → old against new, interleaved rounds
//                                     (bench/router-compare.ts → bench/results/router-compare.{md,json})
// (1) classify throughput at 8 connections: policy routing with batching vs the same server
//     pinned to batch 1 / FIFO; (2) mixed load on detect: 8 throughput-class connections
//     saturating plus a latency-class probe at 5 req/s, probe p50/p99 with policy routing vs
//     FIFO, and bulk throughput vs bulk alone; (3) the server's event-loop delay during (1).
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { REPO, image, runLoad, startBenchServer, table, withLoopDelay } from './harness.js'
import { compare } from './router-compare.js'

const baseAt = process.argv.indexOf('--base')
if (baseAt >= 0) {
  const ref = process.argv[baseAt + 1]
  if (ref === undefined) throw new Error('--base needs a git ref (a commit, branch or tag)')
  await compare(ref)
} else {
  await single()
}

async function single (): Promise<void> {
  const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
  const models = { enabled: ['mobilenetv2', 'yolox-nano-dynamic'] }
  const routes = { detect: 'yolox-nano-dynamic' }
  const POLICY = {
    models, routes,
    decode: { slots: 4, bulkSlots: 2 },
    devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 2, latencyWorkers: 1, intraOpThreads: 1, maxBatchSize: 8, batchDelayMs: { latency: 0, throughput: 4 } }]
  }
  const FIFO = {
    models, routes,
    decode: { slots: 4, bulkSlots: 4 },
    devices: [{ id: 'cpu', kind: 'cpu', required: true, workers: 2, intraOpThreads: 1, maxBatchSize: 1, batchDelayMs: { latency: 0, throughput: 0 } }]
  }
  const bulkHeaders = { 'x-switchyard-policy': 'throughput' }

  async function phase (config: Record<string, unknown>, label: string, run: (url: string) => Promise<unknown>) {
    const { server, url } = await startBenchServer(config)
    try {
      process.stderr.write(`${label}…\n`)
      return await withLoopDelay(() => run(url))
    } finally {
      await server.close()
    }
  }

  const dog = image('dog.jpg')
  const r1policy = await phase(POLICY, '(1) classify, policy routing + batching', (url) => runLoad({ url, image: dog, seconds: SECONDS, bulk: { path: '/classify', connections: 8, headers: bulkHeaders } }))
  const r1fifo = await phase(FIFO, '(1) classify, batch 1 / FIFO', (url) => runLoad({ url, image: dog, seconds: SECONDS, bulk: { path: '/classify', connections: 8, headers: bulkHeaders } }))

  const mixed = (url: string, probeHeaders: Record<string, string>, withProbe = true) => runLoad({
    url, image: dog, seconds: SECONDS,
    bulk: { path: '/detect', connections: 8, headers: bulkHeaders },
    ...(withProbe ? { probe: { path: '/detect', rate: 5, headers: probeHeaders } } : {})
  })
  const r2alone = await phase(POLICY, '(2) detect, bulk alone', (url) => mixed(url, {}, false))
  const r2policy = await phase(POLICY, '(2) detect, bulk + latency probe, policy routing', (url) => mixed(url, { 'x-switchyard-policy': 'latency' }))
  const r2fifo = await phase(FIFO, '(2) detect, bulk + probe, FIFO', (url) => mixed(url, bulkHeaders))

  type R = Awaited<ReturnType<typeof runLoad>>
  const v = (x: { value: unknown }) => x.value as R
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100
  const results = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    seconds: SECONDS,
    throughput: {
      policy: v(r1policy).bulk, fifo: v(r1fifo).bulk, loop: r1policy.loop, loopFifo: r1fifo.loop,
      ratio: ratio(v(r1policy).bulk!.rps, v(r1fifo).bulk!.rps)
    },
    mixed: {
      bulkAlone: v(r2alone).bulk,
      policy: v(r2policy), fifo: v(r2fifo),
      probeP99Ratio: ratio(v(r2policy).probe!.p99, v(r2fifo).probe!.p99),
      probeP50Ratio: ratio(v(r2policy).probe!.p50, v(r2fifo).probe!.p50),
      bulkRatio: ratio(v(r2policy).bulk!.rps, v(r2alone).bulk!.rps)
    }
  }

  const md = [
    `# Router benchmark — ${new Date().toISOString().slice(0, 10)}, ${results.machine.cpus} × ${results.machine.model}, Node ${results.machine.node}, ${SECONDS} s per phase`,
    '',
    'Command: `npm run bench:router` (server in the bench process, load from a child process on loopback).',
    '',
    '## (1) classify throughput, 8 connections, throughput policy',
    '',
    table([
      { config: 'policy routing, batch ≤ 8 (4 ms delay)', 'req/s': results.throughput.policy!.rps, p50_ms: results.throughput.policy!.p50, p99_ms: results.throughput.policy!.p99, non2xx: results.throughput.policy!.non2xx, 'loop p99 ms': results.throughput.loop.p99 },
      { config: 'batch 1 / FIFO', 'req/s': results.throughput.fifo!.rps, p50_ms: results.throughput.fifo!.p50, p99_ms: results.throughput.fifo!.p99, non2xx: results.throughput.fifo!.non2xx, 'loop p99 ms': results.throughput.loopFifo.p99 }
    ]),
    '',
    `Throughput ratio policy / FIFO: **${results.throughput.ratio}×**. Event-loop delay during (1), policy server: p50 ${results.throughput.loop.p50} ms, p99 **${results.throughput.loop.p99} ms**, max ${results.throughput.loop.max} ms (target p99 < 10 ms).`,
    '',
    '## (2) mixed load on detect: 8 bulk connections (throughput) + a 5 req/s probe',
    '',
    table([
      { config: 'bulk alone (policy server)', 'bulk req/s': results.mixed.bulkAlone!.rps, 'probe p50 ms': '-', 'probe p99 ms': '-', 'probe ok/sent': '-' },
      { config: 'bulk + latency probe, policy routing', 'bulk req/s': results.mixed.policy.bulk!.rps, 'probe p50 ms': results.mixed.policy.probe!.p50, 'probe p99 ms': results.mixed.policy.probe!.p99, 'probe ok/sent': `${results.mixed.policy.probe!.ok}/${results.mixed.policy.probe!.sent}` },
      { config: 'bulk + probe, FIFO (batch 1, one class)', 'bulk req/s': results.mixed.fifo.bulk!.rps, 'probe p50 ms': results.mixed.fifo.probe!.p50, 'probe p99 ms': results.mixed.fifo.probe!.p99, 'probe ok/sent': `${results.mixed.fifo.probe!.ok}/${results.mixed.fifo.probe!.sent}` }
    ]),
    '',
    `Probe, median Server-Timing parts (ms): policy ${JSON.stringify(results.mixed.policy.probe!.server)}; FIFO ${JSON.stringify(results.mixed.fifo.probe!.server)}.`,
    '',
    `Probe p99 policy / FIFO: **${results.mixed.probeP99Ratio}×** (target ≤ 0.3; p50 ${results.mixed.probeP50Ratio}×). Bulk throughput with the probe / bulk alone: **${results.mixed.bulkRatio}×** (target ≥ 0.9).`,
    ''
  ].join('\n')
  process.stdout.write(`${md}\n`)
  writeFileSync(join(REPO, 'bench/results/router.md'), md)
  writeFileSync(join(REPO, 'bench/results/router.json'), JSON.stringify(results, null, 2))
}
