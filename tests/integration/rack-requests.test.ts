/**
 * Request edge cases at the RPC / registry / snapshot-loop level, against the
 * real Kehua worker class in this process, a real `@hyperswarm/rpc` client over a local HyperDHT
 * testnet and mock containers:
 * prototype keys in requests, read-only keys without an allow list, concurrent writes to one
 * thing, empty forget queries, forgetting things whose collections are queued, regex guards,
 * code length, tailLog keys and offsets, capped and de-duplicated socket commands, requests
 * during stop, and a forgotten thing that must stay forgotten across a restart.
 *
 * The concurrency cases call the RPC methods in process (`worker.callRpc`, the same code path as
 * a remote call minus the transport) so that both calls are guaranteed to overlap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  cleanupAll,
  createBootstrap,
  createRpcClient,
  rpcErrorCode,
  sleep,
  startWorkerInProcess,
  waitFor,
  type RpcClient
} from '../helpers'
import {
  RackRpc,
  mockOpts,
  startMock,
  startRackInProcess,
  stopMocks,
  type InProcessRack,
  type RackWorker
} from '../helpers/rack'
import type { MockServer } from '../../mock/server'
import WrkContainerRackKehua from '../../workers/kehua.rack.container.wrk'
import { errorCode } from '../../workers/core/errors'

const ITV = 300
const LOG_KEEP_COUNT = 1
/** Generations tailLog may read: ceil(logKeepCount × 1.5). */
const MAX_HEIGHT = Math.ceil(LOG_KEEP_COUNT * 1.5)

let rack: InProcessRack
let rpc: RackRpc
let ro: RackRpc
let roClient: RpcClient
/** Sluggish containers (every reply just under the Modbus timeout): a snapshot takes ≈ the snapshot timeout, so collections queue. */
let slowMocks: MockServer[] = []
/** Things forgotten during the run that must not come back after a restart. */
const mustStayForgotten: string[] = []

beforeAll(async () => {
  const { bootstrap } = await createBootstrap()
  const fullClient = createRpcClient(bootstrap)
  roClient = createRpcClient(bootstrap)
  rack = await startRackInProcess({
    bootstrap,
    rack: 'hard-1',
    baseThing: {
      collectSnapsItvMs: ITV,
      collectSnapTimeoutMs: 1500,
      // one stored snapshot per thing: the store stays small although every entry starts a new generation
      storeSnapItvMs: 600_000,
      thingQueryConcurrency: 1,
      logRotateMaxLength: 1,
      logKeepCount: LOG_KEEP_COUNT,
      container: { timeout: 300, retry: 0 }
    },
    // a read-only key and NO allow list
    net: { r0: { allowReadOnly: [roClient.publicKey] } }
  })
  rpc = new RackRpc(fullClient, rack.key)
  ro = new RackRpc(roClient, rack.key)
  slowMocks = await Promise.all([61, 62, 63, 64].map((seed) => startMock('Kehua', seed)))
  for (const m of slowMocks) m.setFault({ delayMs: 250 })
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

/** The reply of an in-process call, or the error code it failed with. */
async function inProcess (method: string, req: unknown, worker: RackWorker = rack.worker): Promise<unknown> {
  try {
    return await worker.callRpc(method, req)
  } catch (err) {
    return errorCode(err)
  }
}

/** Sends raw JSON text; returns the error code of the reply (fails when the reply is no error). */
async function rawError (method: string, text: string): Promise<string> {
  const reply = JSON.parse(await rpc.raw(method, text)) as unknown
  const code = rpcErrorCode(reply)
  if (code === null) throw new Error(`${method} ${text} was expected to fail but replied ${JSON.stringify(reply)}`)
  return code
}

async function forgetAll (): Promise<void> {
  expect(await rpc.call('forgetThings', { all: true })).toBe(1)
  expect(await rpc.count()).toBe(0)
}

async function ids (query: Record<string, unknown> = {}): Promise<string[]> {
  return (await rpc.list({ query, sort: { id: 1 } })).map((t) => t.id)
}

function prototypeIsClean (): boolean {
  const probe: Record<string, unknown> = {}
  return probe.polluted === undefined && !Object.hasOwn(Object.prototype, 'polluted')
}

const connections = (mocks: MockServer[]): number[] => mocks.map((m) => m.connectionCount)
const accepted = (mocks: MockServer[]): number => mocks.reduce((n, m) => n + m.stats.connections, 0)

/** Waits until no mock has an open connection, then checks that none opens one for `holdMs`. */
async function expectConnectionsStayClosed (mocks: MockServer[], holdMs: number): Promise<void> {
  await waitFor(() => mocks.every((m) => m.connectionCount === 0), 3000, 20)
  const acceptedBefore = accepted(mocks)
  const deadline = Date.now() + holdMs
  const seen = new Set<number>()
  while (Date.now() < deadline) {
    for (const n of connections(mocks)) seen.add(n)
    await sleep(20)
  }
  expect([...seen]).toEqual([0])
  expect(accepted(mocks)).toBe(acceptedBefore)
}

// ---------------------------------------------------------------------------------------------

describe('requests with prototype keys', () => {
  it('are refused with ERR_PARAMS_INVALID at any depth, and change nothing', async () => {
    await forgetAll()
    expect(await rpc.call('registerThing', { id: 'p-1', opts: {}, info: { note: 'n1' } })).toBe(1)
    expect(await rpc.call('registerThing', { id: 'p-2', opts: {} })).toBe(1)
    const before = await rpc.list({ sort: { id: 1 } })

    expect(await rawError('updateThing', '{"id":"p-1","info":{"note":{"__proto__":{"polluted":1}}}}')).toBe('ERR_PARAMS_INVALID')
    expect(await rawError('updateThing', '{"id":"p-1","info":{"a":[{"b":{"constructor":{"prototype":{"polluted":1}}}}]}}')).toBe('ERR_PARAMS_INVALID')
    expect(await rawError('forgetThings', '{"query":{"__proto__":{"id":"x"}}}')).toBe('ERR_PARAMS_INVALID')
    expect(await rawError('forgetThings', '{"query":{"id":{"$in":["p-1"]},"prototype":1}}')).toBe('ERR_PARAMS_INVALID')
    expect(await rawError('registerThing', '{"id":"p-3","opts":{},"info":{"__proto__":{"polluted":1}}}')).toBe('ERR_PARAMS_INVALID')
    expect(await rawError('saveWrkSettings', '{"entries":{"x":{"__proto__":{"polluted":1}}}}')).toBe('ERR_PARAMS_INVALID')
    expect(await rawError('listThings', '{"query":{"constructor":{"name":"Object"}}}')).toBe('ERR_PARAMS_INVALID')
    // the in-process path refuses them as well
    expect(await inProcess('updateThing', JSON.parse('{"id":"p-2","info":{"x":{"__proto__":{"polluted":1}}}}'))).toBe('ERR_PARAMS_INVALID')

    expect(await rpc.count()).toBe(2)
    expect(await rpc.list({ sort: { id: 1 } })).toEqual(before)
    expect((await rpc.thing('p-1')).info.note).toBe('n1')
    expect(await rpc.call('getWrkSettings')).toEqual({})
    expect(prototypeIsClean()).toBe(true)
  })
})

describe('a read-only key and no allow list', () => {
  it('may read, may not write', async () => {
    await forgetAll()
    expect(await rpc.call('registerThing', { id: 'acc-1', opts: {} })).toBe(1)
    expect((await ro.list()).map((t) => t.id)).toEqual(['acc-1'])
    expect(await ro.count()).toBe(1)
    expect(await ro.call('getRack')).toEqual({ id: 'container-mbt-kehua-hard-1', rpcPubKey: rack.key })

    expect(await ro.error('registerThing', { id: 'acc-2', opts: {} })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('updateThing', { id: 'acc-1', tags: ['ro'] })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('forgetThings', { all: true })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('saveWrkSettings', { entries: { a: 1 } })).toBe('ERR_PERMISSION_DENIED')

    expect(await ids()).toEqual(['acc-1'])
    expect((await rpc.thing('acc-1')).tags).not.toContain('ro')
    expect(await rpc.call('getWrkSettings')).toEqual({})
    // a key in neither list still has full access (there is no allow list)
    expect(await rpc.call('updateThing', { id: 'acc-1', tags: ['full'] })).toBe(1)
    expect((await rpc.thing('acc-1')).tags).toContain('full')
  })
})

describe('concurrent writes to one thing', () => {
  it('two registerThing with the same id: exactly one succeeds', async () => {
    await forgetAll()
    const results = await Promise.all([
      inProcess('registerThing', { id: 'twin', opts: {}, info: { n: 1 } }),
      inProcess('registerThing', { id: 'twin', opts: {}, info: { n: 2 } })
    ])
    expect([...results].sort()).toEqual([1, 'ERR_THING_WITH_ID_ALREADY_EXISTS'].sort())
    const listed = await rpc.list()
    expect(listed.map((t) => t.id)).toEqual(['twin'])
    // the stored thing is the one whose call succeeded
    expect(listed[0].info.n).toBe(results[0] === 1 ? 1 : 2)
    expect(listed[0].code).toBe('MBT-KEHUA-0001')
  })

  it('updateThing tags a and b at once: both tags are kept', async () => {
    await forgetAll()
    expect(await rpc.call('registerThing', { id: 'tagged', opts: {} })).toBe(1)
    const results = await Promise.all([
      inProcess('updateThing', { id: 'tagged', tags: ['a'] }),
      inProcess('updateThing', { id: 'tagged', tags: ['b'] })
    ])
    expect(results).toEqual([1, 1])
    expect((await rpc.thing('tagged')).tags).toEqual(expect.arrayContaining(['a', 'b']))
  })

  it('two saveThingComment at once: both comments are kept', async () => {
    const results = await Promise.all([
      inProcess('saveThingComment', { thingId: 'tagged', comment: 'first', user: 'alice' }),
      inProcess('saveThingComment', { thingId: 'tagged', comment: 'second', user: 'bob' })
    ])
    expect(results).toEqual([1, 1])
    const comments = (await rpc.thing('tagged')).comments.map((c) => `${c.user}:${c.comment}`).sort()
    expect(comments).toEqual(['alice:first', 'bob:second'])
  })

  it('an updateThing racing forgetThings does not bring the thing back', async () => {
    expect(await rpc.call('registerThing', { id: 'race-1', opts: {} })).toBe(1)
    const registry = rack.worker.registry
    const remove = registry.remove
    let update: Promise<unknown> | null = null
    // the update arrives exactly while the delete is being written
    registry.remove = async (id: string): Promise<void> => {
      const deleting = remove.call(registry, id)
      if (id === 'race-1') update = inProcess('updateThing', { id: 'race-1', tags: ['late'], info: { late: true } })
      await deleting
    }
    try {
      expect(await rpc.call('forgetThings', { query: { id: 'race-1' } })).toBe(1)
      expect(update).not.toBeNull()
      expect(await update).toBe('ERR_THING_NOTFOUND')
    } finally {
      registry.remove = remove
    }
    mustStayForgotten.push('race-1')
    expect(await ids({ id: 'race-1' })).toEqual([])
    expect(await rpc.error('updateThing', { id: 'race-1', tags: ['x'] })).toBe('ERR_THING_NOTFOUND')
    // checked again after the restart at the end of this file
  })
})

describe('forgetThings', () => {
  it('{query: {}} and {} forget nothing; {all: true} forgets everything', async () => {
    await forgetAll()
    for (const id of ['f-1', 'f-2', 'f-3']) expect(await rpc.call('registerThing', { id, opts: {} })).toBe(1)
    expect(await rpc.call('forgetThings', { query: {} })).toBe(1)
    expect(await rpc.count()).toBe(3)
    expect(await rpc.call('forgetThings', {})).toBe(1)
    expect(await rpc.count()).toBe(3)
    expect(await rpc.call('forgetThings', { query: { id: 'f-2' } })).toBe(1)
    expect(await ids()).toEqual(['f-1', 'f-3'])
    expect(await rpc.call('forgetThings', { all: true })).toBe(1)
    expect(await rpc.count()).toBe(0)
  })

  it('things whose collections are queued: no connection survives the forget', async () => {
    await forgetAll()
    for (const [i, m] of slowMocks.entries()) {
      expect(await rpc.call('registerThing', { id: `q-${i + 1}`, opts: mockOpts(m), tags: ['queued'] })).toBe(1)
    }
    // one collection is on the wire (≈ 1.5 s each), the others wait for the single slot
    await waitFor(() => slowMocks.some((m) => m.connectionCount > 0), 3000, 10)
    await sleep(ITV + 50)
    const untouched = slowMocks.filter((m) => m.stats.connections === 0).length
    expect(untouched).toBeGreaterThanOrEqual(2)

    expect(await rpc.call('forgetThings', { query: { tags: 'queued' } })).toBe(1)
    expect(await rpc.count()).toBe(0)
    // closed at once and never reopened by the queued collections, over several collect intervals
    await expectConnectionsStayClosed(slowMocks, 5 * ITV)
  })
})

describe('query guards', () => {
  // ids on which the catastrophic patterns backtrack for a long time
  const hexId = 'abcdef0123456789abcdef0123'
  const aId = `z${'a'.repeat(30)}b`

  it('$regex patterns that backtrack catastrophically on a backtracking engine answer at once on RE2 (linear time); RE2-only refusals are clear', async () => {
    await forgetAll()
    expect(await rpc.call('registerThing', { id: hexId, opts: {} })).toBe(1)
    expect(await rpc.call('registerThing', { id: aId, opts: {} })).toBe(1)
    for (const pattern of ['^([0-9a-f-]+)+x$', '(a|aa)*$']) {
      const t0 = Date.now()
      const matched = await rpc.call<Array<{ id: string }>>('listThings', { query: { id: { $regex: pattern } } })
      expect(Date.now() - t0).toBeLessThan(1000)
      // the same answer JavaScript's engine gives, eventually
      expect(matched.map((t) => t.id).sort()).toEqual([hexId, aId].filter((id) => new RegExp(pattern).test(id)).sort())
      expect(await rpc.call('getThingsCount', { query: { id: { $regex: pattern } } })).toBe(matched.length)
    }
    // what RE2 does not do (back-references, lookarounds) is refused before anything is matched
    expect(await rpc.error('listThings', { query: { id: { $regex: '(a)\\1' } } })).toBe('ERR_QUERY_INVALID')
    expect(await rpc.error('forgetThings', { query: { id: { $not: { $regex: '(?=a)' } } } })).toBe('ERR_QUERY_INVALID')
    // regex evaluation in a projection is refused too
    expect(await rpc.error('listThings', { fields: { x: { $regexMatch: { input: '$id', regex: '^(a+)+$' } } } })).toBe('ERR_QUERY_INVALID')
    expect(await rpc.count()).toBe(2)
  })

  it('a plain $regex works; {code: {$in: 5}} → ERR_QUERY_INVALID, not ERR_INTERNAL', async () => {
    expect(await ids({ code: { $regex: '^MBT-KEHUA-000' } })).toEqual([hexId, aId].sort())
    expect(await ids({ code: { $regex: '2$' } })).toEqual([aId])
    expect(await rpc.error('listThings', { query: { code: { $in: 5 } } })).toBe('ERR_QUERY_INVALID')
    expect(await rpc.error('getThingsCount', { query: { code: { $in: 5 } } })).toBe('ERR_QUERY_INVALID')
    expect(await rpc.error('forgetThings', { query: { code: { $in: 5 } } })).toBe('ERR_QUERY_INVALID')
    expect(await rpc.count()).toBe(2)
  })
})

describe('thing codes', () => {
  it('a caller-given code has the rack prefix and 4 to 9 digits; the next code stays well-formed', async () => {
    await forgetAll()
    for (const code of ['MBT-KEHUA-1234567890', `MBT-KEHUA-${'9'.repeat(25)}`, 'X-123456789', 'MBT-WONDERINT-0001', 'MBT-KEHUA-12', 'Z-999999999']) {
      expect(await rpc.error('registerThing', { id: 'c-1', code, opts: {} }), code).toBe('ERR_THING_CODE_INVALID')
    }
    expect(await rpc.count()).toBe(0)
    expect(await rpc.call('registerThing', { id: 'c-1', code: 'MBT-KEHUA-123456789', opts: {} })).toBe(1)
    expect(await rpc.error('updateThing', { id: 'c-1', code: 'MBT-KEHUA-1234567890' })).toBe('ERR_THING_CODE_INVALID')
    expect(await rpc.error('updateThing', { id: 'c-1', code: 'X-0001' })).toBe('ERR_THING_CODE_INVALID')
    expect(await rpc.call('registerThing', { id: 'c-2', opts: {} })).toBe(1)
    expect((await rpc.thing('c-2')).code).toBe('MBT-KEHUA-123456790')
    expect((await rpc.thing('c-1')).code).toBe('MBT-KEHUA-123456789')
    expect(await rpc.call('getThingConf', { requestType: 'nextAvailableCode' })).toBe('MBT-KEHUA-123456791')
  })

  it('auto-assignment is never blocked: with the highest number taken, the smallest free one', async () => {
    await forgetAll()
    expect(await rpc.call('registerThing', { id: 'c-max', code: 'MBT-KEHUA-999999999', opts: {} })).toBe(1)
    expect(await rpc.call('registerThing', { id: 'c-next', opts: {} })).toBe(1)
    expect((await rpc.thing('c-next')).code).toBe('MBT-KEHUA-0001')
    expect(await rpc.call('registerThing', { id: 'c-next-2', opts: {} })).toBe(1)
    expect((await rpc.thing('c-next-2')).code).toBe('MBT-KEHUA-0002')
  })
})

describe('tailLog', () => {
  it('reads only thing snapshot and stat logs: other keys → ERR_LOG_KEY_NOTFOUND', async () => {
    await forgetAll()
    expect(await rpc.call('registerThing', { id: 'h-1', opts: {}, info: { pos: 'a' } })).toBe(1)
    expect(await rpc.call('updateThing', { id: 'h-1', info: { pos: 'b' }, user: 'alice' })).toBe(1)
    expect(await rack.worker.logs.exists('thing-history-log')).toBe(true)
    for (const [key, tag] of [['thing-history-log', 'x'], ['thing-history', 'log'], ['meta', 'logs'], ['thing', '5m-h-1']]) {
      expect(await rpc.error('tailLog', { key, tag }), `${key}/${tag}`).toBe('ERR_LOG_KEY_NOTFOUND')
    }
    expect(await rpc.error('tailLog', { key: 'stat-5m', tag: 'no-such-tag' })).toBe('ERR_LOG_NOTFOUND')
  })

  it(`offset ≥ ceil(logKeepCount × 1.5) = ${MAX_HEIGHT} → ERR_LOG_NOTFOUND even when that generation exists`, async () => {
    // logRotateMaxLength 1: each entry starts a new generation, so generations 0, 1, 2 exist
    const stamps = [1_000_000, 2_000_000, 3_000_000]
    for (const ts of stamps) await rack.worker.logs.append('thing-5m-tl-1', ts, { ts, err: null, snap: null })
    const tsOf = async (req: Record<string, unknown>): Promise<number[]> => (await rpc.tail('tl-1', req)).map((e) => e.ts)
    expect(await tsOf({})).toEqual([3_000_000, 2_000_000])
    expect(await tsOf({ offset: 1 })).toEqual([2_000_000])
    expect(await rpc.error('tailLog', { key: 'thing-5m', tag: 'tl-1', offset: MAX_HEIGHT })).toBe('ERR_LOG_NOTFOUND')
    expect(await rpc.error('tailLog', { key: 'thing-5m', tag: 'tl-1', offset: MAX_HEIGHT, start: 0, end: 5_000_000 })).toBe('ERR_LOG_NOTFOUND')
    expect(await rpc.error('tailLog', { key: 'thing-5m', tag: 'tl-1', offset: 1000 })).toBe('ERR_LOG_NOTFOUND')
  })
})

describe('switchSocket through queryThing', () => {
  let mock: MockServer

  beforeAll(async () => {
    await forgetAll()
    mock = await startMock('Kehua', 71)
    expect(await rpc.call('registerThing', { id: 'sock-1', opts: mockOpts(mock) })).toBe(1)
  })

  const fc = (n: number): number => mock.stats.byFunctionCode[n] ?? 0

  it('241 commands → ERR_SWITCH_SOCKET_INVALID_PARAMS and nothing is written', async () => {
    mock.state.setAllSockets(true)
    mock.resetStats()
    const cmds = Array.from({ length: 241 }, (_, i) => [String((i % 12) + 1), String((i % 20) + 1), false])
    expect(await rpc.error('queryThing', { id: 'sock-1', method: 'switchSocket', params: [cmds] })).toBe('ERR_SWITCH_SOCKET_INVALID_PARAMS')
    expect(await rpc.error('queryThing', { id: 'sock-1', method: 'validateWriteAction', params: ['switchSocket', cmds] })).toBe('ERR_SWITCH_SOCKET_INVALID_PARAMS')
    expect(fc(6)).toBe(0)
    expect(fc(16)).toBe(0)
    expect(mock.state.enabledSockets()).toBe(240)
  })

  it('[[1,1,off],[1,1,on],[1,all,off]] → exactly 20 FC06 writes; socket 1 of PDU 1 ends off', async () => {
    mock.state.setAllSockets(true)
    mock.resetStats()
    expect(await rpc.call('queryThing', {
      id: 'sock-1', method: 'switchSocket', params: [[['1', '1', false], ['1', '1', true], ['1', '-1', false]]]
    })).toEqual({ success: true })
    expect(fc(6)).toBe(20)
    for (let s = 1; s <= 20; s++) expect(mock.state.isSocketEnabled(1, s), `pdu 1 socket ${s}`).toBe(false)
    expect(mock.state.isSocketEnabled(2, 1)).toBe(true)
    expect(mock.state.enabledSockets()).toBe(220)
  })
})

describe('stopping', () => {
  it('requests during stop → ERR_WRK_STOPPING; no connection survives the stop; forgotten things stay forgotten after a restart', async () => {
    await forgetAll()
    for (const [i, m] of slowMocks.entries()) {
      expect(await rpc.call('registerThing', { id: `s-${i + 1}`, opts: mockOpts(m) })).toBe(1)
    }
    await waitFor(() => slowMocks.some((m) => m.connectionCount > 0), 3000, 10)
    await sleep(ITV + 50)

    // keep stop() in progress (as a slow in-flight collection would) while requests come in
    const worker = rack.worker
    const inflight = (worker.snapshots as unknown as { inflight: Set<Promise<void>> }).inflight
    let release!: () => void
    const hold = new Promise<void>((resolve) => { release = resolve })
    inflight.add(hold)
    const stopped = worker.stop()
    try {
      expect(worker.isStopping).toBe(true)
      expect(await rpc.send('ping', { a: 1 })).toBe('[HRPC_ERR]=ERR_WRK_STOPPING')
      expect(await rpc.send('registerThing', { id: 'during-stop', opts: {} })).toBe('[HRPC_ERR]=ERR_WRK_STOPPING')
      expect(await rpc.send('listThings', {})).toBe('[HRPC_ERR]=ERR_WRK_STOPPING')
    } finally {
      inflight.delete(hold)
      release()
    }
    await stopped
    expect(worker.isStarted).toBe(false)
    await expectConnectionsStayClosed(slowMocks, 4 * ITV)
    mustStayForgotten.push('during-stop')

    // a new worker on the same root and store
    for (const m of slowMocks) m.clearFaults()
    const again = await startWorkerInProcess<RackWorker>(WrkContainerRackKehua, worker.ctx)
    again.logger.level = 'warn'
    try {
      expect(again.net.rpcPublicKey.toString('hex')).toBe(rack.key)
      const listed = await inProcess('listThings', { sort: { id: 1 } }, again) as Array<{ id: string }>
      expect(listed.map((t) => t.id)).toEqual(['s-1', 's-2', 's-3', 's-4'])
      for (const id of mustStayForgotten) {
        expect(again.registry.has(id), id).toBe(false)
        expect(await inProcess('getThingsCount', { query: { id } }, again)).toBe(0)
      }
    } finally {
      await again.stop()
    }
  })
})
