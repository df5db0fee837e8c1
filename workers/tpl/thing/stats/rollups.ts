/**
 * Rollups (`rollupLogs` in base.thing.json): per stat tag, the average of each listed field of a
 * source stat log over fixed windows, written to `<destKey>-<tag>` as
 * `{ts: <window start>, <field>: <average>, rollup_count, rollup_window_ms}` (readable with
 * `tailLog {key: destKey, tag}`). Each tick rolls up the windows completed since the last one;
 * windows missed while the worker was down are caught up, at most `maxCatchUpWindows` of them.
 * A window without source entries writes nothing. Never on a read replica (it copies the master's).
 */
import { WrkError } from '../../../core/errors'
import type { RackParts } from '../rack-parts'
import { MAX_LOG_TIME_MS } from '../logs/time-log'
import { isStatTag, valueAt } from './stats'
import type { TickScheduler } from './stat-ticks'
import type { JsonObject } from '../types'
import { StoppableJobs } from '../../../core/async'

export interface RollupConf {
  srcKey: string
  destKey: string
  /** Dotted paths of numeric fields of the source entries. */
  fields: string[]
  windowMs: number
  maxCatchUpWindows: number
  /** When to roll up (seconds field first, UTC). */
  cron: string
}

const LOG_KEY = /^stat-[A-Za-z0-9]+$/
const FIELD_PATH = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/
const DEFAULTS = { windowMs: 3_600_000, maxCatchUpWindows: 48, cron: '0 1 * * * *' }

function invalid (i: number, why: string): never {
  throw new WrkError('ERR_CONFIG_INVALID', `config base.thing.json: rollupLogs[${i}] ${why}`)
}

/** `rollupLogs` of base.thing.json with its defaults; anything malformed is a configuration error. */
export function parseRollups (value: unknown): RollupConf[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) invalid(0, 'must be a list')
  return value.map((raw: unknown, i) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) invalid(i, 'must be an object')
    const r = { ...DEFAULTS, ...(raw as JsonObject) } as Record<string, unknown>
    if (typeof r.srcKey !== 'string' || !LOG_KEY.test(r.srcKey)) invalid(i, 'srcKey must be a stat log key (stat-<timeframe>)')
    if (typeof r.destKey !== 'string' || !LOG_KEY.test(r.destKey) || r.destKey === r.srcKey) {
      invalid(i, 'destKey must be another stat log key (stat-<name>)')
    }
    if (!Array.isArray(r.fields) || r.fields.length === 0 || !r.fields.every((f) => typeof f === 'string' && FIELD_PATH.test(f))) {
      invalid(i, 'fields must be a non-empty list of field paths')
    }
    if (!Number.isSafeInteger(r.windowMs) || (r.windowMs as number) < 1000) invalid(i, 'windowMs must be an integer ≥ 1000')
    if (!Number.isSafeInteger(r.maxCatchUpWindows) || (r.maxCatchUpWindows as number) < 1 || (r.maxCatchUpWindows as number) > 10_000) {
      invalid(i, 'maxCatchUpWindows must be an integer from 1 to 10000')
    }
    if (typeof r.cron !== 'string') invalid(i, 'cron must be a cron pattern')
    return r as unknown as RollupConf
  })
}

/** `value` at `path` of `out`, creating the objects on the way. */
function setPath (out: JsonObject, path: string, value: number): void {
  const keys = path.split('.')
  let node = out
  for (const k of keys.slice(0, -1)) {
    const next = node[k]
    node = (node[k] = next !== null && typeof next === 'object' && !Array.isArray(next) ? next : {}) as JsonObject
  }
  node[keys[keys.length - 1] as string] = value
}

export class Rollups {
  /** `<destKey>-<tag>` → the start of the last window rolled up. */
  private readonly done = new Map<string, number>()
  private readonly scheduled: string[] = []
  private readonly jobs = new StoppableJobs()

  constructor (private readonly rack: RackParts) {}

  /** One scheduler job per rollup; an invalid cron is a configuration error. */
  schedule (scheduler: TickScheduler, rollups: readonly RollupConf[]): void {
    rollups.forEach((conf, i) => {
      const name = `rollup-${i}-${conf.destKey}`
      try {
        scheduler.add(name, conf.cron, async (tick) => await this.run(conf, tick.getTime()))
      } catch (err) {
        throw new WrkError('ERR_CONFIG_INVALID', `config base.thing.json: rollupLogs[${i}] has an invalid cron pattern "${conf.cron}"`,
          { cause: err })
      }
      this.scheduled.push(name)
    })
  }

  /** No rollup starts any more; resolves when those in flight stopped (after the window they write). */
  async stop (scheduler?: TickScheduler): Promise<void> {
    for (const name of this.scheduled.splice(0)) scheduler?.remove(name)
    await this.jobs.stop()
  }

  /** Rolls up every window of `conf` completed by `now`, for every stat tag. */
  async run (conf: RollupConf, now: number): Promise<void> {
    await this.jobs.run(async () => await this.rollUp(conf, now))
  }

  private tags (): string[] {
    const tags = new Set<string>()
    for (const state of this.rack.registry.all()) for (const tag of state.record.tags) if (isStatTag(tag)) tags.add(tag)
    return [...tags]
  }

  private async rollUp (conf: RollupConf, now: number): Promise<void> {
    const w = conf.windowMs
    const end = Math.floor(Math.min(now, MAX_LOG_TIME_MS) / w) * w // the first window not yet complete
    for (const tag of this.tags()) {
      if (this.jobs.stopping) return
      const dest = `${conf.destKey}-${tag}`
      let last = this.done.get(dest)
      if (last === undefined) {
        const latest = await this.rack.logs.latest(dest) as { ts?: unknown } | null
        last = typeof latest?.ts === 'number' ? latest.ts : -Infinity
      }
      const from = Math.max(last + w, end - conf.maxCatchUpWindows * w)
      for (let start = from; start < end; start += w) {
        if (this.jobs.stopping) return
        const entry = await this.window(`${conf.srcKey}-${tag}`, conf, start)
        if (entry !== null) await this.rack.logs.append(dest, start, entry)
        this.done.set(dest, start)
      }
    }
  }

  /** The rollup entry of one window, or null when the source has nothing in it. */
  private async window (src: string, conf: RollupConf, start: number): Promise<JsonObject | null> {
    const sums = new Map<string, { sum: number, n: number }>()
    let count = 0
    for await (const e of this.rack.logs.scan(src, 0, { start, end: start + conf.windowMs - 1 }, true)) {
      count++
      for (const field of conf.fields) {
        const v = valueAt(e, field)
        if (typeof v !== 'number' || !Number.isFinite(v)) continue
        const acc = sums.get(field) ?? { sum: 0, n: 0 }
        acc.sum += v
        acc.n++
        sums.set(field, acc)
      }
    }
    if (count === 0) return null
    const out: JsonObject = { ts: start }
    for (const [field, { sum, n }] of sums) setPath(out, field, sum / n)
    out.rollup_count = count
    out.rollup_window_ms = conf.windowMs
    return out
  }
}
