/**
 * Stat logs kept one per timeframe (workers/tpl/thing/logs/stat-log.ts, issue 31): the same ticks
 * written by StatTicks in the per-tag layout (plain TimeLogs, as before) and in the
 * per-timeframe one answer the same tailLog replies; rotation and retention per tag; the
 * bound on a tag's writes survives a restart; a store of the per-tag layout is read, then
 * combined with the new one, then its per-tag logs removed once out of reach; a stop during a
 * tick leaves all of it or nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StoreFacility, type Bee } from '../../../../workers/facs/store'
import { errorCode } from '../../../../workers/core/errors'
import { LogMethods } from '../../../../workers/tpl/thing/logs/log-methods'
import { StatTimeLogs, statLogKey, tagPrefix } from '../../../../workers/tpl/thing/logs/stat-log'
import { StatTicks } from '../../../../workers/tpl/thing/stats/stat-ticks'
import { TimeLogs, type LogMeta } from '../../../../workers/tpl/thing/logs/time-log'
import type { JsonObject, ThingState } from '../../../../workers/tpl/thing/types'

const MIN = 60_000
const T0 = 1_700_000_040_000 - (1_700_000_040_000 % MIN)

let dirs: string[] = []
let stores: StoreFacility[] = []

beforeEach(() => {
  dirs = []
  stores = []
})

afterEach(async () => {
  for (const s of stores) await s.close().catch(() => {})
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function openStore (dir?: string): Promise<StoreFacility> {
  const where = dir ?? await mkdtemp(path.join(os.tmpdir(), 'mbt-statlog-'))
  if (dir === undefined) dirs.push(where)
  const store = new StoreFacility(where)
  await store.ready()
  stores.push(store)
  return store
}

async function metaOf (store: StoreFacility): Promise<Bee<LogMeta>> {
  return (await store.getBee('db')).sub('meta_logs') as Bee<LogMeta>
}

const OPTS = { maxLength: 3, keepCount: 2 } // maxHeight = ceil(2 × 1.5) = 3

function thing (id: string, tags: string[], power: number): ThingState {
  return { record: { id, code: '', type: '', tags, info: {}, opts: {}, comments: [] }, ctrl: null, last: { snap: { success: true, stats: { power_w: power } } }, collecting: false, lastStoredTs: 0, forgotten: false }
}

const SPEC = { n: { op: 'cnt' }, p: { op: 'sum', src: 'last.snap.stats.power_w' } } as const

/** StatTicks over `logs` with things that change at every tick (so that no write repeats a value). */
function ticker (logs: TimeLogs): { ticks: StatTicks, setThings: (things: ThingState[]) => void } {
  let things: ThingState[] = []
  const rack = { registry: { all: () => things }, logs }
  return { ticks: new StatTicks(rack as never, () => SPEC as never), setThings: (t) => { things = t } }
}

/** The fleet at tick `i`: c-1 and c-2 from the start, c-3 from tick 4; c-2 leaves after tick 5. */
function fleetAt (i: number): ThingState[] {
  const out = [thing('c-1', ['t-x', 'container-bay-1'], 10 + i)]
  if (i <= 5) out.push(thing('c-2', ['t-x', 'container-bay-2'], 20 + i))
  if (i >= 4) out.push(thing('c-3', ['t-x', 'container-bay-3'], 30 + i))
  return out
}

async function runTicks (logs: TimeLogs, from: number, to: number, tfs: string[] = ['1m', 'rtd']): Promise<void> {
  const { ticks, setThings } = ticker(logs)
  for (let i = from; i < to; i++) {
    setThings(fleetAt(i))
    for (const tf of tfs) await ticks.build(tf, new Date(T0 + i * MIN + 123))
  }
}

/** tailLog as the RPC method answers it: the reply, or the error code. */
async function tail (logs: TimeLogs, req: JsonObject): Promise<unknown> {
  try {
    return await new LogMethods({ logs } as never).tailLog(req as never)
  } catch (err) {
    return errorCode(err)
  }
}

/** The requests compared between the layouts, for one tag. */
function requests (tag: string): JsonObject[] {
  const at = (i: number): number => T0 + i * MIN
  return [
    { key: 'stat-1m', tag },
    { key: 'stat-1m', tag, limit: 2 },
    { key: 'stat-1m', tag, limit: 5 },
    { key: 'stat-1m', tag, offset: 1 },
    { key: 'stat-1m', tag, offset: 2 },
    { key: 'stat-1m', tag, offset: 3 },
    { key: 'stat-1m', tag, offset: 1, limit: 4 },
    { key: 'stat-1m', tag, start: at(1), end: at(6) },
    { key: 'stat-1m', tag, start: at(4) },
    { key: 'stat-1m', tag, end: at(5) },
    { key: 'stat-1m', tag, offset: 1, start: at(0), end: at(4) },
    { key: 'stat-1m', tag, groupRange: '2m' },
    { key: 'stat-1m', tag, groupRange: '3m', shouldCalculateAvg: true, start: at(0) },
    { key: 'stat-1m', tag, fields: { ts: 1, p: 1 }, limit: 3 },
    { key: 'stat-rtd', tag },
    { key: 'stat-rtd', tag, offset: 1 },
    { key: 'stat-rtd', tag, start: at(0) },
    { key: 'stat-rtd', tag, end: at(9) },
    { key: 'stat-rtd', tag, limit: 1 }
  ]
}

async function replies (logs: TimeLogs, tags: string[]): Promise<unknown[]> {
  const out: unknown[] = []
  for (const tag of tags) for (const req of requests(tag)) out.push({ req, reply: await tail(logs, req) })
  return out
}

describe('the per-timeframe layout answers what the per-tag one answers', () => {
  it('same ticks, same tailLog replies: offsets, limits, ranges, groupRange, projection, rtd', async () => {
    const oldStore = await openStore()
    const newStore = await openStore()
    const perTag = new TimeLogs(oldStore, await metaOf(oldStore), OPTS)
    const perTf = new StatTimeLogs(newStore, await metaOf(newStore), OPTS)
    // 8 ticks: 1m rotates after ticks 2 and 5 in both layouts (every tag written at every tick it exists)
    await runTicks(perTag, 0, 8)
    await runTicks(perTf, 0, 8)
    const tags = ['t-x', 'container-bay-1', 'container-bay-2', 'no-such-tag']
    const a = await replies(perTag, tags)
    expect(await replies(perTf, tags)).toEqual(a)
    // a sanity check of what is compared: newest first, `ts` = the tick second, rtd without ts
    expect(await tail(perTf, { key: 'stat-1m', tag: 't-x', limit: 2 })).toEqual([{ ts: T0 + 7 * MIN, n: 2, p: 17 + 37 }, { ts: T0 + 6 * MIN, n: 2, p: 16 + 36 }])
    expect(await tail(perTf, { key: 'stat-rtd', tag: 'container-bay-1', limit: 1 })).toEqual([{ n: 1, p: 17 }])
    expect(await tail(perTf, { key: 'stat-1m', tag: 'container-bay-2', offset: 0, limit: 1 })).toEqual([{ ts: T0 + 5 * MIN, n: 1, p: 25 }])

    // three more ticks: the tags written at every tick still answer alike
    await runTicks(perTag, 8, 11)
    await runTicks(perTf, 8, 11)
    expect(await replies(perTf, ['t-x', 'container-bay-1'])).toEqual(await replies(perTag, ['t-x', 'container-bay-1']))
    // 3 + 4 of 7 open bees in all: the timeframes' generations, never one per tag
    expect(newStore.openNames().filter((n) => n.startsWith('log:')).every((n) => n.startsWith('log:stat:'))).toBe(true)
  })

  it('entries of one millisecond keep distinct keys, as in the per-tag layout', async () => {
    const store = await openStore()
    const logs = new StatTimeLogs(store, await metaOf(store), { maxLength: 10, keepCount: 3 })
    await Promise.all(Array.from({ length: 5 }, (_, i) => logs.append('stat-2sroll-t-x', T0, { i })))
    const all = await logs.read('stat-2sroll-t-x', 0, { start: T0, end: T0 }) as Array<{ i: number }>
    expect(all.map((e) => e.i).sort()).toEqual([0, 1, 2, 3, 4])
    expect(await logs.latest('stat-2sroll-t-x')).toEqual({ i: 4 })
    expect(await logs.exists('stat-2sroll-t-x')).toBe(true)
    expect(await logs.exists('stat-2sroll-t-y')).toBe(false)
    expect(await logs.get('stat-rtd-t-x', 'stat-rtd')).toBeNull()
    await logs.put('stat-rtd-t-x', 'stat-rtd', { v: 1 })
    expect(await logs.get('stat-rtd-t-x', 'stat-rtd')).toEqual({ v: 1 })
  })
})

describe('rotation and retention per tag', () => {
  it('a generation holds at most maxLength writes of a tag; maxHeight generations are readable; older ones cleared', async () => {
    const store = await openStore()
    const logs = new StatTimeLogs(store, await metaOf(store), OPTS)
    await runTicks(logs, 0, 11, ['1m'])
    // ticks 0–2, 3–5, 6–8, 9–10: generation 3 is current, 0 is out of reach and cleared
    expect((await (await metaOf(store)).get(statLogKey('1m')))?.value).toEqual({ cur: 3 })
    expect(await (await store.getBee('log:stat:1m:0')).core.has(1)).toBe(false)
    for (const gen of [1, 2, 3]) {
      const bee = await store.getBee(`log:stat:1m:${gen}`)
      const perTag = new Map<string, number>()
      for await (const e of bee.createReadStream()) {
        if (e.key.startsWith('#')) continue
        const tag = e.key.slice(0, e.key.indexOf('/'))
        perTag.set(tag, (perTag.get(tag) ?? 0) + 1)
      }
      for (const [tag, n] of perTag) expect(n, `${tag} in generation ${gen}`).toBeLessThanOrEqual(3)
    }
    // offset counts the generations holding the tag: container-bay-3 (from tick 4) is in 1 (4, 5), 2 (6–8), 3 (9, 10)
    const ts = async (req: JsonObject): Promise<unknown> => {
      const r = await tail(logs, { key: 'stat-1m', tag: 'container-bay-3', ...req })
      return Array.isArray(r) ? r.map((e) => ((e as { ts: number }).ts - T0) / MIN) : r
    }
    expect(await ts({})).toEqual([10, 9, 8, 7, 6, 5, 4])
    expect(await ts({ offset: 1 })).toEqual([8, 7, 6, 5, 4])
    expect(await ts({ offset: 2 })).toEqual([5, 4])
    expect(await ts({ offset: 3 })).toBe('ERR_LOG_NOTFOUND')
    // container-bay-2 (ticks 0–5): generation 0 was cleared, its last entries are in generation 1
    expect(await tail(logs, { key: 'stat-1m', tag: 'container-bay-2', offset: 1 })).toBe('ERR_LOG_NOTFOUND')
    expect((await tail(logs, { key: 'stat-1m', tag: 'container-bay-2' }) as unknown[]).length).toBe(3)
  })

  it('a tag appended on its own (a rollup) rotates by its own count, not by the other tags', async () => {
    const store = await openStore()
    const logs = new StatTimeLogs(store, await metaOf(store), OPTS)
    for (let i = 0; i < 7; i++) await logs.append('stat-1hr-a', T0 + i * MIN, { ts: T0 + i * MIN, i })
    await logs.append('stat-1hr-b', T0, { ts: T0, b: 1 })
    // a: 3 | 3 | 1 (+ b) → generations 0, 1, 2
    expect((await (await metaOf(store)).get(statLogKey('1hr')))?.value).toEqual({ cur: 2 })
    expect(((await tail(logs, { key: 'stat-1hr', tag: 'a', offset: 1 })) as Array<{ i: number }>).map((e) => e.i)).toEqual([5, 4, 3, 2, 1, 0])
    expect(((await tail(logs, { key: 'stat-1hr', tag: 'a', limit: 2 })) as Array<{ i: number }>).map((e) => e.i)).toEqual([6, 5])
    expect(await tail(logs, { key: 'stat-1hr', tag: 'b' })).toEqual([{ ts: T0, b: 1 }])
    expect(await logs.hasGeneration('stat-1hr-b', 1)).toBe(false)
  })

  it('the bound on a tag\'s writes survives a restart: no generation ever holds more than maxLength of a tag', async () => {
    const store = await openStore()
    const meta = await metaOf(store)
    await runTicks(new StatTimeLogs(store, meta, OPTS), 0, 2, ['1m'])
    // a new process on the same store: two writes of each tag are already in generation 0
    const again = new StatTimeLogs(store, meta, OPTS)
    await runTicks(again, 2, 4, ['1m'])
    expect(((await tail(again, { key: 'stat-1m', tag: 'container-bay-1', offset: 1 })) as unknown[]).length).toBe(3)
    expect(((await tail(again, { key: 'stat-1m', tag: 'container-bay-1' })) as unknown[]).length).toBe(4)
    expect((await meta.get(statLogKey('1m')))?.value).toEqual({ cur: 1 })
  })
})

describe('a store of the per-tag layout (written as the previous version wrote it)', () => {
  it('is read as it was, then its tags continue in the per-timeframe log, then its per-tag logs are removed once out of reach', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mbt-statlog-old-'))
    dirs.push(dir)
    let store = await openStore(dir)
    // the previous version: StatTicks writing each tag to its own log (plain TimeLogs)
    await runTicks(new TimeLogs(store, await metaOf(store), OPTS), 0, 6)
    const tags = ['t-x', 'container-bay-1', 'container-bay-2', 'container-bay-3']
    const before = await replies(new TimeLogs(store, await metaOf(store), OPTS), tags)
    await store.close()

    // the new version on that store: every reply as before
    store = await openStore(dir)
    const dropped: Array<[string, number]> = []
    const logs = new StatTimeLogs(store, await metaOf(store), { ...OPTS, onLegacyDropped: (tf, n) => dropped.push([tf, n]) })
    expect(await replies(logs, tags)).toEqual(before)

    // two ticks in the new layout: they come first, the per-tag generations follow as older ones
    await runTicks(logs, 6, 8)
    const ticksOf = async (req: JsonObject): Promise<unknown> => {
      const r = await tail(logs, { key: 'stat-1m', tag: 'container-bay-1', ...req })
      return Array.isArray(r) ? r.map((e) => ((e as { ts: number }).ts - T0) / MIN) : r
    }
    // per-tag container-bay-1: generation 0 = ticks 0–2, 1 = ticks 3–5; per-timeframe 0 = ticks 6–7
    expect(await ticksOf({})).toEqual([7, 6, 5, 4, 3, 2, 1, 0])
    expect(await ticksOf({ offset: 1 })).toEqual([5, 4, 3, 2, 1, 0])
    expect(await ticksOf({ offset: 2 })).toEqual([2, 1, 0])
    expect(await ticksOf({ offset: 3 })).toBe('ERR_LOG_NOTFOUND')
    expect(await ticksOf({ start: T0 + 2 * MIN, end: T0 + 6 * MIN })).toEqual([6, 5, 4, 3, 2])
    expect(await ticksOf({ limit: 3 })).toEqual([7, 6, 5])
    // rtd: the per-tag record is read only for a tag the new log does not hold
    expect(await tail(logs, { key: 'stat-rtd', tag: 'container-bay-1' })).toEqual([{ n: 1, p: 17 }])
    expect(await tail(logs, { key: 'stat-rtd', tag: 'container-bay-1', offset: 1 })).toBe('ERR_LOG_NOTFOUND')
    // container-bay-2 left before the upgrade: its per-tag record is still answered
    const oldRtd = (before as Array<{ req: JsonObject, reply: unknown }>).find((r) => r.req.key === 'stat-rtd' && r.req.tag === 'container-bay-2' && Object.keys(r.req).length === 2)
    expect(await tail(logs, { key: 'stat-rtd', tag: 'container-bay-2' })).toEqual(oldRtd?.reply)
    expect(oldRtd?.reply).toHaveLength(2)

    // the timeframe reaches maxHeight generations of its own: the per-tag 1m logs are out of reach and removed
    await runTicks(logs, 8, 13)
    await expect.poll(() => dropped.some(([tf]) => tf === '1m'), { timeout: 10_000 }).toBe(true)
    const meta = await metaOf(store)
    const left: string[] = []
    for await (const e of meta.createReadStream({ gte: 'stat-1m-', lt: 'stat-1m.' })) left.push(e.key)
    expect(left).toEqual([])
    expect(await (await store.getBee('log:stat-1m-t-x:1')).core.has(1)).toBe(false)
    expect(await ticksOf({})).toEqual([12, 11, 10, 9, 8, 7, 6])
    await logs.stop()
  })
})

describe('a stop during a tick', () => {
  it('ends the tick after the store write in flight: its batch is written whole or not at all; no tick after it', async () => {
    const store = await openStore()
    const logs = new StatTimeLogs(store, await metaOf(store), { maxLength: 100, keepCount: 3 })
    const things = Array.from({ length: 3000 }, (_, i) => thing(`c-${i}`, [`container-${i}`], i))
    const ticks = new StatTicks({ registry: { all: () => things }, logs } as never, () => SPEC as never)
    await ticks.build('1m', new Date(T0))
    const ts = T0 + MIN
    const tick = ticks.build('1m', new Date(ts))
    await new Promise((resolve) => setTimeout(resolve, 20))
    const t0 = performance.now()
    await ticks.stop()
    expect(performance.now() - t0).toBeLessThan(2000)
    await tick
    const stamps = new Set<number>()
    for (const i of [0, 1499, 2999]) stamps.add((await logs.latest(`stat-1m-container-${i}`) as { ts: number }).ts)
    expect(stamps.size).toBe(1)
    // stopped: later ticks write nothing
    await ticks.build('1m', new Date(T0 + 99 * MIN))
    expect([T0, ts]).toContain((await logs.latest('stat-1m-container-0') as { ts: number }).ts)
  })
})

describe('tag prefixes', () => {
  it('are prefix-free: the keys of one tag never fall in another tag\'s range', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.constantFrom('', '001700000000000', '001700000000000.3', 'stat-rtd'), (a, b, suffix) => {
      fc.pre(a !== b)
      const key = Buffer.from(tagPrefix(a) + suffix)
      const lo = Buffer.from(tagPrefix(b))
      const hi = Buffer.from(tagPrefix(b) + '\x7f')
      return !(Buffer.compare(key, lo) >= 0 && Buffer.compare(key, hi) < 0)
    }), { numRuns: 2000 })
    expect(tagPrefix('t-x')).toBe('13:t-x/')
    expect(tagPrefix('t-container')).toBe('211:t-container/')
  })
})
