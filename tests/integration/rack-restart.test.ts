/**
 * The real CLI (`node dist/worker.js --wtype wrk-container-rack-<vendor> …`) in a child process,
 * for Kehua and Wonderint: register a mock container, read and write it, then SIGTERM and
 * restart — everything acknowledged must survive, `last` must come back from the stored
 * snapshot before any new collection — and a `kill -9` right after a registration must not
 * lose it. Needs `npm run build` first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  cleanupAll,
  createBootstrap,
  createRpcClient,
  makeRoot,
  spawnWorker,
  waitFor,
  type DHTNodeAddress,
  type SpawnedWorker,
  type WorkerStatus
} from '../helpers'
import {
  FAST_THING_CONF,
  MOCK_PASSWORD,
  MOCK_USER,
  RackRpc,
  WTYPE,
  cduOf,
  mockOpts,
  patchConfig,
  scaled,
  socketEnabled,
  startMock,
  stopMocks,
  type ListedThing,
  type SnapView,
  type StoredSnap,
  type Vendor
} from '../helpers/rack'
import type { MockServer } from '../../mock/server'
import type { ContainerType } from '../../mock/state'

const RACK = 'rs-1'

let bootstrap: DHTNodeAddress[]

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

/** A fresh client per worker run: a pooled connection to a killed process would only time out. */
function connect (status: WorkerStatus): RackRpc {
  return new RackRpc(createRpcClient(bootstrap), status.rpcPublicKey)
}

function withoutLast (things: ListedThing[]): ListedThing[] {
  return things.map(({ last: _last, ...rest }) => rest)
}

const CASES: Array<{ vendor: Vendor, mockType: ContainerType, prefix: string }> = [
  { vendor: 'kehua', mockType: 'Kehua', prefix: 'MBT-KEHUA' },
  { vendor: 'wonderint', mockType: 'Wonderint', prefix: 'MBT-WONDERINT' }
]

describe.each(CASES)('$vendor worker process', ({ vendor, mockType, prefix }) => {
  const wtype = WTYPE[vendor]
  const rackId = `container-mbt-${vendor}-${RACK}`
  let root: string
  let mock: MockServer
  let worker: SpawnedWorker
  let status: WorkerStatus
  let rpc: RackRpc
  // captured before the restart
  let things: ListedThing[]
  let stored: StoredSnap
  let settings: unknown

  beforeAll(async () => {
    root = await makeRoot({ bootstrap, baseThing: { ...FAST_THING_CONF, collectSnapsItvMs: 300 } })
    mock = await startMock(mockType, 41)
    mock.state.setAllSockets(true)
    worker = spawnWorker({ wtype, rack: RACK, root, naturalExit: true })
    status = await worker.waitForStatus()
    rpc = connect(status)
  })

  it('serves its rack id and the status-file key', async () => {
    expect(status.rpcPublicKey).toMatch(/^[0-9a-f]{64}$/)
    expect(await rpc.call('getRack')).toEqual({ id: rackId, rpcPubKey: status.rpcPublicKey })
  })

  it('registers a mock container and reads it with queryThing getSnap (vendor fields)', async () => {
    expect(await rpc.call('registerThing', {
      id: 'c-1', opts: mockOpts(mock), info: { container: 'bay-7', pos: 'r1-s1' }, tags: ['grp-r'], comment: 'installed', user: 'alice'
    })).toBe(1)
    expect(await rpc.call('registerThing', { id: 'c-2', opts: {}, info: { pos: 'r1-s2' } })).toBe(1)
    expect(await rpc.call('saveThingComment', { thingId: 'c-1', comment: 'checked pumps', user: 'bob' })).toBe(1)
    expect(await rpc.call('saveWrkSettings', { entries: { site: 'north', limits: { kw: 900 } } })).toBe(1)

    const t = await rpc.thing('c-1')
    expect(t.code).toBe(`${prefix}-0001`)
    expect(t.tags).toEqual(expect.arrayContaining(['t-container', 't-container-mbt', `t-container-mbt-${vendor}`, 'microbt', 'grp-r', 'id-c-1', `code-${prefix}-0001`, 'container-bay-7', 'pos-r1-s1']))
    expect((await rpc.thing('c-2')).code).toBe(`${prefix}-0002`)

    const snap = await rpc.call<SnapView>('queryThing', { id: 'c-1', method: 'getSnap' })
    expect(snap.success).toBe(true)
    const cdu = cduOf(snap)
    if (vendor === 'wonderint') {
      expect(typeof cdu.unit_outlet_temp_t3).toBe('number')
    } else {
      expect(cdu).not.toHaveProperty('unit_outlet_temp_t3')
    }
    expect(typeof cdu.unit_inlet_temp_t2).toBe('number')
    expect(snap.stats?.container_specific?.pdu_data).toHaveLength(12)
  })

  it('applyThings setCoolingFanThreshold by tag reaches the device and the next snapshot', async () => {
    expect(await rpc.call('applyThings', { method: 'setCoolingFanThreshold', params: [{ runningSpeed: 66.6, startTemp: 33, stopTemp: 21.5 }], query: { tags: 'grp-r' } })).toBe(1)
    expect([613, 614, 615].map((r) => mock.getRegister(1, r))).toEqual([scaled(66.6), 3300, 2150])
    const since = Date.now()
    const last = await rpc.waitLast('c-1', (l) => (l.ts ?? 0) > since && l.snap?.success === true)
    expect(cduOf(last.snap)).toMatchObject({
      cooling_fan_running_speed_threshold: 66.6,
      cooling_fan_start_temperature_threshold: 33,
      cooling_fan_stop_temperature_threshold: 21.5
    })
  })

  it('switchSocket reaches the device and the next snapshot', async () => {
    expect(await rpc.call('queryThing', { id: 'c-1', method: 'switchSocket', params: [[['4', '6', false]], { actionId: 9, user: 'alice' }] })).toEqual({ success: true })
    expect(mock.state.isSocketEnabled(4, 6)).toBe(false)
    expect(mock.state.enabledSockets()).toBe(239)
    const since = Date.now()
    const last = await rpc.waitLast('c-1', (l) => (l.ts ?? 0) > since && l.snap?.success === true)
    expect(socketEnabled(last.snap, 4, 6)).toBe(false)
    expect(socketEnabled(last.snap, 4, 5)).toBe(true)
  })

  it('after SIGTERM and a restart: things, codes, tags, comments, settings and the key are as before; `last` comes from the store', async () => {
    // the newest stored snapshot already reflects the writes
    await waitFor(async () => {
      const [e] = await rpc.tail('c-1', { limit: 1 })
      return e !== undefined && socketEnabled(e.snap, 4, 6) === false && cduOf(e.snap).cooling_fan_start_temperature_threshold === 33
    }, 5000)
    things = await rpc.list({ status: 1, sort: { id: 1 } })
    settings = await rpc.call('getWrkSettings')
    expect(await worker.stop('SIGTERM')).toBe(0)
    await rpc.client.close()

    // second start: no collection for a long time, so `last` can only come from the store
    await patchConfig(root, 'base.thing', { collectSnapsItvMs: 600_000, storeSnapItvMs: 600_000 })
    mock.resetStats()
    worker = spawnWorker({ wtype, rack: RACK, root, naturalExit: true })
    const status2 = await worker.waitForStatus()
    expect(status2.instanceId).not.toBe(status.instanceId)
    expect(status2.rpcPublicKey).toBe(status.rpcPublicKey)
    rpc = connect(status2)

    const after = await rpc.list({ status: 1, sort: { id: 1 } })
    expect(withoutLast(after)).toEqual(withoutLast(things))
    expect(after.map((t) => t.code)).toEqual([`${prefix}-0001`, `${prefix}-0002`])
    expect(after[0].comments.map((c) => [c.user, c.comment])).toEqual([['alice', 'installed'], ['bob', 'checked pumps']])
    expect(await rpc.call('getWrkSettings')).toEqual(settings)
    expect(await rpc.call('getThingConf', { requestType: 'nextAvailableCode' })).toBe(`${prefix}-0003`)
    expect(await rpc.call('getRack')).toEqual({ id: rackId, rpcPubKey: status.rpcPublicKey })

    ;[stored] = await rpc.tail('c-1', { limit: 1 })
    const restored = after[0].last!
    expect(restored.ts).toBe(stored.ts)
    expect(restored.err).toBe(stored.err)
    expect(restored.snap).toEqual(stored.snap)
    expect(socketEnabled(restored.snap, 4, 6)).toBe(false)
    expect(cduOf(restored.snap).cooling_fan_running_speed_threshold).toBe(66.6)
    // the thing without address got its stored offline snapshot back as well
    expect(after[1].last?.snap).toEqual({ success: false, stats: { status: 'offline' } })
    expect(after[1].last?.err).toBe('ERR_THING_NOT_CONNECTED')
    // …and nothing was read from the device: this really is the stored snapshot
    expect(mock.stats.requests).toBe(0)
    expect(JSON.stringify(after)).not.toContain(MOCK_PASSWORD)
    expect(JSON.stringify(after)).not.toContain(MOCK_USER)
  })

  it('the restarted worker still controls the device (credentials were kept)', async () => {
    expect(await rpc.call('queryThing', { id: 'c-1', method: 'setCoolingFanThreshold', params: [{ runningSpeed: 12 }] })).toEqual({ success: true })
    expect(mock.getRegister(1, 613)).toBe(1200)
    expect(mock.stats.authSucceeded).toBe(1)
  })

  it('kill -9 right after registerThing returned: the thing is there after a restart', async () => {
    expect(await rpc.call('registerThing', { id: 'c-3', opts: mockOpts(mock), tags: ['late'] })).toBe(1)
    const exit = await worker.kill9()
    expect(exit.signal).toBe('SIGKILL')
    await rpc.client.close()

    // debug level and every `debug` namespace on: not even tracing may print a credential
    worker = spawnWorker({ wtype, rack: RACK, root, naturalExit: true, extraArgs: ['--debug'], processEnv: { DEBUG: '*' } })
    const status3 = await worker.waitForStatus()
    expect(status3.rpcPublicKey).toBe(status.rpcPublicKey)
    rpc = connect(status3)
    const c3 = await rpc.thing('c-3')
    expect(c3.code).toBe(`${prefix}-0003`)
    expect(c3.tags).toEqual(expect.arrayContaining(['late', 'id-c-3', `code-${prefix}-0003`, 'microbt']))
    expect(c3.port).toBe(mock.port)
    expect(await rpc.count()).toBe(3)
    expect((await rpc.call<SnapView>('queryThing', { id: 'c-3', method: 'getSnap' })).success).toBe(true)
    // a refused authentication is an error, and its password stays out of replies and logs
    const wrongPassword = 'Wr0ng-pw-7c1d'
    expect(await rpc.call('registerThing', { id: 'c-4', opts: { ...mockOpts(mock), password: wrongPassword } })).toBe(1)
    // (switching off: the container runs, so this write is not a no-op skipped before authenticating)
    expect(await rpc.error('queryThing', { id: 'c-4', method: 'switchContainer', params: [false] })).toBe('ERR_AUTH_FAILED')
    expect(await worker.stop('SIGTERM')).toBe(0)
    rpc.expectNoReplyContains(MOCK_PASSWORD, MOCK_USER, wrongPassword)
    const output = worker.stdout() + worker.stderr()
    expect(output).toContain('"audit":true')
    for (const secret of [MOCK_PASSWORD, wrongPassword]) expect(output).not.toContain(secret)
  })
})
