import { WrkError } from '../errors'
import type { JsonObject } from '../types'

/** Runs `fn` over `items` with at most `limit` in flight; results keep input order. */
export async function mapLimit<T, R> (items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const limiter = new Limiter(limit)
  return await Promise.all(items.map((item) => limiter.run(() => fn(item))))
}

/** Rejects with `code` when `promise` has not settled within `ms`; the timer never outlives it. */
export async function withTimeout<T> (promise: Promise<T>, ms: number, code: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new WrkError(code)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const RANGE_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, H: 3_600_000, d: 86_400_000, D: 86_400_000, w: 604_800_000, W: 604_800_000 }

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
      const child = (Object.hasOwn(acc, k) && acc[k] !== null && typeof acc[k] === 'object' && !Array.isArray(acc[k]) ? acc[k] : {}) as JsonObject
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
 * Groups time-log entries (newest first, each with `ts`) into buckets of `groupRange`. Numeric
 * leaves are summed (or averaged with `avg`); other leaves keep the newest entry's value.
 * Each bucket reports `ts` = bucket start and `count` = entries merged.
 */
export function groupByRange (entries: unknown[], groupRange: string, avg = false): JsonObject[] {
  const span = rangeMs(groupRange)
  const buckets = new Map<number, { acc: JsonObject, counts: Map<string, number>, n: number }>()
  for (const e of entries) {
    if (e === null || typeof e !== 'object') continue
    const entry = e as JsonObject
    const ts = typeof entry.ts === 'number' ? entry.ts : NaN
    if (!Number.isFinite(ts)) continue
    const start = Math.floor(ts / span) * span
    let b = buckets.get(start)
    if (!b) {
      b = { acc: {}, counts: new Map(), n: 0 }
      buckets.set(start, b)
    }
    const { ts: _ts, ...rest } = entry
    mergeInto(b.acc, b.counts, rest, '')
    b.n++
  }
  return [...buckets.entries()]
    .sort((a, b) => b[0] - a[0])
    .map(([start, b]) => {
      if (avg) averageIn(b.acc, b.counts, '')
      return { ts: start, count: b.n, ...b.acc }
    })
}

/** A counting semaphore: at most `size` holders at once, waiters served in arrival order. */
export class Limiter {
  private active = 0
  private readonly waiting: Array<() => void> = []

  constructor (private readonly size: number) {}

  async run<T> (fn: () => Promise<T>): Promise<T> {
    if (this.active >= Math.max(1, this.size)) await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.active++
    try {
      return await fn()
    } finally {
      this.active--
      this.waiting.shift()?.()
    }
  }
}

/** Runs tasks one at a time per key (e.g. writes to one thing), different keys in parallel. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>()

  async run<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const tail = new Promise<void>((resolve) => { release = resolve })
    this.tails.set(key, tail)
    try {
      await prev
      return await fn()
    } finally {
      release()
      if (this.tails.get(key) === tail) this.tails.delete(key)
    }
  }
}
