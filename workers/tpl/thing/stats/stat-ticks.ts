/**
 * Stats ticks (worker.md §8): on each timeframe's cron tick the things are grouped by tag
 * (`id-`/`code-` tags skipped), aggregated with the rack's stat spec and written to
 * `stat-<tf>-<tag>` with `ts` = the tick time floored to the second; `rtd` is one overwritten
 * record without `ts`. A tick never overlaps the previous tick of its timeframe.
 *
 * The rack's logs keep stat logs per timeframe (./stat-log.ts): a tick is then one batch of
 * every tag into its timeframe's log. Given plain per-tag time logs, each tag is written on its
 * own, as before.
 */
import { WrkError } from '../../../core/errors'
import type { RackParts } from '../rack-parts'
import { RTD, RTD_ENTRY_KEY, StatTimeLogs } from '../logs/stat-log'
import { aggregate, isStatTag, type StatEntry, type StatSpec } from './stats'
import type { ThingState } from '../types'
import { rangeMs } from '../logs/range-groups'
import { StoppableJobs } from '../../../core/async'

/** `[name, cron]`, seconds field first, UTC. */
export type Timeframe = readonly [name: string, cron: string]

/** The thing template's timeframes; the container template adds `1m`, `20s` and `rtd`. */
export const THING_TIMEFRAMES: readonly Timeframe[] = [
  ['5m', '0 */5 * * * *'],
  ['30m', '0 */30 * * * *'],
  ['3h', '0 0 */3 * * *'],
  ['1D', '0 0 0 * * *']
]

export { RTD, RTD_ENTRY_KEY }

/**
 * Per-tag stat logs (plain TimeLogs) of a timeframe at least this long are closed after each
 * tick's write and reopened by the next (every 5 minutes or less often); the shorter ones stay
 * open. (The per-timeframe logs are 7 bees in all and stay open.)
 */
export const CLOSE_STAT_LOGS_FROM_MS = 5 * 60_000

/** `20s` → 20 000, `5m` → 300 000, `1D` → 86 400 000; null for a name that is no duration (`rtd`). */
function timeframeMs (name: string): number | null {
  try {
    return rangeMs(name)
  } catch {
    return null
  }
}

/** Whether two tags' member lists are the same things in the same order (rack-wide tags usually are). */
function sameMembers (a: readonly ThingState[], b: readonly ThingState[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Timeframes with `extra` added; an extra one with a known name replaces its cron. */
export function mergeTimeframes (base: readonly Timeframe[], extra: readonly Timeframe[]): Timeframe[] {
  const out = new Map(base.map(([name, cron]) => [name, cron]))
  for (const [name, cron] of extra) out.set(name, cron)
  return [...out].map(([name, cron]) => [name, cron] as const)
}

/** `scheduleAddlStatConfigTfs`: `[[name, cron], …]`; anything else is a configuration error. */
export function parseTimeframes (value: unknown): Timeframe[] {
  if (value === undefined) return []
  const ok = Array.isArray(value) && value.every((t) => Array.isArray(t) && t.length === 2 &&
    typeof t[0] === 'string' && /^[A-Za-z0-9]+$/.test(t[0]) && typeof t[1] === 'string')
  if (!ok) throw new WrkError('ERR_CONFIG_INVALID', 'config base.thing.json: scheduleAddlStatConfigTfs must be [[name, cron], …]')
  return value as Timeframe[]
}

/** The scheduler slice the ticks run on. */
export interface TickScheduler {
  add: (name: string, cron: string, fn: (tick: Date) => Promise<void>) => void
  remove: (name: string) => void
}

/** Things per tag, in registry order. */
export function thingsByTag (things: readonly ThingState[]): Map<string, ThingState[]> {
  const out = new Map<string, ThingState[]>()
  for (const state of things) {
    for (const tag of state.record.tags) {
      if (!isStatTag(tag)) continue
      let list = out.get(tag)
      if (!list) out.set(tag, list = [])
      list.push(state)
    }
  }
  return out
}

export class StatTicks {
  /** The logs each timeframe wrote at its last tick. */
  private readonly open = new Map<string, Set<string>>()
  private readonly scheduled: string[] = []
  private readonly jobs = new StoppableJobs()
  /** The aggregates of the last tick second: timeframes ticking in the same second share them. */
  private shared: { ts: number, aggregates: Map<string, Record<string, unknown>> } | null = null

  constructor (private readonly rack: RackParts, private readonly spec: () => StatSpec | null) {}

  /** Aggregates of every tag at this moment (what a tick writes). */
  snapshot (): Map<string, Record<string, unknown>> {
    const spec = this.spec()
    const out = new Map<string, Record<string, unknown>>()
    if (!spec) return out
    // tags with the very same things (t-container, t-container-mbt…, the layer tags) share one aggregate
    const done: Array<[readonly ThingState[], Record<string, unknown>]> = []
    for (const [tag, things] of thingsByTag(this.rack.registry.all())) {
      const same = things.length > 1 ? done.find(([members]) => sameMembers(members, things)) : undefined
      if (same) {
        out.set(tag, same[1])
        continue
      }
      const entries: StatEntry[] = things.map((s) => ({ last: s.last as Record<string, unknown>, info: s.record.info }))
      const acc = aggregate(spec, entries)
      if (things.length > 1) done.push([things, acc])
      out.set(tag, acc)
    }
    return out
  }

  /** One tick of timeframe `tf` fired at `tick`; refused once the rack is stopping. */
  async build (tf: string, tick: Date): Promise<void> {
    await this.jobs.run(async () => await this.write(tf, tick))
  }

  /** One scheduler job `stat-<tf>` per timeframe; an invalid cron is a configuration error. */
  schedule (scheduler: TickScheduler, timeframes: readonly Timeframe[]): void {
    for (const [tf, cron] of timeframes) {
      try {
        scheduler.add(`stat-${tf}`, cron, (tick) => this.build(tf, tick))
      } catch (err) {
        throw new WrkError('ERR_CONFIG_INVALID', `config base.thing.json: timeframe ${tf} has an invalid cron pattern "${cron}"`,
          { cause: err })
      }
      this.scheduled.push(`stat-${tf}`)
    }
  }

  /**
   * No tick starts any more; resolves when the ticks in flight have stopped, each after the
   * store write it is in: a tick's batch not yet flushed is dropped whole (per-tag logs: the
   * rest of the tick's tags are not written). A stop never waits for thousands of tag writes.
   */
  async stop (scheduler?: TickScheduler): Promise<void> {
    for (const name of this.scheduled.splice(0)) scheduler?.remove(name)
    await this.jobs.stop()
  }

  private async write (tf: string, tick: Date): Promise<void> {
    const ts = Math.floor(tick.getTime() / 1000) * 1000
    const written = new Set<string>()
    const period = timeframeMs(tf)
    const closeAfter = period === null ? tf !== RTD : period >= CLOSE_STAT_LOGS_FROM_MS
    // rtd, 20s and 1m tick together every minute: one aggregation for the three
    if (this.shared?.ts !== ts) this.shared = { ts, aggregates: this.snapshot() }
    const logs = this.rack.logs
    if (logs instanceof StatTimeLogs) {
      await logs.stats.writeTick(tf, tf === RTD ? { entryKey: RTD_ENTRY_KEY } : { ts }, this.shared.aggregates, () => this.jobs.stopping)
      return
    }
    for (const [tag, acc] of this.shared.aggregates) {
      if (this.jobs.stopping) return
      const key = `stat-${tf}-${tag}`
      if (tf === RTD) await this.rack.logs.put(key, RTD_ENTRY_KEY, acc)
      else await this.rack.logs.append(key, ts, { ts, ...acc })
      if (closeAfter) await this.rack.logs.release(key)
      else written.add(key)
    }
    // a tag no thing carries any more: its log stays on disk, closed
    for (const key of this.open.get(tf) ?? []) if (!written.has(key)) await this.rack.logs.close(key)
    this.open.set(tf, written)
  }
}
