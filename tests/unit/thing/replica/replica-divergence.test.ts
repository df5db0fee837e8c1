/**
 * A replica's refusal after its master went back in time (replica-divergence.ts), kept in a real
 * store: it holds across a restart while the diverged copy is there, is dropped once the copy is
 * reset or the master has a new main core; and the order of a replica's refusals
 * (rack-replication.ts): writes first, then a divergence, then not-ready. Plus the checked
 * replica settings and `getReplicaConf` answers (replica-settings.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { StoreFacility } from '../../../../workers/facs/store'
import type { Divergence } from '../../../../workers/facs/replication-heads'
import { ReplicaDivergence } from '../../../../workers/tpl/thing/replica/replica-divergence'
import { RackReplication, type ReplicationHost } from '../../../../workers/tpl/thing/replica/rack-replication'
import { parseReplicaConf, parseReplicaSettings } from '../../../../workers/tpl/thing/replica/replica-settings'
import type { ReplicaView } from '../../../../workers/tpl/thing/replica/replica'

const lines: Array<[string, string]> = []
const logger = {
  debug () {},
  info () {},
  warn (_o: unknown, msg: string) { lines.push(['warn', msg]) },
  error (_o: unknown, msg: string) { lines.push(['error', msg]) }
} as never

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  lines.length = 0
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {})
})

async function openStore (dir?: string): Promise<StoreFacility> {
  const d = dir ?? path.join(await mkdtemp(path.join(os.tmpdir(), 'mbt-div-')), 'r-db')
  const store = new StoreFacility(d)
  await store.ready()
  if (!dir) cleanups.push(async () => { await rm(path.dirname(d), { recursive: true, force: true }) })
  return store
}

const MAIN = 'ab'.repeat(32)
const MASTER = 'cd'.repeat(32)
const d: Divergence = { peer: 'ef'.repeat(32), discoveryKey: '12'.repeat(32), localLength: 64, writer: false, peerLength: 34, reason: 'writer-behind', by: 'local', at: 1 }

async function kept (store: StoreFacility): Promise<unknown> {
  return (await (await store.getBee('wrk')).get('replica:diverged'))?.value ?? null
}

describe('ReplicaDivergence', () => {
  it('logs once, is kept, holds across a restart while the diverged copy is there', async () => {
    let store = await openStore()
    const dir = store.dir
    const div = new ReplicaDivergence(store, logger, MASTER)
    expect(div.current).toBeNull()
    div.found(d, MAIN, 64)
    div.found({ ...d, discoveryKey: '34'.repeat(32) }, MAIN, 64)
    expect(lines.filter(([l]) => l === 'error')).toHaveLength(1)
    expect(div.current?.discoveryKey).toBe('34'.repeat(32))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(await kept(store)).toMatchObject({ mainKey: MAIN, copyLength: 64 })
    await store.close()

    store = await openStore(dir)
    cleanups.push(async () => { await store.close() })
    const again = new ReplicaDivergence(store, logger, MASTER)
    await again.restore(MAIN, 64)
    expect(again.current?.reason).toBe('writer-behind')
    // a copy of another main core: not this divergence
    const other = new ReplicaDivergence(store, logger, MASTER)
    await other.restore('99'.repeat(32), 64)
    expect(other.current).toBeNull()
    expect(await kept(store)).toBeNull()
  })

  it('a reset copy (shorter than the diverged one) is served again; forget drops the record', async () => {
    const store = await openStore()
    cleanups.push(async () => { await store.close() })
    const div = new ReplicaDivergence(store, logger, MASTER)
    div.found(d, MAIN, 64)
    await new Promise((resolve) => setTimeout(resolve, 50))
    const fresh = new ReplicaDivergence(store, logger, MASTER)
    await fresh.restore(MAIN, 0)
    expect(fresh.current).toBeNull()
    expect(await kept(store)).toBeNull()
    div.found(d, MAIN, 64)
    await new Promise((resolve) => setTimeout(resolve, 50))
    await div.forget()
    expect(div.current).toBeNull()
    expect(await kept(store)).toBeNull()
  })
})

describe('a replica\'s refusals', () => {
  const host = { logger, thingConf: {} } as unknown as ReplicationHost
  function withView (view: Partial<ReplicaView> | null): RackReplication {
    const r = new RackReplication(host, true)
    r.view = view as ReplicaView
    return r
  }

  it('writes and device calls first, then a divergence, then not-ready; ping and status always answer', () => {
    const diverged = withView({ ready: true, diverged: d })
    expect(diverged.refusal('registerThing', 'write')).toBe('ERR_SLAVE_BLOCK')
    expect(diverged.refusal('queryThing', 'read')).toBe('ERR_SLAVE_BLOCK')
    expect(diverged.refusal('listThings', 'read')).toBe('ERR_REPLICA_DIVERGED')
    expect(diverged.refusal('getReplicationStatus', 'read')).toBeNull()
    expect(diverged.refusal('ping', 'read')).toBeNull()
    expect(diverged.health()).toMatchObject({ ok: false, code: 'ERR_REPLICA_DIVERGED', since: 1 })
    const waiting = withView({ ready: false, diverged: null })
    expect(waiting.refusal('listThings', 'read')).toBe('ERR_REPLICA_NOT_READY')
    expect(waiting.health()).toBeNull()
    expect(withView({ ready: true, diverged: null }).refusal('listThings', 'read')).toBeNull()
    expect(new RackReplication(host, false).refusal('registerThing', 'write')).toBeNull()
  })
})

describe('replica settings', () => {
  it('checks getReplicaConf answers and the base.thing.json keys', () => {
    expect(() => parseReplicaConf({ rackId: 'r' })).toThrow(/no main core key/)
    expect(parseReplicaConf({ rackId: 'r', metaDiscoveryKeys: { 'main-0': MAIN.toUpperCase(), bad: 'x' }, swarmPublicKey: 'nope' }))
      .toEqual({ rackId: 'r', replicaDiscoveryKey: null, swarmPublicKey: null, metaDiscoveryKeys: { 'main-0': MAIN } })
    expect(parseReplicaSettings({ replicaDiscoveryKey: MAIN }, false)).toEqual({ discoveryKey: MAIN, replica: null })
    expect(() => parseReplicaSettings({}, true)).toThrow(/needs replicaRpcPublicKey/)
    expect(() => parseReplicaSettings({ replicaRpcPublicKey: MASTER, replicaRetryMaxMs: 5 }, true)).toThrow(/replicaRetryMaxMs/)
    expect(parseReplicaSettings({ replicaRpcPublicKey: MASTER }, true).replica).toMatchObject({ masterRpcKey: MASTER, retryMaxMs: 30_000, readTimeoutMs: 3000 })
  })
})
