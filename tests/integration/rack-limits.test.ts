/**
 * Bounded inputs and replies (issue "Hardening"), over real RPC against the Kehua worker class
 * in this process: request size, strings, arrays, keys, info/opts/settings bounds, addresses,
 * reply pages cut under the frame limit, and queryThing reads within the read budget.
 * Every refusal changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks, type RackWorker } from '../helpers/rack'
import { MAX_REPLY_BYTES, capReply } from '../../workers/tpl/rpc/limits'
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
