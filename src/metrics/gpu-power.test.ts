// The nvidia-smi power sampler, against fake nvidia-smi binaries (a shell script on PATH):
// the parsed draw, the exact arguments, and what happens when the binary is missing or
// answers something that is not a number.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { GpuPowerSampler, parsePowerDraw } from './gpu-power.js'

t.test('parsePowerDraw reads the first GPU line of csv,noheader,nounits', async (t) => {
  t.equal(parsePowerDraw('71.35\n'), 71.35)
  t.equal(parsePowerDraw(' 250\n180.5\n'), 250)
  t.equal(parsePowerDraw('[N/A]\n'), null, 'a board without power sensing')
  t.equal(parsePowerDraw(''), null)
  t.equal(parsePowerDraw('NVIDIA-SMI has failed'), null)
})

function fakeSmi (body: string): { env: NodeJS.ProcessEnv, argsFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sy-smi-'))
  const argsFile = join(dir, 'args')
  writeFileSync(join(dir, 'nvidia-smi'), `#!/bin/sh\necho "$@" > ${argsFile}\n${body}\n`)
  chmodSync(join(dir, 'nvidia-smi'), 0o755)
  return { env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` }, argsFile }
}

t.test('a fake nvidia-smi on PATH: sampled with the documented query, for the device ordinal', async (t) => {
  const { env, argsFile } = fakeSmi('echo 312.47')
  const s = new GpuPowerSampler({ index: 3, env })
  t.equal(await s.sample(), 312.47)
  t.equal(s.watts, 312.47)
  t.equal(readFileSync(argsFile, 'utf8').trim(), '--query-gpu=power.draw --format=csv,noheader,nounits -i 3')
})

t.test('background sampling follows the reading until stopped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-smi-'))
  const value = join(dir, 'value')
  writeFileSync(value, '100.0')
  const { env } = fakeSmi(`cat ${value}`)
  const s = new GpuPowerSampler({ index: 0, env, intervalMs: 10 })
  s.start()
  t.teardown(() => s.stop())
  while (s.watts !== 100) await new Promise((resolve) => setTimeout(resolve, 5))
  writeFileSync(value, '250.5')
  while ((s.watts as number | null) !== 250.5) await new Promise((resolve) => setTimeout(resolve, 5))
  t.pass('the new draw was picked up')
})

t.test('no nvidia-smi, or no number: null, logged once, sampling stops (the configured watts stay)', async (t) => {
  const logged: string[] = []
  const missing = new GpuPowerSampler({ index: 0, bin: '/nonexistent/nvidia-smi', log: { info: (_o, m) => logged.push(m) } })
  t.equal(await missing.sample(), null)
  t.equal(missing.watts, null)
  const { env } = fakeSmi('echo "[N/A]"')
  const na = new GpuPowerSampler({ index: 0, env, log: { info: (_o, m) => logged.push(m) } })
  na.start()
  while (logged.length < 2) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(na.watts, null)
  t.same(logged, ['no measured GPU power; using the configured watts', 'no measured GPU power; using the configured watts'])
})
