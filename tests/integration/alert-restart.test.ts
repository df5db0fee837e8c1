/**
 * Alert identity across a restart (issue 25 item 7): an alert that started after the thing's
 * last stored snapshot keeps its uuid and createdAt after the worker restarts, and appears in
 * the alert history once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient, type DHTNodeAddress } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks, type RackWorker } from '../helpers/rack'
import type { MockServer } from '../../mock/server'

interface AlertView { name: string, uuid: string, createdAt: number }

let bootstrap: DHTNodeAddress[]
let mock: MockServer

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  mock = await startMock('Kehua', 41)
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

describe('an alert raised after the last stored snapshot, then a restart', () => {
  it('keeps its uuid and createdAt, before and after the first new collection, and is in the history once', async () => {
    // only the first snapshot is stored: every alert below starts after it
    const baseThing = { storeSnapItvMs: 3_600_000 }
    let rack = await startRackInProcess({ bootstrap, rack: 'alert-rs', baseThing })
    let worker: RackWorker = rack.worker
    let rpc = new RackRpc(createRpcClient(bootstrap), rack.key)
    await rpc.call('registerThing', { id: 'ar', opts: mockOpts(mock), info: { container: 'bay-ar' } })
    await rpc.waitLast('ar', (l) => l.snap?.success === true && Array.isArray(l.alerts) && l.alerts.length === 0)

    await mock.apply({ state: { error: true } })
    const raised = (await rpc.waitLast('ar', (l) => Array.isArray(l.alerts) && l.alerts.length > 0)).alerts as AlertView[]
    const started = Math.min(...raised.map((a) => a.createdAt))
    const identity = (alerts: AlertView[]): string[] => alerts.map((a) => `${a.name}/${a.uuid}/${a.createdAt}`).sort()

    await worker.stop()
    const stoppedAt = Date.now()
    rack = await startRackInProcess({ bootstrap, rack: 'alert-rs', root: rack.root, baseThing })
    worker = rack.worker
    rpc = new RackRpc(createRpcClient(bootstrap), rack.key)

    // restored: the active set, not a re-evaluation of the older stored snapshot
    expect(identity(worker.registry.get('ar').last.alerts as AlertView[])).toEqual(identity(raised))
    // a fresh collection finds the same conditions: same identities
    const fresh = await rpc.waitLast('ar', (l) => (l.ts ?? 0) > stoppedAt && l.snap?.success === true)
    expect(identity(fresh.alerts as AlertView[])).toEqual(identity(raised))

    const history = await rpc.call<AlertView[]>('getHistoricalLogs', { logType: 'alerts', start: started })
    for (const alert of raised) expect(history.filter((h) => h.uuid === alert.uuid), alert.name).toHaveLength(1)
    expect(history.filter((h) => h.createdAt >= started)).toHaveLength(raised.length)
    await worker.stop()
  })
})
