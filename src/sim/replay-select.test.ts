// Choosing the rule by replay (replay-select.ts): the pick, and what a report's cells add up to.
import t from 'tap'
import { randomScenario } from './random-scenario.js'
import { addSelection, emptySelection, pickByReplay, replayChooser, selectArg, selectByReplay, switchedRun, windowScenario } from './replay-select.js'
import { runScenario, sliceWorkload } from './engine.js'
import { metricsOf } from './experiment.js'
import type { RandomReport, SeedResult } from './random-run.js'
import type { CellMetrics } from './judge.js'
import { capacity, type Scenario } from './scenario.js'
import { generate } from './workload.js'

const slo = { latency: 100, throughput: 2000 }
const m = (latP99: number, thrP99: number, refused = 0): CellMetrics => ({ latP99, thrP99, refused })

t.test('shared-queue is picked only where it beats switchyard and switchyard does not beat it', async (t) => {
  t.equal(pickByReplay(m(60, 1000), m(60, 700), slo), 'shared-queue', 'throughput p99 30 % better')
  t.equal(pickByReplay(m(60, 1000, 0.02), m(60, 1000, 0.01), slo), 'shared-queue', 'refuses a point less')
  t.equal(pickByReplay(m(60, 1000), m(58, 850), slo), 'switchyard', 'within every tolerance: no reason to change')
  t.equal(pickByReplay(m(120, 1000), m(80, 3000), slo), 'switchyard', 'each beats the other on one class: switchyard stays')
  t.equal(pickByReplay(m(40, 400), m(10, 100), slo), 'switchyard', 'under the floors (half the latency SLO, a quarter of the throughput SLO) nothing is beaten')
})

// a report of one seed: its cells' stored metrics, the replay given per load
const cellOf = (load: number, metrics: Record<string, CellMetrics>): SeedResult['cells'][number] => ({ load, ratePerS: 0, metrics, judgement: { verdict: 'tie', beatenBy: [], worstRatio: 0, worstRatioAgainst: '' }, syPredictionError: null })
const report = (cells: SeedResult['cells']): Pick<RandomReport, 'options' | 'seeds'> => ({
  options: { seeds: [1], loads: cells.map((c) => c.load), durationS: 30, maxRequests: undefined, minDurationS: undefined, bisect: 2 },
  seeds: [{ seed: 1, slo, cells } as unknown as SeedResult]
})
const base = (thr: number): Record<string, CellMetrics> => ({ 'fastest-only': m(90, 5000), 'round-robin': m(90, 5000), 'join-shortest-queue': m(90, 5000), 'speed-aware': m(90, thr) })

t.test('a cell switchyard loses to shared-queue is turned where the replay sees it too; one it holds is broken where the replay misleads', async (t) => {
  const lost = cellOf(0.8, { switchyard: m(60, 1000), 'shared-queue': m(60, 700), ...base(3000) })
  // at 90 % speed-aware's 1,100 ms beats shared-queue's 1,500 (by more than 25 %), not switchyard's 1,000
  const held = cellOf(0.9, { switchyard: m(60, 1000), 'shared-queue': m(60, 1500), ...base(1100) })
  const seen = { 0.8: { sy: m(60, 500), sq: m(60, 300) }, 0.9: { sy: m(60, 500), sq: m(60, 300) } } as Record<number, { sy: CellMetrics, sq: CellMetrics }>
  const j = selectByReplay(report([lost, held]), (_s, load) => seen[load]!, undefined, { scenarioOf: () => ({}) as Scenario })
  t.equal(j.cells, 2)
  t.equal(j.switchyard, 1, 'switchyard holds at 90 % only')
  t.same(j.replay, { notBeaten: 1, picks: 2, turned: 1, broke: 1, over2x: 0 })
  t.same(j.hindsight, { notBeaten: 2, picks: 1, turned: 1, broke: 0 }, 'on the full run only 80 % is picked')
  const sum = addSelection(emptySelection(), j)
  addSelection(sum, j)
  t.equal(sum.cells, 4); t.equal(sum.replay.turned, 2); t.equal(sum.hindsight.notBeaten, 4)
})

t.test("a pick of shared-queue is judged as switchyard would be: over 2× against another baseline's p99 counts", async (t) => {
  // shared-queue holds on refusals (a point less than every baseline but speed-aware, which refuses as much), its throughput p99 2.5× speed-aware's
  const c = cellOf(1, { switchyard: m(60, 5000, 0.02), 'shared-queue': m(60, 5000, 0.01), ...base(2000), 'round-robin': m(90, 5000, 0.03), 'fastest-only': m(90, 5000, 0.03), 'join-shortest-queue': m(90, 5000, 0.03), 'speed-aware': m(60, 2000, 0.01) })
  const j = selectByReplay(report([c]), () => ({ sy: m(60, 1000, 0.02), sq: m(60, 1000, 0.01) }), undefined, { scenarioOf: () => ({}) as Scenario })
  t.equal(j.replay.picks, 1)
  t.equal(j.replay.notBeaten, 0, 'speed-aware beats it on throughput p99')
  t.equal(j.replay.over2x, 1)
})

t.test('the replayed window is the prefix of the cell’s arrivals', async (t) => {
  const s = randomScenario(7, { durationS: 30, maxRequests: 20000, minDurationS: 15 })
  const rate = 0.6 * capacity(s)
  const full = generate(s.arrivals, s.traffic, rate, s.durationS * 1000, s.seed)
  const head = generate(s.arrivals, s.traffic, rate, s.durationS * 1000 / 3, s.seed)
  t.ok(head.count > 0 && head.count < full.count)
  t.same(Array.from(head.at.subarray(0, head.count)), Array.from(full.at.subarray(0, head.count)))
  t.same(Array.from(head.cls.subarray(0, head.count)), Array.from(full.cls.subarray(0, head.count)))
})

t.test('the switched run of a picked cell is judged against the stored baselines, the long run against its own', async (t) => {
  const lost = cellOf(0.8, { switchyard: m(60, 1000), 'shared-queue': m(60, 700), ...base(3000) })
  const held = cellOf(0.9, { switchyard: m(60, 1000), 'shared-queue': m(60, 900), ...base(3000) })
  const notPicked = cellOf(1, { switchyard: m(60, 1000), 'shared-queue': m(60, 1000), ...base(3000) })
  const replay = (_s: Scenario, load: number): { sy: CellMetrics, sq: CellMetrics } => (load < 1 ? { sy: m(60, 1000), sq: m(60, 500) } : { sy: m(60, 1000), sq: m(60, 1000) })
  const switched: Record<number, CellMetrics> = { 0.8: m(60, 760), 0.9: m(60, 1400) }
  const asked: number[] = []
  const j = selectByReplay(report([lost, held, notPicked]), replay, undefined, {
    scenarioOf: () => ({}) as Scenario,
    online: (_s, load) => { asked.push(load); return switched[load]! },
    long: () => ({ metrics: { switchyard: m(60, 2000), 'shared-queue': m(60, 1000), ...base(3000) }, switched: m(60, 1100) })
  })
  t.same(asked, [0.8, 0.9], 'only the picked cells run again')
  // 80 %: the switched 760 ms is within 25 % of shared-queue's 700 and far under every other baseline: turned;
  // 90 %: switchyard held, the switched 1,400 ms is beaten by shared-queue's 900: broke
  t.same(j.online, { cells: 2, switchyard: 1, switched: 1, sharedQueue: 2, turned: 1, broke: 1, over2x: 0 })
  // longer: switchyard's 2,000 ms is beaten by shared-queue's 1,000, the switched 1,100 is not
  t.same(j.long, { cells: 2, switchyard: 0, switched: 2, sharedQueue: 2, turned: 2, broke: 0, over2x: 0 })
})

t.test('a run switched to the shared queue at its start is a shared-queue run', async (t) => {
  const s = randomScenario(7, { durationS: 10, maxRequests: 3000, minDurationS: 5 })
  const sq = metricsOf(runScenario(s, { strategy: 'shared-queue', ratePerS: 0.8 * capacity(s), durationMs: s.durationS * 1000 }))
  t.same(switchedRun(s, 0.8, 0), sq)
  t.notSame(switchedRun(s, 0.8, 0.5), sq, 'switched halfway it is neither')
})

t.test('a window of arrivals: those in [from, to), their times from its start', async (t) => {
  const w = { at: Float64Array.from([0, 400, 1000, 1500, 1999.5, 2000, 3100]), cls: Uint8Array.from([0, 1, 0, 1, 0, 1, 0]), count: 6 }
  const x = sliceWorkload(w, 1000, 2000)
  t.same(Array.from(x.at), [0, 500, 999.5])
  t.same(Array.from(x.cls), [0, 1, 0])
  t.equal(x.count, 3)
  t.equal(sliceWorkload(w, 2000, 4000).count, 1, 'nothing past the workload\'s count')
  t.equal(sliceWorkload(w, 500, 500).count, 0)
})

t.test("a window is replayed with the devices as they were at its start: earlier events at 0, later ones in the window's time", async (t) => {
  const s = { ...randomScenario(7, { durationS: 30 }), events: [{ atS: 12, device: 'b', slowdown: 1 }, { atS: 4, device: 'a', down: true }, { atS: 8, device: 'b', slowdown: 3 }, { atS: 20, device: 'a', down: false }] }
  const r = windowScenario(s, 10_000, 5000, 100)
  t.same(r.events, [{ atS: 4 - 4, device: 'a', down: true }, { atS: 0, device: 'b', slowdown: 3 }, { atS: 2, device: 'b', slowdown: 1 }], 'in time order; the recovery at 20 s is after the window')
  t.equal(r.seed, s.seed + 100 + 10_000, 'each window its own jitter')
  t.equal(s.events.length, 4, 'the scenario is not changed')
})

t.test('a run that chooses its rule by replay switches where its chooser says, twice in a row, and loses nothing', async (t) => {
  const s = randomScenario(7, { durationS: 10, maxRequests: 3000, minDurationS: 5 })
  const ratePerS = 0.6 * capacity(s)
  const durationMs = 8000
  const w = generate(s.arrivals, s.traffic, ratePerS, durationMs, s.seed)
  // a fake chooser (the replay's verdicts, given): shared-queue for the windows ending at 2 and 3 s, then switchyard
  const asked: Array<{ from: number, count: number }> = []
  const choose = (x: typeof w, from: number): 'switchyard' | 'shared-queue' => {
    asked.push({ from, count: x.count })
    return from + 1000 === 2000 || from + 1000 === 3000 ? 'shared-queue' : 'switchyard'
  }
  const r = runScenario(s, { strategy: 'switchyard', ratePerS, durationMs, select: { everyMs: 1000, windowMs: 1000, choose } }, w)
  t.same(asked.map((a) => a.from), [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000], 'a window every second from the first second\'s end')
  t.same(asked.map((a) => a.count), asked.map((a) => sliceWorkload(w, a.from, a.from + 1000).count), 'each given the arrivals of its window')
  t.same(r.ruleSwitches, [{ atMs: 3000, to: 'shared-queue' }, { atMs: 5000, to: 'switchyard' }], 'the second verdict in a row switches')
  let answered = 0
  for (const c of Object.values(r.byPolicy)) { answered += c.served; t.equal(c.unfinished, 0, `${c.label}: nothing left unanswered`) }
  t.equal(answered + Object.values(r.rejections).reduce((a, b) => a + b, 0), w.count, 'every request answered or refused')
  t.notSame(metricsOf(r), metricsOf(runScenario(s, { strategy: 'switchyard', ratePerS, durationMs }, w)), 'the switches changed the run')
  const never = runScenario(s, { strategy: 'switchyard', ratePerS, durationMs, select: { everyMs: 1000, windowMs: 1000, choose: () => 'switchyard' } }, w)
  t.same(never.ruleSwitches, [])
  t.same(metricsOf(never), metricsOf(runScenario(s, { strategy: 'switchyard', ratePerS, durationMs }, w)), 'a chooser that keeps the rule changes nothing')
  t.throws(() => runScenario(s, { strategy: 'shared-queue', ratePerS, durationMs, select: { everyMs: 1000, windowMs: 1000, choose } }, w), /starts from switchyard/)
  t.throws(() => runScenario(s, { strategy: 'switchyard', ratePerS, durationMs, switchToSharedAtMs: 0, select: { everyMs: 1000, windowMs: 1000, choose } }, w), /not both/)
  t.throws(() => runScenario(s, { strategy: 'switchyard', ratePerS, durationMs, select: { everyMs: 0, windowMs: 1000, choose } }, w), RangeError)
})

t.test("the chooser replays the window's arrivals under both rules and picks as pickByReplay does", async (t) => {
  const s = randomScenario(11, { durationS: 10, maxRequests: 3000, minDurationS: 5 })
  const ratePerS = 0.9 * capacity(s)
  const w = generate(s.arrivals, s.traffic, ratePerS, 6000, s.seed)
  const window = sliceWorkload(w, 2000, 6000)
  const replay = windowScenario(s, 2000, 4000, 5)
  const sy = metricsOf(runScenario(replay, { strategy: 'switchyard', ratePerS, durationMs: 4000 }, window))
  const sq = metricsOf(runScenario(replay, { strategy: 'shared-queue', ratePerS, durationMs: 4000 }, window))
  t.equal(replayChooser(s, ratePerS, 5)(window, 2000, 4000), pickByReplay(sy, sq, s.slo))
})

t.test('--select EVERY,WINDOW[,CONFIRM] in seconds', async (t) => {
  t.same(selectArg('5,15'), { everyMs: 5000, windowMs: 15000, confirm: 2 })
  t.same(selectArg('2.5,5,3'), { everyMs: 2500, windowMs: 5000, confirm: 3 })
  for (const bad of ['', '5', '0,15', '5,-1', '5,15,0', '5,15,1.5', 'a,b']) t.throws(() => selectArg(bad), /--select wants/, JSON.stringify(bad))
})
