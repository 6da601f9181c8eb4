// Entry of the background decoder (decode-process.ts): a child process that decodes images
// with the same code as the server (decode-image.ts), at the lower CPU priority it was asked
// for. The priority is set on every thread the process has before sharp is loaded, so the
// threads libuv and libvips start later for the decodes inherit it.
import { readdirSync } from 'node:fs'
import { setPriority } from 'node:os'
import type { DecodeReply, DecodeRequest } from './decode-process.js'

if (process.send === undefined) throw new Error('decode-child must be started with an IPC channel (child_process.fork)')

const nice = Number(process.argv[2] ?? 0)
if (nice !== 0) {
  // Linux: a nice value belongs to a thread (setpriority(2) on a thread id); elsewhere the
  // process's main thread, which is what later threads inherit
  let tids: string[] = []
  try { tids = readdirSync('/proc/self/task') } catch {}
  for (const tid of tids) { try { setPriority(Number(tid), nice) } catch {} }
  try { setPriority(nice) } catch {}
}

const { decodeImage } = await import('./decode-image.js')
const send = (msg: DecodeReply): void => { process.send!(msg) }

process.on('message', (m: DecodeRequest) => {
  const bytes = Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength)
  decodeImage(bytes, m.model, m.limits).then((image) => send({ id: m.id, image }), (err: Error & { statusCode?: number, code?: string }) => {
    send({ id: m.id, error: { message: err.message, ...(typeof err.statusCode === 'number' ? { statusCode: err.statusCode } : {}), ...(typeof err.code === 'string' ? { code: err.code } : {}) } })
  })
})
// the server gone: nothing left to decode
process.on('disconnect', () => process.exit(0))
send({ id: 0, ready: true })
