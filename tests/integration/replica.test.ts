/**
 * Read replicas (worker.md §10): a master and replicas of the real Kehua worker class in this
 * process, on one loopback HyperDHT testnet, replicating over Hyperswarm (each on its own DHT
 * node bound to 127.0.0.1). Registrations reach the replica within a bounded time; snapshots,
 * alerts, stats, settings and the configuration are read from the copy; writes and device calls
 * are refused; credentials are in no core a replica holds; a stopped replica catches up; a
 * replica started before its master waits and then syncs; a store from before the credential
 * split is migrated without losing anything.
 */
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import Corestore from 'corestore'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MockServer } from '../../mock/server'
import { StoreFacility, type Bee } from '../../workers/facs/store'
import { TimeLogs, type LogMeta } from '../../workers/tpl/thing/logs/time-log'
import { cleanupAll, createBootstrap, createRpcClient, makeRoot, rpcErrorCode, waitFor, type DHTNodeAddress, type JsonObject, type RpcClient } from '../helpers'
import { FAST_THING_CONF, MOCK_PASSWORD, MOCK_USER, RackRpc, mockOpts, patchConfig, startMock, startRackInProcess, stopMocks, type InProcessRack, type ListedThing, type StoredSnap } from '../helpers/rack'
import { deepMerge } from '../helpers'

const TOPIC = 'a1'.repeat(32)
/** Bound for "the replica has it" (replication on loopback takes milliseconds; connecting, seconds). */
const SYNC_MS = 20_000

let bootstrap: DHTNodeAddress[]
let client: RpcClient
let mock: MockServer

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  client = createRpcClient(bootstrap)
  mock = await startMock('Kehua')
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

const MASTER_CONF: JsonObject = {
  replicaDiscoveryKey: TOPIC,
  storeSnapItvMs: 0,
  collectSnapsItvMs: 300,
  scheduleAddlStatConfigTfs: [['1s', '* * * * * *']]
}

async function startMaster (rack: string, root?: string, net?: JsonObject): Promise<InProcessRack> {
  return await startRackInProcess({ bootstrap, rack, root, baseThing: MASTER_CONF, net })
}

async function startReplica (rack: string, masterKey: string, root?: string): Promise<InProcessRack> {
  return await startRackInProcess({
    bootstrap,
    rack,
    root,
    ctx: { slave: true },
    baseThing: { replicaRpcPublicKey: masterKey, replicaRetryMaxMs: 1000, refreshReplicaConfItvMs: 2000 }
  })
}

/** The public part of listThings items, comparable between master and replica. */
function publicView (items: ListedThing[]): unknown[] {
  return items.map(({ last: _last, ...rest }) => rest).sort((a, b) => a.id.localeCompare(b.id))
}

async function listOf (rpc: RackRpc): Promise<ListedThing[]> {
  return await rpc.call<ListedThing[]>('listThings', { limit: 1000 })
}

/** Every block of every core stored under `storeDir` (the store must not be open). */
async function allBlocks (storeDir: string): Promise<{ cores: number, blocks: Buffer[] }> {
  const store = new Corestore(storeDir)
  await store.ready()
  const blocks: Buffer[] = []
  let cores = 0
  try {
    for await (const discoveryKey of store.list()) {
      const core = store.get({ discoveryKey })
      try {
        await core.ready()
      } catch {
        continue
      }
      cores++
      for (let i = 0; i < core.length; i++) {
        const block = await core.get(i, { wait: false })
        if (block) blocks.push(block)
      }
      await core.close()
    }
  } finally {
    await store.close()
  }
  return { cores, blocks }
}

function containing (blocks: Buffer[], needle: string): number {
  const n = Buffer.from(needle)
  return blocks.filter((b) => b.includes(n)).length
}

describe('a master and a replica', () => {
  let master: InProcessRack
  let replica: InProcessRack
  let m: RackRpc
  let r: RackRpc

  beforeAll(async () => {
    master = await startMaster('rep-m1')
    m = new RackRpc(client, master.key)
    await m.call('registerThing', { id: 'live', opts: mockOpts(mock), info: { container: 'bay-1', pos: 'A1' }, comment: 'first', user: 'op' })
    await m.call('registerThing', { id: 'off', opts: {}, info: { container: 'bay-2' } })
    replica = await startReplica('rep-r1', master.key)
    r = new RackRpc(client, replica.key)
  })

  it('what the master has registered is on the replica within a bounded time', async () => {
    await waitFor(async () => (await r.count().catch(() => 0)) === 2, SYNC_MS, 100)
    expect(publicView(await listOf(r))).toEqual(publicView(await listOf(m)))
    // each registration after that, too
    for (let i = 0; i < 5; i++) {
      await m.call('registerThing', { id: `n-${i}`, opts: {}, info: { container: `bay-${i}` } })
      await waitFor(async () => (await r.list({ query: { id: `n-${i}` } })).length === 1, SYNC_MS, 25)
    }
    expect(publicView(await listOf(r))).toEqual(publicView(await listOf(m)))
    expect((await listOf(r))[0].rack).toBe('container-mbt-kehua-rep-m1')
    expect(await r.call('getRack')).toMatchObject({ id: 'container-mbt-kehua-rep-m1', rpcPubKey: replica.key })
    expect(await r.count({ 'info.container': 'bay-1' })).toBe(await m.count({ 'info.container': 'bay-1' }))
    expect(await r.call('getThingConf', { requestType: 'nextAvailableCode' })).toBe(await m.call('getThingConf', { requestType: 'nextAvailableCode' }))
  })

  it('updates and forgets follow', async () => {
    await m.call('updateThing', { id: 'n-0', info: { pos: 'Z9' }, user: 'op' })
    await m.call('forgetThings', { query: { id: 'n-1' } })
    await waitFor(async () => {
      const items = await listOf(r)
      return !items.some((t) => t.id === 'n-1') && items.find((t) => t.id === 'n-0')?.info.pos === 'Z9'
    }, SYNC_MS, 50)
    // the info history is a log of its own: it may arrive a moment after the record
    await waitFor(async () => {
      const history = await r.call<Array<{ thing: { id: string }, changes: JsonObject }>>('getHistoricalLogs', { logType: 'info' })
      return history.some((h) => h.thing.id === 'n-0' && 'pos' in h.changes)
    }, SYNC_MS, 50)
  })

  it('snapshots, alerts and stats are read from the copy; last comes from the stored snapshots and the active alerts', async () => {
    const live = await r.waitLast('live', (l) => l.snap?.success === true, SYNC_MS)
    expect(typeof live.ts).toBe('number')
    // the alarms and the stored snapshots are copied separately: wait for both
    const hasErrorSnap = (l: { alerts?: unknown }): boolean =>
      Array.isArray(l.alerts) && (l.alerts as Array<{ name: string }>).some((a) => a.name === 'error_snap')
    const off = await r.waitLast('off', (l) => hasErrorSnap(l) && l.err !== undefined, SYNC_MS)
    expect(off.err).toBe('ERR_THING_NOT_CONNECTED')
    // the alerts are the master's (same identities)
    const masterOff = await m.thing('off')
    expect((off.alerts as Array<{ uuid: string }>)[0].uuid).toBe((masterOff.last?.alerts as Array<{ uuid: string }>)[0].uuid)
    const snaps = await waitFor(async () => { const s = await r.tail('live', { limit: 5 }); return s.length >= 2 ? s : null }, SYNC_MS, 100)
    expect(snaps[0].snap?.success).toBe(true)
    // stored compressed (a snapshot is ~25 kB of JSON), read back by the copy exactly as the master reads it
    const older = snaps[snaps.length - 1] as StoredSnap
    const atMaster = (await m.tail('live', { start: older.ts, end: older.ts })).find((e) => e.ts === older.ts)
    expect(JSON.stringify(older)).toBe(JSON.stringify(atMaster))
    const alerts = await waitFor(async () => {
      const a = await r.call<Array<{ name: string, thing: { id: string } }>>('getHistoricalLogs', { logType: 'alerts', start: 0, end: Date.now() })
      return a.some((x) => x.name === 'error_snap' && x.thing.id === 'off') ? a : null
    }, SYNC_MS, 100)
    expect(alerts.length).toBeGreaterThan(0)
    const stats = await waitFor(async () => {
      const s = await r.send('tailLog', { key: 'stat-1s', tag: 't-container', limit: 3 })
      return Array.isArray(s) && s.length > 0 ? s as Array<{ ts: number, container_status?: JsonObject }> : null
    }, SYNC_MS, 100)
    expect(stats[0].container_status).toBeDefined()
  })

  it('stat logs, one per timeframe: the replica opens the announced cores and answers per tag what the master answers', async () => {
    const conf = await m.call<{ metaDiscoveryKeys: Record<string, string> }>('getReplicaConf')
    expect(Object.keys(conf.metaDiscoveryKeys)).toContain('stat:1s-0')
    // no stat log of its own per tag any more
    expect(Object.keys(conf.metaDiscoveryKeys).filter((k) => k.startsWith('stat-'))).toEqual([])
    await master.worker.stats.build('rtd', new Date())
    const [newest] = await m.call<Array<{ ts: number }>>('tailLog', { key: 'stat-1s', tag: 'container-bay-1', limit: 1 })
    const reqs: JsonObject[] = [
      { key: 'stat-1s', tag: 'container-bay-1', end: newest.ts, limit: 5 },
      { key: 'stat-1s', tag: 't-container', end: newest.ts, limit: 4, groupRange: '2s', fields: { ts: 1, alerts_cnt: 1 } },
      { key: 'stat-1s', tag: 'container-bay-2', end: newest.ts, offset: 0, limit: 3 },
      { key: 'stat-rtd', tag: 't-container' }
    ]
    for (const req of reqs) {
      await waitFor(async () => JSON.stringify(await r.send('tailLog', req)) === JSON.stringify(await m.send('tailLog', req)), SYNC_MS, 100)
    }
    expect((await r.call<unknown[]>('tailLog', reqs[0])).length).toBeGreaterThan(0)
    expect(await r.error('tailLog', { key: 'stat-1s', tag: 'container-nope' })).toBe('ERR_LOG_NOTFOUND')
    expect(await r.error('tailLog', { key: 'stat-1s', tag: 'container-bay-1', offset: 1 })).toBe(await m.error('tailLog', { key: 'stat-1s', tag: 'container-bay-1', offset: 1 }))
  })

  it('configuration and settings are the master\'s', async () => {
    // the replica runs with the master's rack configuration (its own file says otherwise)
    expect(replica.worker.thingConf).toMatchObject({ collectSnapsItvMs: 300, storeSnapItvMs: 0 })
    expect(await r.call('getWrkConf', { fields: { 'pduGridLayout.container-mbt-kehua': 1 } })).toEqual(await m.call('getWrkConf', { fields: { 'pduGridLayout.container-mbt-kehua': 1 } }))
    await m.call('saveWrkSettings', { entries: { theme: 'dark' } })
    await waitFor(async () => (await r.call<JsonObject>('getWrkSettings')).theme === 'dark', SYNC_MS, 50)
    const conf = await m.call<{ metaDiscoveryKeys: Record<string, string>, swarmPublicKey: string, replicaDiscoveryKey: string }>('getReplicaConf')
    expect(conf.replicaDiscoveryKey).toBe(TOPIC)
    expect(conf.metaDiscoveryKeys['main-0']).toMatch(/^[0-9a-f]{64}$/)
    expect(Object.keys(conf.metaDiscoveryKeys)).toContain('thing-5m-live-0')
    expect((await r.call<{ metaDiscoveryKeys: Record<string, string> }>('getReplicaConf')).metaDiscoveryKeys['main-0']).toBe(conf.metaDiscoveryKeys['main-0'])
  })

  it('writes and device calls are refused with ERR_SLAVE_BLOCK, over RPC and in process', async () => {
    const writes: Array<[string, JsonObject]> = [
      ['registerThing', { id: 'x', opts: {} }],
      ['updateThing', { id: 'live', info: { pos: 'B' } }],
      ['forgetThings', { all: true }],
      ['saveWrkSettings', { entries: { a: 1 } }],
      ['saveThingComment', { thingId: 'live', comment: 'c', user: 'u' }],
      ['applyThings', { method: 'switchContainer', params: [true], query: {} }],
      ['queryThing', { id: 'live', method: 'switchContainer', params: [true] }],
      ['queryThing', { id: 'live', method: 'getSnap', params: [] }],
      ['getWriteCalls', { action: 'switchContainer', params: [true], query: {} }],
      ['rackReboot', {}]
    ]
    for (const [method, req] of writes) expect(await r.error(method, req), method).toBe('ERR_SLAVE_BLOCK')
    await expect(replica.worker.callRpc('registerThing', { id: 'x', opts: {} })).rejects.toMatchObject({ code: 'ERR_SLAVE_BLOCK' })
    expect(await m.count({ id: 'x' })).toBe(0)
    expect(replica.worker.isStarted).toBe(true)
  })

  it('a replica never connects to a device and never writes to a copied core', async () => {
    for (const state of replica.worker.registry.all()) expect(state.ctrl).toBeNull()
    expect(replica.worker.replication.view?.ready).toBe(true)
    const main = (replica.worker.replication as unknown as { mainDb: { core: { writable: boolean } } }).mainDb
    expect(main.core.writable).toBe(false)
  })

  it('credentials never leave the master: no core the replica holds contains them', async () => {
    // every listThings reply of the replica so far, too
    r.expectNoReplyContains(MOCK_PASSWORD, MOCK_USER)
    await replica.worker.stop()
    const { cores, blocks } = await allBlocks(replica.worker.storeDir)
    expect(cores).toBeGreaterThan(3)
    expect(blocks.length).toBeGreaterThan(10)
    expect(containing(blocks, MOCK_PASSWORD)).toBe(0)
    expect(containing(blocks, MOCK_USER)).toBe(0)
    // the copy is real: the registered thing's info is in it
    expect(containing(blocks, 'bay-1')).toBeGreaterThan(0)
    // and the master holds them only encrypted (its secrets bee is never offered; the keys are beside the store)
    await master.worker.stop()
    expect(containing((await allBlocks(master.worker.storeDir)).blocks, MOCK_PASSWORD)).toBe(0)
    master = await startMaster('rep-m1', master.root)
    m = new RackRpc(client, master.key)
    // the master keeps connecting with the stored credentials
    await m.waitLast('live', (l) => l.snap?.success === true, 10_000)
  })

  it('a replica that was stopped while the master kept writing catches up', async () => {
    for (let i = 0; i < 3; i++) await m.call('registerThing', { id: `late-${i}`, opts: {}, info: { container: 'bay-late' } })
    await m.call('forgetThings', { query: { id: 'n-2' } })
    await m.call('updateThing', { id: 'live', info: { pos: 'A2' } })
    replica = await startReplica('rep-r1', master.key, replica.root)
    r = new RackRpc(client, replica.key)
    // it serves its copy at once (kept configuration), then catches up
    expect(rpcErrorCode(await r.send('listThings', {}))).toBeNull()
    await waitFor(async () => {
      const items = await listOf(r)
      return items.length === (await listOf(m)).length && !items.some((t) => t.id === 'n-2') && items.find((t) => t.id === 'live')?.info.pos === 'A2'
    }, SYNC_MS, 100)
    expect(publicView(await listOf(r))).toEqual(publicView(await listOf(m)))
  })

  it('while the master is down the replica serves the last copy; when it is back, new writes arrive again', async () => {
    const before = publicView(await listOf(r))
    await master.worker.stop()
    expect(publicView(await listOf(r))).toEqual(before)
    expect((await r.thing('live')).last?.snap?.success).toBe(true)
    master = await startMaster('rep-m1', master.root)
    m = new RackRpc(client, master.key)
    await m.call('registerThing', { id: 'after-restart', opts: {}, info: {} })
    await waitFor(async () => (await r.list({ query: { id: 'after-restart' } })).length === 1, SYNC_MS * 2, 100)
  })
})

describe('a replica started before its master', () => {
  it('answers ERR_REPLICA_NOT_READY, then syncs once the master is up', async () => {
    // the master's key exists before it runs (a first run made its store)
    let master = await startMaster('early-m')
    await master.worker.callRpc('registerThing', { id: 'before', opts: {}, info: { container: 'bay-1' } })
    const { root, key } = master
    await master.worker.stop()

    const replica = await startReplica('early-r', key)
    const r = new RackRpc(client, replica.key)
    expect(await r.error('listThings', {})).toBe('ERR_REPLICA_NOT_READY')
    expect(await r.error('getRack', {})).toBe('ERR_REPLICA_NOT_READY')
    expect(await r.call('ping', { a: 1 })).toEqual({ a: 1 })
    expect(await r.error('registerThing', { id: 'x', opts: {} })).toBe('ERR_SLAVE_BLOCK')

    master = await startMaster('early-m', root)
    await master.worker.callRpc('registerThing', { id: 'after', opts: {}, info: {} })
    await waitFor(async () => (await r.count().catch(() => 0)) === 2, SYNC_MS * 2, 100)
    expect((await r.list()).map((t) => t.id).sort()).toEqual(['after', 'before'])
  })
})

describe('who may replicate', () => {
  it('a replica outside the master\'s allow lists gets no configuration and no data; one in allowReadOnly does', async () => {
    // the replicas' keys (their rpcClientKey) exist once they ran
    const outsider = await startReplica('allow-out', 'ab'.repeat(32))
    const insider = await startReplica('allow-in', 'ab'.repeat(32))
    const outsiderKey = outsider.worker.net.rpcClientKey.toString('hex')
    const insiderKey = insider.worker.net.rpcClientKey.toString('hex')
    for (const w of [outsider, insider]) await w.worker.stop()
    const master = await startMaster('allow-m', undefined, { r0: { allow: [client.publicKey], allowReadOnly: [insiderKey] } })
    const m = new RackRpc(client, master.key)
    await m.call('registerThing', { id: 't', opts: {}, info: {} })
    for (const w of [outsider, insider]) await patchConfig(w.root, 'base.thing', { replicaRpcPublicKey: master.key })
    const rIn = await startReplica('allow-in', master.key, insider.root)
    const rOut = await startReplica('allow-out', master.key, outsider.root)
    expect(outsiderKey).not.toBe(insiderKey)
    await waitFor(async () => (await new RackRpc(client, rIn.key).count().catch(() => 0)) === 1, SYNC_MS, 100)
    // the outsider's getReplicaConf is refused by the master's firewall like any request of an unknown key
    expect(rOut.worker.replication.view?.ready).toBe(false)
    expect(await new RackRpc(client, rOut.key).error('listThings', {})).toBe('ERR_REPLICA_NOT_READY')
  })
})

describe('a store written before credentials were kept apart', () => {
  it('is migrated at start: nothing registered is lost, the credentials stay usable on the master and reach no replica', async () => {
    const root = await makeRoot({ bootstrap, baseThing: deepMerge(FAST_THING_CONF, MASTER_CONF) })
    const storeDir = path.join(root, 'store', 'legacy-m-db')
    await mkdir(storeDir, { recursive: true })
    // the old layout: records with their credentials inside the main bee `db`
    const old = new StoreFacility(storeDir)
    await old.ready()
    const db = await old.getBee('db')
    const tags = ['t-container', 't-container-mbt', 't-container-mbt-kehua', 'microbt', 'id-old', 'code-MBT-KEHUA-0001']
    await db.sub('things').put('old', { id: 'old', code: 'MBT-KEHUA-0001', type: 'container-mbt-kehua', tags, info: { container: 'bay-9' }, opts: mockOpts(mock), comments: [] })
    await db.sub('settings').put('kept', 'yes')
    // a log written before log cores were announced (the master does not touch it at start)
    const oldLogs = new TimeLogs(old, db.sub('meta_logs') as Bee<LogMeta>, { maxLength: 10_000, keepCount: 3 })
    await oldLogs.append('thing-history-log', 1000, { ts: 1000, id: 'old', changes: { pos: { old: 'A0', new: 'A1' } } })
    await old.close()
    expect(containing((await allBlocks(storeDir)).blocks, MOCK_PASSWORD)).toBeGreaterThan(0)

    const master = await startMaster('legacy-m', root)
    const m = new RackRpc(client, master.key)
    expect(master.worker.registry.get('old').record.opts).toMatchObject({ username: MOCK_USER, password: MOCK_PASSWORD, port: mock.port })
    expect(await m.call('getWrkSettings')).toMatchObject({ kept: 'yes' })
    await m.waitLast('old', (l) => l.snap?.success === true, 10_000)

    const replica = await startReplica('legacy-r', master.key)
    const r = new RackRpc(client, replica.key)
    await waitFor(async () => (await r.count().catch(() => 0)) === 1, SYNC_MS, 100)
    await r.waitLast('old', (l) => l.snap?.success === true, SYNC_MS)
    // the old log was announced after the start and is read from the copy
    await waitFor(async () => {
      const history = await r.call<Array<{ ts: number, thing: { id: string } }>>('getHistoricalLogs', { logType: 'info' })
      return history.some((h) => h.ts === 1000 && h.thing.id === 'old')
    }, SYNC_MS, 100)
    // an entry of the old shape ({old, new} per top-level key) is answered in the current one
    const [legacy] = await r.call<Array<{ changes: unknown }>>('getHistoricalLogs', { logType: 'info', query: { ts: 1000 } })
    expect(legacy.changes).toEqual({ pos: { oldValue: 'A0', newValue: 'A1' } })
    await replica.worker.stop()
    const copied = await allBlocks(replica.worker.storeDir)
    expect(containing(copied.blocks, 'bay-9')).toBeGreaterThan(0)
    expect(containing(copied.blocks, MOCK_PASSWORD)).toBe(0)

    // the old main core kept no block with a credential either (they are in no core in the clear
    // any more: encrypted in the secrets bee), and a restart finds everything
    await master.worker.stop()
    const inStore = await allBlocks(storeDir)
    expect(containing(inStore.blocks, MOCK_PASSWORD)).toBe(0)
    expect(containing(inStore.blocks, 'bay-9')).toBeGreaterThan(0)
    const again = await startMaster('legacy-m', root)
    expect(again.worker.registry.get('old').record.opts).toMatchObject({ password: MOCK_PASSWORD })
  })
})
