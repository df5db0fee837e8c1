/**
 * Stat logs, one per timeframe (issue 31). Every stat tag of a timeframe lives in one chain of
 * Hyperbee generations, `log:stat:<tf>:<gen>` (metadata `stat:<tf>` in `meta_logs`, announced
 * to read replicas like any log generation), instead of one chain per tag (`stat-<tf>-<tag>`).
 * A tick writes all its tags as one Hyperbee batch: one append to one Hypercore per timeframe
 * instead of one per tag, and 7 open cores instead of 7 per tag.
 *
 * Keys: `<tag prefix><entry key>`, where the tag prefix is the tag's byte length, written after
 * its own digit count, then the tag (`t-x` → `13:t-x/`, `t-container` → `211:t-container/`) —
 * prefix-free, so one tag's keys are exactly those starting with its prefix whatever the tags —
 * and the entry key is what the per-tag log used: the zero-padded time (`.n` for entries of the
 * same millisecond) or the literal `stat-rtd`. Within a tag, keys sort by time as before, so a
 * range read of one tag is one Hyperbee range.
 *
 * Rotation stays per tag: a generation holds at most `maxLength` writes of any tag. The count of
 * each tag's writes in the current generation is kept in memory, and an upper bound of it is
 * stored in the generation itself (key `#bound`, written in the same batch when the bound grows,
 * rounded up so that it is written rarely): after a restart every tag counts as having that many.
 * A write that would take a tag past `maxLength` starts the next generation first; since a tick
 * writes every tag once, the timeframe rotates every `maxLength` ticks. The generation that
 * falls out of reach (offset ≥ ceil(keepCount × 1.5)) is cleared, once no read is walking it.
 *
 * `tailLog` sees no difference (StatTimeLogs, ./stat-log.ts): `offset` counts the generations that hold
 * the tag, newest first; a range walks them (and no further than maxHeight). Stores written by
 * the per-tag layout are read in both layouts: a tag's per-tag generations follow its
 * per-timeframe ones (docs/operations.md, "Stat logs: layout and migration").
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { assertStorable, type Bee, type BeeStore } from '../../../facs/store'
import { WrkError, errorCode } from '../../../core/errors'
import { RAW_VALUE, decodeLogValue, encodeLogValue } from './log-codec'
import { boundedWrite, isCorrupt, logBeeName, timeKey, type LogMeta, type ReadRange, type TimeLogOptions } from './time-log'
import { KeyedLock, ReaderCounts } from '../../../core/async'
import { statLogKey, tagPrefix } from './stat-keys'

/** Sorts after every key of a tag: entry keys are ASCII below it (digits, `.`, `~`, `stat-rtd`). */
const TAG_END = '\x7f'
/** The generation's bound on writes per tag; sorts before every tag key (they start with 1–9). */
const BOUND_KEY = '#bound'
/** Longest stretch a batch is built before the event loop is served. */
const WRITE_SLICE_MS = 5

type EntryAt = { ts: number } | { entryKey: string }

interface Row { key: string, value: Buffer, tag: string }

interface TagWrites {
  /** Writes of the tag in the current generation (an upper bound after a restart). */
  writes: number
  /** Time key of its last append and how many entries shared it (`.n` suffixes). */
  stamp: string
  same: number
}

/** What the writer knows of a timeframe's current generation. */
interface Writer {
  cur: number
  bee: Bee
  tags: Map<string, TagWrites>
  /** Writes of a tag not in `tags` (the stored bound after a restart, 0 in a new generation). */
  base: number
  /** Most writes of any tag. */
  max: number
  /** The bound stored in the generation. */
  bound: number
}

export interface StatLogsHooks {
  /** The timeframe's log has `generations` generations (told when it rotates and when first written after a start). */
  onGenerations?: (tf: string, generations: number) => void
}

const NEVER = (): boolean => false

/** The per-timeframe stat logs of one store (the master's, or a replica's copy: reads only). */
export class StatLogs {
  private readonly writes = new KeyedLock()
  private readonly writers = new Map<string, Writer>()
  private readonly metaCache = new Map<string, LogMeta>()
  private readonly readers = new ReaderCounts()
  private readonly pendingClears = new Map<string, number[]>()
  /** Encoded values of the current tick second (the timeframes ticking together share aggregates). */
  private encoded: { ts: number, values: WeakMap<object, Buffer> } = { ts: -1, values: new WeakMap() }
  private readonly encodedRtd = new WeakMap<object, Buffer>()

  constructor (
    private readonly store: BeeStore,
    private readonly meta: Bee<LogMeta>,
    private readonly opts: TimeLogOptions,
    private readonly hooks: StatLogsHooks = {}
  ) {}

  get maxHeight (): number {
    return Math.ceil(Math.max(1, this.opts.keepCount) * 1.5)
  }

  private get timeoutMs (): number {
    return this.opts.writeTimeoutMs ?? 10_000
  }

  // ---- metadata ------------------------------------------------------------------------------

  private async getMeta (tf: string): Promise<LogMeta | null> {
    const writer = this.writers.get(tf)
    if (writer) return { cur: writer.cur }
    const cached = this.metaCache.get(tf)
    if (cached) return cached
    const entry = await this.meta.get(statLogKey(tf))
    if (!entry || typeof entry.value?.cur !== 'number') return null
    if (this.opts.cacheMeta !== false) this.metaCache.set(tf, entry.value)
    return entry.value
  }

  private async setMeta (tf: string, meta: LogMeta): Promise<void> {
    await boundedWrite(this.meta.put(statLogKey(tf), meta), this.timeoutMs)
    this.metaCache.set(tf, meta)
  }

  // ---- writing -------------------------------------------------------------------------------

  /**
   * One tick of timeframe `tf`: every tag's aggregate as one batch, `{ts, ...aggregate}` under
   * the tick time, or (`entryKey`, the rtd record) the aggregate itself under that key. Resolves
   * false when `aborted` said so before the batch was written (then nothing of it is). A value
   * too large to store is left out and reported (ERR_VALUE_TOO_LARGE) after the others are written.
   */
  async writeTick (
    tf: string, at: EntryAt, values: ReadonlyMap<string, Record<string, unknown>>, aborted: () => boolean = NEVER
  ): Promise<boolean> {
    const encode = 'ts' in at
      ? this.tickEncoder(at.ts)
      : (acc: Record<string, unknown>) => this.cachedEncode(this.encodedRtd, acc, () => acc)
    return await this.write(tf, at, [...values.keys()], (tag) => encode(values.get(tag) as Record<string, unknown>), aborted)
  }

  /** `value` at time `ts` in tag `tag` of timeframe `tf` (entries of one millisecond get `.n` keys, as in TimeLogs). */
  async append (tf: string, tag: string, ts: number, value: unknown): Promise<void> {
    await this.write(tf, { ts }, [tag], () => encodeValue(value, tf), NEVER)
  }

  /** `value` under a literal key of tag `tag` (the rtd record). */
  async put (tf: string, tag: string, entryKey: string, value: unknown): Promise<void> {
    await this.write(tf, { entryKey }, [tag], () => encodeValue(value, tf), NEVER)
  }

  private tickEncoder (ts: number): (acc: Record<string, unknown>) => Buffer {
    if (this.encoded.ts !== ts) this.encoded = { ts, values: new WeakMap() }
    const cache = this.encoded.values
    return (acc) => this.cachedEncode(cache, acc, () => ({ ts, ...acc }))
  }

  /** Rack-wide tags share one aggregate object: it is serialised (and compressed) once. */
  private cachedEncode (cache: WeakMap<object, Buffer>, acc: Record<string, unknown>, value: () => unknown): Buffer {
    let buf = cache.get(acc)
    if (buf === undefined) {
      buf = encodeValue(value(), 'stat')
      cache.set(acc, buf)
    }
    return buf
  }

  private async write (
    tf: string, at: EntryAt, tags: readonly string[], encode: (tag: string) => Buffer, aborted: () => boolean
  ): Promise<boolean> {
    // a tick without tags (no things) starts no log
    if (tags.length === 0) return true
    return await this.writes.run(tf, async () => {
      const w = await this.writer(tf)
      if (this.full(w, tags)) await this.rotate(tf, w)
      const rows: Row[] = []
      const tooLarge: string[] = []
      let slice = performance.now()
      for (const tag of tags) {
        if (aborted()) return false
        let value: Buffer
        try {
          value = encode(tag)
        } catch (err) {
          if (errorCode(err) !== 'ERR_VALUE_TOO_LARGE') throw err
          tooLarge.push(tag)
          continue
        }
        rows.push({ key: tagPrefix(tag) + this.entryKey(w, tag, at), value, tag })
        if (performance.now() - slice >= WRITE_SLICE_MS) {
          await yieldToLoop()
          slice = performance.now()
        }
      }
      const written = rows.length === 0 || await this.commit(tf, w, rows, aborted)
      if (tooLarge.length > 0) {
        const some = tooLarge.slice(0, 3).join(', ')
        throw new WrkError('ERR_VALUE_TOO_LARGE',
          `stat log ${tf}: the entries of ${tooLarge.length} tag(s) (${some}…) are too large to store; the other tags were written`)
      }
      return written
    })
  }

  /** The writer of a timeframe, loaded on its first write (under its write lock). */
  private async writer (tf: string): Promise<Writer> {
    const known = this.writers.get(tf)
    if (known) return known
    let meta = await this.getMeta(tf)
    if (!meta) {
      meta = { cur: 0 }
      await this.setMeta(tf, meta)
    }
    const bee = await this.generation(tf, meta.cur)
    let bound: number
    try {
      const entry = await bee.get(BOUND_KEY, RAW_VALUE)
      bound = entry ? Number((entry.value as Buffer).toString()) || 0 : 0
    } catch (err) {
      if (!isCorrupt(err)) throw err
      this.opts.onCorrupt?.(statLogKey(tf), meta.cur, err)
      // the next write starts a fresh generation
      bound = Infinity
    }
    const w: Writer = { cur: meta.cur, bee, tags: new Map(), base: bound, max: bound, bound }
    this.writers.set(tf, w)
    this.hooks.onGenerations?.(tf, w.cur + 1)
    return w
  }

  /** Whether a write of `tags` would take one of them past maxLength in the current generation. */
  private full (w: Writer, tags: readonly string[]): boolean {
    const max = this.opts.maxLength
    if (max <= 0) return false
    if (w.max < max) return false
    for (const tag of tags) if ((w.tags.get(tag)?.writes ?? w.base) >= max) return true
    return false
  }

  /** The entry key of one more write of `tag` (counted). */
  private entryKey (w: Writer, tag: string, at: EntryAt): string {
    let t = w.tags.get(tag)
    if (!t) w.tags.set(tag, t = { writes: w.base, stamp: '', same: 0 })
    t.writes++
    if (t.writes > w.max) w.max = t.writes
    if ('entryKey' in at) return at.entryKey
    const stamp = timeKey(at.ts)
    if (t.stamp === stamp) return `${stamp}.${++t.same}`
    t.stamp = stamp
    t.same = 0
    return stamp
  }

  /** The stored bound for `max` writes: rounded up, so that it is rewritten about every 64 ticks. */
  private boundFor (max: number): number {
    if (this.opts.maxLength <= 0) return 0
    const step = Math.max(1, Math.min(64, Math.floor(this.opts.maxLength / 16)))
    return Math.ceil(max / step) * step
  }

  /** Writes the rows as one batch (bounded in time); a corrupt generation is left for a fresh one, once. */
  private async commit (tf: string, w: Writer, rows: Row[], aborted: () => boolean): Promise<boolean> {
    rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    try {
      return await boundedWrite(this.batch(w, rows, aborted), this.timeoutMs)
    } catch (err) {
      if (!isCorrupt(err)) throw err
      this.opts.onCorrupt?.(statLogKey(tf), w.cur, err)
      await this.rotate(tf, w)
      // the rows' tags count one write each in the new generation
      for (const row of rows) {
        const t = w.tags.get(row.tag) ?? { writes: 0, stamp: '', same: 0 }
        t.writes++
        w.tags.set(row.tag, t)
        if (t.writes > w.max) w.max = t.writes
      }
      return await boundedWrite(this.batch(w, rows, aborted), this.timeoutMs)
    }
  }

  private async batch (w: Writer, rows: Row[], aborted: () => boolean): Promise<boolean> {
    const bound = this.boundFor(w.max)
    const batch = w.bee.batch()
    let flushed = false
    try {
      let slice = performance.now()
      for (const { key, value } of rows) {
        if (aborted()) return false
        await batch.put(key, value, RAW_VALUE)
        if (performance.now() - slice >= WRITE_SLICE_MS) {
          await yieldToLoop()
          slice = performance.now()
        }
      }
      if (bound > w.bound) await batch.put(BOUND_KEY, Buffer.from(String(bound)), RAW_VALUE)
      await batch.flush()
      flushed = true
      if (bound > w.bound) w.bound = bound
      return true
    } finally {
      if (!flushed) await batch.close().catch(() => {})
    }
  }

  /** Starts the next generation (under the write lock) and clears the one out of reach. */
  private async rotate (tf: string, w: Writer): Promise<void> {
    const next = w.cur + 1
    await this.setMeta(tf, { cur: next })
    w.cur = next
    w.bee = await this.generation(tf, next)
    w.tags.clear()
    w.base = 0
    w.max = 0
    w.bound = 0
    await this.clear(tf, next - this.maxHeight)
    this.hooks.onGenerations?.(tf, next + 1)
  }

  private async clear (tf: string, gen: number): Promise<void> {
    if (gen < 0) return
    if (this.readers.has(tf)) {
      const pending = this.pendingClears.get(tf) ?? []
      pending.push(gen)
      this.pendingClears.set(tf, pending)
      return
    }
    try {
      await this.store.clearBee(logBeeName(statLogKey(tf), gen))
    } catch {
      // a generation that cannot be cleared now only costs disk
    }
  }

  // ---- reading -------------------------------------------------------------------------------

  private async generation (tf: string, gen: number): Promise<Bee> {
    return await this.store.getBee(logBeeName(statLogKey(tf), gen))
  }

  /** The readable generations of a timeframe, newest first (none before its first write). */
  async generations (tf: string): Promise<number[]> {
    const meta = await this.getMeta(tf)
    if (!meta) return []
    const out: number[] = []
    for (let gen = meta.cur; gen >= 0 && gen > meta.cur - this.maxHeight; gen--) out.push(gen)
    return out
  }

  async bee (tf: string, gen: number): Promise<Bee> {
    return await this.generation(tf, gen)
  }

  /** Whether generation `bee` holds an entry of `tag`. */
  async has (bee: Bee, tag: string): Promise<boolean> {
    const prefix = tagPrefix(tag)
    return (await bee.peek({ gte: prefix, lt: prefix + TAG_END }, RAW_VALUE)) !== null
  }

  /** The entries of `tag` in generation `bee`, newest first, decoded one at a time. */
  async * entries (bee: Bee, tag: string, range: Omit<ReadRange, 'limit'>): AsyncGenerator<unknown> {
    const prefix = tagPrefix(tag)
    const opts: { reverse: boolean, gte: string, lt?: string, lte?: string } = { reverse: true, gte: prefix }
    if (range.start !== undefined) opts.gte = prefix + timeKey(range.start)
    // `~` sorts after the `.n` suffix of entries written in the same millisecond
    if (range.end !== undefined) opts.lte = `${prefix}${timeKey(range.end)}~`
    else opts.lt = prefix + TAG_END
    for await (const entry of bee.createReadStream(opts, RAW_VALUE)) yield decodeLogValue(entry.value as Buffer)
  }

  /** The entry of `tag` under a literal key in generation `bee`, or undefined. */
  async get (bee: Bee, tag: string, entryKey: string): Promise<unknown> {
    const entry = await bee.get(tagPrefix(tag) + entryKey, RAW_VALUE)
    return entry ? decodeLogValue(entry.value as Buffer) : undefined
  }

  /** A read of timeframe `tf` starts: the generation a rotation frees meanwhile is cleared after it. */
  enterRead (tf: string): void {
    this.readers.enter(tf)
  }

  leaveRead (tf: string): void {
    if (!this.readers.leave(tf)) return
    const pending = this.pendingClears.get(tf)
    if (!pending) return
    this.pendingClears.delete(tf)
    void (async () => {
      for (const gen of pending) await this.clear(tf, gen)
    })()
  }
}

/** The JSON text of a stat entry, refused when too large (ERR_VALUE_TOO_LARGE), then encoded. */
function encodeValue (value: unknown, what: string): Buffer {
  return encodeLogValue(assertStorable(value, `an entry of stat log ${what}`))
}
