// `npm run simulate -- <scenario>… [--out DIR]`: which arguments are scenarios, and where each
// scenario's json and svg are written — the committed scenarios' into bench/results, a scenario
// file from elsewhere (a user's, a held-out one) only where --out says, never into the checkout.
import { join } from 'node:path'
import t from 'tap'
import { objectiveArg, resultsDirFor, scenarioArgs } from './cli.js'

const BENCH = join(import.meta.dirname, '..', '..', 'bench')

t.test('scenario names and files, and --out DIR (either form)', async (t) => {
  t.same(scenarioArgs(['cpu-gpu', '/tmp/mine.json']), { names: ['cpu-gpu', '/tmp/mine.json'], outDir: null })
  t.same(scenarioArgs(['/tmp/mine.json', '--out', '/tmp/out']), { names: ['/tmp/mine.json'], outDir: '/tmp/out' }, 'the directory after --out is not a scenario')
  t.same(scenarioArgs(['--out=/tmp/out', 'cpu-gpu']), { names: ['cpu-gpu'], outDir: '/tmp/out' })
  t.throws(() => scenarioArgs(['cpu-gpu', '--out']), /--out: a directory/)
})

t.test('a committed scenario writes into bench/results; one from elsewhere only with --out', async (t) => {
  t.equal(resultsDirFor(join(BENCH, 'scenarios', 'cpu-gpu.json'), null), join(BENCH, 'results'))
  t.equal(resultsDirFor('/tmp/held-out.json', null), null, 'stdout only')
  t.equal(resultsDirFor('/tmp/held-out.json', '/tmp/out'), '/tmp/out')
  t.equal(resultsDirFor(join(BENCH, 'scenarios', 'cpu-gpu.json'), '/tmp/out'), '/tmp/out', '--out wins for a committed one too')
})

t.test('random --latency-objective: ms as the server\'s key takes them, or absent', async (t) => {
  t.equal(objectiveArg(undefined), undefined, 'absent: no objective, as the server\'s default')
  t.equal(objectiveArg('100'), 100)
  t.equal(objectiveArg('62.5'), 62.5)
  for (const bad of ['0', '-5', 'soon', '', '700000']) t.throws(() => objectiveArg(bad), /--latency-objective: ms from 1 to 600000/, JSON.stringify(bad))
})
