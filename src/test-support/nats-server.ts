// Debian's nats-server with JetStream for tests and benchmarks: a free loopback port, a
// temporary store, started here and stopped (its store removed) by stop().
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const NATS_SERVER = process.env.NATS_SERVER ?? '/usr/sbin/nats-server'

export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export interface NatsServer { url: string, /** the server's process id (benchmarks read its CPU time) */ pid: number, stop: () => Promise<void> }

/** `ownSession`: in a session of its own (setsid), so Linux schedules it as a group of its own (autogroup), as a service on its own host or pod would be */
export async function startNatsServer (opts: { ownSession?: boolean } = {}): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-nats-'))
  const port = await freePort()
  const proc = spawn(NATS_SERVER, ['-js', '-sd', dir, '-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'], detached: opts.ownSession === true })
  let log = ''
  await new Promise<void>((resolve, reject) => {
    proc.stderr!.on('data', (d: Buffer) => {
      log += d.toString('utf8')
      if (log.includes('Server is ready')) resolve()
    })
    proc.once('exit', (code) => reject(new Error(`nats-server exited ${code}: ${log}`)))
    proc.once('error', reject)
  })
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  // never outlive the test or benchmark that started it, even when that one crashes
  const reap = (): void => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') }
  process.once('exit', reap)
  return {
    url: `nats://127.0.0.1:${port}`,
    pid: proc.pid!,
    async stop () {
      process.off('exit', reap)
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      await exited
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
