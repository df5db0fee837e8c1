import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StoreFacility, type Bee } from '../../../../workers/facs/store'
import { MAX_LOG_TIME_MS, TimeLogs, timeKey, type LogMeta } from '../../../../workers/tpl/thing/logs/time-log'

let dir: string
let store: StoreFacility

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mbt-timelog-'))
  store = new StoreFacility(dir)
  await store.ready()
})

afterEach(async () => {
  await store.close()
  await rm(dir, { recursive: true, force: true })
})

async function logs (maxLength: number, keepCount: number): Promise<TimeLogs> {
  const db = await store.getBee('db')
  return new TimeLogs(store, db.sub('meta_logs') as Bee<LogMeta>, { maxLength, keepCount })
}

describe('TimeLogs', () => {
  it('keys sort by time as strings', () => {
    expect(timeKey(5) < timeKey(40)).toBe(true)
    expect(timeKey(1795511522571)).toBe('001795511522571')
  })

  it('rotates at maxLength, reads newest first across generations and deletes unreachable ones', async () => {
    const log = await logs(2, 1) // maxHeight = ceil(1 × 1.5) = 2 readable generations
    for (let ts = 1; ts <= 7; ts++) await log.append('k', ts * 1000, { ts: ts * 1000 })
    // generations: 0 = [1,2], 1 = [3,4], 2 = [5,6], 3 = [7]
    expect(await log.read('k', 0, {})).toEqual([{ ts: 7000 }])
    expect(await log.read('k', 1, {})).toEqual([{ ts: 6000 }, { ts: 5000 }])
    expect(await log.read('k', 0, { limit: 3 })).toEqual([{ ts: 7000 }, { ts: 6000 }, { ts: 5000 }])
    // a time range walks older generations, but never further than maxHeight
    expect(await log.read('k', 0, { start: 0 })).toEqual([{ ts: 7000 }, { ts: 6000 }, { ts: 5000 }])
    expect(await log.read('k', 0, { start: 5500, end: 7000 })).toEqual([{ ts: 7000 }, { ts: 6000 }])
    // generations 0 and 1 were cleared when the log rotated past them: their blocks are gone
    for (const gen of [0, 1]) expect(await (await store.getBee(`log:k:${gen}`)).core.has(1), `generation ${gen}`).toBe(false)
    for (const gen of [2, 3]) expect(await (await store.getBee(`log:k:${gen}`)).core.has(1), `generation ${gen}`).toBe(true)
  })

  it('unknown logs read as null; latest is the newest entry of the current generation', async () => {
    const log = await logs(10, 3)
    expect(await log.read('nope', 0, {})).toBeNull()
    expect(await log.latest('nope')).toBeNull()
    await log.append('k', 1000, { v: 1 })
    await log.append('k', 2000, { v: 2 })
    expect(await log.latest('k')).toEqual({ v: 2 })
    expect(await log.read('k', 1, {})).toBeNull()
  })
})

describe('TimeLogs under concurrency', () => {
  it('50 concurrent appends to a log that is not open yet: every entry kept, rotation exactly once per maxLength', async () => {
    const log = await logs(10, 10)
    const ts = 1_700_000_000_000
    // the same millisecond for all: keys must still be distinct
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append('c', ts, { i })))
    const all = await log.read('c', 0, { start: 0 }) as Array<{ i: number }>
    expect(all.map((e) => e.i).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i))
    // 10 per generation: generations 0..4, current is 4
    expect(await log.read('c', 4, {})).toHaveLength(10)
    expect(await log.read('c', 5, {})).toBeNull()
    // a range ending at that millisecond includes the entries that share it
    expect(await log.read('c', 0, { start: ts, end: ts })).toHaveLength(50)
  })

  it('close releases every open generation of a log; the log reopens with its data', async () => {
    const log = await logs(2, 3)
    for (let t = 1; t <= 5; t++) await log.append('z', t, { t })
    const before = store.openCount
    await log.close('z')
    expect(store.openCount).toBeLessThan(before)
    for (let gen = 0; gen <= 2; gen++) expect(store.isOpen(`log:z:${gen}`)).toBe(false)
    expect(await log.read('z', 0, { start: 0 })).toEqual([{ t: 5 }, { t: 4 }, { t: 3 }, { t: 2 }, { t: 1 }])
  })
})

describe('TimeLogs closed while read', () => {
  it('a close asked for during a read waits for it: the read returns every entry, then the log is closed', async () => {
    const log = await logs(0, 1)
    for (let ts = 1; ts <= 400; ts++) await log.append('k', ts * 1000, { ts: ts * 1000, pad: 'x'.repeat(200) })
    for (let round = 0; round < 5; round++) {
      const read = log.read('k', 0, {})
      // the close lands while the read stream is walking the bee
      await new Promise((resolve) => setTimeout(resolve, round))
      const closed = log.close('k')
      const entries = await read
      await closed
      expect(entries).toHaveLength(400)
      expect((entries?.[0] as { ts: number }).ts).toBe(400_000)
      await expect.poll(() => store.isOpen('log:k:0')).toBe(false)
    }
    // a write after the close reopens the log
    await log.append('k', 401_000, { ts: 401_000 })
    expect(await log.latest('k')).toEqual({ ts: 401_000 })
  })
})

describe('TimeLogs.release', () => {
  it('closes the open generation but keeps the metadata: the next append reopens it without reading meta_logs', async () => {
    const db = await store.getBee('db')
    const meta = db.sub('meta_logs') as Bee<LogMeta>
    let metaReads = 0
    const counted = new Proxy(meta, {
      get (target, prop, receiver) {
        if (prop === 'get') return async (...args: Parameters<typeof meta.get>) => { metaReads++; return await target.get(...args) }
        return Reflect.get(target, prop, receiver) as unknown
      }
    })
    const log = new TimeLogs(store, counted, { maxLength: 0, keepCount: 1 })
    await log.append('k', 1000, { v: 1 })
    const readsAfterFirst = metaReads
    await log.release('k')
    expect(store.isOpen('log:k:0')).toBe(false)
    await log.append('k', 2000, { v: 2 })
    expect(metaReads).toBe(readsAfterFirst)
    expect(await log.read('k', 0, {})).toEqual([{ v: 2 }, { v: 1 }])
    // close forgets it: the next use reads the metadata again
    await log.close('k')
    await log.append('k', 3000, { v: 3 })
    expect(metaReads).toBeGreaterThan(readsAfterFirst)
  })
})

describe('TimeLogs.scan', () => {
  it('streams newest first across generations; leaving the loop early stops the read and lets a close happen', async () => {
    const log = await logs(3, 2) // maxHeight 3
    for (let ts = 1; ts <= 8; ts++) await log.append('k', ts * 1000, { ts: ts * 1000 })
    const seen: number[] = []
    for await (const e of log.scan('k', 0, {}, true)) seen.push((e as { ts: number }).ts)
    // generations 0 = [1,2,3], 1 = [4,5,6], 2 = [7,8]: all three within maxHeight
    expect(seen).toEqual([8000, 7000, 6000, 5000, 4000, 3000, 2000, 1000])
    const first: number[] = []
    for await (const e of log.scan('k', 0, {}, true)) {
      first.push((e as { ts: number }).ts)
      if (first.length === 2) break
    }
    expect(first).toEqual([8000, 7000])
    // the read ended: a close is not deferred
    await log.close('k')
    expect(store.isOpen('log:k:2')).toBe(false)
    // without walk only the one generation; a range bounds it
    const one: unknown[] = []
    for await (const e of log.scan('k', 1, {}, false)) one.push(e)
    expect(one).toEqual([{ ts: 6000 }, { ts: 5000 }, { ts: 4000 }])
    const ranged: unknown[] = []
    for await (const e of log.scan('k', 0, { start: 5000, end: 7000 }, true)) ranged.push(e)
    expect(ranged).toEqual([{ ts: 7000 }, { ts: 6000 }, { ts: 5000 }])
  })

  it('an unknown log or a missing generation scans nothing; hasGeneration tells them apart', async () => {
    const log = await logs(0, 1)
    await log.append('k', 1000, { v: 1 })
    const none: unknown[] = []
    for await (const e of log.scan('nope', 0, {}, true)) none.push(e)
    for await (const e of log.scan('k', 3, {}, true)) none.push(e)
    expect(none).toEqual([])
    expect(await log.hasGeneration('k', 0)).toBe(true)
    expect(await log.hasGeneration('k', 1)).toBe(false)
    expect(await log.hasGeneration('nope', 0)).toBe(false)
  })

  it('the largest time a key holds exactly: 15 digits, later than any real time; past it keys no longer sort by time', () => {
    expect(timeKey(MAX_LOG_TIME_MS)).toMatch(/^\d{15}$/)
    expect(timeKey(MAX_LOG_TIME_MS) > timeKey(Date.now())).toBe(true)
    // past it a key has 16 digits or an exponent form that sorts before real times: requests are refused there
    expect(timeKey(MAX_LOG_TIME_MS + 1)).toHaveLength(16)
    // 1e21 pads to a key that sorts before today: `start: 1e21` would have matched everything
    expect(timeKey(1e21) < timeKey(Date.now())).toBe(true)
  })
})
