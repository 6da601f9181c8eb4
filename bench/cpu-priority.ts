// A benchmark on a shared machine competes for the cores with whatever else runs there. Linux
// schedules by session group (autogroup, /proc/sys/kernel/sched_autogroup_enabled), so a plain
// `nice` only orders processes inside one group; the group's own nice value
// (/proc/self/autogroup, sched(7)) orders it against the others. Raising this session's group
// (the benchmark and every process it spawns: replicas, HAProxy, nats-server) keeps other jobs
// from adding their noise to what is measured. It changes nothing between the configurations a
// benchmark compares: they all run inside the group. Needs CAP_SYS_NICE (root); otherwise it
// says so and the run goes on unprioritised.
import { readFileSync, writeFileSync } from 'node:fs'

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
