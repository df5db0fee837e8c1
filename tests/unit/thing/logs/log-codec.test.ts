/**
 * The stored encoding of time-log values (workers/tpl/thing/logs/log-codec.ts) and its use by
 * TimeLogs: exact round trips, a real `thing-5m` entry within 4 kB, entries written before the
 * codec (plain JSON through Hyperbee's `json` encoding) still read, alone and mixed with new
 * ones, by a second reader too (as a read replica reads), and an unknown format treated as a
 * corrupt generation.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createServer, type MockServer } from '../../../../mock/server'
import { MicroBTContainer } from '../../../../workers/lib/container'
import { StoreFacility, type Bee } from '../../../../workers/facs/store'
import {
  COMPRESS_FROM_BYTES, COMPRESSED_MARK, FORMAT_BROTLI, RAW_VALUE, decodeLogValue, encodeLogValue, isCompressed
} from '../../../../workers/tpl/thing/logs/log-codec'
import { TimeLogs, timeKey, type LogMeta } from '../../../../workers/tpl/thing/logs/time-log'

/** What the old `json` value encoding gave back: the value through JSON text. */
const viaJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v) ?? 'null')

let mock: MockServer
let snapshotEntry: { ts: number, err: null, snap: unknown }
let errorEntry: { ts: number, err: null, snap: unknown }

beforeAll(async () => {
  const entries: Array<{ ts: number, err: null, snap: unknown }> = []
  for (const error of [false, true]) {
    mock = createServer({ type: 'Kehua', port: 0, tickMs: 0, seed: 11, error })
    const { port } = await mock.start()
    mock.state.tick(1000)
    const container = new MicroBTContainer({ vendor: 'kehua', address: '127.0.0.1', port, username: 'admin', password: 'admin', timeout: 2000 })
    const snap = await container.getSnap()
    expect(snap.success).toBe(true)
    entries.push({ ts: 1_795_000_000_000, err: null, snap })
    await container.close()
    await mock.exit()
  }
  [snapshotEntry, errorEntry] = entries as [typeof snapshotEntry, typeof errorEntry]
})

/** What TimeLogs.put stores for a value: the codec applied to its JSON text. */
const encode = (v: unknown): Buffer => encodeLogValue(JSON.stringify(v))

describe('log value codec', () => {
  it('stores small values as the JSON text the old json encoding wrote, byte for byte', () => {
    for (const v of [null, 0, 'x', [1, 2], { ts: 1, a: 'b' }, { nested: { list: [true, null] } }]) {
      const raw = encode(v)
      expect(raw.equals(Buffer.from(JSON.stringify(v)))).toBe(true)
      expect(isCompressed(raw)).toBe(false)
      expect(decodeLogValue(raw)).toEqual(viaJson(v))
    }
  })

  it('round-trips a real snapshot entry exactly, stored compressed within 4 kB (about 25 kB of JSON)', () => {
    for (const entry of [snapshotEntry, errorEntry]) {
      const json = JSON.stringify(entry)
      expect(json.length).toBeGreaterThan(20_000)
      const raw = encode(entry)
      expect(isCompressed(raw)).toBe(true)
      expect([raw[0], raw[1]]).toEqual([COMPRESSED_MARK, FORMAT_BROTLI])
      expect(raw.length).toBeLessThanOrEqual(4096)
      const back = decodeLogValue(raw)
      expect(JSON.stringify(back)).toBe(json)
      expect(back).toStrictEqual(viaJson(entry))
    }
  })

  it('round-trips any JSON value exactly (the JSON text is what is stored)', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.boolean(), (v, big) => {
      const value = big ? { pad: 'p'.repeat(COMPRESS_FROM_BYTES), v } : v
      expect(JSON.stringify(decodeLogValue(encode(value)))).toBe(JSON.stringify(value))
    }), { numRuns: 300 })
  })

  it('refuses an unknown format as an undecodable block', () => {
    expect(() => decodeLogValue(Buffer.from([COMPRESSED_MARK, 0x7a, 1, 2, 3]))).toThrow(expect.objectContaining({ code: 'DECODING_ERROR' }))
    expect(() => decodeLogValue(Buffer.from([COMPRESSED_MARK, FORMAT_BROTLI, 1, 2, 3]))).toThrow(expect.objectContaining({ code: 'DECODING_ERROR' }))
  })
})

describe('TimeLogs with the codec', () => {
  let dir: string
  let store: StoreFacility

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mbt-logcodec-'))
    store = new StoreFacility(dir)
    await store.ready()
  })

  afterEach(async () => {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })

  async function logs (opts: { cacheMeta?: boolean, onCorrupt?: (key: string, gen: number, err: unknown) => void } = {}): Promise<TimeLogs> {
    const db = await store.getBee('db')
    return new TimeLogs(store, db.sub('meta_logs') as Bee<LogMeta>, { maxLength: 100, keepCount: 3, ...opts })
  }

  it('reads back exactly what was appended, large entries stored compressed', async () => {
    const log = await logs()
    const small = { ts: 2, err: 'ERR_THING_OFFLINE', snap: { success: false, stats: { status: 'offline' } } }
    await log.append('thing-5m-a', 1, snapshotEntry)
    await log.append('thing-5m-a', 2, small)
    await log.put('stat-rtd-x', 'stat-rtd', errorEntry)
    expect(await log.read('thing-5m-a', 0, {})).toStrictEqual([viaJson(small), viaJson(snapshotEntry)])
    expect(await log.latest('thing-5m-a')).toStrictEqual(viaJson(small))
    expect(await log.get('stat-rtd-x', 'stat-rtd')).toStrictEqual(viaJson(errorEntry))
    const bee = await store.getBee('log:thing-5m-a:0')
    const raw = await bee.get(timeKey(1), RAW_VALUE)
    expect(isCompressed(raw?.value as Buffer)).toBe(true)
    expect((raw?.value as Buffer).length).toBeLessThanOrEqual(4096)
    expect(isCompressed((await bee.get(timeKey(2), RAW_VALUE))?.value as Buffer)).toBe(false)
  })

  it('still reads entries written before the codec (plain JSON), alone and mixed with new ones, in order', async () => {
    // what the old TimeLogs did: meta {cur: 0}, then bee.put(key, value) with the json encoding
    const db = await store.getBee('db')
    await (db.sub('meta_logs') as Bee<LogMeta>).put('thing-5m-old', { cur: 0 })
    const old = await store.getBee('log:thing-5m-old:0')
    await old.put(timeKey(1000), snapshotEntry)
    await old.put(timeKey(2000), { ts: 2000, err: null, snap: null })
    await old.put(timeKey(2000) + '.1', errorEntry)
    const log = await logs()
    expect(await log.read('thing-5m-old', 0, {})).toStrictEqual([viaJson(errorEntry), { ts: 2000, err: null, snap: null }, viaJson(snapshotEntry)])
    // new entries join the same generation; old and new read alike, newest first
    await log.append('thing-5m-old', 3000, snapshotEntry)
    expect(await log.read('thing-5m-old', 0, { start: 1500 })).toStrictEqual([viaJson(snapshotEntry), viaJson(errorEntry), { ts: 2000, err: null, snap: null }])
    expect(await log.latest('thing-5m-old')).toStrictEqual(viaJson(snapshotEntry))
  })

  it('a second reader of the same logs (as a read replica reads them) decodes them too', async () => {
    const writer = await logs()
    await writer.append('thing-5m-r', 10, snapshotEntry)
    await writer.append('thing-5m-r', 20, { ts: 20, err: null, snap: null })
    const reader = await logs({ cacheMeta: false })
    expect(await reader.read('thing-5m-r', 0, { limit: 5 })).toStrictEqual([{ ts: 20, err: null, snap: null }, viaJson(snapshotEntry)])
  })

  it('an entry in an unknown format makes its generation corrupt: skipped and reported', async () => {
    const corrupt: Array<[string, number]> = []
    const log = await logs({ onCorrupt: (key, gen) => corrupt.push([key, gen]) })
    await log.append('thing-5m-c', 1, { ts: 1 })
    const bee = await store.getBee('log:thing-5m-c:0')
    await bee.put(timeKey(2), Buffer.from([COMPRESSED_MARK, 0x7a, 0]), RAW_VALUE)
    expect(await log.read('thing-5m-c', 0, {})).toEqual([])
    expect(corrupt).toEqual([['thing-5m-c', 0]])
  })
})

afterAll(async () => {
  await mock?.exit().catch(() => {})
})
