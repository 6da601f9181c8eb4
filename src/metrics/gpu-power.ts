// Measured GPU power: on a machine with nvidia-smi, each CUDA device's board power draw is
// sampled in the background (`nvidia-smi --query-gpu=power.draw --format=csv,noheader,nounits
// -i <ordinal>`, every intervalMs) and replaces the configured busy watts of that device in
// the energy metrics. Where the binary is missing, or answers something that is not a number
// ("[N/A]" on boards without power sensing), sampling stops and the configured figure stays.
import { execFile } from 'node:child_process'

/** watts from nvidia-smi's csv,noheader,nounits output (one line per GPU; the first is ours) */
export function parsePowerDraw (stdout: string): number | null {
  const first = stdout.trim().split('\n')[0]?.trim() ?? ''
  if (!/^\d+(\.\d+)?$/.test(first)) return null
  return Number(first)
}

export interface GpuPowerOptions {
  /** CUDA ordinal (-i) */
  index: number
  intervalMs?: number
  /** the nvidia-smi to run (default: found on PATH) */
  bin?: string
  env?: NodeJS.ProcessEnv
  log?: { info: (obj: object, msg: string) => void }
}

export class GpuPowerSampler {
  /** the last measured draw, or null while none is known */
  watts: number | null = null
  private timer: NodeJS.Timeout | null = null
  private stopped = false

  constructor (private readonly opts: GpuPowerOptions) {}

  /** One sample now: the draw, or null (and no more sampling) when nvidia-smi cannot give it. */
  sample (): Promise<number | null> {
    const args = ['--query-gpu=power.draw', '--format=csv,noheader,nounits', '-i', String(this.opts.index)]
    return new Promise((resolve) => {
      execFile(this.opts.bin ?? 'nvidia-smi', args, { timeout: 5000, env: this.opts.env ?? process.env }, (err, stdout) => {
        const w = err ? null : parsePowerDraw(stdout)
        if (w === null) {
          if (!this.stopped) this.opts.log?.info({ gpu: this.opts.index, err: err?.message ?? `unexpected output "${stdout.trim().slice(0, 40)}"` }, 'no measured GPU power; using the configured watts')
          this.stop()
        }
        this.watts = w
        resolve(w)
      })
    })
  }

  start (): void {
    const tick = (): void => {
      void this.sample().then(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.opts.intervalMs ?? 5000).unref()
      })
    }
    tick()
  }

  stop (): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }
}
