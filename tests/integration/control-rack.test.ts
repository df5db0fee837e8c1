/**
 * Guarded control through the rack's RPC (issue 27): `dryRun` on queryThing/applyThings writes
 * nothing and is still a write for access (a read-only key cannot call it), `getWriteCalls`
 * carries a preview per call, a background power-up answers at once with its action id and
 * `getActions` reports its progress and outcome, and a worker stopped mid-action leaves it
 * `interrupted` after the restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient, waitFor, type DHTNodeAddress } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks, type InProcessRack } from '../helpers/rack'
import type { MockServer } from '../../mock/server'

let bootstrap: DHTNodeAddress[]
let rack: InProcessRack
let rpc: RackRpc
let ro: RackRpc
let mock: MockServer
let mock2: MockServer

const CONTROL = { batchSize: 20, batchDelayMs: 300, minBatchDelayMs: 50, maxPowerW: 2_000_000 }

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  const full = createRpcClient(bootstrap)
  const roClient = createRpcClient(bootstrap)
  rack = await startRackInProcess({
    bootstrap,
    rack: 'ctl-1',
    baseThing: { collectSnapsItvMs: 5000, control: CONTROL },
    net: { r0: { allowReadOnly: [roClient.publicKey] } }
  })
  rpc = new RackRpc(full, rack.key)
  ro = new RackRpc(roClient, rack.key)
  mock = await startMock('Kehua', 3)
  mock2 = await startMock('Kehua', 4)
  expect(await rpc.call('registerThing', { id: 'c-1', opts: mockOpts(mock), tags: ['ctl'] })).toBe(1)
  expect(await rpc.call('registerThing', { id: 'c-2', opts: mockOpts(mock2), tags: ['ctl'] })).toBe(1)
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

interface WriteView { unit: number, register: number, from: number, to: number, meaning: string, noop: boolean }
interface PreviewView { writes: WriteView[], changes: number, noops: number, batches?: number }

describe('dry run', () => {
  it('queryThing {dryRun: true} answers the preview and writes nothing', async () => {
    mock.resetStats()
    const reply = await rpc.call<{ dryRun: boolean, preview: PreviewView }>('queryThing', {
      id: 'c-1', method: 'switchSocket', params: [[['3', '7', false]], { actionId: 'a-dry', user: 'op' }], dryRun: true
    })
    expect(reply).toMatchObject({ success: true, dryRun: true, actionId: 'a-dry' })
    expect(reply.preview.writes).toEqual([{ unit: 11, register: 302, from: 1, to: 2, meaning: 'PDU 3 socket 7: on → off', noop: false }])
    expect(mock.writeLog).toEqual([])
    expect(mock.state.isSocketEnabled(3, 7)).toBe(true)
    rpc.expectNoReplyContains('op-user-7f3c', 'S3cret-pw-91ab')
  })

  it('applyThings {dryRun: true} writes nothing on any target', async () => {
    mock.resetStats()
    mock2.resetStats()
    expect(await rpc.call('applyThings', { query: { tags: 'ctl' }, method: 'switchContainer', params: [false], dryRun: true })).toBe(2)
    expect(mock.writeLog).toEqual([])
    expect(mock2.writeLog).toEqual([])
  })

  it('a read-only key cannot run a dry run (it is a write for access), nor any write', async () => {
    mock.resetStats()
    const params = [[['1', '1', false]]]
    expect(await ro.error('queryThing', { id: 'c-1', method: 'switchSocket', params, dryRun: true })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('applyThings', { query: {}, method: 'switchSocket', params, dryRun: true })).toBe('ERR_PERMISSION_DENIED')
    expect(mock.stats.requests).toBe(0)
    // what it may read: the previews of getWriteCalls and the action journal
    expect(await ro.call('getActions', {})).toBeInstanceOf(Array)
  })
})

describe('getWriteCalls', () => {
  it('each call carries the preview of what the action would write there, from a fresh read', async () => {
    mock.state.setSocket(2, 4, false)
    mock.resetStats()
    const reply = await rpc.call<{ reqVotes: number, calls: Array<{ id: string, preview: PreviewView }> }>('getWriteCalls', {
      query: { tags: 'ctl' }, action: 'switchSocket', params: [[['2', '4', true], ['2', '5', true]]]
    })
    expect(reply.reqVotes).toBe(1)
    const byId = Object.fromEntries(reply.calls.map((c) => [c.id, c.preview]))
    expect(byId['c-1'].writes.map((w) => w.meaning)).toEqual(['PDU 2 socket 4: off → on', 'PDU 2 socket 5: on → on'])
    expect(byId['c-1']).toMatchObject({ changes: 1, noops: 1, batches: 1 })
    expect(byId['c-2']).toMatchObject({ changes: 0, noops: 2 })
    expect(mock.writeLog).toEqual([])
    // without previews
    const bare = await rpc.call<{ calls: Array<Record<string, unknown>> }>('getWriteCalls', {
      query: { tags: 'ctl' }, action: 'switchSocket', params: [[['2', '4', true]]], preview: false
    })
    expect(bare.calls.every((c) => c.preview === undefined)).toBe(true)
  })
})

describe('background actions and progress', () => {
  it('answers at once with the action id; getActions reports batches, guards and the outcome', async () => {
    await rpc.call('queryThing', { id: 'c-1', method: 'switchSocket', params: [[['-1', '-1', false]]] })
    mock.resetStats()
    const t = Date.now()
    const reply = await rpc.call<{ actionId: string }>('queryThing', {
      id: 'c-1',
      method: 'switchSocket',
      params: [[['1', '-1', true], ['2', '-1', true], ['3', '-1', true]], { actionId: 'bg-1', user: 'alice' }],
      background: true
    })
    expect(reply).toEqual({ success: true, background: true, actionId: 'bg-1', status: 'running' })
    expect(Date.now() - t).toBeLessThan(600)
    const done = await waitFor(async () => {
      const [rec] = await rpc.call<Array<{ status: string }>>('getActions', { actionId: 'bg-1' })
      return rec.status !== 'running' ? rec : null
    }, 10_000, 50)
    expect(done).toMatchObject({
      actionId: 'bg-1',
      thingId: 'c-1',
      method: 'switchSocket',
      user: 'alice',
      background: true,
      status: 'done',
      progress: { phase: 'done', batches: 3, batchesDone: 3, written: 60 },
      result: { success: true, written: 60, batches: 3 }
    })
    expect(mock.state.enabledSockets()).toBe(60)
    expect(await rpc.error('getActions', { actionId: 'nope' })).toBe('ERR_ACTION_NOTFOUND')
  })

  it('applyThings {background: true}: one record per thing under the approval\'s action id', async () => {
    await rpc.call('applyThings', { query: { tags: 'ctl' }, method: 'switchSocket', params: [[['-1', '-1', false]]] })
    const params = [[['5', '-1', true], ['6', '-1', true]], { actionId: 'bg-all', user: 'bob' }]
    const started = await rpc.call('applyThings', { query: { tags: 'ctl' }, method: 'switchSocket', params, background: true })
    expect(started).toBe(2)
    const records = await waitFor(async () => {
      const recs = await rpc.call<Array<{ thingId: string, status: string }>>('getActions', { actionId: 'bg-all' })
      return recs.every((r) => r.status === 'done') ? recs : null
    }, 10_000, 50)
    expect(records.map((r) => r.thingId).sort()).toEqual(['c-1', 'c-2'])
    expect([mock.state.enabledSockets(), mock2.state.enabledSockets()]).toEqual([40, 40])
  })

  it('a guard that trips ends the action rolled_back in the journal', async () => {
    await rpc.call('queryThing', { id: 'c-2', method: 'switchSocket', params: [[['-1', '-1', false]]] })
    const base = (await rpc.call<{ stats: { power_w: number } }>('queryThing', { id: 'c-2', method: 'getSnap' })).stats.power_w
    // the container holds a PDU's draw below the cap at the first batch, then something else draws 100 kW more
    const watcher = setInterval(() => {
      if (mock2.writeLog.some((w) => w.value === 1)) void mock2.apply({ live: { extraPowerKw: { value: 100 } } })
    }, 10)
    const params = [[['-1', '-1', true]], { maxPowerW: base + 80_000 }, { actionId: 'trip-1' }]
    const code = await rpc.error('queryThing', { id: 'c-2', method: 'switchSocket', params })
    clearInterval(watcher)
    expect(code).toBe('ERR_CONTROL_GUARD_TRIPPED')
    const records = await rpc.call<Array<{ status: string }>>('getActions', { actionId: 'trip-1' })
    expect(records[0]).toMatchObject({ status: 'rolled_back', error: { code: 'ERR_CONTROL_GUARD_TRIPPED' } })
    expect(mock2.state.enabledSockets()).toBe(0)
    await mock2.apply({ live: { extraPowerKw: null } })
  })
})

describe('restart mid-action', () => {
  it('a worker stopped in the middle of an action leaves it interrupted after the restart', async () => {
    await rpc.call('queryThing', { id: 'c-1', method: 'switchSocket', params: [[['-1', '-1', false]]] })
    await rpc.call('queryThing', {
      id: 'c-1', method: 'switchSocket', params: [[['-1', '-1', true]], { batchDelayMs: 2000 }, { actionId: 'long-1' }], background: true
    })
    const progressOf = async (): Promise<number | undefined> =>
      (await rpc.call<Array<{ progress: { batchesDone: number } | null }>>('getActions', { actionId: 'long-1' }))[0].progress?.batchesDone
    await waitFor(async () => await progressOf() === 1, 5000, 20)
    await rack.worker.stop()
    const switched = mock.state.enabledSockets()
    expect(switched).toBeLessThan(240)
    rack = await startRackInProcess({ bootstrap, rack: 'ctl-1', root: rack.root })
    rpc = new RackRpc(createRpcClient(bootstrap), rack.key)
    const [rec] = await rpc.call<Array<Record<string, unknown>>>('getActions', { actionId: 'long-1' })
    expect(rec).toMatchObject({ status: 'interrupted', progress: { batchesDone: 1 } })
    // nothing more was written after the stop
    expect(mock.state.enabledSockets()).toBe(switched)
  })
})
