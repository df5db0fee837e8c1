import type { Bee, StoreFacility } from '../../facs/store'

export interface LogMeta { cur: number }

export interface ReadRange {
  start?: number
  end?: number
  limit?: number
}

/** Keys sort by time as strings: zero-padded milliseconds. */
export function timeKey (ts: number): string {
  return Math.max(0, Math.floor(ts)).toString().padStart(15, '0')
}

/**
 * Hyperbee time logs with rotation. Each log key (`thing-5m-<id>`, `stat-5m-t-container`…) is a
 * chain of generations, each its own Hyperbee (`log:<key>:<gen>`); when the current one reaches
 * `maxLength` entries the next starts. `offset` 0 is the current generation, 1 the one before…
 * Generations at offset `maxHeight` or more are cleared (their blocks freed) when the log rotates.
 */
export class TimeLogs {
  private readonly metaCache = new Map<string, LogMeta>()

  constructor (
    private readonly store: StoreFacility,
    private readonly meta: Bee<LogMeta>,
    private readonly opts: { maxLength: number, keepCount: number }
  ) {}

  /** How many generations a time-range read may walk (worker.md §12). */
  get maxHeight (): number {
    return Math.ceil(Math.max(1, this.opts.keepCount) * 1.5)
  }

  private async getMeta (key: string): Promise<LogMeta | null> {
    const cached = this.metaCache.get(key)
    if (cached) return cached
    const entry = await this.meta.get(key)
    if (!entry) return null
    this.metaCache.set(key, entry.value)
    return entry.value
  }

  private async generation (key: string, gen: number): Promise<Bee> {
    return await this.store.getBee(`log:${key}:${gen}`)
  }

  async exists (key: string): Promise<boolean> {
    return (await this.getMeta(key)) !== null
  }

  /** Writes `value` under `timeKey(ts)` (or a literal key) in the current generation. */
  async put (key: string, entryKey: string, value: unknown): Promise<void> {
    let meta = await this.getMeta(key)
    if (!meta) {
      meta = { cur: 0 }
      await this.meta.put(key, meta)
      this.metaCache.set(key, meta)
    }
    let bee = await this.generation(key, meta.cur)
    // The header block is seq 0, so length - 1 entries have been written.
    if (this.opts.maxLength > 0 && bee.core.length - 1 >= this.opts.maxLength) {
      meta = { cur: meta.cur + 1 }
      await this.meta.put(key, meta)
      this.metaCache.set(key, meta)
      bee = await this.generation(key, meta.cur)
      await this.release(key, meta.cur - this.maxHeight)
    }
    await bee.put(entryKey, value)
  }

  /** Frees a generation no read can reach any more (offset ≥ maxHeight); best effort. */
  private async release (key: string, gen: number): Promise<void> {
    if (gen < 0) return
    try {
      await this.store.clearBee(`log:${key}:${gen}`)
    } catch {
      // A generation that cannot be cleared now only costs disk; the log keeps working.
    }
  }

  async append (key: string, ts: number, value: unknown): Promise<void> {
    await this.put(key, timeKey(ts), value)
  }

  /** A literal entry of the current generation (e.g. the single `stat-rtd` record). */
  async get (key: string, entryKey: string): Promise<unknown> {
    const meta = await this.getMeta(key)
    if (!meta) return null
    const entry = await (await this.generation(key, meta.cur)).get(entryKey)
    return entry ? entry.value : null
  }

  /** Newest entry of the current generation, or null. */
  async latest (key: string): Promise<unknown> {
    const [first] = (await this.readGeneration(key, 0, { limit: 1 })) ?? []
    return first ?? null
  }

  /** Entries of one generation, newest first; null when that generation does not exist. */
  async readGeneration (key: string, offset: number, range: ReadRange): Promise<unknown[] | null> {
    const meta = await this.getMeta(key)
    if (!meta) return null
    const gen = meta.cur - offset
    if (gen < 0 || offset < 0) return null
    const bee = await this.generation(key, gen)
    const out: unknown[] = []
    const opts: { reverse: boolean, limit?: number, gte?: string, lte?: string } = { reverse: true }
    if (range.limit !== undefined) opts.limit = range.limit
    if (range.start !== undefined) opts.gte = timeKey(range.start)
    if (range.end !== undefined) opts.lte = timeKey(range.end)
    for await (const entry of bee.createReadStream(opts)) out.push(entry.value)
    return out
  }

  /**
   * Entries newest first starting at generation `offset`. With a limit or a time range, older
   * generations are walked (up to maxHeight) until the limit is met or the range is covered.
   */
  async read (key: string, offset: number, range: ReadRange): Promise<unknown[] | null> {
    const first = await this.readGeneration(key, offset, range)
    if (first === null) return null
    let out = first
    const walk = range.limit !== undefined || range.start !== undefined || range.end !== undefined
    for (let o = offset + 1; walk && o < this.maxHeight; o++) {
      if (range.limit !== undefined && out.length >= range.limit) break
      const remaining = range.limit === undefined ? undefined : range.limit - out.length
      const older = await this.readGeneration(key, o, { ...range, limit: remaining })
      if (older === null) break
      out = out.concat(older)
    }
    return range.limit === undefined ? out : out.slice(0, range.limit)
  }
}
