// A benchmark on a shared machine competes for the cores with whatever else runs there. Linux
// schedules by session group (autogroup, /proc/sys/kernel/sched_autogroup_enabled), so a plain
// `nice` only orders processes inside one group; the group's own nice value
// (/proc/self/autogroup, sched(7)) orders it against the others. Raising this session's group
// (the benchmark and every process it spawns: replicas, HAProxy, nats-server) keeps other jobs
// from adding their noise to what is measured. It changes nothing between the configurations a
// benchmark compares: they all run inside the group. Needs CAP_SYS_NICE (root); otherwise it
// says so and the run goes on unprioritised.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'

/** Raises this session's scheduling group to `nice` (default −15); what was done, for the report. */
export function preferThisBench (nice = -15): string {
  try {
    writeFileSync('/proc/self/autogroup', String(nice))
    return `the benchmark's session group ran at nice ${nice} (/proc/self/autogroup: ${readFileSync('/proc/self/autogroup', 'utf8').trim()}), ahead of other jobs on the machine`
  } catch (err) {
    return `the benchmark ran at normal priority beside other jobs (/proc/self/autogroup not writable: ${(err as Error).message.split('\n')[0]})`
  }
}

/**
 * Gives a process started in a session of its own (spawn's `detached`: a scheduling group of
 * its own) the same group nice as this benchmark's, so other jobs on the machine stay behind
 * it too. Returns false where /proc/<pid>/autogroup is not writable.
 */
export function preferProcess (pid: number, nice = -15): boolean {
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice))
    return true
  } catch {
    return false
  }
}

/** CPU seconds (user + system; with `reaped`, its reaped children's too) of a process from /proc/<pid>/stat (clock ticks of 10 ms); 0 where it is gone */
export function processSeconds (pid: number | 'self', reaped = true): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0)) / 100
  } catch { return 0 }
}

/** the processes and their live descendants (Linux /proc) */
export function withDescendants (pids: readonly number[]): number[] {
  const parent = new Map<number, number>()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try { parent.set(Number(d), Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])) } catch {}
  }
  const all = new Set(pids)
  for (let grew = true; grew;) {
    grew = false
    for (const [pid, ppid] of parent) if (all.has(ppid) && !all.has(pid)) { all.add(pid); grew = true }
  }
  return [...all]
}

/** this process and its live descendants' CPU seconds (exited ones count through their parent's reaped-children time) */
function ownTreeSeconds (): number {
  let s = 0
  for (const pid of withDescendants([process.pid])) s += processSeconds(pid === process.pid ? 'self' : pid)
  return s
}

/** the whole machine's busy CPU seconds (/proc/stat: user, nice, system, irq, softirq, steal) */
function machineSeconds (): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100
  } catch { return NaN }
}

/**
 * What else ran on the machine while the benchmark did: started now, `read()` gives the cores
 * the machine was busy on average since, less the benchmark's own (this process and everything
 * it started). "Shared" or "quiet" in a report is then a measurement, not a guess; NaN off Linux.
 * (A child that exits between two reads and whose parent has not reaped it yet is missed: its
 * time shows up as other work; the runs' replicas are reaped as they exit.)
 */
export function otherWork (): { read: () => number } {
  const m0 = machineSeconds(); const o0 = ownTreeSeconds(); const t0 = performance.now()
  return {
    read: () => {
      const s = (performance.now() - t0) / 1000
      return s > 0 ? Math.max(0, (machineSeconds() - m0) - (ownTreeSeconds() - o0)) / s : 0
    }
  }
}
