/**
 * The rack's time logs with the stat logs kept per timeframe (./stat-by-timeframe.ts) while
 * callers still name them per tag (`stat-<tf>-<tag>`, ./stat-keys.ts), and the per-tag stat logs
 * of older stores read after them until they fall out of reach.
 */
import type { Bee, BeeStore } from '../../../facs/store'
import { TimeLogs, isCorrupt, type LogMeta, type ReadRange, type TimeLogOptions } from './time-log'
import { StatLogs } from './stat-by-timeframe'
import { RTD, parseStatKey, statLogKey } from './stat-keys'

export { RTD, RTD_ENTRY_KEY, parseStatKey, statLogKey, tagPrefix } from './stat-keys'
export { StatLogs, type StatLogsHooks } from './stat-by-timeframe'

export interface StatTimeLogOptions extends TimeLogOptions {
  /** Told when the per-tag stat logs of a timeframe were removed (out of reach). */
  onLegacyDropped?: (tf: string, logs: number) => void
  /** Told when removing them failed (retried at the next rotation or start). */
  onError?: (err: unknown, what: string) => void
}

/**
 * The rack's time logs: TimeLogs for every log, except that stat logs (`stat-<tf>-<tag>`) are
 * kept per timeframe (StatLogs) while callers still name them per tag. Per-tag stat
 * logs found in the store (written before this layout) are read after the tag's per-timeframe
 * generations, as its older generations, until the timeframe holds maxHeight generations of its
 * own; then (master only) they are removed. The rtd record is the exception: a per-tag rtd log
 * is read only for a tag the per-timeframe log does not hold (its record is older, not more).
 */
export class StatTimeLogs extends TimeLogs {
  readonly stats: StatLogs
  /** tf → whether per-tag stat logs may exist (kept on the master, which is the only writer). */
  private readonly legacy = new Map<string, boolean>()
  private readonly dropping = new Map<string, Promise<void>>()
  private stopped = false

  constructor (store: BeeStore, private readonly metaDb: Bee<LogMeta>, private readonly statOpts: StatTimeLogOptions) {
    super(store, metaDb, statOpts)
    this.stats = new StatLogs(store, metaDb, statOpts, {
      onGenerations: (tf, generations) => { if (generations >= this.maxHeight) this.dropLegacy(tf) }
    })
  }

  /** No more removals of per-tag logs start; resolves when the one in flight stopped. */
  async stop (): Promise<void> {
    this.stopped = true
    await Promise.allSettled([...this.dropping.values()])
  }

  override async exists (key: string): Promise<boolean> {
    return parseStatKey(key) ? await this.hasGeneration(key, 0) : await super.exists(key)
  }

  override async put (key: string, entryKey: string, value: unknown): Promise<void> {
    const stat = parseStatKey(key)
    if (!stat) return await super.put(key, entryKey, value)
    await this.stats.put(stat.tf, stat.tag, entryKey, value)
  }

  override async append (key: string, ts: number, value: unknown): Promise<void> {
    const stat = parseStatKey(key)
    if (!stat) return await super.append(key, ts, value)
    await this.stats.append(stat.tf, stat.tag, ts, value)
  }

  override async get (key: string, entryKey: string): Promise<unknown> {
    const stat = parseStatKey(key)
    if (!stat) return await super.get(key, entryKey)
    const { tf, tag } = stat
    this.stats.enterRead(tf)
    try {
      for (const gen of await this.stats.generations(tf)) {
        const bee = await this.stats.bee(tf, gen)
        if (!(await this.holds(tf, gen, bee, tag))) continue
        const value = await this.readGen(tf, gen, () => this.stats.get(bee, tag, entryKey))
        return value ?? null
      }
    } finally {
      this.stats.leaveRead(tf)
    }
    return await this.legacyMay(tf) ? await super.get(key, entryKey) : null
  }

  override async hasGeneration (key: string, offset: number): Promise<boolean> {
    const stat = parseStatKey(key)
    if (!stat) return await super.hasGeneration(key, offset)
    if (offset < 0) return false
    const { tf, tag } = stat
    let index = 0
    this.stats.enterRead(tf)
    try {
      for (const gen of await this.stats.generations(tf)) {
        if (!(await this.holds(tf, gen, await this.stats.bee(tf, gen), tag))) continue
        if (index === offset) return true
        index++
      }
    } finally {
      this.stats.leaveRead(tf)
    }
    if (tf === RTD && index > 0) return false
    return offset < this.maxHeight && await this.legacyMay(tf) && await super.hasGeneration(key, offset - index)
  }

  /**
   * A stat log's entries newest first from the tag's generation `offset` on (see the class
   * comment for the per-tag generations that follow); other logs as TimeLogs reads them.
   */
  override async * scan (
    key: string, offset: number, range: Omit<ReadRange, 'limit'>, walk: boolean, height = this.maxHeight
  ): AsyncGenerator<unknown> {
    const stat = parseStatKey(key)
    if (!stat) {
      yield * super.scan(key, offset, range, walk, height)
      return
    }
    if (offset < 0) return
    const { tf, tag } = stat
    const cap = Math.min(height, this.maxHeight)
    let index = 0
    let started = false
    let legacyRead = false
    this.stats.enterRead(tf)
    try {
      const legacy = await this.legacyMay(tf)
      for (const gen of await this.stats.generations(tf)) {
        if (started && !walk) return
        const bee = await this.stats.bee(tf, gen)
        // generations are counted until the offset is reached, and all of them when per-tag ones may follow
        if (!started || legacy) {
          if (!(await this.holds(tf, gen, bee, tag))) continue
          if (index >= cap) return
          if (!started && index < offset) {
            index++
            continue
          }
          index++
        }
        started = true
        yield * this.readGenEntries(tf, gen, bee, tag, range)
      }
      if (!legacy || (started && !walk) || index >= cap || (tf === RTD && index > 0)) return
      legacyRead = true
      yield * super.scan(key, started ? 0 : offset - index, range, started ? true : walk, cap - index)
    } finally {
      this.stats.leaveRead(tf)
      // per-tag generations opened for this read are not kept open (a replica's copies are the replica view's)
      if (legacyRead && this.statOpts.cacheMeta !== false) this.release(key).catch(() => {})
    }
  }

  /** Whether a generation holds the tag; a corrupt one is reported and holds nothing. */
  private async holds (tf: string, gen: number, bee: Bee, tag: string): Promise<boolean> {
    return await this.readGen(tf, gen, () => this.stats.has(bee, tag)) === true
  }

  private async readGen<T> (tf: string, gen: number, read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read()
    } catch (err) {
      if (!isCorrupt(err)) throw err
      this.statOpts.onCorrupt?.(statLogKey(tf), gen, err)
      return undefined
    }
  }

  private async * readGenEntries (
    tf: string, gen: number, bee: Bee, tag: string, range: Omit<ReadRange, 'limit'>
  ): AsyncGenerator<unknown> {
    try {
      for await (const entry of this.stats.entries(bee, tag, range)) yield entry
    } catch (err) {
      if (!isCorrupt(err)) throw err
      this.statOpts.onCorrupt?.(statLogKey(tf), gen, err)
    }
  }

  /** Whether per-tag stat logs of `tf` may be in the store. */
  private async legacyMay (tf: string): Promise<boolean> {
    const known = this.legacy.get(tf)
    if (known !== undefined) return known
    let found = false
    for await (const _ of this.metaDb.createReadStream({ ...legacyRange(tf), limit: 1 })) found = true
    // a replica's copy may still be arriving: it looks again at every read
    if (this.statOpts.cacheMeta !== false) this.legacy.set(tf, found)
    return found
  }

  /**
   * The timeframe holds maxHeight generations of its own: a tag written at every tick cannot
   * reach its per-tag generations any more, so they are removed (metadata, then blocks), one
   * log at a time in the background. Only the master gets here (the only writer).
   */
  private dropLegacy (tf: string): void {
    if (this.stopped || this.dropping.has(tf) || this.legacy.get(tf) === false) return
    const run = (async () => {
      if (!(await this.legacyMay(tf))) return
      // reads stop looking for them from now on
      this.legacy.set(tf, false)
      const keys: string[] = []
      for await (const e of this.metaDb.createReadStream(legacyRange(tf))) keys.push(e.key)
      for (const key of keys) {
        if (this.stopped) return
        await this.drop(key)
      }
      this.statOpts.onLegacyDropped?.(tf, keys.length)
    })().catch((err: unknown) => {
      this.legacy.delete(tf)
      if (!this.stopped) this.statOpts.onError?.(err, `removing the per-tag stat logs of ${tf}`)
    }).finally(() => this.dropping.delete(tf))
    this.dropping.set(tf, run)
  }
}
/** The `meta_logs` keys of the per-tag stat logs of `tf`: `stat-<tf>-…`. */
function legacyRange (tf: string): { gte: string, lt: string } {
  return { gte: `stat-${tf}-`, lt: `stat-${tf}.` }
}
