// A device's first workers have a start timeout too (devices[].startTimeoutMs), not only its
// replacements (scheduler-faults.test.ts): a worker still loading its sessions after the limit
// counts as failed, so a device that never comes up fails startup with a clear reason instead of
// holding it forever. A 1 ms limit is always exceeded: creating a session takes far longer.
import t from 'tap'
import { buildServer } from '../app.js'
import { REPO, testConfig } from '../test-support/server.js'

for (const isolation of ['thread', 'process'] as const) {
  t.test(`a required ${isolation} device whose worker does not start in time fails startup, naming the limit`, async (t) => {
    const config = testConfig({ devices: [{ id: 'cpu', kind: 'cpu', required: true, maxBatchSize: 4, isolation, startTimeoutMs: 1 }] })
    await t.rejects(buildServer(config, { root: REPO }), /cpu: worker did not start within 1 ms \(devices\[\]\.startTimeoutMs\)/)
  })
}
