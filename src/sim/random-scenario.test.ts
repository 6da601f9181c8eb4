// Generated scenarios and the judge of issue 17's targets. The generator: deterministic per seed,
// within its documented ranges, and covering them (both kinds of device, arrivals and events).
// The judge: its tolerances and floors, case by case. The harness: two short seeds end to end,
// checked for consistency — not for who wins (that is bench/results/random.md).
import { readFileSync } from 'node:fs'
import t from 'tap'
import { beats, judgeCell, sustainableOk, type CellMetrics } from './judge.js'
import { randomMarkdown, reportScenario, runSeed, summarize, worstSeeds, type RandomReport } from './random-run.js'
import { runScenario, type RunResult } from './engine.js'
import { meetsSlo, sustainableLoad } from './experiment.js'
import { generate } from './workload.js'
import { parseSeeds, randomScenario, RANDOM_RANGES } from './random-scenario.js'
import { capacity, decodeCapacity } from './scenario.js'

t.test('a seed always gives the same scenario; another seed another one', async (t) => {
  t.same(randomScenario(7), randomScenario(7))
  t.notSame(randomScenario(7).devices, randomScenario(8).devices)
})

t.test('a latency objective tells every device of a seed\'s scenario, and changes nothing else', async (t) => {
  const plain = randomScenario(7); const told = randomScenario(7, { latencyObjectiveMs: 100 })
  t.same(told.devices.map((d) => d.latencyObjectiveMs), plain.devices.map(() => 100))
  t.same(told.devices.map(({ latencyObjectiveMs: _, ...d }) => d), plain.devices, 'the same devices otherwise')
  t.same({ ...told, devices: [], description: '' }, { ...plain, devices: [], description: '' }, 'the same traffic, arrivals, events and SLO')
  t.equal(told.description, `${plain.description}; latency objective 100 ms`)
  t.same(plain.devices.map((d) => d.latencyObjectiveMs), plain.devices.map(() => undefined), 'unset by default')
})

t.test('the host\'s decode waiting room: bounded by time by default (the server\'s), a count with --decode-waiting count, nothing else changes', async (t) => {
  const plain = randomScenario(7); const counted = randomScenario(7, { decodeWaiting: 'count' })
  t.equal(plain.host.maxWaiting, null, 'no count by default, as the server\'s decode.maxWaiting')
  t.same(randomScenario(7, { decodeWaiting: 'time' }), plain, 'time: the default')
  t.ok(typeof counted.host.maxWaiting === 'number' && counted.host.maxWaiting >= 64, 'count: max(64, 4 × slots), as the reports that name no waiting room ran')
  t.same({ ...counted, host: { ...counted.host, maxWaiting: 0 } }, { ...plain, host: { ...plain.host, maxWaiting: 0 } }, 'the same fleet, traffic, arrivals, events and SLO')
})

t.test('generated scenarios stay within the documented ranges and cover them', async (t) => {
  const seen = { cpu: 0, gpu: 0, poisson: 0, bursty: 0, slowdown: 0, failure: 0, noLatency: 0, models: new Set<number>(), devices: new Set<number>() }
  for (let seed = 1; seed <= 300; seed++) {
    const s = randomScenario(seed)
    const models = new Set(s.traffic.map((c) => c.model))
    seen.models.add(models.size); seen.devices.add(s.devices.length)
    if (s.devices.length < RANDOM_RANGES.devices[0] || s.devices.length > RANDOM_RANGES.devices[1]) t.fail(`seed ${seed}: ${s.devices.length} devices`)
    for (const d of s.devices) {
      seen[d.kind === 'cpu' ? 'cpu' : 'gpu']++
      for (const m of models) if (!(d.models[m]!.a >= 0 && d.models[m]!.b > 0)) t.fail(`seed ${seed}: ${d.id} ${m} cost`)
    }
    const share = s.traffic.reduce((a, c) => a + c.share, 0)
    const lat = s.traffic.filter((c) => c.policy === 'latency').reduce((a, c) => a + c.share, 0)
    if (Math.abs(share - 1) > 1e-9 || lat > 0.7 + 1e-9) t.fail(`seed ${seed}: shares ${share}, latency ${lat}`)
    if (lat === 0) seen.noLatency++
    seen[s.arrivals.kind]++
    if (s.arrivals.kind === 'bursty' && s.arrivals.factor * s.arrivals.burstS >= s.arrivals.periodS) t.fail(`seed ${seed}: burst exceeds its period`)
    if (s.events.some((e) => e.slowdown !== undefined && e.slowdown > 1)) seen.slowdown++
    if (s.events.some((e) => e.down === true)) seen.failure++
    if (!(decodeCapacity(s) >= capacity(s))) t.fail(`seed ${seed}: decoding saturates before the devices`)
    if (s.events.some((e) => e.atS >= s.durationS)) t.fail(`seed ${seed}: an event after the run`)
  }
  t.same([...seen.devices].sort(), [1, 2, 3, 4], '1–4 devices')
  t.same([...seen.models].sort(), [1, 2, 3], '1–3 models')
  for (const k of ['cpu', 'gpu', 'poisson', 'bursty', 'slowdown', 'failure', 'noLatency'] as const) t.ok(seen[k] > 10, `${k}: ${seen[k]}`)
})

t.test('the wide ranges reach the hardware measured on the H200 host, which the default ranges never draw', async (t) => {
  // the first model has weight 1: its costs are the device's draws × 0.8–1.25
  const corner = (ranges: 'default' | 'wide'): { fastCpu: number, lowFixedGpu: number, slowDecode: number } => {
    const seen = { fastCpu: 0, lowFixedGpu: 0, slowDecode: 0 }
    for (let seed = 1; seed <= 300; seed++) {
      const s = randomScenario(seed, { ranges })
      for (const d of s.devices) {
        const c = d.models.m1!
        if (d.kind === 'cpu' && c.b < 4) seen.fastCpu++ // the H200 host's CPU: b = 1.2 ms
        if (d.kind === 'cuda' && c.a < 1.6) seen.lowFixedGpu++ // the H200's classifier: a = 1.2 ms
      }
      if (Object.values(s.host.decodeMs).some((ms) => ms > 8)) seen.slowDecode++ // that host's JPEG decode: 22–31 ms
    }
    return seen
  }
  t.same(corner('default'), { fastCpu: 0, lowFixedGpu: 0, slowDecode: 0 }, 'the default ranges: none')
  const wide = corner('wide')
  for (const [k, n] of Object.entries(wide)) t.ok(n > 10, `the wide ranges: ${k} ${n}`)
  t.notSame(randomScenario(7, { ranges: 'wide' }).devices, randomScenario(7).devices, 'a seed maps onto the wider ranges')
  t.same(randomScenario(7, { ranges: 'default' }), randomScenario(7), 'the default set is unchanged')
})

t.test('run length: shortened for large fleets, never below the floor', async (t) => {
  t.equal(randomScenario(3, { durationS: 60, maxRequests: 1e9 }).durationS, 60)
  const big = randomScenario(3, { durationS: 60, maxRequests: 1000, minDurationS: 7 })
  t.equal(big.durationS, 7)
})

t.test('seeds from the command line', async (t) => {
  t.same(parseSeeds('1-3,7, 9-10'), [1, 2, 3, 7, 9, 10])
  t.throws(() => parseSeeds('5-2'), /empty range/)
  t.throws(() => parseSeeds('a'), /not a seed/)
})

const slo = { latency: 100, throughput: 2000 }
const m = (latP99: number, thrP99: number, refused = 0): CellMetrics => ({ latP99, thrP99, refused })

t.test('the judge: tolerances, floors, and refusals before p99', async (t) => {
  // throughput p99: 25 % tolerance, and only above a quarter of the SLO (500 ms)
  t.equal(beats(m(50, 1000), m(50, 1250), slo), null, '25 % better is within tolerance')
  t.match(beats(m(50, 1000), m(50, 1260), slo), /throughput p99/, 'more than 25 % better beats')
  t.equal(beats(m(50, 100), m(50, 490), slo), null, 'under a quarter of the SLO, no p99 beats')
  // latency p99: 10 % tolerance, only above half the SLO (50 ms)
  t.equal(beats(m(60, 100), m(66, 100), slo), null)
  t.match(beats(m(60, 100), m(67, 100), slo), /latency p99/)
  t.equal(beats(m(10, 100), m(45, 100), slo), null, 'under half the latency SLO')
  // refusals: 0.5 pp
  t.match(beats(m(90, 1900, 0.01), m(10, 100, 0.016), slo), /refuses 0\.6 pp less/, 'refusing less beats whatever the p99s')
  t.equal(beats(m(90, 1900, 0.01), m(90, 1900, 0.014), slo), null, 'within 0.5 pp')
  // a strategy that refuses more is not better on p99
  t.equal(beats(m(10, 100, 0.02), m(90, 1900, 0.019), slo), null)
  // a class without answers (NaN) is never the better p99
  t.equal(beats(m(NaN, 100), m(90, 100), slo), null)
})

t.test('a cell: loss if any baseline beats switchyard, win if it beats them all, the 2× rule beside', async (t) => {
  const sy = m(60, 1000)
  const loss = judgeCell(sy, [{ strategy: 'a', m: m(60, 700) }, { strategy: 'b', m: m(200, 3000) }], slo)
  t.equal(loss.verdict, 'loss')
  t.same(loss.beatenBy.map((b) => b.strategy), ['a'])
  t.equal(judgeCell(sy, [{ strategy: 'b', m: m(200, 3000) }, { strategy: 'c', m: m(60, 1000, 0.2) }], slo).verdict, 'win')
  t.equal(judgeCell(sy, [{ strategy: 'b', m: m(200, 3000) }, { strategy: 'd', m: m(62, 1100) }], slo).verdict, 'tie')
  const twice = judgeCell(m(60, 2100), [{ strategy: 'a', m: m(60, 1000) }, { strategy: 'b', m: m(60, 500, 0.3) }], slo)
  t.equal(twice.worstRatio, 2.1, 'switchyard 2100 ms vs 1000 ms; b refuses more and does not count')
  t.equal(twice.worstRatioAgainst, 'a')
  t.same(sustainableOk(97, [100, 50]), { ok: true, ratio: 0.97, best: 100 })
  t.equal(sustainableOk(96, [100]).ok, false)
})

t.test('the sustainable load (experiment.ts): the highest grid load passing with every lower one, then bisection toward the first that fails', async (t) => {
  const s = randomScenario(1, { durationS: 4, minDurationS: 4, maxRequests: 1e9 })
  // runs as the SLO check reads them: nothing refused and no class served (passes), or a
  // throughput class whose p99 is past any SLO (fails)
  const pass = { offered: 1, byPolicy: {} } as unknown as RunResult
  const fail = { offered: 1, byPolicy: { throughput: { served: 1, p99: Infinity, rejected: 0, unfinished: 0 } } } as unknown as RunResult
  t.ok(meetsSlo(s, pass) && !meetsSlo(s, fail))
  t.equal(sustainableLoad(s, 'switchyard', [0.5, 1], [pass, pass], 2), 1, 'every grid load passes: the highest, nothing to bisect')
  t.equal(sustainableLoad(s, 'switchyard', [0.5, 1], [fail, pass], 2), 0, 'the lowest fails: 0')
  t.equal(sustainableLoad(s, 'switchyard', [0.2, 0.5, 1], [pass, fail, pass], 0), 0.2, 'a pass after a failure does not count')
  t.equal(sustainableLoad(s, 'switchyard', [0.5, 1], [pass, fail], 0), 0.5, 'no bisection: the last passing load')
  // one step runs the midpoint on its own arrivals: 0.75 if that run passes, else 0.5
  const C = capacity(s)
  const mid = runScenario(s, { strategy: 'switchyard', ratePerS: 0.75 * C, durationMs: 4000 }, generate(s.arrivals, s.traffic, 0.75 * C, 4000, s.seed))
  t.equal(sustainableLoad(s, 'switchyard', [0.5, 1], [pass, fail], 1), meetsSlo(s, mid) ? 0.75 : 0.5, 'one bisection step')
  // a scenario file's sweep (runExperiment): below the grid where its lowest point fails, midpoints at the sweep's length
  const low = runScenario(s, { strategy: 'switchyard', ratePerS: 0.25 * C, durationMs: 2000 }, generate(s.arrivals, s.traffic, 0.25 * C, 2000, s.seed))
  t.equal(sustainableLoad(s, 'switchyard', [0.5, 1], [fail, pass], 1, { belowGrid: true, durationMs: 2000 }), meetsSlo(s, low) ? 0.25 : 0, 'the lowest fails: one step between 0 and it, at the given length')
  t.equal(sustainableLoad(s, 'switchyard', [0.5, 1], [pass, pass], 1, { belowGrid: true }), 1, 'nothing fails: nothing to bisect')
  // more run options for the midpoints, by rate (the screen's rule chosen by replay): a run
  // switched to the shared queue at its start is a shared-queue run
  const asked: number[] = []
  const sq = runScenario(s, { strategy: 'shared-queue', ratePerS: 0.75 * C, durationMs: 4000 }, generate(s.arrivals, s.traffic, 0.75 * C, 4000, s.seed))
  t.equal(sustainableLoad(s, 'switchyard', [0.5, 1], [pass, fail], 1, { runOptions: (rate) => { asked.push(rate); return { switchToSharedAtMs: 0 } } }), meetsSlo(s, sq) ? 0.75 : 0.5, 'the midpoint run with them')
  t.same(asked, [0.75 * C], 'asked once, at the midpoint\'s rate')
})

t.test('two short seeds end to end: every cell judged as the judge says, counts add up', async (t) => {
  const o = { durationS: 4, minDurationS: 4, maxRequests: 1e9, loads: [0.5, 1], bisect: 0 }
  const seeds = [1, 2].map((seed) => runSeed(seed, o))
  for (const { result, scenario } of seeds) {
    t.equal(result.cells.length, 2)
    t.equal(result.durationS, 4)
    for (const c of result.cells) {
      t.same(Object.keys(c.metrics), scenario.strategies, `seed ${result.seed} ${c.load}: every strategy measured`)
      const again = judgeCell(c.metrics.switchyard!, scenario.strategies.filter((s) => s !== 'switchyard').map((s) => ({ strategy: s, m: c.metrics[s]! })), scenario.slo)
      t.same(c.judgement, again)
    }
    for (const s of scenario.strategies) t.ok([0, 0.5, 1].includes(result.sustainable[s]!), `${s}: a grid load`)
  }
  const report = summarize(seeds.map((s) => s.result), o.loads, { ...o, seeds: [1, 2] }, 'test', 0)
  t.equal(report.totals.cells, 4)
  t.equal(report.aggregate.reduce((a, r) => a + r.win + r.tie + r.loss, 0), 4)
  t.equal(report.totals.notBeaten, report.aggregate.reduce((a, r) => a + r.win + r.tie, 0))
  t.equal(report.options.decodeWaiting, 'time', 'the default waiting room is named in the report, so a later change of default leaves it reproducing')
  t.equal(summarize([], o.loads, { ...o, seeds: [], decodeWaiting: 'count' }, 'test', 0).options.decodeWaiting, undefined, 'the count: named by absence, as the reports written before')
  const worst = worstSeeds(seeds.map((s) => s.result), 3)
  t.ok(worst.every((w) => w.cells.some((c) => c.judgement.verdict === 'loss') || !w.sustainableCheck.ok), 'worst cases are seeds that lost a cell or the sustainable rule')
})

t.test('the worst-cases section names every seed that lost, drawn or not', async (t) => {
  // a committed report (seeds 361-400, with lost cells) and the same with every loss taken away; what it lost is
  // read from its cells, so a rerun of the report that moves a verdict does not turn this red
  const report = JSON.parse(readFileSync(new URL('../../bench/results/random-unseen-7.json', import.meta.url), 'utf8')) as RandomReport
  const lostByRule = report.seeds.filter((s) => s.cells.some((c) => c.judgement.verdict === 'loss') || !s.sustainableCheck.ok).map((s) => s.seed)
  t.ok(lostByRule.length >= 2, 'the report has seeds that lost, so the sections below say something')
  const lost = worstSeeds(report.seeds, report.seeds.length).map((s) => s.seed)
  t.same([...lost].sort((a, b) => a - b), lostByRule, 'the seeds with a lost cell or a sustainable miss')
  const section = (md: string): string => md.slice(md.indexOf('## Worst cases'))
  const none = section(randomMarkdown(report, [], 'm'))
  t.notMatch(none, /None: no seed/, 'no plots asked for is not "nothing lost"')
  t.match(none, `${lost.length} seeds lost a cell or the sustainable rule; none is drawn here (\`--worst 0\`). Not drawn, worst first: ${lost.join(', ')}`)
  const first = report.seeds.find((s) => s.seed === lost[0])!
  const one = section(randomMarkdown(report, [{ seed: first, load: 1, svg: null }], 'm'))
  t.match(one, `1 is drawn here (\`--worst 1\`). Not drawn, worst first: ${lost.slice(1).join(', ')}`)
  t.match(one, `### seed ${lost[0]}`)
  const clean: RandomReport = { ...report, seeds: report.seeds.map((s) => ({ ...s, cells: s.cells.map((c) => ({ ...c, judgement: { ...c.judgement, verdict: c.judgement.verdict === 'loss' ? 'tie' : c.judgement.verdict } })), sustainableCheck: { ...s.sustainableCheck, ok: true } })) }
  t.match(section(randomMarkdown(clean, [], 'm')), 'None: no seed with a lost cell or a sustainable rate below the rule.')
})

t.test("a report's scenario for a seed is the generator's with the report's run options", async (t) => {
  const options = { seeds: [7], loads: [0.5], durationS: 30, maxRequests: 20000, minDurationS: 15, bisect: 2 }
  // a report that names no waiting room ran the count
  t.same(reportScenario({ options }, 7), randomScenario(7, { durationS: 30, maxRequests: 20000, minDurationS: 15, decodeWaiting: 'count' }))
  t.same(reportScenario({ options: { ...options, ranges: 'wide' } }, 7), randomScenario(7, { durationS: 30, maxRequests: 20000, minDurationS: 15, ranges: 'wide', decodeWaiting: 'count' }))
  t.same(reportScenario({ options: { ...options, decodeWaiting: 'time' } }, 7), randomScenario(7, { durationS: 30, maxRequests: 20000, minDurationS: 15, decodeWaiting: 'time' }), 'one that names time runs it')
  t.notSame(reportScenario({ options: { ...options, ranges: 'wide' } }, 7).devices, reportScenario({ options }, 7).devices)
})
