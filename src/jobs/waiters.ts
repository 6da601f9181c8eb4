// Pullers waiting for work, per model: wait() resolves when wake() is called for its model
// (a submission, an image handed back), when wakeAll() is (close), or after `ms` — whichever
// comes first. Both job backends keep their sleeping pullers here.
export class Waiters {
  private readonly byModel = new Map<string, Array<() => void>>()

  wait (model: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let list = this.byModel.get(model)
      if (list === undefined) { list = []; this.byModel.set(model, list) }
      const waiting = list
      const timer = setTimeout(done, ms)
      waiting.push(done)
      function done (): void {
        clearTimeout(timer)
        const at = waiting.indexOf(done)
        if (at >= 0) waiting.splice(at, 1)
        resolve()
      }
    })
  }

  /** how many wait for this model (tests) */
  count (model: string): number {
    return this.byModel.get(model)?.length ?? 0
  }

  wake (model: string): void {
    const list = this.byModel.get(model)
    if (list !== undefined) for (const w of list.splice(0)) w()
  }

  wakeAll (): void {
    for (const list of this.byModel.values()) for (const w of list.splice(0)) w()
  }
}
