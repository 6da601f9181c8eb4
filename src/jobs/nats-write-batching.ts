// Fewer socket writes to nats-server: the client's outgoing protocol buffer is flushed once per
// event-loop turn (setImmediate) instead of once per microtask checkpoint.
//
// The `nats` client (2.29.3, pinned) already buffers what it sends and flushes the buffer in a
// microtask. A job image's work is a chain of awaits (its bytes read, its result created, the
// job counter, the acknowledgement, the purges) and a batch ends for several images at once, so
// the requests of one turn leave in many writes of one message each. On a host whose cores are
// busy every write to the loopback socket wakes nats-server, and the replica's main thread — the
// one that also answers latency-class requests — pays for it: a CPU profile of the fast replica
// running jobs (bench/results/jobs-probe.md) had 75 ms of every second in `writeBuffer` against
// 10 ms beside the same rate of HTTP requests. Flushed per turn, what one turn sends goes in one
// write; a message leaves at most one turn later (well under a millisecond on an idle loop).
//
// This replaces the client's ProtocolHandler.sendCommand with the same code and setImmediate in
// place of queueMicrotask. It is applied only to the version it was written against, and only
// when that method still reads as expected; otherwise the client is left as it is (nothing
// breaks, the writes stay per microtask). A close flushes first (ProtocolHandler._close wrapped:
// the client's close does not flush, its microtask did it in time).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** the client version whose sendCommand this replaces */
export const PATCHED_NATS_VERSION = '2.29.3'

interface Handler {
  outbound: { length: () => number, size: () => number, fill: (buf: Uint8Array, ...payloads: unknown[]) => void }
  pendingLimit: number
  flushPending: () => void
  sendCommand: (cmd: string | Uint8Array, ...payloads: unknown[]) => void
  _close: (err?: Error) => Promise<void>
}

let applied: boolean | null = null

/** Flushes the nats client's writes once per event-loop turn; true when in effect. Idempotent. */
export function batchNatsWrites (): boolean {
  if (applied !== null) return applied
  applied = false
  try {
    const version = (require('nats/package.json') as { version: string }).version
    if (version !== PATCHED_NATS_VERSION) return false
    const { ProtocolHandler } = require('nats/lib/nats-base-client/protocol.js') as { ProtocolHandler: { prototype: Handler } }
    const { encode } = require('nats/lib/nats-base-client/encoders.js') as { encode: (s: string) => Uint8Array }
    const proto = ProtocolHandler.prototype
    const src = proto.sendCommand.toString()
    if (!src.includes('queueMicrotask') || !src.includes('flushPending') || !src.includes('pendingLimit') || typeof proto._close !== 'function') return false
    const close = proto._close
    // what was sent in this turn goes out before the connection closes (the client's microtask
    // flush ran before its close reached the socket; a turn's flush would not)
    proto._close = function (this: Handler, err?: Error): Promise<void> {
      this.flushPending()
      return close.call(this, err)
    }
    proto.sendCommand = function (this: Handler, cmd: string | Uint8Array, ...payloads: unknown[]): void {
      const len = this.outbound.length()
      this.outbound.fill(typeof cmd === 'string' ? encode(cmd) : cmd, ...payloads)
      if (len === 0) {
        setImmediate(() => { this.flushPending() })
      } else if (this.outbound.size() >= this.pendingLimit) {
        // as the client does: a full buffer is written at once
        this.flushPending()
      }
    }
    applied = true
  } catch {
    applied = false
  }
  return applied
}
