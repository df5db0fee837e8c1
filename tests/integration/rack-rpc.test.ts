/**
 * Every RPC method of the rack, success paths and errors, through a real `@hyperswarm/rpc`
 * client over a local HyperDHT testnet (JSON text in buffers, like hp-rpc-cli), against the real
 * Kehua worker class running in this process and mock containers on ephemeral ports.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient, waitFor, type JsonObject } from '../helpers'
import {
  MOCK_PASSWORD,
  MOCK_USER,
  RackRpc,
  mockOpts,
  scaled,
  startMock,
  startRackInProcess,
  stopMocks,
  type InProcessRack,
  type ListedThing,
  type SnapView
} from '../helpers/rack'
import type { MockServer } from '../../mock/server'

const RACK = 'rpc-1'
const RACK_ID = `container-mbt-kehua-${RACK}`

let rack: InProcessRack
let rpc: RackRpc
let ro: RackRpc
let mockA: MockServer
let mockB: MockServer

beforeAll(async () => {
  const { bootstrap } = await createBootstrap()
  const fullClient = createRpcClient(bootstrap)
  const roClient = createRpcClient(bootstrap)
  rack = await startRackInProcess({
    bootstrap,
    rack: RACK,
    // small generations, so tailLog reads across log rotations
    baseThing: { logRotateMaxLength: 50 },
    net: { r0: { allow: [fullClient.publicKey], allowReadOnly: [roClient.publicKey] } }
  })
  rpc = new RackRpc(fullClient, rack.key)
  ro = new RackRpc(roClient, rack.key)
  mockA = await startMock('Kehua', 11)
  mockB = await startMock('Kehua', 12)
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

async function forgetAll (): Promise<void> {
  expect(await rpc.call('forgetThings', { all: true })).toBe(1)
  expect(await rpc.count()).toBe(0)
}

async function ids (req: JsonObject = {}): Promise<string[]> {
  return (await rpc.list(req)).map((t) => t.id)
}

describe('basics', () => {
  it('ping / echo return the payload, getInstanceId the worker instance', async () => {
    expect(await rpc.call('ping', { a: [1, 'x'] })).toEqual({ a: [1, 'x'] })
    expect(await rpc.call('echo', 'hello')).toBe('hello')
    expect(await rpc.call('getInstanceId')).toBe(rack.worker.instanceId)
  })

  it('getRack → {id: container-mbt-kehua-<rack>, rpcPubKey} equal to the status file key', async () => {
    const status = JSON.parse(readFileSync(path.join(rack.root, 'status', `wrk-container-rack-kehua-${RACK}.json`), 'utf8')) as { rpcPublicKey: string }
    expect(status.rpcPublicKey).toMatch(/^[0-9a-f]{64}$/)
    expect(await rpc.call('getRack')).toEqual({ id: RACK_ID, rpcPubKey: status.rpcPublicKey })
    expect(status.rpcPublicKey).toBe(rack.key)
  })
})

describe('registerThing', () => {
  it('registers → 1, listed with the public fields', async () => {
    await forgetAll()
    expect(await rpc.call('registerThing', { id: 'reg-1', opts: mockOpts(mockA), info: { container: 'c1', pos: 'p-1' } })).toBe(1)
    const [t] = await rpc.list({ query: { id: 'reg-1' } })
    expect(t.id).toBe('reg-1')
    expect(t.type).toBe('container-mbt-kehua')
    expect(t.code).toBe('MBT-KEHUA-0001')
    expect(t.rack).toBe(RACK_ID)
    expect(t.address).toBe('127.0.0.1')
    expect(t.port).toBe(mockA.port)
    expect(t.info.container).toBe('c1')
    expect(t.info.pos).toBe('p-1')
    expect(typeof t.info.createdAt).toBe('number')
    expect(t.comments).toEqual([])
    expect(t).not.toHaveProperty('opts')
    expect(t).not.toHaveProperty('last')
    expect(await rpc.count()).toBe(1)
  })

  it('refuses duplicates, bad codes and bad opts — and bad input changes nothing', async () => {
    await forgetAll()
    expect(await rpc.call('registerThing', { id: 'dup', code: 'MBT-KEHUA-0007', opts: mockOpts(mockA) })).toBe(1)
    const before = await rpc.list({ status: 1 })

    expect(await rpc.error('registerThing', { id: 'dup', opts: mockOpts(mockA) })).toBe('ERR_THING_WITH_ID_ALREADY_EXISTS')
    expect(await rpc.error('registerThing', { id: 'other-1', code: 'MBT-KEHUA-0007', opts: mockOpts(mockA) })).toBe('ERR_THING_WITH_CODE_ALREADY_EXISTS')
    expect(await rpc.error('registerThing', { id: 'other-2', code: 'MBT-KEHUA', opts: mockOpts(mockA) })).toBe('ERR_THING_CODE_INVALID')
    expect(await rpc.error('registerThing', { id: 'other-3', code: 'MBT-KEHUA-00x1', opts: mockOpts(mockA) })).toBe('ERR_THING_CODE_INVALID')
    expect(await rpc.error('registerThing', { id: 'other-4' })).toBe('ERR_THING_OPTS_INVALID')
    expect(await rpc.error('registerThing', { id: 'other-5', opts: 'x' })).toBe('ERR_THING_OPTS_INVALID')
    expect(await rpc.error('registerThing', { id: 'other-6', opts: { ...mockOpts(mockA), port: 'abc' } })).toBe('ERR_THING_OPTS_INVALID')
    expect(await rpc.error('registerThing', { id: 'other-7', opts: { ...mockOpts(mockA), port: 70000 } })).toBe('ERR_THING_OPTS_INVALID')

    expect(await rpc.count()).toBe(1)
    expect(await ids()).toEqual(['dup'])
    expect(await rpc.list({ status: 1 })).toEqual(before)
    // the refused codes were not consumed
    expect(await rpc.call('getThingConf', { requestType: 'nextAvailableCode' })).toBe('MBT-KEHUA-0008')
  })

  it('assigns MBT-KEHUA-0001, 0002 … as max+1, also after a forget', async () => {
    await forgetAll()
    expect(await rpc.call('getThingConf', { requestType: 'nextAvailableCode' })).toBe('MBT-KEHUA-0001')
    await rpc.call('registerThing', { id: 'code-a', opts: {} })
    await rpc.call('registerThing', { id: 'code-b', opts: {} })
    expect((await rpc.thing('code-a')).code).toBe('MBT-KEHUA-0001')
    expect((await rpc.thing('code-b')).code).toBe('MBT-KEHUA-0002')

    await rpc.call('forgetThings', { query: { id: 'code-a' } })
    await rpc.call('registerThing', { id: 'code-c', opts: {} })
    expect((await rpc.thing('code-c')).code).toBe('MBT-KEHUA-0003')

    await rpc.call('registerThing', { id: 'code-d', code: 'MBT-KEHUA-0042', opts: {} })
    expect(await rpc.call('getThingConf', { requestType: 'nextAvailableCode' })).toBe('MBT-KEHUA-0043')
    await rpc.call('registerThing', { id: 'code-e', opts: {} })
    expect((await rpc.thing('code-e')).code).toBe('MBT-KEHUA-0043')
    expect((await rpc.list({ sort: { code: 1 } })).map((t) => t.code)).toEqual(['MBT-KEHUA-0002', 'MBT-KEHUA-0003', 'MBT-KEHUA-0042', 'MBT-KEHUA-0043'])
  })

  it('tags exactly as worker.md §3: type tags, microbt, caller tags, id/code/container/pos — unique', async () => {
    await forgetAll()
    await rpc.call('registerThing', {
      id: 'tag-1',
      opts: mockOpts(mockA),
      info: { container: 'bay-3', pos: 'r2-s7' },
      tags: ['grp-a', 'grp-a', 'microbt', 't-container', 'site-x', 'id-forged', 'code-forged', 'pos-forged', 'container-forged']
    })
    const t = await rpc.thing('tag-1')
    expect(t.code).toBe('MBT-KEHUA-0001')
    expect([...t.tags].sort()).toEqual([
      'code-MBT-KEHUA-0001',
      'container-bay-3',
      'grp-a',
      'id-tag-1',
      'microbt',
      'pos-r2-s7',
      'site-x',
      't-container',
      't-container-mbt',
      't-container-mbt-kehua'
    ])
    expect(new Set(t.tags).size).toBe(t.tags.length)

    await rpc.call('registerThing', { id: 'tag-2', opts: {} })
    expect([...(await rpc.thing('tag-2')).tags].sort()).toEqual([
      'code-MBT-KEHUA-0002', 'id-tag-2', 'microbt', 't-container', 't-container-mbt', 't-container-mbt-kehua'
    ])
  })
})

describe('updateThing', () => {
  it('merges info, opts and tags by default; forceOverwrite replaces them', async () => {
    await forgetAll()
    await rpc.call('registerThing', { id: 'up-1', opts: mockOpts(mockA), info: { a: 1, b: 2, pos: 'p-1', container: 'c1' }, tags: ['grp-a'] })
    const created = (await rpc.thing('up-1')).info.createdAt

    expect(await rpc.call('updateThing', { id: 'up-1', info: { b: 3, pos: 'p-2' }, tags: ['grp-b'] })).toBe(1)
    let t = await rpc.thing('up-1')
    expect(t.info).toMatchObject({ a: 1, b: 3, pos: 'p-2', container: 'c1', createdAt: created })
    expect(t.tags).toContain('pos-p-2')
    expect(t.tags).not.toContain('pos-p-1')
    expect(t.tags).toContain('container-c1')
    expect(t.tags).toContain('grp-a')
    expect(t.tags).toContain('grp-b')

    expect(await rpc.call('updateThing', { id: 'up-1', info: { container: 'c9' }, tags: ['grp-z'], forceOverwrite: true })).toBe(1)
    t = await rpc.thing('up-1')
    expect(Object.keys(t.info).sort()).toEqual(['container', 'createdAt', 'updatedAt'])
    expect(t.info.container).toBe('c9')
    expect(t.info.createdAt).toBe(created)
    expect([...t.tags].sort()).toEqual([
      'code-MBT-KEHUA-0001', 'container-c9', 'grp-z', 'id-up-1', 'microbt', 't-container', 't-container-mbt', 't-container-mbt-kehua'
    ])
    expect(t.code).toBe('MBT-KEHUA-0001')
  })

  it('unknown or missing id → ERR_THING_NOTFOUND; invalid opts → ERR_THING_OPTS_INVALID and nothing changes', async () => {
    expect(await rpc.error('updateThing', { id: 'nope', info: { a: 1 } })).toBe('ERR_THING_NOTFOUND')
    expect(await rpc.error('updateThing', { info: { a: 1 } })).toBe('ERR_THING_NOTFOUND')
    const before = await rpc.thing('up-1')
    expect(await rpc.error('updateThing', { id: 'up-1', opts: { port: 'abc' } })).toBe('ERR_THING_OPTS_INVALID')
    expect(await rpc.thing('up-1')).toEqual(before)
  })

  it('an opts change reconnects: merged opts keep the credentials and reach the new address', async () => {
    await forgetAll()
    await rpc.call('registerThing', { id: 'move', opts: mockOpts(mockA) })
    const viaA = await rpc.call<SnapView>('queryThing', { id: 'move', method: 'getSnap' })
    expect(viaA.success).toBe(true)
    await waitFor(() => mockA.connectionCount > 0)
    const bBefore = mockB.stats.requests

    expect(await rpc.call('updateThing', { id: 'move', opts: { port: mockB.port } })).toBe(1)
    expect((await rpc.thing('move')).port).toBe(mockB.port)
    // the old connection was closed
    await waitFor(() => mockA.connectionCount === 0, 3000)
    const aAfter = mockA.stats.requests
    const viaB = await rpc.call<SnapView>('queryThing', { id: 'move', method: 'getSnap' })
    expect(viaB.success).toBe(true)
    expect(mockB.stats.requests).toBeGreaterThan(bBefore)
    // a write authenticates with the merged (kept) credentials on the new connection
    const authOk = mockB.stats.authSucceeded
    expect(await rpc.call('queryThing', { id: 'move', method: 'setCoolingFanThreshold', params: [{ runningSpeed: 61 }] })).toEqual({ success: true })
    expect(mockB.getRegister(1, 613)).toBe(scaled(61))
    expect(mockB.stats.authSucceeded).toBe(authOk + 1)
    expect(mockA.stats.requests).toBe(aAfter)

    // forceOverwrite without credentials: registered but no longer connected
    expect(await rpc.call('updateThing', { id: 'move', opts: { address: '127.0.0.1', port: mockB.port }, forceOverwrite: true })).toBe(1)
    expect(await rpc.error('queryThing', { id: 'move', method: 'getSnap' })).toBe('ERR_THING_NOT_INITIALIZED')
    await waitFor(() => mockB.connectionCount === 0, 3000)
  })
})

describe('updateThing and the live connection', () => {
  it('info, tags and unchanged opts keep the connection; a new password drops it and takes effect at the next collection', async () => {
    await forgetAll()
    await rpc.call('registerThing', { id: 'keep', opts: mockOpts(mockA) })
    expect((await rpc.call<SnapView>('queryThing', { id: 'keep', method: 'getSnap' })).success).toBe(true)
    await waitFor(() => mockA.connectionCount === 1)
    const accepted = mockA.stats.connections
    expect(await rpc.call('updateThing', { id: 'keep', info: { pos: 'K1' }, tags: ['grp-keep'] })).toBe(1)
    expect(await rpc.call('updateThing', { id: 'keep', opts: { ...mockOpts(mockA) } })).toBe(1)
    expect(await rpc.call('updateThing', { id: 'keep', opts: { port: mockA.port } })).toBe(1)
    expect((await rpc.call<SnapView>('queryThing', { id: 'keep', method: 'getSnap' })).success).toBe(true)
    expect(mockA.stats.connections).toBe(accepted)
    expect(mockA.connectionCount).toBe(1)

    // credentials change: the old connection goes, the next use connects with the new (wrong) password
    expect(await rpc.call('updateThing', { id: 'keep', opts: { password: 'not-the-password' } })).toBe(1)
    await waitFor(() => mockA.stats.connections === accepted + 1 || mockA.connectionCount === 0, 3000)
    const authFailed = mockA.stats.authFailed
    expect(await rpc.error('queryThing', { id: 'keep', method: 'setCoolingFanThreshold', params: [{ runningSpeed: 50 }] })).toBe('ERR_AUTH_FAILED')
    expect(mockA.stats.authFailed).toBeGreaterThan(authFailed)
    expect(mockA.stats.connections).toBeGreaterThan(accepted)
  })
})

describe('forgetThings', () => {
  it('by query, all, or neither (→ nothing deleted)', async () => {
    await forgetAll()
    for (const id of ['f-1', 'f-2', 'f-3']) await rpc.call('registerThing', { id, opts: {}, tags: [id === 'f-3' ? 'keep' : 'drop'] })

    expect(await rpc.call('forgetThings', {})).toBe(1)
    expect(await rpc.call('forgetThings', { all: false })).toBe(1)
    expect(await rpc.count()).toBe(3)

    expect(await rpc.call('forgetThings', { query: { tags: 'drop' } })).toBe(1)
    expect(await ids()).toEqual(['f-3'])
    expect(await rpc.call('forgetThings', { query: { tags: 'nothing-has-this' } })).toBe(1)
    expect(await rpc.count()).toBe(1)

    expect(await rpc.call('forgetThings', { all: true })).toBe(1)
    expect(await rpc.count()).toBe(0)
  })

  it('closes the connection of a forgotten thing and refuses code-evaluating queries', async () => {
    await rpc.call('registerThing', { id: 'f-conn', opts: mockOpts(mockA) })
    await rpc.call('queryThing', { id: 'f-conn', method: 'getSnap' })
    await waitFor(() => mockA.connectionCount > 0)
    expect(await rpc.error('forgetThings', { query: { $where: 'true' } })).toMatch(/^ERR_/)
    expect(await rpc.count()).toBe(1)
    await rpc.call('forgetThings', { query: { id: 'f-conn' } })
    await waitFor(() => mockA.connectionCount === 0, 3000)
    expect(await rpc.count()).toBe(0)
  })
})

describe('listThings / getThingsCount', () => {
  beforeAll(async () => {
    await forgetAll()
    await rpc.call('registerThing', { id: 'l-live', opts: mockOpts(mockA), info: { pos: 'pos-10' }, tags: ['grp-l'] })
    await rpc.call('registerThing', { id: 'l-cold', opts: {}, info: { pos: 'pos-2' }, tags: ['grp-l'] })
    await rpc.call('registerThing', { id: 'l-none', opts: {}, info: {} })
    await rpc.call('registerThing', { id: 'l-one', opts: {}, info: { pos: 'pos-1' } })
    await rpc.waitLast('l-live', (l) => l.snap?.success === true)
    await rpc.waitLast('l-cold', (l) => l.snap?.stats?.status === 'offline')
  })

  it('the query runs on `last` even without status, and items then carry no `last`', async () => {
    const offline = await rpc.list({ query: { 'last.snap.stats.status': 'offline', tags: 'grp-l' } })
    expect(offline.map((t) => t.id)).toEqual(['l-cold'])
    expect(offline[0]).not.toHaveProperty('last')
    const healthy = await rpc.list({ query: { 'last.snap.success': true } })
    expect(healthy.map((t) => t.id)).toEqual(['l-live'])
    expect(await rpc.count({ 'last.snap.success': true })).toBe(1)
  })

  it('status as 1, "1" or true adds `last`; absent, 0 or false do not', async () => {
    for (const status of [1, '1', true]) {
      const [t] = await rpc.list({ query: { id: 'l-live' }, status })
      expect(t.last?.snap?.success, `status ${JSON.stringify(status)}`).toBe(true)
      expect(typeof t.last?.ts).toBe('number')
    }
    for (const status of [undefined, 0, false]) {
      const [t] = await rpc.list({ query: { id: 'l-live' }, ...(status === undefined ? {} : { status }) })
      expect(t, `status ${JSON.stringify(status)}`).not.toHaveProperty('last')
    }
  })

  it('a projection still carries `rack`', async () => {
    const items = await rpc.list({ fields: { code: 1 }, sort: { code: 1 } })
    expect(items).toEqual([
      { code: 'MBT-KEHUA-0001', rack: RACK_ID },
      { code: 'MBT-KEHUA-0002', rack: RACK_ID },
      { code: 'MBT-KEHUA-0003', rack: RACK_ID },
      { code: 'MBT-KEHUA-0004', rack: RACK_ID }
    ])
    const [t] = await rpc.list({ query: { id: 'l-live' }, fields: { 'info.pos': 1, id: 1 } })
    expect(t).toEqual({ id: 'l-live', info: { pos: 'pos-10' }, rack: RACK_ID })
  })

  it('sorts naturally with missing values last, in both directions, with offset/limit after the sort', async () => {
    expect(await ids({ sort: { 'info.pos': 1 } })).toEqual(['l-one', 'l-cold', 'l-live', 'l-none'])
    expect(await ids({ sort: { 'info.pos': -1 } })).toEqual(['l-live', 'l-cold', 'l-one', 'l-none'])
    expect(await ids({ sort: { 'info.pos': 1 }, offset: 1, limit: 2 })).toEqual(['l-cold', 'l-live'])
    expect(await ids({ sort: { 'info.pos': -1 }, offset: 3 })).toEqual(['l-none'])
  })

  it('ignores unknown request keys; queries about other thing kinds give []', async () => {
    const plain = await ids({ sort: { code: 1 } })
    expect(await ids({
      sort: { code: 1 }, rackId: 'x', type: 'miner', overwriteCache: true, aggrFields: { a: 1 }, aggrTimes: [1], actionId: 7, user: 'u'
    })).toEqual(plain)
    expect(await rpc.list({ query: { type: 'miner-am-s19xp' } })).toEqual([])
    expect(await rpc.list({ query: { tags: { $in: ['t-miner'] } } })).toEqual([])
    expect(await rpc.list({ query: { type: 'powermeter-abb' }, status: 1, fields: { id: 1 } })).toEqual([])
    expect(await rpc.count({ type: 'miner-am-s19xp' })).toBe(0)
  })

  it('refuses $where / $expr / $function / $accumulator, nested too', async () => {
    for (const op of ['$where', '$expr', '$function', '$accumulator']) {
      expect(await rpc.error('listThings', { query: { [op]: 'x' } })).toMatch(/^ERR_/)
      expect(await rpc.error('listThings', { query: { $or: [{ id: 'l-live' }, { $and: [{ [op]: 'x' }] }] } })).toMatch(/^ERR_/)
      expect(await rpc.error('getThingsCount', { query: { $and: [{ [op]: 'x' }] } })).toMatch(/^ERR_/)
    }
  })

  it('never shows username/password; queries on them match nothing', async () => {
    expect(await rpc.list({ query: { 'opts.password': MOCK_PASSWORD } })).toEqual([])
    expect(await rpc.list({ query: { 'opts.username': MOCK_USER } })).toEqual([])
    expect(await rpc.count({ 'opts.password': MOCK_PASSWORD })).toBe(0)
    expect(await rpc.count({ 'opts.password': { $exists: true } })).toBe(0)
    // non-secret opts are queryable
    expect(await ids({ query: { 'opts.port': mockA.port } })).toEqual(['l-live'])
    for (const fields of [{ opts: 1 }, { 'opts.password': 1 }, { 'opts.username': 1, id: 1 }]) {
      const items = await rpc.list({ fields, status: 1 })
      for (const t of items) expect(t).not.toHaveProperty('opts')
    }
    const all = await rpc.raw('listThings', JSON.stringify({ status: true, limit: 1000 }))
    expect(all).toContain('l-live')
    expect(all).not.toContain(MOCK_PASSWORD)
    expect(all).not.toContain(MOCK_USER)
  })

  it('offset/limit default to 0/100', async () => {
    await forgetAll()
    for (let i = 0; i < 105; i++) await rack.worker.callRpc('registerThing', { id: `bulk-${String(i).padStart(3, '0')}`, opts: {} })
    const first = await rpc.list({ sort: { id: 1 } })
    expect(first).toHaveLength(100)
    expect(first[0].id).toBe('bulk-000')
    expect(first[99].id).toBe('bulk-099')
    expect((await rpc.list({ sort: { id: 1 }, offset: 100 })).map((t) => t.id)).toEqual(['bulk-100', 'bulk-101', 'bulk-102', 'bulk-103', 'bulk-104'])
    expect(await rpc.list({ sort: { id: 1 }, limit: 1000 })).toHaveLength(105)
    expect(await rpc.count()).toBe(105)
    expect(await rpc.count({ id: { $regex: '^bulk-10' } })).toBe(5)
    await forgetAll()
  })
})

describe('queryThing / applyThings', () => {
  beforeAll(async () => {
    await forgetAll()
    mockA.reset()
    mockB.reset()
    await rpc.call('registerThing', { id: 'q-a', opts: mockOpts(mockA), tags: ['grp-q'] })
    await rpc.call('registerThing', { id: 'q-b', opts: mockOpts(mockB), tags: ['grp-q'] })
    await rpc.call('registerThing', { id: 'q-none', opts: {}, tags: ['grp-q'] })
  })

  it('getSnap reads the mock container', async () => {
    const snap = await rpc.call<SnapView>('queryThing', { id: 'q-a', method: 'getSnap', params: [] })
    expect(snap.success).toBe(true)
    expect(['running', 'stopped', 'error']).toContain(snap.stats?.status)
    expect(snap.stats?.container_specific?.pdu_data).toHaveLength(12)
    expect(snap.stats?.container_specific?.power_meters).toHaveLength(4)
    expect(snap.stats?.container_specific?.cdu?.cooling_fan_start_temperature_threshold).toBe(mockA.getRegister(1, 614) / 100)
    expect(snap.stats?.container_specific?.cdu).not.toHaveProperty('unit_outlet_temp_t3')
  })

  it('unknown / undeclared method → ERR_THING_METHOD_NOTFOUND; unknown id → ERR_THING_NOTFOUND', async () => {
    expect(await rpc.error('queryThing', { id: 'q-a', method: 'nope' })).toBe('ERR_THING_METHOD_NOTFOUND')
    // exists on the controller, but is not a declared method
    expect(await rpc.error('queryThing', { id: 'q-a', method: 'close' })).toBe('ERR_THING_METHOD_NOTFOUND')
    expect(await rpc.error('queryThing', { id: 'q-a', method: 'constructor' })).toBe('ERR_THING_METHOD_NOTFOUND')
    expect(await rpc.error('queryThing', { id: 'q-a' })).toBe('ERR_THING_METHOD_NOTFOUND')
    expect(await rpc.error('queryThing', { id: 'nope', method: 'getSnap' })).toBe('ERR_THING_NOTFOUND')
    // still connected and usable afterwards
    expect((await rpc.call<SnapView>('queryThing', { id: 'q-a', method: 'getSnap' })).success).toBe(true)
  })

  it('a thing without address → ERR_THING_NOT_INITIALIZED', async () => {
    expect(await rpc.error('queryThing', { id: 'q-none', method: 'getSnap' })).toBe('ERR_THING_NOT_INITIALIZED')
    expect(await rpc.error('queryThing', { id: 'q-none', method: 'switchContainer', params: [true] })).toBe('ERR_THING_NOT_INITIALIZED')
  })

  it('ignores one trailing {actionId, user} param (approved actions)', async () => {
    const ctx = { actionId: 'act-1', user: 'ops@example.com' }
    expect((await rpc.call<SnapView>('queryThing', { id: 'q-a', method: 'getSnap', params: [ctx] })).success).toBe(true)
    expect(await rpc.call('queryThing', { id: 'q-a', method: 'setCoolingFanThreshold', params: [{ startTemp: 36.5, stopTemp: 22 }, ctx] })).toEqual({ success: true })
    expect(mockA.getRegister(1, 614)).toBe(scaled(36.5))
    expect(mockA.getRegister(1, 615)).toBe(scaled(22))
    expect(await rpc.call('queryThing', { id: 'q-a', method: 'switchSocket', params: [[['2', '4', false]], ctx] })).toEqual({ success: true })
    expect(mockA.state.isSocketEnabled(2, 4)).toBe(false)
    expect(await rpc.call('queryThing', { id: 'q-a', method: 'validateWriteAction', params: ['switchContainer', true, ctx] })).toBe(1)
  })

  it('getRealtimeData, switchContainer and switchCoolingSystem', async () => {
    const stats = await rpc.call<{ status: string, container_specific: { pdu_data: unknown[] } }>('queryThing', { id: 'q-a', method: 'getRealtimeData' })
    expect(['running', 'stopped', 'error']).toContain(stats.status)
    expect(stats.container_specific.pdu_data).toHaveLength(12)
    expect(await rpc.call('queryThing', { id: 'q-a', method: 'switchContainer', params: [false] })).toEqual({ success: true })
    expect(mockA.getRegister(1, 601)).toBe(0)
    expect(await rpc.call('queryThing', { id: 'q-a', method: 'switchCoolingSystem', params: [true] })).toEqual({ success: true })
    expect(mockA.getRegister(1, 601)).toBe(1)
    expect(await rpc.error('queryThing', { id: 'q-a', method: 'switchCoolingSystem', params: [1] })).toBe('ERR_SWITCH_COOLING_SYSTEM_ENABLED_INVALID')
    expect(mockA.getRegister(1, 601)).toBe(1)
  })

  it('validates write arguments: nothing is written on bad input', async () => {
    const before = mockA.getRegister(1, 613)
    expect(await rpc.error('queryThing', { id: 'q-a', method: 'setCoolingFanThreshold', params: [{ runningSpeed: 'fast' }] })).toMatch(/^ERR_/)
    expect(await rpc.error('queryThing', { id: 'q-a', method: 'validateWriteAction', params: ['switchSocket', [['13', '1', true]]] })).toBe('ERR_SWITCH_SOCKET_PDU_INVALID')
    expect(await rpc.error('queryThing', { id: 'q-a', method: 'switchContainer', params: ['yes'] })).toBe('ERR_SWITCH_CONTAINER_ENABLED_INVALID')
    expect(await rpc.error('queryThing', { id: 'q-a', method: 'validateWriteAction', params: ['resetAlarm'] })).toMatch(/^ERR_/)
    expect(await rpc.error('queryThing', { id: 'q-none', method: 'validateWriteAction', params: ['switchContainer', true] })).toBe('ERR_THING_NOT_INITIALIZED')
    expect(mockA.getRegister(1, 613)).toBe(before)
  })

  it('applyThings → number of successes over the matches; undeclared method → ERR_THING_METHOD_NOTFOUND', async () => {
    expect(await rpc.call('applyThings', { method: 'setCoolingFanThreshold', params: [{ runningSpeed: 47 }], query: { tags: 'grp-q' } })).toBe(2)
    expect(mockA.getRegister(1, 613)).toBe(scaled(47))
    expect(mockB.getRegister(1, 613)).toBe(scaled(47))
    expect(await rpc.call('applyThings', { method: 'setCoolingFanThreshold', params: [{ runningSpeed: 48 }], query: { id: 'q-b' } })).toBe(1)
    expect(mockA.getRegister(1, 613)).toBe(scaled(47))
    expect(mockB.getRegister(1, 613)).toBe(scaled(48))
    expect(await rpc.call('applyThings', { method: 'getSnap', query: { tags: 'grp-q' } })).toBe(2)
    expect(await rpc.call('applyThings', { method: 'getSnap', query: { tags: 'no-such-tag' } })).toBe(0)
    // arguments invalid for the method: the validation error, nothing written anywhere
    expect(await rpc.error('applyThings', { method: 'setCoolingFanThreshold', params: [{ runningSpeed: -5 }], query: { tags: 'grp-q' } })).toBe('ERR_COOLING_FAN_THRESHOLD_INVALID')
    expect(mockA.getRegister(1, 613)).toBe(scaled(47))
    expect(mockB.getRegister(1, 613)).toBe(scaled(48))
    expect(await rpc.error('applyThings', { method: 'resetAlarm', query: { tags: 'grp-q' } })).toBe('ERR_THING_METHOD_NOTFOUND')
    expect(await rpc.error('applyThings', { method: 'close', query: { tags: 'grp-q' } })).toBe('ERR_THING_METHOD_NOTFOUND')
    expect(await rpc.error('applyThings', { query: { tags: 'grp-q' } })).toMatch(/^ERR_/)
  })
})

describe('comments', () => {
  it('save / edit / delete, author only', async () => {
    await forgetAll()
    await rpc.call('registerThing', { id: 'cm', opts: {}, comment: 'installed', user: 'alice' })
    let t = await rpc.thing('cm')
    expect(t.comments).toHaveLength(1)
    expect(t.comments[0]).toMatchObject({ comment: 'installed', user: 'alice' })

    expect(await rpc.call('saveThingComment', { thingId: 'cm', comment: 'pump noisy', user: 'bob', pos: 'r1' })).toBe(1)
    t = await rpc.thing('cm')
    const bobs = t.comments.find((c) => c.user === 'bob')!
    expect(bobs).toMatchObject({ comment: 'pump noisy', pos: 'r1' })
    expect(typeof bobs.id).toBe('string')

    expect(await rpc.error('editThingComment', { thingId: 'cm', id: bobs.id, comment: 'hacked', user: 'alice' })).toBe('ERR_COMMENT_ACCESS_DENIED')
    expect(await rpc.error('deleteThingComment', { thingId: 'cm', id: bobs.id, user: 'alice' })).toBe('ERR_COMMENT_ACCESS_DENIED')
    expect(await rpc.call('editThingComment', { thingId: 'cm', id: bobs.id, comment: 'pump fixed', user: 'bob' })).toBe(1)
    t = await rpc.thing('cm')
    expect(t.comments.find((c) => c.id === bobs.id)?.comment).toBe('pump fixed')
    expect(await rpc.call('editThingComment', { thingId: 'cm', ts: bobs.ts, comment: 'pump fixed (by ts)', user: 'bob' })).toBe(1)
    expect((await rpc.thing('cm')).comments.find((c) => c.id === bobs.id)?.comment).toBe('pump fixed (by ts)')

    expect(await rpc.error('editThingComment', { thingId: 'cm', id: 'no-such', comment: 'x', user: 'bob' })).toBe('ERR_THING_COMMENT_NOTFOUND')
    expect(await rpc.error('deleteThingComment', { thingId: 'cm', id: 'no-such', user: 'bob' })).toBe('ERR_THING_COMMENT_NOTFOUND')
    expect(await rpc.error('deleteThingComment', { thingId: 'cm', user: 'bob' })).toBe('ERR_THING_COMMENT_NOTFOUND')
    expect(await rpc.error('saveThingComment', { thingId: 'nope', comment: 'x', user: 'bob' })).toBe('ERR_THING_NOTFOUND')

    expect(await rpc.call('deleteThingComment', { thingId: 'cm', id: bobs.id, user: 'bob' })).toBe(1)
    t = await rpc.thing('cm')
    expect(t.comments.map((c) => c.user)).toEqual(['alice'])
    expect(await rpc.error('deleteThingComment', { thingId: 'cm', id: bobs.id, user: 'bob' })).toBe('ERR_THING_COMMENT_NOTFOUND')
  })
})

describe('tailLog', () => {
  const SEC = 1000
  // 5-minute aligned, so '1m' buckets hold exactly three 20 s entries each
  const T0 = 1_700_000_100_000
  const synthetic = Array.from({ length: 12 }, (_, i) => ({ ts: T0 + i * 20 * SEC, err: null, snap: { success: true, stats: { power_w: 100 + i } } }))

  beforeAll(async () => {
    for (const e of synthetic) await rack.worker.logs.append('thing-5m-synthetic', e.ts, e)
    for (let i = 0; i < 120; i++) await rack.worker.logs.append('thing-5m-many', T0 + i, { ts: T0 + i, n: i })
  })

  it('errors: missing key / tag, unknown log, bad groupRange', async () => {
    expect(await rpc.error('tailLog', { tag: 'synthetic' })).toBe('ERR_LOG_KEY_NOTFOUND')
    expect(await rpc.error('tailLog', { key: 'thing-5m' })).toBe('ERR_LOG_TAG_INVALID')
    expect(await rpc.error('tailLog', { key: 'thing-5m', tag: 'never-written' })).toBe('ERR_LOG_NOTFOUND')
    // a tag no tick has written (the 5m tick runs at every :00/:05 of the clock, so t-container may exist)
    expect(await rpc.error('tailLog', { key: 'stat-5m', tag: 'never-tagged' })).toBe('ERR_LOG_NOTFOUND')
    expect(await rpc.error('tailLog', { key: 'thing-5m', tag: 'synthetic', groupRange: '1x' })).toBe('ERR_LOG_GROUP_RANGE_INVALID')
  })

  it('entries newest first; limit; default limit 100', async () => {
    const all = await rpc.tail('synthetic')
    expect(all.map((e) => e.ts)).toEqual(synthetic.map((e) => e.ts).reverse())
    expect(all[0]).toEqual(synthetic[11])
    expect((await rpc.tail('synthetic', { limit: 3 })).map((e) => e.ts)).toEqual([T0 + 220 * SEC, T0 + 200 * SEC, T0 + 180 * SEC])
    const many = await rpc.tail('many')
    expect(many).toHaveLength(100)
    expect(many[0]).toEqual({ ts: T0 + 119, n: 119 })
    expect(await rpc.tail('many', { limit: 500 })).toHaveLength(120)
  })

  it('reads across rotated generations; offset selects an older generation', async () => {
    // 120 entries, 50 per generation: n 100…119 | 50…99 | 0…49
    const newest = await rpc.tail('many')
    expect(newest.map((e) => (e as unknown as { n: number }).n)).toEqual(Array.from({ length: 100 }, (_, i) => 119 - i))
    const older = await rpc.tail('many', { offset: 1 })
    expect(older.map((e) => (e as unknown as { n: number }).n)).toEqual(Array.from({ length: 100 }, (_, i) => 99 - i))
    expect(await rpc.tail('many', { offset: 2, limit: 1000 })).toHaveLength(50)
    expect(await rpc.error('tailLog', { key: 'thing-5m', tag: 'many', offset: 3 })).toBe('ERR_LOG_NOTFOUND')
    const ranged = await rpc.tail('many', { start: T0 + 10, end: T0 + 110 })
    expect(ranged).toHaveLength(101)
    expect(ranged[0].ts).toBe(T0 + 110)
    expect(ranged[100].ts).toBe(T0 + 10)
  })

  it('start/end select an inclusive time range; fields project', async () => {
    expect((await rpc.tail('synthetic', { start: T0 + 40 * SEC, end: T0 + 100 * SEC })).map((e) => e.ts))
      .toEqual([T0 + 100 * SEC, T0 + 80 * SEC, T0 + 60 * SEC, T0 + 40 * SEC])
    expect((await rpc.tail('synthetic', { start: T0 + 200 * SEC })).map((e) => e.ts)).toEqual([T0 + 220 * SEC, T0 + 200 * SEC])
    expect((await rpc.tail('synthetic', { end: T0 + 10 * SEC })).map((e) => e.ts)).toEqual([T0])
    expect(await rpc.tail('synthetic', { start: T0 + 300 * SEC })).toEqual([])
    expect(await rpc.tail('synthetic', { limit: 2, fields: { ts: 1 } })).toEqual([{ ts: T0 + 220 * SEC }, { ts: T0 + 200 * SEC }])
    expect(await rpc.tail('synthetic', { limit: 1, fields: { 'snap.stats.power_w': 1 } })).toEqual([{ snap: { stats: { power_w: 111 } } }])
  })

  it('groupRange sums per bucket (newest first, with count); shouldCalculateAvg averages', async () => {
    const sums = await rpc.call<Array<{ ts: number, count: number, snap: { stats: { power_w: number } } }>>('tailLog', { key: 'thing-5m', tag: 'synthetic', groupRange: '1m' })
    expect(sums.map((b) => b.ts)).toEqual([T0 + 180 * SEC, T0 + 120 * SEC, T0 + 60 * SEC, T0])
    expect(sums.map((b) => b.count)).toEqual([3, 3, 3, 3])
    expect(sums.map((b) => b.snap.stats.power_w)).toEqual([330, 321, 312, 303])
    const avgs = await rpc.call<Array<{ snap: { stats: { power_w: number } } }>>('tailLog', { key: 'thing-5m', tag: 'synthetic', groupRange: '1m', shouldCalculateAvg: true })
    expect(avgs.map((b) => b.snap.stats.power_w)).toEqual([110, 107, 104, 101])
    const ranged = await rpc.call<Array<{ ts: number, count: number }>>('tailLog', { key: 'thing-5m', tag: 'synthetic', groupRange: '1m', start: T0 + 40 * SEC, end: T0 + 100 * SEC })
    expect(ranged.map((b) => [b.ts, b.count])).toEqual([[T0 + 60 * SEC, 3], [T0, 1]])
  })

  it('a registered thing’s stored snapshots are readable', async () => {
    await forgetAll()
    await rpc.call('registerThing', { id: 'tl-live', opts: mockOpts(mockA) })
    const entries = await waitFor(async () => {
      const e = await rpc.tail('tl-live')
      return e.length >= 2 ? e : null
    }, 8000)
    expect(entries[0].ts).toBeGreaterThan(entries[1].ts)
    expect(entries[0].snap?.success).toBe(true)
    expect(entries[0].err).toBeNull()
  })
})

describe('settings and configuration', () => {
  it('getWrkSettings / saveWrkSettings', async () => {
    expect(await rpc.call('getWrkSettings')).toEqual({})
    expect(await rpc.call('saveWrkSettings', { entries: { a: 1, b: { c: [1, 2] } } })).toBe(1)
    expect(await rpc.call('saveWrkSettings', { entries: { a: 2 } })).toBe(1)
    expect(await rpc.call('getWrkSettings')).toEqual({ a: 2, b: { c: [1, 2] } })
    expect(await rpc.error('saveWrkSettings', { entries: {} })).toBe('ERR_ENTRIES_INVALID')
    expect(await rpc.error('saveWrkSettings', {})).toBe('ERR_ENTRIES_INVALID')
    expect(await rpc.error('saveWrkSettings', { entries: 'x' })).toBe('ERR_ENTRIES_INVALID')
    expect(await rpc.call('getWrkSettings')).toEqual({ a: 2, b: { c: [1, 2] } })
  })

  it('getWrkConf: the global configuration with the PDU grid of the thing type, projected; without the file ERR_GLOBAL_CONFIG_MISSING', async () => {
    const { pduGridLayout } = await rpc.call<{ pduGridLayout: Record<string, Array<{ pdu: string, sockets: Array<{ socket: string, enabled: boolean }> }>> }>('getWrkConf', { fields: { pduGridLayout: 1 } })
    const layout = pduGridLayout['container-mbt-kehua']
    expect(layout).toHaveLength(12)
    for (const pdu of layout) expect(pdu.sockets).toHaveLength(20)
    // the PDU view reads the live state from pdu_data: the same numbering
    await rpc.call('registerThing', { id: 'conf-pdu', opts: mockOpts(mockA) })
    const snap = await rpc.call<{ stats: { container_specific: { pdu_data: Array<{ pdu: string, sockets: Array<{ socket: string }> }> } } }>('queryThing', { id: 'conf-pdu', method: 'getSnap' })
    expect(snap.stats.container_specific.pdu_data.map((p) => `${p.pdu}:${p.sockets.map((s) => s.socket).join(',')}`))
      .toEqual(layout.map((p) => `${p.pdu}:${p.sockets.map((s) => s.socket).join(',')}`))
    await rpc.call('forgetThings', { query: { id: 'conf-pdu' } })
    const whole = await rpc.call<JsonObject>('getWrkConf')
    expect(Object.keys(whole)).toEqual(['pduGridLayout'])
    // the rack's own settings are not the global configuration
    expect(whole).not.toHaveProperty('collectSnapsItvMs')
    const saved = rack.worker.globalConf
    rack.worker.globalConf = null
    try {
      expect(await rpc.error('getWrkConf', {})).toBe('ERR_GLOBAL_CONFIG_MISSING')
    } finally {
      rack.worker.globalConf = saved
    }
  })

  it('getThingConf nextAvailableCode → a bare string; bad requestType → ERR_INVALID_REQUEST_TYPE', async () => {
    const code = await rpc.send('getThingConf', { requestType: 'nextAvailableCode' })
    expect(typeof code).toBe('string')
    expect(code).toMatch(/^MBT-KEHUA-\d{4}$/)
    expect(await rpc.error('getThingConf', { requestType: 'other' })).toBe('ERR_INVALID_REQUEST_TYPE')
    expect(await rpc.error('getThingConf', {})).toBe('ERR_INVALID_REQUEST_TYPE')
  })

  it('getWrkExtData', async () => {
    const version = (JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version
    expect(await rpc.call('getWrkExtData')).toEqual({ vendor: 'kehua', thingType: 'container-mbt-kehua', things: await rpc.count(), version })
  })
})

describe('malformed requests and access control', () => {
  it('malformed JSON → [HRPC_ERR]=ERR_FACS_NET_DATA_FORMAT; non-object payloads → an ERR_ code; the worker survives', async () => {
    expect(await rpc.raw('listThings', '{"query": ')).toBe(JSON.stringify('[HRPC_ERR]=ERR_FACS_NET_DATA_FORMAT'))
    expect(await rpc.raw('registerThing', Buffer.from([0xff, 0xfe, 0x00]))).toBe(JSON.stringify('[HRPC_ERR]=ERR_FACS_NET_DATA_FORMAT'))
    for (const payload of ['"text"', '[1,2]', '42', 'true']) {
      expect(await rpc.raw('listThings', payload)).toMatch(/^"\[HRPC_ERR\]=ERR_[A-Z0-9_]+"$/)
      expect(await rpc.raw('registerThing', payload)).toMatch(/^"\[HRPC_ERR\]=ERR_[A-Z0-9_]+"$/)
    }
    expect(await rpc.error('listThings', { limit: -1 })).toMatch(/^ERR_/)
    expect(await rpc.error('listThings', { sort: { id: 2 } })).toMatch(/^ERR_/)
    expect(await rpc.call('ping', { alive: true })).toEqual({ alive: true })
    expect(Array.isArray(await rpc.list())).toBe(true)
  })

  it('a read-only client may read, not write', async () => {
    await forgetAll()
    await rpc.call('registerThing', { id: 'ro-t', opts: mockOpts(mockA) })
    expect((await ro.list()).map((t) => t.id)).toEqual(['ro-t'])
    expect(await ro.count()).toBe(1)
    expect(await ro.call('getRack')).toEqual({ id: RACK_ID, rpcPubKey: rack.key })
    expect((await ro.call<SnapView>('queryThing', { id: 'ro-t', method: 'getSnap' })).success).toBe(true)

    const reg613 = mockA.getRegister(1, 613)
    expect(await ro.error('registerThing', { id: 'ro-new', opts: {} })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('updateThing', { id: 'ro-t', info: { a: 1 } })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('forgetThings', { all: true })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('queryThing', { id: 'ro-t', method: 'setCoolingFanThreshold', params: [{ runningSpeed: 12 }] })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('queryThing', { id: 'ro-t', method: 'switchContainer', params: [false] })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('applyThings', { method: 'getSnap', query: {} })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('saveWrkSettings', { entries: { x: 1 } })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('saveThingComment', { thingId: 'ro-t', comment: 'x', user: 'u' })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('rackReboot')).toBe('ERR_PERMISSION_DENIED')

    expect(mockA.getRegister(1, 613)).toBe(reg613)
    expect(await rpc.count()).toBe(1)
    expect((await rpc.thing('ro-t')).info).not.toHaveProperty('a')
    expect(await rpc.call('getWrkSettings')).not.toHaveProperty('x')
    expect(rack.worker.isStarted).toBe(true)
  })

  it('no reply of this file ever contained the username or the password', async () => {
    const listed: ListedThing[] = await rpc.list({ status: 1 })
    expect(listed.length).toBeGreaterThan(0)
    rpc.expectNoReplyContains(MOCK_PASSWORD, MOCK_USER)
    ro.expectNoReplyContains(MOCK_PASSWORD, MOCK_USER)
  })

  it('rackReboot → 1, then the worker stops (last: it ends this file’s worker)', async () => {
    let rebooted = false
    rack.worker.onReboot = () => { rebooted = true }
    expect(await rpc.call('rackReboot')).toBe(1)
    await waitFor(() => rebooted && !rack.worker.isStarted, 10_000)
    await waitFor(() => mockA.connectionCount === 0, 3000)
  })
})
