/**
 * Backup and restore (docs/operations.md): a backup of a running master (RPC `backupStore`),
 * more writes, the master stopped and the backup restored with `mbt-store restore` → the master
 * starts with the same RPC key, serves the backed-up state, keeps writing; a read replica that
 * had copied the newer state recovers (copies the restored master afresh) instead of forking it.
 * Also: the offline backup of a stopped store, and refusals (corrupt file, running worker).
 */
import { readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runStoreCli, rackStoreDir } from '../../workers/cli/mbt-store'
import { cleanupAll, createBootstrap, createRpcClient, waitFor, type DHTNodeAddress, type JsonObject, type RpcClient } from '../helpers'
import { RackRpc, startRackInProcess, type InProcessRack, type ListedThing } from '../helpers/rack'

const TOPIC = 'b2'.repeat(32)
const SYNC_MS = 20_000
const MASTER_CONF: JsonObject = { replicaDiscoveryKey: TOPIC, storeSnapItvMs: 0, collectSnapsItvMs: 300 }

let bootstrap: DHTNodeAddress[]
let client: RpcClient

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  client = createRpcClient(bootstrap)
})

afterAll(async () => {
  await cleanupAll()
})

function cli (argv: string[]): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  return runStoreCli(argv, { stdout: (t) => { out += t }, stderr: (t) => { err += t } }).then((code) => ({ code, out, err }))
}

const ids = (items: ListedThing[]): string[] => items.map((t) => t.id).sort()

describe('backup and restore with a replica', () => {
  it('backup → more writes → restore: same key, the backed-up state, the replica follows the restored master', async () => {
    let master: InProcessRack = await startRackInProcess({ bootstrap, rack: 'bk-m', baseThing: MASTER_CONF })
    const key = master.key
    let m = new RackRpc(client, key)
    for (let i = 0; i < 4; i++) await m.call('registerThing', { id: `kept-${i}`, opts: {}, info: { container: `bay-${i}` } })
    // credentials are encrypted with keys kept beside the store: the backup carries both
    await m.call('registerThing', { id: 'kept-4', opts: { address: '127.0.0.1', port: 1, username: 'bk-user', password: 'bk-password' } })
    await m.call('saveWrkSettings', { entries: { theme: 'dark' } })
    await m.call('updateThing', { id: 'kept-0', info: { pos: 'A1' } })

    const replica = await startRackInProcess({ bootstrap, rack: 'bk-r', ctx: { slave: true }, baseThing: { replicaRpcPublicKey: key, replicaRetryMaxMs: 1000, refreshReplicaConfItvMs: 1000 } })
    const r = new RackRpc(client, replica.key)
    await waitFor(async () => (await r.count().catch(() => 0)) === 5, SYNC_MS, 100)

    // a backup while the master runs
    const summary = await m.call<{ file: string, bees: number, entries: number }>('backupStore', {})
    expect(summary.bees).toBeGreaterThan(2)
    expect(((await stat(summary.file)).mode & 0o777)).toBe(0o600)
    expect(path.dirname(summary.file)).toBe(path.join(master.root, 'backups'))

    // writes after the backup reach the replica
    for (let i = 0; i < 30; i++) await m.call('registerThing', { id: `later-${i}`, opts: {} })
    await waitFor(async () => (await r.count().catch(() => 0)) === 35, SYNC_MS, 100)

    // restore refuses while the master runs (its store is locked), and moves nothing
    const dir = rackStoreDir(master.root, 'bk-m')
    expect((await cli(['restore', '--rack', 'bk-m', '--root', master.root, '--file', summary.file])).code).toBe(1)
    await master.worker.stop()

    // a corrupt backup is refused before anything moves
    const bad = path.join(master.root, 'bad.mbtbak')
    await writeFile(bad, (await readFile(summary.file, 'utf8')).split('\n').slice(0, -3).join('\n') + '\n')
    const refused = await cli(['restore', '--rack', 'bk-m', '--root', master.root, '--file', bad])
    expect(refused.code).toBe(1)
    expect(refused.err).toMatch(/ERR_BACKUP_INVALID/)

    const restored = await cli(['restore', '--rack', 'bk-m', '--root', master.root, '--file', summary.file])
    expect(restored.code, restored.err).toBe(0)
    const replaced = (JSON.parse(restored.out) as { replaced: string }).replaced
    expect(replaced.startsWith(`${dir}.replaced-`)).toBe(true)

    master = await startRackInProcess({ bootstrap, rack: 'bk-m', root: master.root, baseThing: MASTER_CONF })
    expect(master.key).toBe(key)
    m = new RackRpc(client, master.key)
    expect(ids(await m.list({ limit: 1000 }))).toEqual(Array.from({ length: 5 }, (_, i) => `kept-${i}`))
    expect(await m.call('getWrkSettings')).toMatchObject({ theme: 'dark' })
    expect(master.worker.registry.get('kept-4').record.opts).toMatchObject({ username: 'bk-user', password: 'bk-password' })
    const history = await m.call<Array<{ changes: JsonObject, thing: { id: string } }>>('getHistoricalLogs', { logType: 'info' })
    expect(history.some((h) => h.thing.id === 'kept-0' && (h.changes as { pos?: { newValue?: string } }).pos?.newValue === 'A1')).toBe(true)

    // the restored master keeps writing (no frozen core), and the replica follows it
    for (let i = 0; i < 3; i++) expect(await m.call('registerThing', { id: `after-${i}`, opts: {} })).toBe(1)
    await waitFor(async () => {
      const items = await r.list({ limit: 1000 }).catch(() => [])
      return items.length === 8 && items.some((t) => t.id === 'after-2') && !items.some((t) => t.id.startsWith('later-'))
    }, SYNC_MS, 200)
    expect(await m.call('registerThing', { id: 'after-3', opts: {} })).toBe(1)
    // new cores: nothing diverged, on either side
    expect((await m.call<{ diverged: unknown[] }>('getReplicationStatus')).diverged).toEqual([])
    expect((await r.call<{ replica: { refusing: unknown } }>('getReplicationStatus')).replica.refusing).toBeNull()
    await master.worker.stop()
    await replica.worker.stop()
  })

  it('mbt-store backup of a stopped store, restored into a new root, starts with the same key and things', async () => {
    const first = await startRackInProcess({ bootstrap, rack: 'bk-off' })
    const rpc = new RackRpc(client, first.key)
    await rpc.call('registerThing', { id: 'only', opts: {}, info: { container: 'bay-9' } })
    // the store is locked while the worker runs
    const locked = await cli(['backup', '--rack', 'bk-off', '--root', first.root])
    expect(locked.code).toBe(1)
    expect(locked.err).toMatch(/ERR_STORE_LOCKED/)
    await first.worker.stop()
    const out = path.join(first.root, 'offline.mbtbak')
    const backup = await cli(['backup', '--rack', 'bk-off', '--root', first.root, '--out', out])
    expect(backup.code, backup.err).toBe(0)
    // a second backup to the same file is refused (never overwritten)
    expect((await cli(['backup', '--rack', 'bk-off', '--root', first.root, '--out', out])).code).toBe(1)

    const second = await startRackInProcess({ bootstrap, rack: 'bk-off2' })
    const root = second.root
    await second.worker.stop()
    const restored = await cli(['restore', '--rack', 'bk-off2', '--root', root, '--file', out])
    expect(restored.code, restored.err).toBe(0)
    const again = await startRackInProcess({ bootstrap, rack: 'bk-off2', root })
    expect(again.key).toBe(first.key)
    expect(ids(await new RackRpc(client, again.key).list())).toEqual(['only'])
    await again.worker.stop()
    expect((await cli(['restore', '--rack', 'bk-off2'])).code).toBe(2)
  })
})
