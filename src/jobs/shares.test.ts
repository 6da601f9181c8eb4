// How slots are split between API keys (shares.ts): at the pull from NATS and at the hand-over to the devices.
import t from 'tap'
import { shares } from './shares.js'

t.test('a small backlog beside a big one is served almost at once; the big one is never starved', async (t) => {
  t.same(shares(8, [600, 30]), [1, 7], 'one slot for the 600, seven for the 30')
  t.same(shares(8, [1_000_000, 10]), [1, 7])
  t.same(shares(8, [600, 3]), [5, 3], 'what the small key lacks goes to the big one')
  t.same(shares(8, [100, 100]), [4, 4], 'equal backlogs, equal shares')
  t.same(shares(8, [0, 50]), [0, 8], 'a key without work gets nothing')
  t.same(shares(2, [5, 5, 5]).reduce((a, b) => a + b, 0), 2, 'never more than the free slots')
  t.same(shares(0, [5]), [0])
})

t.test('what a key can be given and how much it has queued are apart', async (t) => {
  t.same(shares(8, [8, 8], [600, 30]), [1, 7], 'eight of each held, weighted by the queue behind them')
  t.same(shares(8, [0, 8], [600, 30]), [0, 8], 'a key that may take nothing more gets nothing')
  t.same(shares(8, [2, 3], [600, 30]), [2, 3], 'never more than available')
  t.same(shares(4, [8, 8], [0, 0]), [2, 2], 'unknown backlogs weigh the same')
})
