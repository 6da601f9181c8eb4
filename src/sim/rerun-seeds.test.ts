// Rerunning some seeds of a committed report in place: which seeds a change to the retry path can
// move, how a rerun is compared with what the report stored, the merged totals, and the markdown
// that keeps the readings added by hand. On a committed report's stored cells; nothing is run.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { runSeed, type RandomReport, type SeedResult } from './random-run.js'
import { failureSeeds, mergeRerun, rerunLine, runOptionsOf, sameAsStored, sameBaselines, spliceMarkdown, spread } from './rerun-seeds.js'

const report = (): RandomReport => JSON.parse(readFileSync(new URL('../../bench/results/random-unseen-24.json', import.meta.url), 'utf8')) as RandomReport
const copy = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T

t.test('the seeds a change to the retry path can move: those whose scenario takes a device down', async (t) => {
  const r = report()
  t.same(failureSeeds(r), r.seeds.filter((s) => / fails/.test(s.description)).map((s) => s.seed), 'the generator\'s events, as each seed\'s description names them')
  t.same(failureSeeds(r), [1046, 1050, 1060, 1064, 1065, 1069, 1070, 1080])
})

t.test('the seeds left out that check the premise are spread over the report', async (t) => {
  const seeds = Array.from({ length: 32 }, (_, i) => i + 1)
  t.same(spread(seeds, 2), [1, 17])
  t.same(spread(seeds, 3), [1, 11, 21])
  t.same(spread([4, 5], 3), [4, 5], 'no more than there are')
  t.same(spread(seeds, 0), [])
})

t.test('a rerun is compared with the report at the precision the json stores', async (t) => {
  const s = report().seeds[0]!
  const again = copy(s)
  again.wallMs = s.wallMs + 1234
  t.ok(sameAsStored(again, s), 'the wall time is not a result')
  again.cells[0]!.metrics.switchyard!.thrP99 += 0.00001
  t.ok(sameAsStored(again, s), 'below the stored 4 decimals')
  again.cells[0]!.metrics['shared-queue']!.latP99 += 0.01
  t.notOk(sameAsStored(again, s), 'a baseline\'s p99 moved')
})

t.test('the baselines of two results of a seed are compared without switchyard', async (t) => {
  const s = report().seeds[0]!
  const again = copy(s)
  again.cells[0]!.metrics.switchyard!.thrP99 *= 2
  again.sustainable.switchyard = 0
  t.ok(sameBaselines(again, s), 'switchyard is not a baseline')
  again.sustainable['speed-aware'] = s.sustainable['speed-aware']! + 0.05
  t.notOk(sameBaselines(again, s), 'a baseline\'s sustainable rate moved')
  const other = copy(s)
  other.cells[2]!.metrics['round-robin']!.refused += 0.01
  t.notOk(sameBaselines(other, s), 'a baseline\'s refusals moved')
})

t.test('a seed rerun with switchyard alone: the baselines taken from the stored seed, switchyard run and judged against them', async (t) => {
  // a short seed, two loads, no bisection: seconds
  const o = { durationS: 4, loads: [0.5, 0.9], bisect: 0 }
  const full = runSeed(7, o).result
  // a full run judges every strategy on the numbers its json stores (4 decimals), as a rerun does
  for (const c of full.cells) {
    for (const m of Object.values(c.metrics)) {
      for (const x of [m.latP99, m.thrP99, m.refused]) t.ok(Number.isNaN(x) || Math.round(x * 1e4) / 1e4 === x, 'judged as stored: at most 4 decimals')
    }
  }
  const stored = copy(full)
  // the stored baselines are what is judged against, not a run of them: make one beat switchyard
  // (at 90 % switchyard's throughput p99, 677 ms, is above a quarter of the 2 s SLO: half of it beats it)
  const sy = stored.cells[1]!.metrics.switchyard!
  stored.cells[1]!.metrics['speed-aware'] = { latP99: sy.latP99, thrP99: sy.thrP99 / 2, refused: 0 }
  stored.sustainable['speed-aware'] = 1
  const alone = runSeed(7, o, stored).result
  t.same(alone.cells[1]!.metrics['speed-aware'], stored.cells[1]!.metrics['speed-aware'], 'the stored baseline, as stored')
  t.equal(alone.sustainable['speed-aware'], 1)
  t.equal(alone.sustainable.switchyard, full.sustainable.switchyard, 'switchyard\'s own rate, run again')
  for (let i = 0; i < o.loads.length; i++) {
    for (const k of ['latP99', 'thrP99', 'refused'] as const) {
      const a = alone.cells[i]!.metrics.switchyard![k]; const b = full.cells[i]!.metrics.switchyard![k]
      t.ok(Number.isNaN(a) ? Number.isNaN(b) : Math.abs(a - b) <= 5e-5, `load ${o.loads[i]}: switchyard's ${k} as in the full run`)
    }
  }
  t.equal(alone.cells[1]!.judgement.verdict, 'loss', 'judged against the stored baseline')
  t.same(alone.cells[1]!.judgement.beatenBy.map((b) => b.strategy), ['speed-aware'])
  t.equal(alone.sustainableCheck.bestStrategy, 'speed-aware')
  t.throws(() => runSeed(8, o, stored), 'another seed\'s baselines are refused')
  t.throws(() => runSeed(7, { ...o, loads: [0.5, 0.8] }, stored), 'so are other loads\'')
})

t.test('the merged report: the seeds rerun in place, totals summed again, the seeds that moved named', async (t) => {
  const r = report()
  const lost = r.seeds.find((s) => s.seed === 1050)!
  const at = lost.cells.findIndex((c) => c.judgement.verdict === 'loss')
  const turned: SeedResult = copy(lost)
  turned.cells[at]!.judgement = { ...turned.cells[at]!.judgement, verdict: 'tie', beatenBy: [] }
  const same = copy(r.seeds.find((s) => s.seed === 1046)!)
  const { report: next, moved } = mergeRerun(r, new Map([[1050, turned], [1046, same]]))
  t.same(moved, [1050])
  t.equal(next.totals.notBeaten, r.totals.notBeaten + 1)
  t.same(next.seeds.map((s) => s.seed), r.seeds.map((s) => s.seed), 'in the report\'s order')
  t.equal(next.command, r.command)
  t.equal(next.wallMs, r.wallMs, 'the tables\' wall time stays the full run\'s')
  // the committed report's totals, which a rerun of the report may move
  const { notBeaten: nb, cells, over2x: o2, sustainableOk: su, scenarios } = r.totals
  t.match(rerunLine(r, next, { date: '2026-12-06', note: 'a note', rerun: 8, checked: 2, wallS: 55.4, moved }),
    `**Rerun (2026-12-06, a note; the 8 seeds with a device failure rerun, every strategy, \`bench/rerun-seeds.ts\`, 55 s; 2 others rerun reproduce the report):** not beaten ${nb} → ${nb + 1} of ${cells}, over 2× ${o2} → ${o2}, sustainable ≥ 0.97× ${su} → ${su} of ${scenarios}; seeds moved: 1050; the tables below are this rerun.`)
  t.match(rerunLine(r, next, { date: '2026-12-06', note: 'a rule', rerun: 40, checked: 1, wallS: 60, moved, onlySwitchyard: true }),
    '**Rerun (2026-12-06, a rule; every seed rerun with switchyard alone, the baselines as stored, `bench/rerun-seeds.ts --where all --only switchyard`, 60 s; 1 seed rerun in full holds the report\'s baselines):**')
  t.match(rerunLine(r, next, { date: '2026-12-07', note: 'a mechanism', rerun: 40, checked: 0, wallS: 61, moved, where: 'all' }),
    '**Rerun (2026-12-07, a mechanism; every seed rerun, every strategy, `bench/rerun-seeds.ts --where all`, 61 s):**')
  t.match(rerunLine(r, next, { date: '2026-12-07', note: 'a host', rerun: 40, checked: 0, wallS: 9, moved, where: 'all', from: { reports: ['a', 'b'], taken: 40, checked: 2 } }),
    '**Rerun (2026-12-07, a host; every seed rerun, every strategy, `bench/rerun-seeds.ts --where all`, 9 s (40 of them taken from a, b, run with the same options: 2 rerun with this code reproduce them)):**', 'seeds another report ran with the same options, taken, some rerun as the check')
})

t.test('the markdown keeps what stands above its Command line and takes the new tables', async (t) => {
  const old = '# Title\n\n**Reading (by hand).**\n\n**Rerun (before).**\n\nCommand: `old`\n\n| old |\n'
  const body = '# Title\n\nCommand: `new`\n\n| new |'
  t.equal(spliceMarkdown(old, 'LINE', body), '# Title\n\n**Reading (by hand).**\n\n**Rerun (before).**\n\nLINE\n\nCommand: `new`\n\n| new |\n')
  t.throws(() => spliceMarkdown('# no command\n', 'LINE', body))
})

t.test('the run options are the report\'s own; a candidate run in switchyard\'s place is refused', async (t) => {
  const r = report()
  const { decodeWaiting: _, ...named } = r.options
  t.strictSame(runOptionsOf({ ...r, options: named }), { durationS: 30, maxRequests: 20000, minDurationS: 15, bisect: 2, loads: [0.2, 0.4, 0.6, 0.8, 0.9, 1], decodeWaiting: 'count' }, 'a report naming no decode waiting room ran the count (every report written before the time bound was the default)')
  t.match(runOptionsOf({ ...r, options: { ...r.options, ranges: 'wide' } }), { ranges: 'wide' })
  t.match(runOptionsOf(r), { decodeWaiting: 'time' }, 'one naming time (a judged set since session 47) reruns with it')
  t.throws(() => runOptionsOf({ ...r, command: `${r.command} --switchyard late-binding` }))
})
