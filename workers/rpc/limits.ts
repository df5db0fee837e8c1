/**
 * Bounds of requests and replies, written once. A request over a bound is refused before any
 * layer sees it (nothing changes); a reply is kept well under the transport's frame limit
 * (@hyperswarm/rpc closes the channel past ~16 MB) by cutting pages at a whole entry.
 */
import { WrkError } from '../core/errors'

/** Default bound of one request's JSON text (facs/net.config.json `r0.maxRequestBytes`). */
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
/** Nesting of a request. */
export const MAX_DEPTH = 32
/** Keys of one object in a request. */
export const MAX_OBJECT_KEYS = 1000
/** Entries of one array in a request. */
export const MAX_ARRAY_LENGTH = 10_000
/** Characters of one string in a request. */
export const MAX_STRING_LENGTH = 64 * 1024
/** JSON bytes a paged reply (listThings, tailLog, getHistoricalLogs, getWriteCalls) may hold. */
export const MAX_REPLY_BYTES = 8 * 1024 * 1024
/**
 * Bytes any encoded reply may have: past it the caller gets ERR_REPLY_TOO_LARGE instead of a
 * frame @hyperswarm/rpc would close the channel for (its ceiling is 16 MB).
 */
export const MAX_REPLY_FRAME_BYTES = 12 * 1024 * 1024
/**
 * Heavy reads (methods declared `heavy`) run at most `concurrency` at once; at most `maxQueue`
 * more wait, each at most `maxWaitMs` (then ERR_BUSY). With READ_BUDGET_MS per run, a heavy
 * read is answered within maxWaitMs + READ_BUDGET_MS whatever else is asked.
 */
export const HEAVY_READS = { concurrency: 2, maxQueue: 32, maxWaitMs: 4000 } as const

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

/**
 * Requests are data: keys that reach object prototypes (`__proto__`, `constructor`,
 * `prototype`), absurd nesting and oversized strings, arrays or objects are refused
 * (ERR_PARAMS_INVALID, the message names the bound) before any layer sees them.
 */
export function assertPlainJson (value: unknown, depth = 0): void {
  if (typeof value === 'string') {
    if (value.length > MAX_STRING_LENGTH) throw new WrkError('ERR_PARAMS_INVALID', `a string longer than ${MAX_STRING_LENGTH} characters`)
    return
  }
  if (value === null || typeof value !== 'object') return
  if (depth > MAX_DEPTH) throw new WrkError('ERR_PARAMS_INVALID', `request nested deeper than ${MAX_DEPTH} levels`)
  if (Array.isArray(value)) {
    if (value.length > MAX_ARRAY_LENGTH) throw new WrkError('ERR_PARAMS_INVALID', `an array longer than ${MAX_ARRAY_LENGTH}`)
    for (const v of value) assertPlainJson(v, depth + 1)
    return
  }
  const keys = Object.keys(value)
  if (keys.length > MAX_OBJECT_KEYS) throw new WrkError('ERR_PARAMS_INVALID', `an object with more than ${MAX_OBJECT_KEYS} keys`)
  for (const key of keys) {
    if (FORBIDDEN_KEYS.has(key)) throw new WrkError('ERR_PARAMS_INVALID', `key ${key} is not allowed`)
    assertPlainJson((value as Record<string, unknown>)[key], depth + 1)
  }
}

/**
 * A reply page built within a byte bound: `add` keeps an item while the page's JSON stays within
 * `maxBytes` (the first item always, so a caller can page on) and answers false once it is full.
 * Reads that stream keep only this page, whatever they examine.
 */
export class ReplyPage<T> {
  readonly items: T[] = []
  private bytes = 2
  /** Set once an item did not fit. */
  full = false

  constructor (private readonly maxBytes = MAX_REPLY_BYTES) {}

  add (item: T): boolean {
    if (this.full) return false
    const size = Buffer.byteLength(JSON.stringify(item) ?? 'null') + 1
    if (this.items.length > 0 && this.bytes + size > this.maxBytes) {
      this.full = true
      return false
    }
    this.bytes += size
    this.items.push(item)
    return true
  }
}

/**
 * The longest prefix of `items` whose JSON stays within MAX_REPLY_BYTES (at least one item, so
 * a caller can always page on). Callers page on with `offset` or a time range.
 */
export function capReply<T> (items: T[], maxBytes = MAX_REPLY_BYTES): T[] {
  const page = new ReplyPage<T>(maxBytes)
  for (const item of items) if (!page.add(item)) break
  return page.items
}
