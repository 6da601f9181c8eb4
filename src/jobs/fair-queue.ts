// Queued items of one model, one FIFO per API key, taken round-robin over the keys that have
// work: a key with a million images queued and a key with ten get alternate turns, so the
// small one waits for at most one item of each other key per item of its own.
export class FairQueue<T> {
  private readonly perKey = new Map<string, T[]>()
  /** keys with work, in turn order; `next` is the index of the key whose turn it is */
  private readonly turn: string[] = []
  private next = 0
  private count = 0

  get size (): number {
    return this.count
  }

  push (key: string, item: T): void {
    let q = this.perKey.get(key)
    if (q === undefined) {
      q = []
      this.perKey.set(key, q)
      this.turn.push(key)
    }
    q.push(item)
    this.count++
  }

  /** items queued for one key */
  sizeOf (key: string): number {
    return this.perKey.get(key)?.length ?? 0
  }

  /**
   * Up to n items, one per key per round, starting where the last call stopped; at most
   * `perKey(key)` from a key (a key whose limit is reached keeps its turn for the next call).
   */
  take (n: number, perKey?: (key: string) => number): T[] {
    const out: T[] = []
    const limit = perKey === undefined ? null : new Map<string, number>()
    let skipped = 0 // keys passed over in a row because their limit was reached
    while (out.length < n && this.turn.length > 0 && skipped < this.turn.length) {
      if (this.next >= this.turn.length) this.next = 0
      const key = this.turn[this.next]!
      if (limit !== null) {
        const left = limit.get(key) ?? perKey!(key)
        if (left <= 0) { limit.set(key, 0); this.next++; skipped++; continue }
        limit.set(key, left - 1)
      }
      skipped = 0
      const q = this.perKey.get(key)!
      out.push(q.shift()!)
      this.count--
      if (q.length === 0) {
        this.perKey.delete(key)
        this.turn.splice(this.next, 1) // the next key moves into this index
      } else {
        this.next++
      }
    }
    return out
  }

  /** The items of every key, oldest first per key (for stats). */
  * items (): IterableIterator<T> {
    for (const q of this.perKey.values()) yield * q
  }

  /** The first item of each key (the oldest of each FIFO). */
  * heads (): IterableIterator<T> {
    for (const q of this.perKey.values()) if (q.length > 0) yield q[0]!
  }
}
