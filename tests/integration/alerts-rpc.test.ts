/**
 * Alerts over RPC against the mock: identity across a restart (an alert that started after the
 * thing's last stored snapshot keeps its uuid and createdAt and is in the history once),
 * thresholds changed at run time (`alertParams`), per-device PDU alarms with metadata.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient, type DHTNodeAddress } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks, type RackWorker } from '../helpers/rack'
import type { MockServer } from '../../mock/server'

interface AlertView { name: string, uuid: string, state?: string, createdAt: number, deviceTag?: string, message?: string, metadata?: Record<string, unknown> }

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

describe('alert thresholds at run time and per-device alerts', () => {
  const TYPE = 'container-mbt-kehua'

  it('a saved alertParams threshold fires on the next snapshot, survives a restart; an invalid one is refused and changes nothing', async () => {
    const pdu = await startMock('Kehua', 42)
    let rack = await startRackInProcess({ bootstrap, rack: 'alert-params' })
    let rpc = new RackRpc(createRpcClient(bootstrap), rack.key)
    await rpc.call('registerThing', { id: 'ap', opts: mockOpts(pdu) })
    const before = await rpc.waitLast('ap', (l) => l.snap?.success === true)
    expect((before.alerts as AlertView[]).map((a) => a.name)).not.toContain('water_max_inlet_temp_warn')

    expect(await rpc.error('saveWrkSettings', { entries: { alertParams: { [TYPE]: { water_max_inlet_temp_warn: { temp: '1' } } }, other: 1 } })).toBe('ERR_ENTRIES_INVALID')
    expect(await rpc.error('saveWrkSettings', { entries: { alertParams: { [TYPE]: { no_such_alert: { temp: 1 } } } } })).toBe('ERR_ENTRIES_INVALID')
    expect(await rpc.call<Record<string, unknown>>('getWrkSettings')).not.toHaveProperty('other')

    const savedAt = Date.now()
    expect(await rpc.call('saveWrkSettings', { entries: { alertParams: { [TYPE]: { water_max_inlet_temp_warn: { temp: -100 } } } } })).toBe(1)
    const fired = await rpc.waitLast('ap', (l) => (l.ts ?? 0) > savedAt && (l.alerts as AlertView[]).some((a) => a.name === 'water_max_inlet_temp_warn'))
    const alert = (fired.alerts as AlertView[]).find((a) => a.name === 'water_max_inlet_temp_warn')
    expect(alert).toMatchObject({ deviceTag: 'cdu', metadata: { threshold: -100, unit: '°C' } })
    expect(typeof alert?.metadata?.value).toBe('number')

    await rack.worker.stop()
    const stoppedAt = Date.now()
    rack = await startRackInProcess({ bootstrap, rack: 'alert-params', root: rack.root })
    rpc = new RackRpc(createRpcClient(bootstrap), rack.key)
    const after = await rpc.waitLast('ap', (l) => (l.ts ?? 0) > stoppedAt && l.snap?.success === true)
    expect((after.alerts as AlertView[]).find((a) => a.name === 'water_max_inlet_temp_warn')?.uuid).toBe(alert?.uuid)
    await rack.worker.stop()
  })

  it('a PDU water-ingress bit set through the mock becomes an alert naming pdu-<n>, with metadata; cleared, it stays latched until reset', async () => {
    const pdu = await startMock('Kehua', 43)
    const rack = await startRackInProcess({ bootstrap, rack: 'alert-pdu' })
    const rpc = new RackRpc(createRpcClient(bootstrap), rack.key)
    await rpc.call('registerThing', { id: 'wp', opts: mockOpts(pdu) })
    await rpc.waitLast('wp', (l) => l.snap?.success === true)
    // PDU 3 is unit 11; water ingress sensor 2 is register 176 (registers.md)
    await pdu.apply({ registers: [{ unit: 11, register: 176, value: 1 }] })
    const raised = await rpc.waitLast('wp', (l) => (l.alerts as AlertView[]).some((a) => a.name === 'pdu_water_ingress_alarm'))
    expect((raised.alerts as AlertView[]).filter((a) => a.name === 'pdu_water_ingress_alarm')).toEqual([
      expect.objectContaining({ deviceTag: 'pdu-3', message: 'PDU 3 water ingress sensor 2', severity: 'critical', metadata: { pdu: '3', index: '2', value: true } })
    ])
    await pdu.apply({ registers: [{ unit: 11, register: 176, value: 0 }] })
    // a safety alarm (MicroBT default): latched, it stays until an operator resets it
    const latched = await rpc.waitLast('wp', (l) => (l.alerts as AlertView[]).some((a) => a.name === 'pdu_water_ingress_alarm' && a.state === 'cleared-unacknowledged'))
    const uuid = (latched.alerts as AlertView[]).find((a) => a.name === 'pdu_water_ingress_alarm')?.uuid
    expect(await rpc.call('resetAlerts', { uuids: [uuid], user: 'ann' })).toEqual({ count: 1, uuids: [uuid] })
    await rpc.waitLast('wp', (l) => !(l.alerts as AlertView[]).some((a) => a.name === 'pdu_water_ingress_alarm'))
    await rack.worker.stop()
  })
})
