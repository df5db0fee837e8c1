/**
 * Bounded inputs and replies (issue "Hardening"), over real RPC against the Kehua worker class
 * in this process: request size, strings, arrays, keys, info/opts/settings bounds, addresses,
 * reply pages cut under the frame limit, and queryThing reads within the read budget.
 * Every refusal changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks, type RackWorker } from '../helpers/rack'
import { HEAVY_READS, MAX_REPLY_BYTES, capReply } from '../../workers/rpc/limits'
import { ALERTS_LOG } from '../../workers/tpl/thing/logs/log-names'
import { INFO_HISTORY_LOG } from '../../workers/tpl/thing/logs/log-names'
import { thingLogKey } from '../../workers/tpl/thing/logs/log-names'
import { MAX_LOG_TIME_MS } from '../../workers/tpl/thing/logs/time-log'
import { errorCode } from '../../workers/core/errors'
import type { MockServer } from '../../mock/server'

let rpc: RackRpc
let worker: RackWorker
let slow: MockServer

beforeAll(async () => {
  const { bootstrap } = await createBootstrap()
  const rack = await startRackInProcess({ bootstrap, rack: 'lim-1', baseThing: { collectSnapsItvMs: 60_000, readBudgetMs: 1000, container: { timeout: 2000, retry: 0 } } })
  worker = rack.worker
  rpc = new RackRpc(createRpcClient(bootstrap), rack.key)
  slow = await startMock('Kehua', 3)
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

describe('request bounds', () => {
  it('a request over 1 MiB → ERR_REQUEST_TOO_LARGE, nothing registered', async () => {
    const reply = await rpc.raw('registerThing', JSON.stringify({ id: 'big', opts: {}, info: { blob: 'x'.repeat(1024 * 1024) } }), 20_000)
    expect(reply).toBe('"[HRPC_ERR]=ERR_REQUEST_TOO_LARGE"')
    expect(worker.registry.has('big')).toBe(false)
  })

  it('oversized strings, arrays and objects → ERR_PARAMS_INVALID; info over 64 KiB → ERR_THING_INFO_INVALID', async () => {
    expect(await rpc.error('registerThing', { id: 's', opts: {}, info: { note: 'x'.repeat(64 * 1024 + 1) } })).toBe('ERR_PARAMS_INVALID')
    expect(await rpc.error('listThings', { query: { id: { $in: Array.from({ length: 10_001 }, (_, i) => String(i)) } } })).toBe('ERR_PARAMS_INVALID')
    expect(await rpc.error('registerThing', { id: 'k', opts: {}, info: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, i])) })).toBe('ERR_PARAMS_INVALID')
    const wide = Object.fromEntries(Array.from({ length: 900 }, (_, i) => [`k${i}`, 'v'.repeat(80)]))
    expect(await rpc.error('registerThing', { id: 'w', opts: {}, info: wide })).toBe('ERR_THING_INFO_INVALID')
    expect(await rpc.error('registerThing', { id: 'o', opts: { note: 'y'.repeat(17 * 1024) } })).toBe('ERR_THING_OPTS_INVALID')
    expect(await rpc.count()).toBe(0)
  })

  it('settings: at most 256 keys per save, and 1 MiB for all together; a refused save changes nothing', async () => {
    expect(await rpc.error('saveWrkSettings', { entries: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`s${i}`, i])) })).toBe('ERR_ENTRIES_INVALID')
    const chunk = 'z'.repeat(60 * 1024)
    for (let i = 0; i < 16; i++) expect(await rpc.call('saveWrkSettings', { entries: { [`part${i}`]: chunk } })).toBe(1)
    expect(await rpc.error('saveWrkSettings', { entries: { part16: chunk, part17: chunk } })).toBe('ERR_SETTINGS_TOO_LARGE')
    const settings = await rpc.call<Record<string, string>>('getWrkSettings')
    expect(Object.keys(settings)).toHaveLength(16)
    expect(settings).not.toHaveProperty('part16')
  })

  it('opts.address is a hostname or an IP literal', async () => {
    for (const address of ['http://10.0.0.1', '10.0.0.1:502', ' 10.0.0.1', '10.0.0.1\n', '127.0.0.1\u0000evil', 'a b']) {
      expect(await rpc.error('registerThing', { id: 'addr', opts: { address, port: 502 } }), JSON.stringify(address)).toBe('ERR_THING_OPTS_INVALID')
    }
    expect(await rpc.call('registerThing', { id: 'addr', opts: { address: 'container-7.site', port: 502 } })).toBe(1)
    expect(await rpc.error('updateThing', { id: 'addr', opts: { address: '10.0.0.1/24' } })).toBe('ERR_THING_OPTS_INVALID')
    expect((await rpc.thing('addr')).address).toBe('container-7.site')
    await rpc.call('forgetThings', { query: { id: 'addr' } })
  })
})

describe('reply bounds', () => {
  it('capReply keeps whole entries under the byte bound, at least one', () => {
    const items = Array.from({ length: 10 }, (_, i) => ({ i, pad: 'p'.repeat(100) }))
    const cut = capReply(items, 500)
    expect(cut.length).toBeGreaterThan(0)
    expect(cut.length).toBeLessThan(10)
    expect(Buffer.byteLength(JSON.stringify(cut))).toBeLessThanOrEqual(500)
    expect(cut).toEqual(items.slice(0, cut.length))
    expect(capReply([{ pad: 'p'.repeat(1000) }], 10)).toHaveLength(1)
  })

  it('listThings cuts a page over the reply bound at a whole thing; offset pages through all', async () => {
    const info = { blob: 'i'.repeat(60 * 1024) }
    const total = Math.ceil(MAX_REPLY_BYTES / (60 * 1024)) + 20
    for (let i = 0; i < total; i++) await worker.callRpc('registerThing', { id: `big-${String(i).padStart(3, '0')}`, opts: {}, info })
    const first = await rpc.call<Array<{ id: string }>>('listThings', { limit: total, sort: { id: 1 } }, 30_000)
    expect(first.length).toBeGreaterThan(0)
    expect(first.length).toBeLessThan(total)
    const seen = first.map((t) => t.id)
    while (seen.length < total) {
      const next = await rpc.call<Array<{ id: string }>>('listThings', { limit: total, offset: seen.length, sort: { id: 1 } }, 30_000)
      expect(next.length).toBeGreaterThan(0)
      seen.push(...next.map((t) => t.id))
    }
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => `big-${String(i).padStart(3, '0')}`))
    await worker.callRpc('forgetThings', { all: true })
  })
})

describe('read budget', () => {
  it('queryThing getSnap on a container answering in 1.5 s per request answers within the budget with an error envelope', async () => {
    await rpc.call('registerThing', { id: 'slow', opts: mockOpts(slow) })
    slow.setFault({ delayMs: 1500 })
    const t0 = Date.now()
    const snap = await rpc.call<{ success: boolean, stats: { status: string, errors: Array<{ msg: string }> } }>('queryThing', { id: 'slow', method: 'getSnap', params: [] }, 15_000)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(snap).toMatchObject({ success: false, stats: { status: 'error', errors: [{ msg: 'ERR_THING_READ_TIMEOUT' }] } })
    // a read of another kind fails with the code
    expect(await rpc.error('queryThing', { id: 'slow', method: 'getRealtimeData', params: [] })).toBe('ERR_THING_READ_TIMEOUT')
    slow.clearFaults()
  })
})

describe('streamed history and logs', () => {
  const T0 = 1_700_000_000_000

  it('getHistoricalLogs info with a query filters while reading: offset and limit count matches, across match chunks', async () => {
    // 700 entries alternating between two things, older first; ids h0/h1 are not registered
    for (let i = 0; i < 700; i++) await worker.logs.append(INFO_HISTORY_LOG, T0 + i, { ts: T0 + i, id: `h${i % 2}`, changes: { n: { oldValue: i - 1, newValue: i } } })
    const h1 = Array.from({ length: 700 }, (_, i) => i).filter((i) => i % 2 === 1).reverse() // newest first
    const page = await rpc.call<Array<{ ts: number, thing: { id: string } }>>('getHistoricalLogs', { logType: 'info', query: { 'thing.id': 'h1' }, offset: 100, limit: 150, start: T0 })
    expect(page.map((e) => e.ts)).toEqual(h1.slice(100, 250).map((i) => T0 + i))
    expect(page.every((e) => e.thing.id === 'h1')).toBe(true)
    // a query matching nothing reads the whole range and answers []
    expect(await rpc.call('getHistoricalLogs', { logType: 'info', query: { 'thing.id': 'nobody' }, start: T0 })).toEqual([])
    // an invalid query is refused before anything is read
    expect(await rpc.error('getHistoricalLogs', { logType: 'info', query: { $where: '1' } })).toBe('ERR_QUERY_INVALID')
  })

  it('alerts without a limit: every alert in the range, cut at the reply bound at a whole entry; offset pages through all', async () => {
    const pad = 'm'.repeat(100 * 1024)
    const total = Math.ceil(MAX_REPLY_BYTES / (100 * 1024)) + 10
    for (let i = 0; i < total; i++) {
      await worker.logs.append(ALERTS_LOG, T0 + i, { name: 'leak', description: 'd', severity: 'high', createdAt: T0 + i, uuid: `u${i}`, message: `${i} ${pad}`, thingId: 'gone' })
    }
    const seen: string[] = []
    for (let round = 0; seen.length < total && round < 10; round++) {
      const got = await rpc.call<Array<{ uuid: string }>>('getHistoricalLogs', { logType: 'alerts', start: T0, end: T0 + total, offset: seen.length }, 30_000)
      expect(got.length).toBeGreaterThan(0)
      expect(Buffer.byteLength(JSON.stringify(got))).toBeLessThanOrEqual(MAX_REPLY_BYTES)
      seen.push(...got.map((a) => a.uuid))
    }
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => `u${total - 1 - i}`))
  })

  it('time arguments past what a log key holds → ERR_PARAMS_INVALID (1e21 used to match every entry); the bound itself reads nothing', async () => {
    for (const start of [1e21, MAX_LOG_TIME_MS + 1]) {
      expect(await rpc.error('getHistoricalLogs', { logType: 'info', start })).toBe('ERR_PARAMS_INVALID')
      expect(await rpc.error('getHistoricalLogs', { logType: 'alerts', end: start })).toBe('ERR_PARAMS_INVALID')
      expect(await rpc.error('tailLog', { key: 'stat-5m', tag: 't-container', start })).toBe('ERR_PARAMS_INVALID')
    }
    expect(await rpc.call('getHistoricalLogs', { logType: 'info', start: MAX_LOG_TIME_MS })).toEqual([])
  })

  it('tailLog of large entries: the page is cut under the reply bound, newest first; `end` pages on', async () => {
    const id = 'tail-big'
    // incompressible ~400 kB entries
    const blob = (i: number): string => Array.from({ length: 20_000 }, (_, j) => ((i * 7919 + j * 104_729) % 1_000_003).toString(36)).join('')
    const total = Math.ceil(MAX_REPLY_BYTES / blob(0).length) + 6
    for (let i = 0; i < total; i++) await worker.logs.append(thingLogKey(id), T0 + i * 1000, { ts: T0 + i * 1000, err: null, snap: { blob: blob(i) } })
    const first = await rpc.call<Array<{ ts: number }>>('tailLog', { key: 'thing-5m', tag: id, start: T0 }, 30_000)
    expect(first.length).toBeGreaterThan(0)
    expect(first.length).toBeLessThan(total)
    expect(first[0].ts).toBe(T0 + (total - 1) * 1000)
    const oldest = first[first.length - 1].ts
    const rest = await rpc.call<Array<{ ts: number }>>('tailLog', { key: 'thing-5m', tag: id, start: T0, end: oldest - 1, fields: { ts: 1 } }, 30_000)
    expect(rest.map((e) => e.ts)).toEqual(Array.from({ length: total - first.length }, (_, i) => oldest - 1000 * (i + 1)))
    // grouped: buckets, not entries, each with its count
    const grouped = await rpc.call<Array<{ ts: number, count: number }>>('tailLog', { key: 'thing-5m', tag: id, start: T0, groupRange: '1D', fields: { ts: 1, count: 1 } }, 30_000)
    expect(grouped.reduce((n, b) => n + b.count, 0)).toBeGreaterThan(0)
  })

  it('heavy reads share a limiter: past its running and waiting places a read is refused at once with ERR_BUSY', async () => {
    const places = HEAVY_READS.concurrency + HEAVY_READS.maxQueue
    const calls = Array.from({ length: places + 6 }, async () => await worker.callRpc('tailLog', { key: 'thing-5m', tag: 'tail-big', limit: 3 }).then(() => 'ok', (err: unknown) => errorCode(err)))
    const outcomes = await Promise.all(calls)
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(places)
    expect(outcomes.filter((o) => o === 'ERR_BUSY')).toHaveLength(6)
    // the line is free again afterwards
    expect(await worker.callRpc('getThingsCount', {})).toBeGreaterThanOrEqual(0)
  })
})
