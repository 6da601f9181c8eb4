// A Switchyard server in a child process (`dist/main.js`: run `npm run build` first), for
// tests and benchmarks that need several replicas and one to die by SIGKILL. Its config is
// written to a temporary file (SWITCHYARD_CONFIG); it listens on a port of its own choosing,
// which `api` gives once it logs 'switchyard listening'.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO } from './server.js'

export interface Replica {
  proc: ChildProcess
  /** http://127.0.0.1:PORT */
  api: Promise<string>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  stderr: () => string
  /** SIGTERM, and resolves when it exited */
  stop: () => Promise<void>
}

/** `ownSession`: in a session of its own (setsid), so Linux schedules it as a group of its own (autogroup), as a pod with its own CPU share would be */
export function startReplica (config: Record<string, unknown>, env: Record<string, string> = {}, opts: { ownSession?: boolean } = {}): Replica {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-replica-'))
  const file = join(dir, 'config.json')
  writeFileSync(file, JSON.stringify(config))
  const proc = spawn(process.execPath, [join(REPO, 'dist/main.js')], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SWITCHYARD_CONFIG: file, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.ownSession === true
  })
  // never outlive the test or benchmark that started it, even when that one crashes
  const reap = (): void => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') }
  process.once('exit', reap)
  let out = ''
  let err = ''
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => { process.off('exit', reap); rmSync(dir, { recursive: true, force: true }); resolve({ code, signal }) })
  })
  const api = new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8')
      let nl
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl)
        out = out.slice(nl + 1)
        try {
          const entry = JSON.parse(line) as { msg?: string, api?: string }
          if (entry.msg === 'switchyard listening') resolve(entry.api!)
        } catch { /* not a log line */ }
      }
    })
    void exited.then((e) => reject(new Error(`replica exited (${e.code ?? e.signal}) before listening: ${err}`)))
  })
  api.catch(() => undefined)
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString('utf8') })
  return {
    proc,
    api,
    exited,
    stderr: () => err,
    async stop () {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      await exited
    }
  }
}
