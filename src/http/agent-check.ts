// HAProxy's agent check (https://docs.haproxy.org/2.6/configuration.html#5.2-agent-check): on a
// small TCP port of its own, Switchyard tells a balancer in front of several replicas how much
// work to send it. HAProxy connects every `agent-inter`, sends the server line's `agent-send`
// string, and reads one line back: `up 35% maxconn:520`. The percentage scales the server's
// configured weight; `drain` (shutting down) keeps it in the pool at weight 0; `down` (no
// healthy device serves the model) takes it out.
//
// The weight is the replica's speed for that class of work, from the router's own prediction
// (router/pod-signals.ts) for the policy and model the agent was asked about (`agent-send
// "latency\n"`, or `"throughput mobilenetv2\n"`; default: latency, the classify route's model):
// 100 × (referenceMs / per-image time)^k × backlog, between 1 and 256 %.
//   - per-image time (PodSignals.imageMs): for latency t(1) on the device the router picks (a
//     latency request runs alone), k = agent.sharpness (default 2: a replica twice as slow per
//     image gets a quarter of the latency work); for throughput and cost one over the replica's
//     capacity (every bulk-taking worker running full batches), k = 1, so bulk work spreads in
//     proportion to capacity. Both move only as the cost models do.
//   - backlog = the reference request's service / its predicted finish (what is queued ahead
//     makes it smaller), never below agent.backlogFloor (default 0.5): a queue ahead lowers the
//     weight, by at most half.
// The bounded swing is the point. HAProxy applies a weight until the next poll (agent-inter), and
// roundrobin over weights that follow the instantaneous finish (a batch just started: weight
// 1 %; just ended: 256 %) sends a whole poll interval's requests to whichever replica happened to
// be idle at the last poll — the herding bench/results/haproxy.md showed (56 of 60 latency
// requests on one replica). Speed sets the shares; the backlog only tilts them.
import { createServer, type Server, type Socket } from 'node:net'
import type { Policy } from '../config/schema.js'
import { UNAVAILABLE_MS, type PodSignals } from '../router/pod-signals.js'

export interface AgentOptions {
  host: string
  port: number
  referenceMs: number
  sharpness: number
  backlogFloor?: number
  defaultModel: string
  signals: () => PodSignals
  /** per model: the most requests the replica would accept now (maxconn) */
  capacity: (model: string) => number
  isShuttingDown: () => boolean
}

const POLICIES: ReadonlySet<string> = new Set(['latency', 'throughput', 'cost'])
/** how long the agent waits for HAProxy's agent-send line before answering for the default */
const READ_MS = 25

/** how far a replica's backlog may lower its weight by default (agent.backlogFloor) */
export const BACKLOG_FLOOR = 0.5

export interface AgentWeight { referenceMs: number, sharpness: number, backlogFloor?: number }

/** The reply line for one question; pure (tested without sockets). */
export function agentReply (s: PodSignals, policy: Policy, model: string, weight: AgentWeight, capacity: number, shuttingDown: boolean): string {
  if (shuttingDown) return 'drain\n'
  const finish = s.finishMs.get(model)?.[policy] ?? UNAVAILABLE_MS
  if (finish >= UNAVAILABLE_MS) return 'down\n'
  const wait = Math.min(finish, s.waitMs.get(model)?.[policy] ?? 0)
  const service = Math.max(finish - wait, 1e-3)
  const image = Math.max(Math.min(s.imageMs.get(model)?.[policy] ?? service, UNAVAILABLE_MS), 1e-3)
  const k = policy === 'latency' ? weight.sharpness : 1
  const backlog = Math.max(weight.backlogFloor ?? BACKLOG_FLOOR, service / Math.max(finish, 1e-3))
  const pct = Math.max(1, Math.min(256, Math.round(100 * (weight.referenceMs / image) ** k * backlog)))
  return `up ready ${pct}% maxconn:${Math.max(1, capacity)}\n`
}

/** Parses HAProxy's agent-send line: `[policy] [model]`, either optional. */
export function parseAgentQuestion (line: string, defaultModel: string): { policy: Policy, model: string } {
  let policy: Policy = 'latency'
  let model = defaultModel
  for (const word of line.trim().split(/\s+/)) {
    if (word === '') continue
    if (POLICIES.has(word)) policy = word as Policy
    else model = word
  }
  return { policy, model }
}

export async function startAgent (o: AgentOptions): Promise<{ server: Server, port: number, close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.setNoDelay(true)
    let buffered = ''
    let answered = false
    const answer = (): void => {
      if (answered) return
      answered = true
      clearTimeout(timer)
      const q = parseAgentQuestion(buffered.split('\n')[0] ?? '', o.defaultModel)
      socket.end(agentReply(o.signals(), q.policy, q.model, o, o.capacity(q.model), o.isShuttingDown()))
    }
    const timer = setTimeout(answer, READ_MS)
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      buffered += chunk
      if (buffered.includes('\n') || buffered.length > 256) answer()
    })
    socket.on('end', answer)
    socket.on('error', () => { clearTimeout(timer); socket.destroy() })
    socket.on('close', () => { clearTimeout(timer); sockets.delete(socket) })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : o.port
  return {
    server,
    port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    })
  }
}
