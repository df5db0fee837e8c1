/**
 * Bounded by construction (issue 29): no read request, however shaped and however many at once,
 * may freeze or kill the worker. A Kehua worker runs in this process on a store seeded through
 * its own classes (3 000 info-history entries whose things carry 1 kB strings, 3 000 alerts, a
 * snapshot log and a stat log of 2 000 entries, 700 things of which 600 carry 58 tags of ~250
 * characters, 1 MiB of settings). Every read method then gets worst-case inputs at its limits
 * (listed shapes, then payloads generated with fast-check), first one at a time with exact
 * expectations, then 16 at once from a read-only key, while a second client pings.
 *
 * Measured in this process (= the worker's): event-loop delay p99 < LOOP_P99_MS, RSS growth
 * < RSS_GROWTH_MB over the run, every ping answered within PING_MAX_MS, every request answered
 * (a result or a clear ERR_* code, never ERR_INTERNAL, a timeout or a closed channel) within
 * ANSWER_MAX_MS, every reply ≤ MAX_REPLY_FRAME_BYTES. A second test fills a rack up to every
 * registry limit (maxThings, maxTagsPerThing, maxStatTags set low), checks the refusals, its RSS
 * and that stop() with stat logs open takes < STOP_MAX_MS.
 *
 * The worker runs from source in this process (no build needed). Queries are treated as a black
 * box: a hostile one is either refused (ERR_QUERY_INVALID) or answered within the read budget.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import fc from 'fast-check'
import HyperDHT from 'hyperdht'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient, sleep, type DHTNodeAddress, type JsonObject, type RpcClient } from '../helpers'
import { startRackInProcess, type RackWorker } from '../helpers/rack'
import { errorCode } from '../../workers/core/errors'
import { errorCodeOfReply } from '../../workers/rpc/codec'
import { MAX_REPLY_BYTES, MAX_REPLY_FRAME_BYTES } from '../../workers/rpc/limits'
import { ALERTS_LOG } from '../../workers/tpl/thing/logs/log-names'
import { INFO_HISTORY_LOG } from '../../workers/tpl/thing/logs/log-names'
import { MAX_LOG_TIME_MS } from '../../workers/tpl/thing/logs/time-log'

// ---- bounds asserted -----------------------------------------------------------------------
/**
 * Event-loop delay p99 of this process over the whole load. The process is the worker's, but
 * also the test's: its RPC clients decode the 8 MiB replies and fast-check builds the payloads
 * on the same loop, and vitest runs another test file on the other core. 53 ms measured alone,
 * up to 114 ms with two other heavy processes on the machine; the worker in its own process
 * (npm run bench:budget) keeps ping p99 at 36 ms. The bound leaves room for a loaded CI.
 */
const LOOP_P99_MS = 150
/**
 * RSS growth of this process over the load. It holds the worker and its three RPC clients (their
 * copies of the 8 MiB replies included); ~250 MB measured, levelling off after the first round.
 * The unbounded reads of the issue grew a worker by ~740 MB per request; 16 of them over this
 * store would take several GB.
 */
const RSS_GROWTH_MB = 400
/** How much more a later round of the flood may take than the first (memory levels off). */
const RSS_ROUND_DRIFT_MB = 150
/** Rounds of the flood (each: every listed and generated request, 16 at once). */
const FLOOD_ROUNDS = 3
/** Slowest ping during the load. */
const PING_MAX_MS = 1000
/** Slowest answer: a heavy read waits ≤ 4 s for a slot and runs ≤ 5 s, plus encoding and transport. */
const ANSWER_MAX_MS = 15_000
/** RSS growth while a rack is filled up to its registry limits. */
const LIMITS_RSS_GROWTH_MB = 300
/** stop() of a rack at its limits with its stat logs open. */
const STOP_MAX_MS = 2000

// ---- the seeded store ----------------------------------------------------------------------
const HISTORY_THINGS = 100
const WIDE_THINGS = 600
/** Caller tags per wide thing: with the 6 automatic ones, the default maxTagsPerThing (64). */
const WIDE_TAGS = Array.from({ length: 58 }, (_, i) => `wide-${String(i).padStart(2, '0')}-${'w'.repeat(244)}`)
const INFO_ENTRIES = 3000
const ALERT_ENTRIES = 3000
const SNAP_ENTRIES = 2000
const STAT_ENTRIES = 2000
const STAT_KEY = 'stat-5m'
const STAT_TAG = 't-container'
/** 1 kB strings without the letters the hostile patterns look for (worst case for backtracking). */
const KB = (c: string): string => c.repeat(1024)
/** 1 kB on which `(a+)+$` fails only at the very end. */
const A_KB = 'a'.repeat(1023) + '!'

const FULL_SEED = Buffer.alloc(32, 0x31)
const READ_ONLY_SEED = Buffer.alloc(32, 0x32)
const PINGER_SEED = Buffer.alloc(32, 0x33)
const keyOf = (seed: Buffer): string => HyperDHT.keyPair(seed).publicKey.toString('hex')

/** Acceptable refusals of any read under load (besides a result). */
const LOAD_CODES = new Set(['ERR_BUSY', 'ERR_READ_BUDGET_EXCEEDED', 'ERR_QUERY_INVALID', 'ERR_PARAMS_INVALID', 'ERR_FIELDS_INVALID', 'ERR_REQUEST_TOO_LARGE'])

let bootstrap: DHTNodeAddress[]

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
})

afterAll(cleanupAll)

// ---- requests and their outcomes -----------------------------------------------------------

interface Shape {
  label: string
  method: string
  body: unknown
  /** Phase A (one at a time): the exact outcomes allowed: 'result' and/or codes. */
  expect?: readonly string[]
  /** Phase A: a check of the result (in short, see Digest). */
  check?: (res: Digest) => void
  /** Codes this shape may answer besides LOAD_CODES under load (e.g. its own validation code). */
  also?: readonly string[]
}

interface Outcome {
  shape: Shape
  label: string
  method: string
  /** 'result', an ERR_* code, or 'TRANSPORT:<code>' when no reply came. */
  outcome: string
  ms: number
  bytes: number
  /** Phase A: the result in short (an array's length, a number, getWriteCalls' calls). */
  digest?: Digest
}

/** A result in short: enough for the phase-A checks. */
type Digest = { length: number } | { calls: number, nextOffset: number | null, firstId: string | null } | { value: unknown } | { type: string }

function digestOf (text: string): Digest {
  const v = JSON.parse(text) as unknown
  if (Array.isArray(v)) return { length: v.length }
  if (typeof v === 'number') return { value: v }
  const calls = (v as { calls?: unknown } | null)?.calls
  if (Array.isArray(calls)) {
    const { nextOffset } = v as { nextOffset?: number }
    return { calls: calls.length, nextOffset: nextOffset ?? null, firstId: (calls[0] as { id?: string } | undefined)?.id ?? null }
  }
  return { type: typeof v }
}

/**
 * One request over RPC; the reply is never parsed under load (only its size and error code are
 * read). With `digest` (phase A) the result is parsed with the loop monitor paused: that is the
 * caller's work, not the worker's.
 */
/** Request bytes, encoded once per shape before the measurement (a body may be ~1 MiB of JSON). */
const payloads = new WeakMap<Shape, Buffer>()
function payloadOf (shape: Shape): Buffer {
  let p = payloads.get(shape)
  if (!p) payloads.set(shape, p = Buffer.from(JSON.stringify(shape.body)))
  return p
}

async function send (client: RpcClient, key: string, shape: Shape, digest?: { pause: () => void, resume: () => void }): Promise<Outcome> {
  const payload = payloadOf(shape)
  const t0 = performance.now()
  const base = { shape, label: shape.label, method: shape.method }
  try {
    const text = await client.requestRaw(key, shape.method, payload, 30_000)
    const ms = performance.now() - t0
    const bytes = Buffer.byteLength(text)
    const code = text.startsWith('"[HRPC_ERR]=') ? errorCodeOfReply(JSON.parse(text)) : null
    let d: Digest | undefined
    if (digest && code === null) {
      digest.pause()
      d = digestOf(text)
      digest.resume()
    }
    return { ...base, outcome: code ?? 'result', ms, bytes, digest: d }
  } catch (err) {
    return { ...base, outcome: `TRANSPORT:${errorCode(err)}`, ms: performance.now() - t0, bytes: 0 }
  }
}

/** A loop pinging over its own client every 50 ms until `stop()`; every latency is kept. */
function startPinger (client: RpcClient, key: string): { stop: () => Promise<{ times: number[], failures: string[] }> } {
  const times: number[] = []
  const failures: string[] = []
  let running = true
  const loop = (async () => {
    for (let n = 0; running; n++) {
      const t0 = performance.now()
      try {
        const text = await client.requestRaw(key, 'ping', Buffer.from(JSON.stringify({ n })), 5000)
        if (text !== JSON.stringify({ n })) failures.push(`ping ${n} answered ${text.slice(0, 80)}`)
      } catch (err) {
        failures.push(`ping ${n}: ${errorCode(err)}`)
      }
      times.push(performance.now() - t0)
      await sleep(50)
    }
  })()
  return {
    stop: async () => {
      running = false
      await loop
      return { times, failures }
    }
  }
}

/** The highest RSS seen, sampled every 50 ms; `mark()` starts a new segment (its own peak). */
function startRssSampler (): { peak: () => number, mark: () => void, segments: () => number[], stop: () => void } {
  let peak = process.memoryUsage.rss()
  const segs = [peak]
  const sample = (): void => {
    const r = process.memoryUsage.rss()
    peak = Math.max(peak, r)
    segs[segs.length - 1] = Math.max(segs[segs.length - 1] as number, r)
  }
  const timer = setInterval(sample, 50)
  return {
    peak: () => { sample(); return peak },
    mark: () => { sample(); segs.push(process.memoryUsage.rss()) },
    segments: () => [...segs],
    stop: () => clearInterval(timer)
  }
}

const MB = 1024 * 1024
const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b)
const pct = (xs: number[], q: number): number => {
  const s = sorted(xs)
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number
}

// ---- hostile payloads generated with fast-check --------------------------------------------

const PATHS = ['id', 'code', 'tags', 'info.note', 'info.a', 'info.big', 'info.container', 'thing.info.note', 'thing.info.a', 'thing.info.big', 'thing.tags',
  'changes.note.newValue', 'changes.a.oldValue', 'name', 'severity', 'thingId', 'snap.stats.status', 'ts', 'createdAt', 'comments.comment', 'x.y.z']

/** Regex pieces that backtrack badly on long runs of one letter, and pieces that do not parse. */
const REGEX_PIECES = ['.*', '.+', '(a+)+', '(a|a)*', '.{100}', '\\w*', '[a-z]*', '(?:n|nn)*', 'x', '$', '^', 'n', '\\s*', '(.*a)', '{12}',
  '(n*)*', '[^x]*', '\\d*', '(?=n)', '\\1', '(', ')', '[', '*', '(?<g>n+)\\k<g>', 'n{0,100}', '(?:.*){3}']
const CANONICAL_REGEXES = ['.*.{100}x', '.*.{100}x'.repeat(25), '(a+)+$', '^(a|a)*$', '(.*a){12}', '\\d*\\d*\\d*x', `${'.*'.repeat(10)}x`, '(x+x+)+y',
  '([a-z]+)*$', '(n|nn)+$', '^(n+)+x', `${'n?'.repeat(100)}${'n'.repeat(100)}`, 'n{100}n{100}x', '(?:(?:n*)*)*x', '.'.repeat(256), '.'.repeat(257)]

const regex: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...CANONICAL_REGEXES),
  fc.array(fc.constantFrom(...REGEX_PIECES), { minLength: 1, maxLength: 80 }).map((a) => a.join('').slice(0, 260))
)
const regexCond = fc.record({ $regex: regex, $options: fc.constantFrom('', 'i', 'ims', 's', 'x', 'gg') }, { requiredKeys: ['$regex'] })
const leaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null),
  fc.constantFrom('h-1', 'w-1', 'critical', KB('n'), 'MBT-KEHUA-0001', 't-container', WIDE_TAGS[0] as string)
)
/** A width at or around the caps a query layer may have, and the request bounds (10 000 entries). */
const width = fc.constantFrom(0, 1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 256, 257, 1000, 4096, 10_000, 10_001)

const query: fc.Arbitrary<JsonObject> = fc.letrec<{ query: JsonObject, cond: unknown }>((tie) => ({
  cond: fc.oneof(
    { depthSize: 'small' },
    leaf,
    regexCond,
    fc.record({ $in: fc.array(fc.oneof(leaf, regex), { maxLength: 8 }) }),
    fc.record({ $nin: fc.array(leaf, { maxLength: 4 }) }),
    fc.record({ $all: fc.array(leaf, { maxLength: 4 }) }),
    fc.record({ $not: fc.oneof(regexCond, tie('cond')) }),
    fc.record({ $elemMatch: fc.oneof(tie('query'), regexCond) }),
    fc.record({ $size: fc.oneof(fc.integer({ min: -1, max: 100 }), fc.constant(1e9)) }),
    fc.record({ $exists: fc.boolean() }),
    fc.record({ $gt: leaf, $lte: leaf }, { requiredKeys: [] }),
    fc.record({ $type: fc.constantFrom('string', 'array', 2, 'regex') }),
    fc.record({ $where: fc.constant('while(true){}') }),
    fc.record({ $expr: fc.constant({ $gt: ['$ts', 0] }) })
  ),
  query: fc.oneof(
    { depthSize: 'small' },
    fc.dictionary(fc.constantFrom(...PATHS), tie('cond'), { maxKeys: 4 }),
    fc.record({ $or: fc.array(tie('query'), { maxLength: 5 }) }),
    fc.record({ $and: fc.array(tie('query'), { maxLength: 5 }) }),
    fc.record({ $nor: fc.array(tie('query'), { maxLength: 5 }) })
  ) as fc.Arbitrary<JsonObject>
})).query

/** A `$or`/`$and`/`$nor` as wide as the caps (or the request bounds) allow, of regexes over long strings. */
const wideQuery: fc.Arbitrary<JsonObject> = fc.tuple(fc.constantFrom('$or', '$and', '$nor'), width, fc.array(regex, { minLength: 1, maxLength: 4 }), fc.constantFrom(...PATHS))
  .map(([op, n, patterns, path]) => ({ [op]: Array.from({ length: n }, (_, i) => ({ [path]: { $regex: patterns[i % patterns.length] } })) }))

/** Nested to depths around the query and request bounds (32), a regex at the bottom. */
const deepQuery: fc.Arbitrary<JsonObject> = fc.tuple(fc.constantFrom(8, 16, 28, 30, 31, 32, 33, 40), regexCond, fc.constantFrom(...PATHS))
  .map(([depth, cond, path]) => {
    let q: JsonObject = { [path]: cond }
    for (let d = 0; d < depth; d++) q = d % 3 === 0 ? { $or: [q, { id: 'h-1' }] } : d % 3 === 1 ? { $and: [q] } : { $nor: [{ $nor: [q] }] }
    return q
  })

const anyQuery = fc.oneof({ weight: 4, arbitrary: query }, { weight: 2, arbitrary: wideQuery }, { weight: 1, arbitrary: deepQuery })

const fields: fc.Arbitrary<JsonObject> = fc.oneof(
  fc.dictionary(fc.oneof(fc.constantFrom(...PATHS, 'last', 'opts', '$where', 'a.$', 'tags.$'), fc.string({ maxLength: 6 })), fc.oneof(
    fc.constantFrom(0, 1, true, false, 2, -1, 'x', null),
    fc.record({ $elemMatch: query }),
    fc.record({ $slice: fc.constantFrom(1, -1, 1e9, [0, 1e9]) }),
    fc.record({ $range: fc.constant([0, 1e9]) }),
    fc.record({ $map: fc.constant({ input: { $range: [0, 1e7] }, in: '$$this' }) }),
    fc.record({ $regexFind: fc.record({ input: fc.constant('$info.note'), regex }) })
  ), { maxKeys: 6 }),
  // as many keys as a request may hold (1 000), and one more
  fc.constantFrom(999, 1000, 1001).chain((n) => fc.constantFrom(0, 1).map((v) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}.${'g'.repeat(i % 50)}`, v]))))
)

const bigCount = fc.constantFrom(0, 1, 99, 100, 2999, 3000, 9_999, 10_000, 10_001, 49_999, 50_000, 50_001, 999_999, 1_000_000, 1_000_001, -1, 2 ** 53)
const time = fc.constantFrom(0, 1, Date.now(), MAX_LOG_TIME_MS - 1, MAX_LOG_TIME_MS, MAX_LOG_TIME_MS + 1, 1e21, 1e308, -1, 0.5)

function opt<T> (arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.option(arb, { nil: undefined, freq: 2 })
}

function clean (o: Record<string, unknown>): JsonObject {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as JsonObject
}

const generated: fc.Arbitrary<Shape> = fc.oneof(
  fc.record({ query: opt(anyQuery), fields: opt(fields), sort: opt(fc.constantFrom({ 'info.note': -1 }, { tags: 1 }, { 'x.y': 1, id: -1 })), offset: opt(bigCount), limit: opt(bigCount), status: opt(fc.constantFrom(1, true, 'true')) })
    .map((b) => ({ label: 'gen listThings', method: 'listThings', body: clean(b) })),
  fc.record({ query: opt(anyQuery) }).map((b) => ({ label: 'gen getThingsCount', method: 'getThingsCount', body: clean(b) })),
  fc.record({ logType: fc.constantFrom('info', 'alerts'), query: opt(anyQuery), start: opt(time), end: opt(time), offset: opt(bigCount), limit: opt(bigCount) })
    .map((b) => ({ label: 'gen getHistoricalLogs', method: 'getHistoricalLogs', body: clean(b) })),
  fc.record({
    key: fc.constantFrom('thing-5m', STAT_KEY),
    tag: fc.constantFrom('h-0', STAT_TAG),
    fields: opt(fields),
    start: opt(time),
    end: opt(time),
    offset: opt(fc.constantFrom(0, 1, 4, 5, 1_000_000)),
    limit: opt(bigCount),
    groupRange: opt(fc.constantFrom('1s', '1m', '1D', '0s', '999999999W')),
    shouldCalculateAvg: opt(fc.boolean())
  }).map((b) => ({ label: 'gen tailLog', method: 'tailLog', body: clean(b), also: ['ERR_LOG_NOTFOUND', 'ERR_LOG_GROUP_RANGE_INVALID'] })),
  fc.record({ query: opt(anyQuery), offset: opt(bigCount), limit: opt(bigCount) })
    .map((b) => ({ label: 'gen getWriteCalls', method: 'getWriteCalls', body: { action: 'switchContainer', params: [true], ...clean(b) }, also: ['ERR_THING_NOT_INITIALIZED'] })),
  fields.map((f) => ({ label: 'gen getWrkConf', method: 'getWrkConf', body: { fields: f } }))
)

// ---- the listed worst cases ----------------------------------------------------------------

const isArray = (n?: { min?: number, max?: number }) => (res: Digest): void => {
  expect(res).toHaveProperty('length')
  const len = (res as { length: number }).length
  if (n?.min !== undefined) expect(len).toBeGreaterThanOrEqual(n.min)
  if (n?.max !== undefined) expect(len).toBeLessThanOrEqual(n.max)
}
const OR_OF_REGEXES = (n: number, path: string): JsonObject => ({ $or: Array.from({ length: n }, (_, i) => ({ [path]: { $regex: `n{${(i % 90) + 10}}x` } })) })
const ALL_IDS = Array.from({ length: 10_000 }, (_, i) => (i < HISTORY_THINGS ? `h-${i}` : `w-${i - HISTORY_THINGS}`))
const HOSTILE_FIELDS = { x: { $range: [0, 1e9] } }
const REGEX_OK = ['result', 'ERR_QUERY_INVALID']
const REGEX_OR_BUDGET = ['result', 'ERR_QUERY_INVALID', 'ERR_READ_BUDGET_EXCEEDED']

const LISTED: Shape[] = [
  // listThings / getThingsCount over 700 things (600 with ~15 kB of tags): pages cut at 8 MiB
  { label: 'listThings {}', method: 'listThings', body: {}, expect: ['result'], check: isArray({ min: 100, max: 100 }) },
  { label: 'listThings limit 1e6', method: 'listThings', body: { limit: 1_000_000 }, expect: ['result'], check: isArray({ min: 1, max: HISTORY_THINGS + WIDE_THINGS - 1 }) },
  { label: 'listThings limit 1e6 status', method: 'listThings', body: { limit: 1_000_000, status: 1, sort: { 'info.note': -1 } }, expect: ['result'], check: isArray({ min: 1, max: HISTORY_THINGS + WIDE_THINGS - 1 }) },
  { label: 'listThings offset 1e6', method: 'listThings', body: { offset: 1_000_000, limit: 1_000_000 }, expect: ['result'], check: isArray({ max: 0 }) },
  { label: 'listThings limit 1e6+1', method: 'listThings', body: { limit: 1_000_001 }, expect: ['ERR_PARAMS_INVALID'] },
  { label: 'listThings $in 10 000 ids', method: 'listThings', body: { query: { id: { $in: ALL_IDS } }, limit: 1_000_000, fields: { id: 1 } }, expect: REGEX_OK, check: isArray({ min: HISTORY_THINGS + WIDE_THINGS, max: HISTORY_THINGS + WIDE_THINGS }) },
  { label: 'listThings $in 1 000 ids', method: 'listThings', body: { query: { id: { $in: ALL_IDS.slice(0, 1000) } }, limit: 1_000_000, fields: { id: 1 } }, expect: REGEX_OK, check: isArray({ min: HISTORY_THINGS + WIDE_THINGS, max: HISTORY_THINGS + WIDE_THINGS }) },
  { label: 'listThings $in 10 001 ids', method: 'listThings', body: { query: { id: { $in: [...ALL_IDS, 'x'] } } }, expect: ['ERR_PARAMS_INVALID'] },
  { label: 'listThings regex .*.{100}x on info', method: 'listThings', body: { query: { 'info.note': { $regex: '.*.{100}x' } } }, expect: REGEX_OK },
  { label: 'listThings regex .*.{100}x on tags', method: 'listThings', body: { query: { tags: { $regex: '.*.{100}x' } }, limit: 1_000_000 }, expect: REGEX_OR_BUDGET },
  { label: 'listThings regex (a+)+$ on 1 kB info', method: 'listThings', body: { query: { 'info.a': { $regex: '(a+)+$' } } }, expect: REGEX_OK },
  { label: 'getThingsCount regex ^(a|a)*$ on 1 kB info', method: 'getThingsCount', body: { query: { 'info.a': { $regex: '^(a|a)*$' } } }, expect: REGEX_OK },
  { label: 'listThings regex (a+)+$ on 4 kB info', method: 'listThings', body: { query: { 'info.big': { $regex: '(n+)+$' } } }, expect: REGEX_OK },
  { label: 'listThings $or of 10 000 regexes', method: 'listThings', body: { query: OR_OF_REGEXES(10_000, 'info.note') }, expect: REGEX_OR_BUDGET },
  { label: 'listThings $or of 1 000 regexes on tags', method: 'listThings', body: { query: OR_OF_REGEXES(1000, 'tags') }, expect: REGEX_OR_BUDGET },
  { label: 'listThings fields $range', method: 'listThings', body: { fields: HOSTILE_FIELDS }, expect: ['ERR_FIELDS_INVALID'] },
  { label: 'listThings fields $elemMatch regex', method: 'listThings', body: { limit: 1_000_000, fields: { tags: { $elemMatch: { $regex: '.*.{100}x' } } } }, expect: REGEX_OK.concat('ERR_FIELDS_INVALID') },
  { label: 'getThingsCount {}', method: 'getThingsCount', body: {}, expect: ['result'], check: (n) => expect(n).toEqual({ value: HISTORY_THINGS + WIDE_THINGS }) },
  { label: 'getThingsCount regex on tags', method: 'getThingsCount', body: { query: { tags: { $regex: '(w+)+$' } } }, expect: REGEX_OR_BUDGET },
  { label: 'getThingsCount $nor/$not/$elemMatch', method: 'getThingsCount', body: { query: { $nor: [{ tags: { $elemMatch: { $regex: '.*.{100}x' } } }, { 'info.note': { $not: { $regex: '(n|nn)+$' } } }] } }, expect: REGEX_OR_BUDGET },
  // getHistoricalLogs over 3 000 info entries (~11 kB each with their thing) and 3 000 alerts
  { label: 'history info query {} limit 50 000', method: 'getHistoricalLogs', body: { logType: 'info', query: {}, limit: 50_000 }, expect: ['result'], check: isArray({ min: 1, max: INFO_ENTRIES - 1 }) },
  { label: 'history info whole range', method: 'getHistoricalLogs', body: { logType: 'info', query: {}, start: 0, end: MAX_LOG_TIME_MS, limit: 50_000 }, expect: ['result'], check: isArray({ min: 1, max: INFO_ENTRIES - 1 }) },
  { label: 'history alerts (no limit)', method: 'getHistoricalLogs', body: { logType: 'alerts', start: 0, end: MAX_LOG_TIME_MS }, expect: ['result'], check: isArray({ min: 1, max: ALERT_ENTRIES }) },
  { label: 'history info offset 50 000', method: 'getHistoricalLogs', body: { logType: 'info', offset: 50_000, limit: 50_000 }, expect: ['result'], check: isArray({ max: 0 }) },
  { label: 'history info offset 2 999', method: 'getHistoricalLogs', body: { logType: 'info', offset: INFO_ENTRIES - 1, limit: 50_000 }, expect: ['result'], check: isArray({ min: 1, max: 1 }) },
  { label: 'history alerts offset 50 001', method: 'getHistoricalLogs', body: { logType: 'alerts', offset: 50_001 }, expect: ['ERR_PARAMS_INVALID'] },
  { label: 'history alerts start = end = MAX_LOG_TIME_MS', method: 'getHistoricalLogs', body: { logType: 'alerts', start: MAX_LOG_TIME_MS, end: MAX_LOG_TIME_MS }, expect: ['result'], check: isArray({ max: 0 }) },
  { label: 'history alerts end MAX_LOG_TIME_MS+1', method: 'getHistoricalLogs', body: { logType: 'alerts', start: 0, end: MAX_LOG_TIME_MS + 1 }, expect: ['ERR_PARAMS_INVALID'] },
  { label: 'history info start 1e21', method: 'getHistoricalLogs', body: { logType: 'info', start: 1e21 }, expect: ['ERR_PARAMS_INVALID'] },
  { label: 'history info regex .*.{100}x on thing info', method: 'getHistoricalLogs', body: { logType: 'info', limit: 50_000, query: { 'thing.info.note': { $regex: '.*.{100}x' } } }, expect: REGEX_OR_BUDGET },
  { label: 'history info regex on changes', method: 'getHistoricalLogs', body: { logType: 'info', limit: 50_000, query: { 'changes.note.newValue': { $regex: `${'.*'.repeat(10)}x` } } }, expect: REGEX_OR_BUDGET },
  { label: 'history info (a+)+$ on 1 kB', method: 'getHistoricalLogs', body: { logType: 'info', limit: 50_000, query: { 'thing.info.a': { $regex: '(a+)+$' } } }, expect: REGEX_OR_BUDGET },
  { label: 'history info (a+)+$ on 4 kB', method: 'getHistoricalLogs', body: { logType: 'info', limit: 50_000, query: { 'thing.info.big': { $regex: '(n+)+$' } } }, expect: REGEX_OR_BUDGET },
  { label: 'history alerts $or of 10 000 regexes', method: 'getHistoricalLogs', body: { logType: 'alerts', query: OR_OF_REGEXES(10_000, 'thing.info.note') }, expect: REGEX_OR_BUDGET },
  { label: 'history alerts $or of 64 regexes on tags', method: 'getHistoricalLogs', body: { logType: 'alerts', query: OR_OF_REGEXES(64, 'thing.tags') }, expect: REGEX_OR_BUDGET },
  { label: 'history alerts $where', method: 'getHistoricalLogs', body: { logType: 'alerts', query: { $where: 'while(true){}' } }, expect: ['ERR_QUERY_INVALID'] },
  // tailLog: a snapshot log (2 000 entries of ~5 kB) and a stat log (2 000 entries)
  { label: 'tailLog thing-5m whole range', method: 'tailLog', body: { key: 'thing-5m', tag: 'h-0', start: 0, end: MAX_LOG_TIME_MS }, expect: ['result'], check: isArray({ min: 1, max: SNAP_ENTRIES - 1 }) },
  { label: 'tailLog thing-5m limit 1e6', method: 'tailLog', body: { key: 'thing-5m', tag: 'h-0', limit: 1_000_000 }, expect: ['result'], check: isArray({ min: 1, max: SNAP_ENTRIES - 1 }) },
  { label: 'tailLog thing-5m groupRange 1s', method: 'tailLog', body: { key: 'thing-5m', tag: 'h-0', start: 0, end: MAX_LOG_TIME_MS, groupRange: '1s', shouldCalculateAvg: true }, expect: ['result'], check: isArray({ min: 1 }) },
  { label: 'tailLog stat whole range 1s groups', method: 'tailLog', body: { key: STAT_KEY, tag: STAT_TAG, start: 0, end: MAX_LOG_TIME_MS, groupRange: '1s' }, expect: ['result'], check: isArray({ min: 1, max: STAT_ENTRIES + 1 }) },
  { label: 'tailLog stat limit 10 000', method: 'tailLog', body: { key: STAT_KEY, tag: STAT_TAG, limit: 10_000 }, expect: ['result'], check: isArray({ min: STAT_ENTRIES, max: STAT_ENTRIES + 1 }) },
  { label: 'tailLog stat fields $range', method: 'tailLog', body: { key: STAT_KEY, tag: STAT_TAG, fields: HOSTILE_FIELDS }, expect: ['ERR_FIELDS_INVALID'] },
  { label: 'tailLog fields $elemMatch regex', method: 'tailLog', body: { key: 'thing-5m', tag: 'h-0', limit: 10_000, fields: { 'snap.stats.errors': { $elemMatch: { msg: { $regex: '.*.{100}x' } } } } }, expect: ['result', 'ERR_FIELDS_INVALID', 'ERR_QUERY_INVALID'] },
  { label: 'tailLog 1 000 field keys', method: 'tailLog', body: { key: 'thing-5m', tag: 'h-0', limit: 10_000, fields: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`snap.f${i}`, 1])) }, expect: ['result', 'ERR_FIELDS_INVALID'] },
  { label: 'tailLog offset past the generations', method: 'tailLog', body: { key: 'thing-5m', tag: 'h-0', offset: 4 }, expect: ['ERR_LOG_NOTFOUND'], also: ['ERR_LOG_NOTFOUND'] },
  { label: 'tailLog end MAX_LOG_TIME_MS+1', method: 'tailLog', body: { key: 'thing-5m', tag: 'h-0', start: 0, end: MAX_LOG_TIME_MS + 1 }, expect: ['ERR_PARAMS_INVALID'] },
  { label: 'tailLog start 1e21', method: 'tailLog', body: { key: STAT_KEY, tag: STAT_TAG, start: 1e21 }, expect: ['ERR_PARAMS_INVALID'] },
  // getWrkConf, getWrkSettings (1 MiB of settings), getWriteCalls over 600 wide things
  { label: 'getWrkConf', method: 'getWrkConf', body: {}, expect: ['result'] },
  { label: 'getWrkConf fields $range', method: 'getWrkConf', body: { fields: HOSTILE_FIELDS }, expect: ['ERR_FIELDS_INVALID'] },
  { label: 'getWrkSettings (1 MiB)', method: 'getWrkSettings', body: {}, expect: ['result'] },
  {
    label: 'getWriteCalls 600 wide targets',
    method: 'getWriteCalls',
    body: { action: 'switchContainer', params: [true], query: { tags: WIDE_TAGS[0] } },
    expect: ['result'],
    check: (res) => {
      const r = res as { calls: number, nextOffset: number | null }
      expect(r.calls).toBeGreaterThan(0)
      expect(r.calls).toBeLessThan(WIDE_THINGS)
      expect(r.nextOffset).toBe(r.calls)
    }
  },
  { label: 'getWriteCalls limit 1e6 offset 599', method: 'getWriteCalls', body: { action: 'switchContainer', params: [true], query: { tags: WIDE_TAGS[0] }, offset: WIDE_THINGS - 1, limit: 1_000_000 }, expect: ['result'], check: (res) => expect(res).toEqual({ calls: 1, nextOffset: null, firstId: `w-${WIDE_THINGS - 1}` }) },
  { label: 'getWriteCalls every thing', method: 'getWriteCalls', body: { action: 'switchContainer', params: [true] }, expect: ['ERR_THING_NOT_INITIALIZED'], also: ['ERR_THING_NOT_INITIALIZED'] },
  { label: 'getWriteCalls $or of 10 000 regexes', method: 'getWriteCalls', body: { action: 'switchContainer', params: [true], query: OR_OF_REGEXES(10_000, 'tags') }, expect: REGEX_OR_BUDGET.concat('ERR_THING_NOT_INITIALIZED'), also: ['ERR_THING_NOT_INITIALIZED'] }
]

/**
 * The same request while no thing changed gets the listThings page computed before (list cache):
 * a later round asks for a limit one lower (same meaning here), so every round computes its pages.
 */
function uncached (shape: Shape, round: number): Shape {
  const body = shape.body as Record<string, unknown>
  if (shape.method !== 'listThings' || typeof body.limit !== 'number' || body.limit < 100_000 || body.limit > 1_000_000) return shape
  return { ...shape, body: { ...body, limit: body.limit - round } }
}

// ---- seeding ---------------------------------------------------------------------------------

async function seed (worker: RackWorker): Promise<void> {
  const call = async (method: string, req: unknown): Promise<unknown> => await worker.callRpc(method, req)
  for (let i = 0; i < HISTORY_THINGS; i++) {
    await call('registerThing', { id: `h-${i}`, opts: {}, info: { container: `bay-${i}`, pos: `P${i}`, note: KB('n'), a: A_KB, b: KB('b'), big: KB('n').repeat(4) } })
  }
  const wideOpts = { address: '127.0.0.1', port: 1, username: 'u', password: 'p' }
  for (let i = 0; i < WIDE_THINGS; i++) await call('registerThing', { id: `w-${i}`, opts: wideOpts, tags: WIDE_TAGS, info: { note: KB('n') } })
  for (let i = 0; i < 16; i++) await call('saveWrkSettings', { entries: { [`part${i}`]: 'z'.repeat(60 * 1024) } })

  const { logs } = worker
  const t0 = Date.now() - 10 * 24 * 3600 * 1000
  for (let i = 0; i < INFO_ENTRIES; i++) {
    const ts = t0 + i * 1000
    await logs.append(INFO_HISTORY_LOG, ts, { ts, id: `h-${i % HISTORY_THINGS}`, changes: { note: { oldValue: KB('o'), newValue: KB('p') }, a: { oldValue: KB('q'), newValue: KB('r') } }, user: 'operator' })
  }
  for (let i = 0; i < ALERT_ENTRIES; i++) {
    const createdAt = t0 + i * 1000
    // every tenth alert belongs to a wide thing (its entry then carries ~15 kB of tags)
    const thingId = i % 10 === 0 ? `w-${i % WIDE_THINGS}` : `h-${i % HISTORY_THINGS}`
    await logs.append(ALERTS_LOG, createdAt, {
      name: 'circulating_pump_fault',
      code: 'circulating_pump_fault',
      description: 'Circulating pump fault',
      severity: 'critical',
      createdAt,
      uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      message: KB('m').slice(0, 200),
      thingId
    })
  }
  for (let i = 0; i < SNAP_ENTRIES; i++) {
    const ts = t0 + i * 300
    await logs.append('thing-5m-h-0', ts, {
      ts,
      err: null,
      snap: { success: true, stats: { status: 'running', power_w: i, errors: [{ msg: KB('e'), timestamp: ts }], container_specific: { blob: KB('s').repeat(4) } } }
    })
  }
  for (let i = 0; i < STAT_ENTRIES; i++) {
    const ts = t0 + i * 400
    await logs.append(`${STAT_KEY}-${STAT_TAG}`, ts, { ts, power_w: i, things_cnt: 700, alerts_cnt: { critical: i % 7, high: 0 }, label: KB('l').slice(0, 300) })
  }
}

// ---- the tests ---------------------------------------------------------------------------------

describe('every read stays within its budget (issue 29)', () => {
  let worker: RackWorker
  let key: string
  let ro: RpcClient
  let pinger: RpcClient

  beforeAll(async () => {
    const rack = await startRackInProcess({
      bootstrap,
      rack: 'budget-1',
      baseThing: { collectSnapsItvMs: 600_000, storeSnapItvMs: 0 },
      net: { r0: { allow: [keyOf(FULL_SEED)], allowReadOnly: [keyOf(READ_ONLY_SEED), keyOf(PINGER_SEED)] } }
    })
    worker = rack.worker
    key = rack.key
    await seed(worker)
    ro = createRpcClient(bootstrap, { seed: READ_ONLY_SEED })
    pinger = createRpcClient(bootstrap, { seed: PINGER_SEED })
    expect(await ro.request(key, 'ping', { hello: 1 })).toEqual({ hello: 1 })
    expect(await pinger.request(key, 'ping', { hello: 2 })).toEqual({ hello: 2 })
  }, 90_000)

  it('a read-only key reads; every write is refused with ERR_PERMISSION_DENIED and changes nothing', async () => {
    expect(ro.publicKey).toBe(keyOf(READ_ONLY_SEED))
    expect(await ro.request(key, 'getThingsCount', {})).toBe(HISTORY_THINGS + WIDE_THINGS)
    expect(await ro.request(key, 'getHistoricalLogs', { logType: 'alerts', limit: 2 })).toHaveLength(2)
    expect(await ro.request(key, 'queryThing', { id: 'w-0', method: 'validateWriteAction', params: ['switchContainer', true] })).toBe(1)
    const writes: Array<[string, unknown]> = [
      ['registerThing', { id: 'ro-new', opts: {} }],
      ['updateThing', { id: 'h-0', info: { note: 'changed' } }],
      ['forgetThings', { all: true }],
      ['saveWrkSettings', { entries: { part0: 'x' } }],
      ['applyThings', { method: 'switchContainer', params: [true] }],
      ['queryThing', { id: 'w-0', method: 'switchContainer', params: [true] }],
      ['saveThingComment', { thingId: 'h-0', comment: 'c', user: 'u' }],
      ['rackReboot', {}]
    ]
    for (const [method, body] of writes) {
      expect(rpcCode(await ro.request(key, method, body)), method).toBe('ERR_PERMISSION_DENIED')
    }
    expect(worker.registry.size).toBe(HISTORY_THINGS + WIDE_THINGS)
    expect(worker.registry.has('ro-new')).toBe(false)
    expect(worker.registry.get('h-0').record.info.note).toBe(KB('n'))
    expect(worker.isStarted).toBe(true)
  })

  it('worst-case reads, one at a time then 16 at once: loop, memory, ping, answers and reply sizes stay bounded', async () => {
    const samples = fc.sample(generated, { seed: 2026_0429, numRuns: 140 })
    const rounds = Array.from({ length: FLOOD_ROUNDS }, (_, round) => [...LISTED, ...samples].map((shape) => uncached(shape, round)))
    for (const shape of [...LISTED, ...rounds.flat()]) payloadOf(shape)
    const loop = monitorEventLoopDelay({ resolution: 10 })
    const rssBefore = process.memoryUsage.rss()
    const rss = startRssSampler()
    const ping = startPinger(pinger, key)
    loop.enable()
    const paused = { pause: () => loop.disable(), resume: () => loop.enable() }
    const outcomes: Outcome[] = []
    const failures: string[] = []
    const t0 = performance.now()
    let phaseA: number
    try {
      // Phase A: each listed shape alone, with its exact expectation.
      for (const shape of LISTED) {
        const out = await send(ro, key, shape, shape.check ? paused : undefined)
        outcomes.push(out)
        if (!(shape.expect ?? ['result']).includes(out.outcome)) failures.push(`${shape.label}: ${out.outcome} (expected ${(shape.expect ?? []).join('|')})`)
        else if (out.outcome === 'result' && shape.check) {
          try {
            shape.check(out.digest as Digest)
          } catch (err) {
            failures.push(`${shape.label}: ${(err as Error).message.split('\n')[0]}`)
          }
        }
      }
      phaseA = performance.now() - t0
      // Phase B: the listed shapes and the generated ones, 16 in flight at any time, in rounds
      // (memory must level off: a later round may not need much more than the first).
      for (const queue of rounds) {
        rss.mark()
        let next = 0
        await Promise.all(Array.from({ length: 16 }, async () => {
          while (next < queue.length) {
            const shape = queue[next++] as Shape
            const out = await send(ro, key, shape)
            outcomes.push(out)
            const allowed = out.outcome === 'result' || LOAD_CODES.has(out.outcome) || (shape.also ?? []).includes(out.outcome) || (shape.expect ?? []).includes(out.outcome)
            if (!allowed) failures.push(`${shape.label} ${JSON.stringify(shape.body).slice(0, 300)}: ${out.outcome}`)
          }
        }))
      }
    } finally {
      loop.disable()
      rss.stop()
    }
    const { times: pings, failures: pingFailures } = await ping.stop()
    const elapsed = performance.now() - t0
    const growthMb = (rss.peak() - rssBefore) / MB
    const [, ...roundPeaks] = rss.segments().map((b) => Math.round((b - rssBefore) / MB))
    const counts = new Map<string, number>()
    for (const o of outcomes) counts.set(o.outcome, (counts.get(o.outcome) ?? 0) + 1)
    const slowest = outcomes.reduce((a, b) => (b.ms > a.ms ? b : a))
    const largest = outcomes.reduce((a, b) => (b.bytes > a.bytes ? b : a))
    const slowestAlone = outcomes.slice(0, LISTED.length).sort((a, b) => b.ms - a.ms).slice(0, 3).map((o) => `${o.label}: ${Math.round(o.ms)} ms`)
    const summary = {
      requests: outcomes.length,
      phaseAms: Math.round(phaseA),
      elapsedMs: Math.round(elapsed),
      outcomes: Object.fromEntries(counts),
      loopP99ms: Math.round(loop.percentile(99) / 1e5) / 10,
      loopMaxMs: Math.round(loop.max / 1e5) / 10,
      rssBeforeMb: Math.round(rssBefore / MB),
      rssGrowthMb: Math.round(growthMb),
      rssGrowthPerRoundMb: roundPeaks,
      pings: pings.length,
      pingP50ms: Math.round(pct(pings, 0.5)),
      pingP99ms: Math.round(pct(pings, 0.99)),
      pingMaxMs: Math.round(Math.max(...pings)),
      slowest: `${slowest.label}: ${Math.round(slowest.ms)} ms (${slowest.outcome})`,
      slowestAlone,
      largestReply: `${largest.label}: ${largest.bytes} bytes`
    }
    console.log('resource budget:', JSON.stringify(summary, null, 1))

    expect(failures).toEqual([])
    expect(pingFailures).toEqual([])
    expect(worker.isStarted).toBe(true)
    expect(await ro.request(key, 'ping', { after: 1 })).toEqual({ after: 1 })
    // every request answered, within the limiter's wait plus the read budget (with margin), under the frame bound
    expect(outcomes).toHaveLength(LISTED.length + FLOOD_ROUNDS * (LISTED.length + samples.length))
    expect(slowest.ms).toBeLessThan(ANSWER_MAX_MS)
    expect(largest.bytes).toBeLessThanOrEqual(MAX_REPLY_FRAME_BYTES)
    // paged replies were cut near MAX_REPLY_BYTES (the seeded store holds far more)
    expect(largest.bytes).toBeGreaterThan(MAX_REPLY_BYTES / 2)
    // the load was real: many results besides the refusals
    expect(counts.get('result') ?? 0).toBeGreaterThan(60)
    expect(summary.loopP99ms).toBeLessThan(LOOP_P99_MS)
    expect(growthMb).toBeLessThan(RSS_GROWTH_MB)
    expect(Math.max(...roundPeaks.slice(1))).toBeLessThan((roundPeaks[0] as number) + RSS_ROUND_DRIFT_MB)
    expect(pings.length).toBeGreaterThan(50)
    expect(Math.max(...pings)).toBeLessThan(PING_MAX_MS)
  }, 120_000)
})

function rpcCode (reply: unknown): string | null {
  return errorCodeOfReply(reply)
}

describe('a rack at every registry limit', () => {
  /** Info-history entries of the thing whose update was refused (ERR_STAT_TAGS_LIMIT). */
  let refusedHistory: unknown[] | null = null

  it('refuses past maxThings, maxTagsPerThing and maxStatTags with their codes; RSS bounded; stop() < 2 s with stat logs open', async () => {
    const full = createRpcClient(bootstrap, { seed: FULL_SEED })
    const rssBefore = process.memoryUsage.rss()
    const rss = startRssSampler()
    const rack = await startRackInProcess({
      bootstrap,
      rack: 'budget-lim',
      baseThing: { collectSnapsItvMs: 600_000, storeSnapItvMs: 0, maxThings: 300, maxTagsPerThing: 16, maxStatTags: 400 },
      net: { r0: { allow: [keyOf(FULL_SEED)] } }
    })
    const { worker, key } = rack
    const call = async (method: string, body: unknown): Promise<unknown> => await full.request(key, method, body, 20_000)
    // 6 automatic tags (t-container, t-container-mbt, t-container-mbt-kehua, microbt, id-, code-) + container- = 7;
    // 9 caller tags reach maxTagsPerThing (16). Stat tags: 4 rack-wide + 300 container- + 9 shared + 87 g- = 400
    // = maxStatTags once the 300th thing (maxThings) is in. Info near its 64 kB bound.
    const callerTags = (i: number): string[] => Array.from({ length: 9 }, (_, k) => (k === 0 && i < 87 ? `g-${i}` : `shared-${k}-${'s'.repeat(240)}`))
    const info = (i: number): JsonObject => ({ container: `c${i}`, blob: 'b'.repeat(60 * 1024) })
    try {
      // one over the tag bound: refused before anything is written
      expect(rpcCode(await call('registerThing', { id: 'too-many-tags', opts: {}, info: { container: 'cx' }, tags: [...callerTags(999), 'one-more'] }))).toBe('ERR_THING_TAGS_INVALID')
      for (let i = 0; i < 300; i++) await worker.callRpc('registerThing', { id: `t-${i}`, opts: {}, info: info(i), tags: callerTags(i) })
      expect(worker.registry.size).toBe(300)
      expect(worker.registry.statTagCount).toBe(400)
      expect(rpcCode(await call('registerThing', { id: 't-300', opts: {} }))).toBe('ERR_THING_LIMIT')
      expect(rpcCode(await call('updateThing', { id: 't-0', tags: ['one-more'] }))).toBe('ERR_THING_TAGS_INVALID')
      // a new container name is a fresh stat tag: refused at the limit; a change bringing none is accepted
      expect(rpcCode(await call('updateThing', { id: 't-1', info: { container: 'c-fresh' } }))).toBe('ERR_STAT_TAGS_LIMIT')
      expect(await call('updateThing', { id: 't-2', info: { note: 'at the limits' } })).toBe(1)
      // what was refused changed nothing
      expect(worker.registry.statTagCount).toBe(400)
      expect(worker.registry.has('t-300')).toBe(false)
      expect(worker.registry.has('too-many-tags')).toBe(false)
      expect(worker.registry.get('t-0').record.tags).not.toContain('one-more')
      expect(worker.registry.get('t-1').record.info.container).toBe('c1')
      const t1History = await call('getHistoricalLogs', { logType: 'info', query: { 'thing.id': 't-1' }, limit: 10 }) as Array<{ changes?: unknown }>
      refusedHistory = t1History.map((e) => e.changes)
      expect(await call('getThingsCount', {})).toBe(300)
      // stat logs open: one tick of every short timeframe (kept open between ticks), read back
      const tick = new Date()
      for (const tf of ['rtd', '20s', '1m']) await worker.stats.build(tf, tick)
      // soft: stop() below is measured whatever this answers
      expect.soft(await call('tailLog', { key: 'stat-1m', tag: 't-container', limit: 1 }), 'tailLog of a stat log after a tick').toHaveLength(1)
      const growthMb = (rss.peak() - rssBefore) / MB
      console.log('registry limits:', JSON.stringify({ things: worker.registry.size, statTags: worker.registry.statTagCount, rssGrowthMb: Math.round(growthMb) }))
      expect(growthMb).toBeLessThan(LIMITS_RSS_GROWTH_MB)
    } finally {
      rss.stop()
    }
    const t0 = performance.now()
    await worker.stop()
    const stopMs = performance.now() - t0
    console.log('registry limits: stop() took', Math.round(stopMs), 'ms')
    expect(stopMs).toBeLessThan(STOP_MAX_MS)
  }, 90_000)

  // Found with this file: updateThing appends the info-history entry before registry.save checks
  // maxTagsPerThing / maxStatTags, so a refused update is recorded as a change that happened.
  it('a refused update leaves no info-history entry (the change never happened)', () => {
    expect(refusedHistory).not.toBeNull()
    expect(refusedHistory, 'changes recorded for an update refused with ERR_STAT_TAGS_LIMIT').toEqual([])
  })
})
