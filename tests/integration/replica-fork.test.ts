/**
 * A master restored by copying its store folder back, and a read replica that had copied the
 * history the master lost (issue 30), over Hyperswarm on a loopback testnet:
 *
 * - the master keeps writing (registerThing, updateThing, saveWrkSettings) and storing
 *   snapshots, refuses the replica's diverged copies (logged once with the replica's key,
 *   listed by getReplicationStatus), and no SESSION_CLOSED storm follows;
 * - the replica finds that its master went back in time: it logs an error, answers reads with
 *   ERR_REPLICA_DIVERGED (also after a restart), reports it in getReplicationStatus and
 *   /healthz, and serves the master's current state after `mbt-store reset-replica`.
 *
 * Before the fix (hypercore 11.37 conflict detection): the master's cores froze — 9 of 10
 * registerThing failed with ERR_STORE_WRITE_FAILED — and the replica served the lost things.
 */
import { cp, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MockServer } from '../../mock/server'
import { runStoreCli, rackStoreDir } from '../../workers/cli/mbt-store'
import type { ReplicationStatus } from '../../workers/tpl/thing/replica/rack-replication'
import { thingLogKey } from '../../workers/tpl/thing/logs/log-names'
import { cleanupAll, createBootstrap, createRpcClient, waitFor, type DHTNodeAddress, type JsonObject, type RpcClient } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks, type InProcessRack, type ListedThing, type StoredSnap } from '../helpers/rack'

const TOPIC = 'c3'.repeat(32)
const SYNC_MS = 30_000
const MASTER_CONF: JsonObject = { replicaDiscoveryKey: TOPIC, storeSnapItvMs: 0, collectSnapsItvMs: 300 }

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

/** Every warn/error line a worker logs, as text (its level is `warn` in these tests). */
function captureLines (rack: InProcessRack): string[] {
  const lines: string[] = []
  const logger = rack.worker.logger as unknown as Record<'warn' | 'error', (...args: unknown[]) => void>
  for (const level of ['warn', 'error'] as const) {
    const original = logger[level].bind(logger)
    logger[level] = (...args: unknown[]) => {
      lines.push(`${level} ${args.map((a) => a instanceof Error ? a.message : JSON.stringify(a, (_k, v: unknown) => v instanceof Error ? `${v.name}: ${v.message}` : v)).join(' ')}`)
      original(...args)
    }
  }
  return lines
}

async function startReplica (rack: string, masterKey: string, root?: string): Promise<InProcessRack> {
  return await startRackInProcess({
    bootstrap,
    rack,
    root,
    ctx: { slave: true },
    baseThing: { replicaRpcPublicKey: masterKey, replicaRetryMaxMs: 1000, refreshReplicaConfItvMs: 1000 },
    // the metrics endpoint, for /healthz (a root reused keeps its config)
    files: { common: { metrics: { port: 0 } } }
  })
}

/** `/healthz` of a worker's metrics endpoint: its status and JSON body. */
async function healthz (rack: InProcessRack): Promise<{ status: number, body: { ok?: boolean, code?: string } }> {
  const a = rack.worker.metrics?.address
  if (!a) throw new Error('no metrics endpoint')
  const res = await fetch(`http://${a.host}:${a.port}/healthz`)
  return { status: res.status, body: await res.json() as { ok?: boolean, code?: string } }
}

/** The code a call failed with (RackRpc throws `<method> failed with <code>`), or null. */
async function codeOf (call: Promise<unknown>): Promise<string | null> {
  return await call.then(() => null, (e: unknown) => /failed with (\S+)/.exec(String(e))?.[1] ?? String(e))
}

const ids = (items: ListedThing[]): string[] => items.map((t) => t.id).sort()

async function cli (argv: string[]): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await runStoreCli(argv, { stdout: (t) => { out += t }, stderr: (t) => { err += t } })
  return { code, out, err }
}

function swarmKey (rack: InProcessRack): string {
  const facility = rack.worker.replication.facility
  if (!facility) throw new Error('no replication facility')
  return facility.publicKey.toString('hex')
}

describe('a master restored by copying its store folder back, and a replica ahead of it', () => {
  it('the master keeps writing and refuses the diverged copy; the replica refuses reads until it is reset', async () => {
    let master = await startRackInProcess({ bootstrap, rack: 'fk-m', baseThing: MASTER_CONF })
    const key = master.key
    const root = master.root
    let m = new RackRpc(client, key)
    await m.call('registerThing', { id: 'dev', opts: mockOpts(mock) })
    for (let i = 0; i < 3; i++) await m.call('registerThing', { id: `old-${i}`, opts: {} })
    // a snapshot of the device is stored (the replica copies its log core too)
    await waitFor(async () => ((await m.call<Array<{ last?: StoredSnap }>>('listThings', { query: { id: 'dev' }, status: 1 }))[0]?.last?.snap ?? null) !== null, SYNC_MS, 100)

    let replica = await startReplica('fk-r', key)
    let r = new RackRpc(client, replica.key)
    await waitFor(async () => (await r.count().catch(() => 0)) === 4, SYNC_MS, 100)

    // the copy of the folder taken while the master is stopped: the "backup"
    await master.worker.stop()
    const dir = rackStoreDir(root, 'fk-m')
    const saved = `${dir}.saved`
    await rename(dir, saved)
    await cp(saved, dir, { recursive: true })
    // a copied folder only opens without its device file (the undocumented workaround)
    await rm(path.join(dir, 'CORESTORE'))
    master = await startRackInProcess({ bootstrap, rack: 'fk-m', root, baseThing: MASTER_CONF })
    m = new RackRpc(client, key)
    for (let i = 0; i < 30; i++) await m.call('registerThing', { id: `lost-${i}`, opts: {} })
    await waitFor(async () => (await r.count().catch(() => 0)) === 34, SYNC_MS, 100)
    await master.worker.stop()

    // the raw restore: the saved folder moved back in place
    await rm(dir, { recursive: true })
    await rename(saved, dir)
    master = await startRackInProcess({ bootstrap, rack: 'fk-m', root, baseThing: MASTER_CONF })
    const masterLines = captureLines(master)
    const replicaLines = captureLines(replica)
    m = new RackRpc(client, key)
    expect(await m.count()).toBe(4)

    // the replica reconnects; the master refuses its copies, logged with the replica's key
    const replicaPeer = swarmKey(replica)
    await waitFor(async () => (await m.call<ReplicationStatus>('getReplicationStatus')).diverged.some((d) => d.peer === replicaPeer), SYNC_MS, 200)
    const status = await m.call<ReplicationStatus>('getReplicationStatus')
    expect(status.role).toBe('master')
    // the main core is behind the replica's copy; a log core the master has written past it since differs (fork)
    expect(status.diverged.every((d) => d.peer === replicaPeer && d.writer && ['writer-behind', 'fork'].includes(d.reason))).toBe(true)
    expect(status.diverged.some((d) => d.reason === 'writer-behind' && d.peerLength > d.localLength)).toBe(true)
    expect(masterLines.filter((l) => l.startsWith('error') && l.includes('ERR_REPLICA_DIVERGED') && l.includes(replicaPeer))).toHaveLength(1)

    // the master keeps writing, now and after a while with the replica connected
    for (let i = 0; i < 10; i++) expect(await m.call('registerThing', { id: `after-${i}`, opts: {} })).toBe(1)
    expect(await m.call('updateThing', { id: 'old-0', info: { pos: 'B2' } })).toBe(1)
    expect(await m.call('saveWrkSettings', { entries: { theme: 'light' } })).toBe(1)
    // snapshots are still stored (the device's log core is one the replica holds a diverged copy of)
    const refusedAt = Date.now()
    const stored = async (): Promise<number> => ((await master.worker.logs.latest(thingLogKey('dev'))) as StoredSnap | null)?.ts ?? 0
    await waitFor(async () => await stored() > refusedAt + 1000, SYNC_MS, 200)
    for (let i = 10; i < 20; i++) expect(await m.call('registerThing', { id: `after-${i}`, opts: {} })).toBe(1)
    expect(await m.count()).toBe(24)

    // the replica found it too: reads refused, status and health say why
    await waitFor(async () => await codeOf(r.count()) === 'ERR_REPLICA_DIVERGED', SYNC_MS, 200)
    const rs = await r.call<ReplicationStatus>('getReplicationStatus')
    expect(['writer-behind', 'fork']).toContain(rs.replica?.refusing?.reason)
    expect(rs.replica?.refusing?.writer).toBe(false)
    expect(await healthz(replica)).toMatchObject({ status: 503, body: { ok: false, code: 'ERR_REPLICA_DIVERGED' } })
    expect(replicaLines.filter((l) => l.startsWith('error') && l.includes('went back in time'))).toHaveLength(1)
    // the master's lost things are not served (neither are they reachable as a copy)
    expect(await codeOf(r.list())).toBe('ERR_REPLICA_DIVERGED')

    // no storm: a handful of lines, none about closed sessions
    expect(masterLines.filter((l) => /SESSION_CLOSED|conflict/i.test(l))).toEqual([])
    expect(masterLines.filter((l) => !l.includes('alert active')).length).toBeLessThan(10)

    // a restarted replica still refuses (the divergence is kept with its copy)
    await replica.worker.stop()
    replica = await startReplica('fk-r', key, replica.root)
    r = new RackRpc(client, replica.key)
    expect(await codeOf(r.count())).toBe('ERR_REPLICA_DIVERGED')
    expect((await r.call<ReplicationStatus>('getReplicationStatus')).replica?.refusing).not.toBeNull()

    // the operator resets the replica's copy: same RPC key, the master's current state
    await replica.worker.stop()
    const reset = await cli(['reset-replica', '--rack', 'fk-r', '--root', replica.root])
    expect(reset.code, reset.err).toBe(0)
    const replicaKey = replica.key
    replica = await startReplica('fk-r', key, replica.root)
    expect(replica.key).toBe(replicaKey)
    r = new RackRpc(client, replica.key)
    await waitFor(async () => {
      const items = await r.list({ limit: 1000 }).catch(() => [])
      return items.length === 24 && !items.some((t) => t.id.startsWith('lost-'))
    }, SYNC_MS, 200)
    expect(ids(await r.list({ limit: 1000 }))).toEqual(ids(await m.list({ limit: 1000 })))
    expect((await r.call<ReplicationStatus>('getReplicationStatus')).replica?.refusing).toBeNull()
    expect((await healthz(replica)).status).toBe(200)
    // and follows the master's writes again; the master no longer lists the replica as diverged
    expect(await m.call('registerThing', { id: 'last', opts: {} })).toBe(1)
    await waitFor(async () => (await r.count().catch(() => 0)) === 25, SYNC_MS, 200)
    await waitFor(async () => !(await m.call<ReplicationStatus>('getReplicationStatus')).diverged.some((d) => d.peer === replicaPeer), SYNC_MS, 200)
    await replica.worker.stop()
    await master.worker.stop()
  }, 300_000)
})
