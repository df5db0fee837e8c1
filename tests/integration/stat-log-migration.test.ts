/**
 * A store whose stat logs were written in the per-tag layout, as the previous version wrote them
 * (StatTicks over plain TimeLogs: one `stat-<tf>-<tag>` log per tag), opened by a worker of this
 * version (stat logs one per timeframe, workers/tpl/thing/logs/stat-log.ts): tailLog over RPC answers
 * what the previous version answered, on the master and on a read replica; new ticks come
 * first, the per-tag generations follow as the tag's older ones; the rtd record of the new
 * layout replaces the per-tag one.
 */
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StoreFacility, type Bee } from '../../workers/facs/store'
import { errorCode } from '../../workers/core/errors'
import { LogMethods } from '../../workers/tpl/thing/logs/log-methods'
import { openMainDb } from '../../workers/tpl/thing/registry/secret-opts'
import { StatTicks } from '../../workers/tpl/thing/stats/stat-ticks'
import { TimeLogs, type LogMeta } from '../../workers/tpl/thing/logs/time-log'
import type { ThingState } from '../../workers/tpl/thing/types'
import { cleanupAll, createBootstrap, createRpcClient, rpcErrorCode, waitFor, type DHTNodeAddress, type JsonObject, type RpcClient } from '../helpers'
import { RackRpc, startRackInProcess, type InProcessRack } from '../helpers/rack'

const TOPIC = 'b2'.repeat(32)
const SYNC_MS = 20_000
const MIN = 60_000
/** The per-tag logs were written a day ago, 5 ticks of 1m, 5m and rtd. */
const T_OLD = Date.now() - 86_400_000 - ((Date.now() - 86_400_000) % (5 * MIN))
/** Rotation of the per-tag logs written here (the worker's own maxLength does not matter for reading). */
const OLD_OPTS = { maxLength: 2, keepCount: 2 } // maxHeight 3
const MASTER_CONF: JsonObject = { replicaDiscoveryKey: TOPIC, logRotateMaxLength: 100, logKeepCount: 2, collectSnapsItvMs: 60_000 }

let bootstrap: DHTNodeAddress[]
let client: RpcClient

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  client = createRpcClient(bootstrap)
})

afterAll(async () => {
  await cleanupAll()
})

function thing (id: string, tags: string[], power: number): ThingState {
  return { record: { id, code: '', type: '', tags, info: { container: id }, opts: {}, comments: [] }, ctrl: null, last: { snap: { success: true, stats: { power_w: power } } }, collecting: false, lastStoredTs: 0, forgotten: false }
}

const TAGS = ['t-container', 'container-bay-1', 'container-bay-2']

function requests (tag: string): JsonObject[] {
  return [
    { key: 'stat-1m', tag },
    { key: 'stat-1m', tag, limit: 3 },
    { key: 'stat-1m', tag, offset: 1 },
    { key: 'stat-1m', tag, offset: 2 },
    { key: 'stat-1m', tag, start: T_OLD + MIN, end: T_OLD + 3 * MIN },
    { key: 'stat-1m', tag, start: T_OLD + 2 * MIN, end: T_OLD + 4 * MIN },
    { key: 'stat-1m', tag, groupRange: '2m', start: T_OLD },
    { key: 'stat-1m', tag, fields: { ts: 1, power_w_sum: 1 }, end: T_OLD + 2 * MIN },
    { key: 'stat-5m', tag },
    { key: 'stat-rtd', tag }
  ]
}

/** Writes the per-tag layout into the worker's (stopped) store, as the previous version's ticks did; returns its tailLog replies. */
async function writePerTagLogs (storeDir: string, secretKeys: readonly string[], logger: InProcessRack['worker']['logger']): Promise<Map<string, unknown>> {
  const store = new StoreFacility(storeDir)
  await store.ready()
  try {
    const { db } = await openMainDb(store, secretKeys, logger)
    const logs = new TimeLogs(store, db.sub('meta_logs') as Bee<LogMeta>, OLD_OPTS)
    let things: ThingState[] = []
    const ticks = new StatTicks({ registry: { all: () => things }, logs } as never, () => ({ power_w_sum: { op: 'sum', src: 'last.snap.stats.power_w' }, n: { op: 'cnt' } }))
    for (let i = 0; i < 5; i++) {
      things = [thing('bay-1', ['t-container', 'container-bay-1'], 100 + i), thing('bay-2', ['t-container', 'container-bay-2'], 200 + i)]
      for (const tf of ['1m', '5m', 'rtd']) await ticks.build(tf, new Date(T_OLD + i * MIN))
    }
    const replies = new Map<string, unknown>()
    const methods = new LogMethods({ logs } as never)
    for (const tag of TAGS) {
      for (const req of requests(tag)) {
        let reply: unknown
        try {
          reply = await methods.tailLog(req as never)
        } catch (err) {
          reply = `[HRPC_ERR]=${errorCode(err)}`
        }
        replies.set(JSON.stringify(req), reply)
      }
    }
    return replies
  } finally {
    await store.close()
  }
}

async function answers (rpc: RackRpc, keys: Iterable<string>): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>()
  for (const key of keys) {
    const reply = await rpc.send('tailLog', JSON.parse(key))
    out.set(key, rpcErrorCode(reply) !== null ? `[HRPC_ERR]=${rpcErrorCode(reply)}` : reply)
  }
  return out
}

describe('stat logs of the per-tag layout, read by this version', () => {
  it('answer as before on the master and its replica; new ticks come first; the rtd record is replaced', async () => {
    // a worker of this version made the store (keys, main bee); its stat logs are then written per tag
    let master = await startRackInProcess({ bootstrap, rack: 'statmig-m', baseThing: MASTER_CONF })
    const { root } = master
    const secretKeys = master.worker.secretOptKeys()
    const logger = master.worker.logger
    await master.worker.stop()
    const before = await writePerTagLogs(path.join(root, 'store', 'statmig-m-db'), secretKeys, logger)
    // the per-tag replies are what they should be (a check of the check)
    expect((before.get(JSON.stringify({ key: 'stat-1m', tag: 'container-bay-1', limit: 3 })) as Array<{ ts: number }>).map((e) => e.ts)).toEqual([4, 3, 2].map((i) => T_OLD + i * MIN))
    expect(before.get(JSON.stringify({ key: 'stat-rtd', tag: 'container-bay-1' }))).toHaveLength(3)

    master = await startRackInProcess({ bootstrap, rack: 'statmig-m', root })
    const m = new RackRpc(client, master.key)
    expect(await answers(m, before.keys())).toEqual(before)

    // a read replica of it reads them too (the per-tag generations are announced at the master's start)
    const replica = await startRackInProcess({ bootstrap, rack: 'statmig-r', ctx: { slave: true }, baseThing: { replicaRpcPublicKey: master.key, replicaRetryMaxMs: 1000, refreshReplicaConfItvMs: 2000 } })
    const r = new RackRpc(client, replica.key)
    await waitFor(async () => JSON.stringify([...(await answers(r, before.keys()))]) === JSON.stringify([...before]), SYNC_MS, 200)

    // things carrying those tags, and one tick of the new layout
    for (const bay of ['bay-1', 'bay-2']) await m.call('registerThing', { id: bay, opts: {}, info: { container: bay } })
    // off the 10 s grid of the scheduled ticks (rtd every 30 s, 20s every 20 s): a tick of the same second shares its
    // aggregation, which may have been made before these things were registered
    const second = Math.floor(Date.now() / 1000) * 1000
    const now = second % 10_000 === 0 ? second - 1000 : second
    for (const tf of ['1m', 'rtd']) await master.worker.stats.build(tf, new Date(now))
    const latest = await m.call<Array<{ ts: number }>>('tailLog', { key: 'stat-1m', tag: 'container-bay-1', limit: 2 })
    expect(latest.map((e) => e.ts)).toEqual([now, T_OLD + 4 * MIN])
    // offset 1 is now the tag's newest per-tag generation (what offset 0 was); the tag has 4
    // generations (1 new, 3 per-tag), of which maxHeight = 3 are reachable: the oldest per-tag one is not
    const olderGens = await m.call<Array<{ ts: number }>>('tailLog', { key: 'stat-1m', tag: 'container-bay-1', offset: 1 })
    expect(olderGens).toEqual((before.get(JSON.stringify({ key: 'stat-1m', tag: 'container-bay-1' })) as unknown[]).slice(0, 3))
    expect(olderGens.map((e) => e.ts)).toEqual([4, 3, 2].map((i) => T_OLD + i * MIN))
    expect(await m.error('tailLog', { key: 'stat-1m', tag: 'container-bay-1', offset: 3 })).toBe('ERR_LOG_NOTFOUND')
    // an old time range within the reachable generations answers as before
    const range = { key: 'stat-1m', tag: 't-container', start: T_OLD + 2 * MIN, end: T_OLD + 4 * MIN }
    expect(await m.call('tailLog', range)).toEqual(before.get(JSON.stringify(range)))
    // rtd: the new record only (the per-tag one is older, not more)
    const rtd = await m.call<JsonObject[]>('tailLog', { key: 'stat-rtd', tag: 'container-bay-1' })
    expect(rtd).toHaveLength(1)
    expect(rtd[0]).not.toHaveProperty('ts')
    // the worker's own aggregate (alerts_cnt, container_status…), not the per-tag record ({n, power_w_sum})
    expect(rtd[0]).toHaveProperty('alerts_cnt')
    expect(rtd[0]).not.toHaveProperty('n')

    // the replica reads the new layout: its cores are announced like every log generation
    const conf = await m.call<{ metaDiscoveryKeys: Record<string, string> }>('getReplicaConf')
    expect(Object.keys(conf.metaDiscoveryKeys)).toEqual(expect.arrayContaining(['stat:1m-0', 'stat:rtd-0', 'stat-1m-container-bay-1-0']))
    await waitFor(async () => {
      const a = await r.send('tailLog', { key: 'stat-1m', tag: 'container-bay-1', limit: 2 }) as Array<{ ts: number }>
      return Array.isArray(a) && a[0]?.ts === now
    }, SYNC_MS, 100)
    expect(await r.call('tailLog', { key: 'stat-1m', tag: 'container-bay-1', offset: 1 })).toEqual(await m.call('tailLog', { key: 'stat-1m', tag: 'container-bay-1', offset: 1 }))
    await waitFor(async () => JSON.stringify(await r.send('tailLog', { key: 'stat-rtd', tag: 'container-bay-1' })) === JSON.stringify(rtd), SYNC_MS, 100)
  })
})
