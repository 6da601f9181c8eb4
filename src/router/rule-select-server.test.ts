// The rule chosen by replay in a real server (routing.select; app.ts wires the record into the
// routes' pipelines and starts the loop with its replay thread): the requests a server answers
// are recorded, a window's replay runs in the thread on the devices as the server has learned
// them, and /metrics says what each window came to and which rule is in force. Which rule a
// replay picks is measured in the simulator (bench/results/replay-select.md), not pinned here.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { tinyModel } from '../test-support/onnx-writer.js'
import { SHARED_IMAGES, startServer } from '../test-support/server.js'

const dog = readFileSync(join(SHARED_IMAGES, 'dog.jpg'))

const replayed = (metrics: string): number => {
  let n = 0
  for (const m of metrics.matchAll(/switchyard_routing_rule_replays_total\{outcome="(switchyard|shared-queue)"\} (\d+)/g)) n += Number(m[2])
  return n
}

t.test('a server that chooses its rule by replay: its windows are replayed in a thread and counted, the rule in force exported', async (t) => {
  const { app } = await startServer(t, { routing: { select: { enabled: true, everyMs: 250, windowMs: 60_000 } } })
  const first = (await app.inject('/metrics')).body
  t.match(first, /switchyard_routing_rule\{rule="switchyard"\} 1/, 'switchyard\'s rule at the start')
  t.match(first, /switchyard_routing_rule\{rule="shared-queue"\} 0/)
  t.match(first, /switchyard_routing_rule_replays_total\{outcome="busy"\} 0/, 'every outcome\'s series from zero')
  for (let i = 0; i < 6; i++) {
    const r = await app.inject({ method: 'POST', url: '/classify', payload: dog, headers: { 'content-type': 'image/jpeg', 'x-switchyard-policy': i % 2 ? 'throughput' : 'latency' } })
    t.equal(r.statusCode, 200)
  }
  // the windows go on every 250 ms; the first replays start the thread's modules (seconds under the test loader)
  let metrics = first
  for (let i = 0; i < 600 && replayed(metrics) === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    metrics = (await app.inject('/metrics')).body
  }
  t.ok(replayed(metrics) >= 1, 'a window holding the requests was replayed and chose a rule')
  t.match(metrics, /switchyard_routing_rule\{rule="(switchyard|shared-queue)"\} 1/)
  t.match(metrics, /switchyard_routing_rule_replay_duration_seconds_count [1-9]/, 'how long the replays took')
  const after = await app.inject({ method: 'POST', url: '/classify', payload: dog, headers: { 'content-type': 'image/jpeg' } })
  t.equal(after.statusCode, 200, 'and it serves on, under whichever rule')
})

t.test('routing.select chooses between switchyard\'s rule and the shared queue\'s, from switchyard\'s', async (t) => {
  await t.rejects(startServer(t, { routing: { strategy: 'round-robin', select: { enabled: true } } }), /\/routing\/select\/enabled/)
})

t.test('the record holds a tiled /detect with its tiles and whole-image pass, and a /v2 request to a plain model with its rows', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-repo-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'tiny'))
  writeFileSync(join(dir, 'tiny', 'model.onnx'), tinyModel({ offset: 1 }))
  // no window ends during the test: what is recorded is read from the record itself
  const s = await startServer(t, { modelRepository: { dir, pollMs: 0 }, routing: { select: { enabled: true, everyMs: 600_000 } } })
  const record = s.record!
  const tiled = await s.app.inject({ method: 'POST', url: '/detect?tiles=2', payload: dog, headers: { 'content-type': 'image/jpeg', 'x-switchyard-deadline-ms': '60000' } })
  t.equal(tiled.statusCode, 200, tiled.body)
  const images = tiled.json().tiles.count + 1
  t.ok(images >= 3, `${images - 1} tiles and the whole image`)
  const rows = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: { inputs: [{ name: 'x', datatype: 'FP32', shape: [3, 4], data: Array.from({ length: 12 }, (_, i) => i) }] }, headers: { 'x-switchyard-deadline-ms': '60000' } })
  t.equal(rows.statusCode, 200, rows.body)
  const w = record.window(-Infinity, Infinity)
  const seen = [...w.workload.cls].map((k) => record.classes[k]!).map((c) => [c.model, c.items, c.itemsDecode])
  t.same(seen, [['yolox-nano', images, 'together'], ['tiny@1', 3, 'each']], 'in arrival order, each with the images it sent')
})
