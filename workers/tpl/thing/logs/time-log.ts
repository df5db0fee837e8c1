import { setTimeout as sleep } from 'node:timers/promises'
import { assertStorable, type Bee, type BeeStore } from '../../../facs/store'
import { WrkError } from '../../../core/errors'
import { RAW_VALUE, decodeLogValue, encodeLogValue } from './log-codec'
import { KeyedLock, ReaderCounts, withTimeout } from '../../../core/async'

export interface LogMeta { cur: number }

/** Longest wait of `drop` for the reads of a log in flight (a read's budget is 5 s). */
const DROP_READ_WAIT_MS = 30_000

/** The bee of generation `gen` of log `key` (`thing-5m-x`, 3 → `log:thing-5m-x:3`). */
export function logBeeName (key: string, gen: number): string {
  return `log:${key}:${gen}`
}

/** `log:thing-5m-x:3` → `['thing-5m-x', 3]`; null for a name that is no log generation. */
export function parseLogBeeName (name: string): [string, number] | null {
  const m = /^log:(.+):(\d+)$/.exec(name)
  return m ? [m[1] as string, Number(m[2])] : null
}

export interface ReadRange {
  start?: number
  end?: number
  limit?: number
}

/**
 * The latest time a log key represents exactly: keys are 15 zero-padded digits, so a larger
 * `start`/`end` (e.g. 1e21, written `1e+21`) would sort wrongly. Requests are bounded by it.
 */
export const MAX_LOG_TIME_MS = 999_999_999_999_999

/** Keys sort by time as strings: zero-padded milliseconds. */
export function timeKey (ts: number): string {
  return Math.max(0, Math.floor(ts)).toString().padStart(15, '0')
}

/** A generation whose blocks no longer decode (e.g. written by two writers at once). */
export function isCorrupt (err: unknown): boolean {
  const e = err as { code?: unknown, cause?: { code?: unknown } } | null
  return e?.code === 'DECODING_ERROR' || e?.cause?.code === 'DECODING_ERROR'
}

/** One store write, bounded in time (ERR_STORE_TIMEOUT); a failure carries a named code and its cause. */
export async function boundedWrite<T> (write: Promise<T>, timeoutMs: number): Promise<T> {
  try {
    return await withTimeout(write, timeoutMs, 'ERR_STORE_TIMEOUT')
  } catch (err) {
    if (err instanceof WrkError) throw err
    throw new WrkError('ERR_STORE_WRITE_FAILED', `log write failed: ${(err as Error).message}`, { cause: err })
  }
}

export interface TimeLogOptions {
  maxLength: number
  keepCount: number
  /** Bound of one store write (ERR_STORE_TIMEOUT after it); a stuck store never holds a log. */
  writeTimeoutMs?: number
  /** Told when a corrupt generation is skipped or replaced, so that an operator sees it. */
  onCorrupt?: (key: string, gen: number, err: unknown) => void
  /** Keep each log's metadata in memory (default); a read replica reads it fresh (another process writes it). */
  cacheMeta?: boolean
}

/**
 * Hyperbee time logs with rotation. Each log key (`thing-5m-<id>`, `stat-5m-t-container`…) is a
 * chain of generations, each its own Hyperbee (`log:<key>:<gen>`); when the current one reaches
 * `maxLength` entries the next starts. `offset` 0 is the current generation, 1 the one before…
 * Generations at offset `maxHeight` or more are cleared (their blocks freed) when the log rotates.
 *
 * Writes to one log run one at a time (the metadata read-modify-write and the rotation are one
 * step), so concurrent appends can neither rotate a log twice nor lose an entry. A generation
 * found corrupt is left behind: writes continue in a fresh generation, reads skip it.
 */
export class TimeLogs {
  private readonly metaCache = new Map<string, LogMeta>()
  private readonly writes = new KeyedLock()
  private readonly lastStamp = new Map<string, { stamp: string, n: number }>()
  /** Reads in flight per log: a close waits for them (a bee closed under a read fails it). */
  private readonly readers = new ReaderCounts()
  /** Logs whose close was asked for while they were being read (true: forgetting the metadata too): closed by the last reader. */
  private readonly closeAfterRead = new Map<string, boolean>()

  constructor (
    private readonly store: BeeStore,
    private readonly meta: Bee<LogMeta>,
    private readonly opts: TimeLogOptions
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
    if (this.opts.cacheMeta !== false) this.metaCache.set(key, entry.value)
    return entry.value
  }

  /**
   * Reads the metadata of every log whose key starts with `prefix` in one pass (at start: one
   * range read instead of one read per thing). Kept only where metadata is cached.
   */
  async preloadMeta (prefix: string): Promise<number> {
    if (this.opts.cacheMeta === false || prefix.length === 0) return 0
    const after = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
    let n = 0
    for await (const e of this.meta.createReadStream({ gte: prefix, lt: after })) {
      if (typeof e.value?.cur !== 'number' || this.metaCache.has(e.key)) continue
      this.metaCache.set(e.key, e.value)
      n++
    }
    return n
  }

  /** One store write, bounded in time; a failure carries a named code and its cause. */
  private async bounded (write: Promise<unknown>): Promise<void> {
    await boundedWrite(write, this.opts.writeTimeoutMs ?? 10_000)
  }

  private async setMeta (key: string, meta: LogMeta): Promise<void> {
    await this.bounded(this.meta.put(key, meta))
    this.metaCache.set(key, meta)
  }

  private async generation (key: string, gen: number): Promise<Bee> {
    return await this.store.getBee(logBeeName(key, gen))
  }

  async exists (key: string): Promise<boolean> {
    return (await this.getMeta(key)) !== null
  }

  /** Writes `value` under a literal key (e.g. the single `stat-rtd` record) in the current generation. */
  async put (key: string, entryKey: string, value: unknown): Promise<void> {
    // stored compressed when large, decoded on every read (./log-codec.ts)
    const stored = encodeLogValue(assertStorable(value, `an entry of log ${key}`))
    await this.writes.run(key, async () => {
      let meta = await this.getMeta(key)
      if (!meta) {
        meta = { cur: 0 }
        await this.setMeta(key, meta)
      }
      let bee = await this.generation(key, meta.cur)
      // The header block is seq 0, so length - 1 entries have been written.
      if (this.opts.maxLength > 0 && bee.core.length - 1 >= this.opts.maxLength) bee = await this.rotate(key, meta)
      try {
        await this.bounded(bee.put(entryKey, stored, RAW_VALUE))
      } catch (err) {
        if (!isCorrupt(err)) throw err
        this.opts.onCorrupt?.(key, meta.cur, err)
        await this.bounded((await this.rotate(key, meta)).put(entryKey, stored, RAW_VALUE))
      }
    })
  }

  /** Starts the next generation of a log (under its write lock) and frees the unreachable one. */
  private async rotate (key: string, meta: LogMeta): Promise<Bee> {
    const next = { cur: meta.cur + 1 }
    await this.setMeta(key, next)
    const bee = await this.generation(key, next.cur)
    await this.clearGeneration(key, next.cur - this.maxHeight)
    return bee
  }

  /**
   * Closes every open generation of a log and forgets its cached metadata (a forgotten thing's
   * log); the data stays on disk and the log reopens on the next use.
   */
  async close (key: string): Promise<void> {
    await this.closeGenerations(key, true)
  }

  /**
   * Closes the open generations of a log written rarely (a `thing-5m` log, a 5-minute stat log),
   * keeping its small cached metadata: the next write reopens the generation without a read.
   */
  async release (key: string): Promise<void> {
    await this.closeGenerations(key, false)
  }

  private async closeGenerations (key: string, forget: boolean): Promise<void> {
    await this.writes.run(key, async () => {
      if (this.readers.has(key)) {
        this.closeAfterRead.set(key, forget || this.closeAfterRead.get(key) === true)
        return
      }
      const meta = this.metaCache.get(key) ?? await this.getMeta(key)
      if (forget) {
        this.metaCache.delete(key)
        this.lastStamp.delete(key)
      }
      if (!meta) return
      for (let gen = Math.max(0, meta.cur - this.maxHeight); gen <= meta.cur; gen++) await this.store.closeBee(logBeeName(key, gen))
    })
  }

  /** Runs a read of log `key`; a close asked for meanwhile happens when the last read ends. */
  private async reading<T> (key: string, read: () => Promise<T>): Promise<T> {
    this.enterRead(key)
    try {
      return await read()
    } finally {
      this.leaveRead(key)
    }
  }

  private enterRead (key: string): void {
    this.readers.enter(key)
  }

  private leaveRead (key: string): void {
    if (!this.readers.leave(key)) return
    const forget = this.closeAfterRead.get(key)
    if (forget !== undefined) {
      this.closeAfterRead.delete(key)
      this.closeGenerations(key, forget).catch(() => {})
    }
  }

  /**
   * Removes a log: its metadata goes first (no read finds it any more), then, once the reads in
   * flight have ended, the blocks of every generation a read could reach are freed. A log
   * written again afterwards starts afresh. (Stat logs of the per-tag layout once the
   * per-timeframe ones hold all a read can reach: ./stat-log.ts.)
   */
  async drop (key: string): Promise<void> {
    await this.writes.run(key, async () => {
      const meta = await this.getMeta(key)
      if (!meta) return
      await this.bounded(this.meta.del(key))
      this.metaCache.delete(key)
      this.lastStamp.delete(key)
      // a read is bounded by its budget (seconds): wait for it rather than free blocks under it
      for (let waited = 0; this.readers.has(key) && waited < DROP_READ_WAIT_MS; waited += 50) await sleep(50)
      for (let gen = Math.max(0, meta.cur - this.maxHeight + 1); gen <= meta.cur; gen++) await this.clearGeneration(key, gen)
    })
  }

  /** Frees a generation no read can reach any more (offset ≥ maxHeight); best effort. */
  private async clearGeneration (key: string, gen: number): Promise<void> {
    if (gen < 0) return
    try {
      await this.store.clearBee(logBeeName(key, gen))
    } catch {
      // A generation that cannot be cleared now only costs disk; the log keeps working.
    }
  }

  /**
   * Writes `value` at time `ts`. Entries of one log at the same millisecond get distinct keys
   * (`<timeKey>`, `<timeKey>.1`, `<timeKey>.2`… in call order), so none overwrites another.
   */
  async append (key: string, ts: number, value: unknown): Promise<void> {
    const stamp = timeKey(ts)
    const last = this.lastStamp.get(key)
    const n = last?.stamp === stamp ? last.n + 1 : 0
    this.lastStamp.set(key, { stamp, n })
    await this.put(key, n === 0 ? stamp : `${stamp}.${n}`, value)
  }

  /** A literal entry of the current generation (e.g. the single `stat-rtd` record). */
  async get (key: string, entryKey: string): Promise<unknown> {
    return await this.reading(key, async () => {
      const meta = await this.getMeta(key)
      if (!meta) return null
      try {
        const entry = await (await this.generation(key, meta.cur)).get(entryKey, RAW_VALUE)
        return entry ? decodeLogValue(entry.value as Buffer) : null
      } catch (err) {
        if (!isCorrupt(err)) throw err
        this.opts.onCorrupt?.(key, meta.cur, err)
        return null
      }
    })
  }

  /** Newest entry of the current generation, or null. */
  async latest (key: string): Promise<unknown> {
    const [first] = (await this.read(key, 0, { limit: 1 })) ?? []
    return first ?? null
  }

  /** Whether generation `offset` of log `key` exists (0 = the current one). */
  async hasGeneration (key: string, offset: number): Promise<boolean> {
    const meta = await this.getMeta(key)
    return meta !== null && offset >= 0 && meta.cur - offset >= 0
  }

  /**
   * Entries newest first from generation `offset` on, decoded one at a time; with `walk`, the
   * older generations follow (up to maxHeight). Only the entry at hand is held, so a read costs
   * memory by what its caller keeps, never by the length of the log; a caller stops by leaving
   * the loop. A corrupt generation is reported and skipped. `height` lowers the generations a
   * walk may reach (offsets below it; default maxHeight).
   */
  async * scan (
    key: string, offset: number, range: Omit<ReadRange, 'limit'>, walk: boolean, height = this.maxHeight
  ): AsyncGenerator<unknown> {
    if (offset < 0) return
    const opts: { reverse: boolean, gte?: string, lte?: string } = { reverse: true }
    if (range.start !== undefined) opts.gte = timeKey(range.start)
    // `~` sorts after the `.n` suffix of entries written in the same millisecond.
    if (range.end !== undefined) opts.lte = `${timeKey(range.end)}~`
    this.enterRead(key)
    try {
      for (let o = offset; o < (walk ? Math.min(height, this.maxHeight) : offset + 1); o++) {
        const meta = await this.getMeta(key)
        const gen = meta === null ? -1 : meta.cur - o
        if (gen < 0) return
        const bee = await this.generation(key, gen)
        try {
          for await (const entry of bee.createReadStream(opts, RAW_VALUE)) yield decodeLogValue(entry.value as Buffer)
        } catch (err) {
          if (!isCorrupt(err)) throw err
          this.opts.onCorrupt?.(key, gen, err)
        }
      }
    } finally {
      this.leaveRead(key)
    }
  }

  /**
   * Entries newest first starting at generation `offset`, null when that generation does not
   * exist. With a limit or a time range, older generations are walked (up to maxHeight) until
   * the limit is met or the range is covered. For bounded reads of large logs, use `scan`.
   */
  async read (key: string, offset: number, range: ReadRange): Promise<unknown[] | null> {
    return await this.reading(key, async () => {
      if (!(await this.hasGeneration(key, offset))) return null
      const out: unknown[] = []
      if (range.limit === 0) return out
      const walk = range.limit !== undefined || range.start !== undefined || range.end !== undefined
      for await (const entry of this.scan(key, offset, range, walk)) {
        out.push(entry)
        if (range.limit !== undefined && out.length >= range.limit) break
      }
      return out
    })
  }
}
