/**
 * `groupRange` of tailLog: durations (`30m`, `1h`, `1D`) and the buckets entries are merged into.
 */
import { WrkError } from '../../../core/errors'
import type { JsonObject } from '../../../core/types'

const RANGE_MS: Record<string, number> = {
  s: 1000, m: 60_000, h: 3_600_000, H: 3_600_000, d: 86_400_000, D: 86_400_000, w: 604_800_000, W: 604_800_000
}

export function rangeMs (groupRange: string): number {
  const m = /^(\d+)(s|m|h|H|d|D|w|W)$/.exec(groupRange)
  if (!m || Number(m[1]) <= 0) throw new WrkError('ERR_LOG_GROUP_RANGE_INVALID')
  return Number(m[1]) * RANGE_MS[m[2]]
}

const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

function mergeInto (acc: JsonObject, counts: Map<string, number>, entry: JsonObject, prefix: string): void {
  for (const [k, v] of Object.entries(entry)) {
    if (UNSAFE_KEYS.has(k)) continue
    const path = prefix + k
    if (typeof v === 'number' && Number.isFinite(v)) {
      const prev = acc[k]
      acc[k] = (typeof prev === 'number' ? prev : 0) + v
      counts.set(path, (counts.get(path) ?? 0) + 1)
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const child = (Object.hasOwn(acc, k) && acc[k] !== null && typeof acc[k] === 'object' && !Array.isArray(acc[k])
        ? acc[k]
        : {}) as JsonObject
      acc[k] = child
      mergeInto(child, counts, v as JsonObject, `${path}.`)
    } else if (!(k in acc)) {
      acc[k] = v
    }
  }
}

function averageIn (acc: JsonObject, counts: Map<string, number>, prefix: string): void {
  for (const [k, v] of Object.entries(acc)) {
    const path = prefix + k
    if (typeof v === 'number' && counts.has(path)) acc[k] = v / (counts.get(path) ?? 1)
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) averageIn(v as JsonObject, counts, `${path}.`)
  }
}

/**
 * Groups time-log entries (newest first, each with `ts`) into buckets of `groupRange`, one entry
 * at a time, so that a caller streaming a log keeps only the buckets. Numeric leaves are summed
 * (or averaged with `avg`); other leaves keep the newest entry's value. Each bucket reports `ts` =
 * bucket start and `count` = entries merged.
 */
export class RangeGroups {
  private readonly span: number
  private readonly buckets = new Map<number, { acc: JsonObject, counts: Map<string, number>, n: number }>()

  constructor (groupRange: string, private readonly avg = false) {
    this.span = rangeMs(groupRange)
  }

  /** The bucket an entry falls in (its start), or null for an entry without a finite `ts`. */
  bucketOf (e: unknown): number | null {
    if (e === null || typeof e !== 'object') return null
    const ts = (e as JsonObject).ts
    return typeof ts === 'number' && Number.isFinite(ts) ? Math.floor(ts / this.span) * this.span : null
  }

  has (start: number): boolean {
    return this.buckets.has(start)
  }

  add (e: unknown): void {
    const start = this.bucketOf(e)
    if (start === null) return
    let b = this.buckets.get(start)
    if (!b) {
      b = { acc: {}, counts: new Map(), n: 0 }
      this.buckets.set(start, b)
    }
    const { ts: _ts, ...rest } = e as JsonObject
    mergeInto(b.acc, b.counts, rest, '')
    b.n++
  }

  /** The buckets, newest first. */
  result (): JsonObject[] {
    return [...this.buckets.entries()]
      .sort((a, b) => b[0] - a[0])
      .map(([start, b]) => {
        if (this.avg) averageIn(b.acc, b.counts, '')
        return { ts: start, count: b.n, ...b.acc }
      })
  }
}

/** {@link RangeGroups} over a whole list. */
export function groupByRange (entries: unknown[], groupRange: string, avg = false): JsonObject[] {
  const groups = new RangeGroups(groupRange, avg)
  for (const e of entries) groups.add(e)
  return groups.result()
}
