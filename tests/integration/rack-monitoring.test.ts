/**
 * The platform's monitoring contract against the real Kehua worker class (in this process),
 * a real `@hyperswarm/rpc` client on a loopback testnet and mock containers: alerts in
 * `listThings {status: 1}` (raw errors with configured severities, thresholds, error_snap),
 * their lifecycle driven through the mock, identities across a restart, `getHistoricalLogs`,
 * stats ticks (`stat-rtd`, `stat-5m` by tag, with short test timeframes) and write-call
 * approvals followed by the approved action.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, cleanupAll, createBootstrap, createRpcClient, startWorkerInProcess, waitFor, type RpcClient } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks, type RackWorker } from '../helpers/rack'
import type { MockServer } from '../../mock/server'
import WrkContainerRackKehua from '../../workers/kehua.rack.container.wrk'

interface AlertView { name: string, code: string, description: string, severity: string, createdAt: number, uuid: string, message?: string }

const CONFIGURED = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'config', 'base.thing.json.example'), 'utf8')) as { alerts: Record<string, Record<string, { description: string, severity: string }>> }).alerts['container-mbt-kehua']

/** Unit 1 register 201: cdu.unit_inlet_temp_t2 × 100. */
const T2 = { unit: 1, register: 201 }

let client: RpcClient
let worker: RackWorker
let rpc: RackRpc
let errMock: MockServer
let okMock: MockServer
const started = Date.now()

beforeAll(async () => {
  const { bootstrap } = await createBootstrap()
  client = createRpcClient(bootstrap)
  errMock = await startMock('Kehua', 1)
  okMock = await startMock('Kehua', 2)
  await errMock.apply({ state: { error: true }, registers: [{ ...T2, value: 3000 }] })
  await okMock.apply({ registers: [{ ...T2, value: 3000 }] })
  const rack = await startRackInProcess({
    bootstrap,
    rack: 'mon-1',
    baseThing: { collectSnapsItvMs: 300, scheduleAddlStatConfigTfs: [['5m', '*/1 * * * * *'], ['rtd', '*/1 * * * * *']] }
  })
  worker = rack.worker
  rpc = new RackRpc(client, rack.key)
  await rpc.call('registerThing', { id: 'err', opts: mockOpts(errMock), info: { container: 'bay-1', nominalHashrateMhs: 100 } })
  await rpc.call('registerThing', { id: 'ok', opts: mockOpts(okMock), info: { container: 'bay-2', nominalHashrateMhs: 300 } })
  await rpc.call('registerThing', { id: 'off', opts: {}, info: { container: 'bay-3' } })
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

async function alertsOf (id: string, pred: (alerts: AlertView[]) => boolean): Promise<AlertView[]> {
  const last = await rpc.waitLast(id, (l) => Array.isArray(l.alerts) && pred(l.alerts as AlertView[]))
  return last.alerts as AlertView[]
}

describe('alerts', () => {
  it('listThings {status: 1}: a container in error has its root-cause raw errors as alerts with the configured severities', async () => {
    const alerts = await alertsOf('err', (a) => a.length > 0)
    const names = alerts.map((a) => a.name)
    // the pump fault is there, suppressed by the inverter fault that causes it (docs/alerts.md "Alarm management")
    expect(names).toContain('circ_pump_inverter_fault')
    expect(names).toContain('makeup_water_pump_fault')
    for (const a of alerts) {
      expect(CONFIGURED[a.name], a.name).toBeDefined()
      expect(a).toMatchObject({ code: a.name, severity: CONFIGURED[a.name].severity, description: CONFIGURED[a.name].description })
    }
    expect(await alertsOf('ok', (a) => a.length === 0)).toEqual([])
  })

  it('a thing that cannot be read has error_snap', async () => {
    const [a] = await alertsOf('off', (x) => x.length > 0)
    expect(a).toMatchObject({ name: 'error_snap', severity: CONFIGURED.error_snap.severity, message: 'ERR_THING_NOT_CONNECTED' })
  })

  it('lifecycle through the mock: appears, persists with the same uuid/createdAt, clears, returns with a new uuid', async () => {
    await okMock.apply({ state: { systemErrorBits: [3] } })
    const [first] = await alertsOf('ok', (a) => a.some((x) => x.name === 'circulating_pump_fault'))
    expect(first.severity).toBe('critical')
    // two collections later (one may have been under way when the alert was first seen) it is the same alert
    const seenAt = (await rpc.thing('ok')).last?.ts ?? 0
    const next = await rpc.waitLast('ok', (l) => (l.ts ?? 0) > seenAt)
    const later = await rpc.waitLast('ok', (l) => (l.ts ?? 0) > (next.ts ?? 0))
    expect(later.ts).toBeGreaterThan(seenAt)
    const persisted = (later.alerts as AlertView[]).filter((a) => a.name === 'circulating_pump_fault')
    expect(persisted).toEqual([expect.objectContaining({ uuid: first.uuid, createdAt: first.createdAt })])
    await okMock.apply({ state: { systemErrorBits: [] } })
    await alertsOf('ok', (a) => a.length === 0)
    await okMock.apply({ state: { systemErrorBits: [3] } })
    const [back] = await alertsOf('ok', (a) => a.length > 0)
    expect(back.name).toBe('circulating_pump_fault')
    expect(back.uuid).not.toBe(first.uuid)
    expect(back.createdAt).toBeGreaterThan(first.createdAt)
    await okMock.apply({ state: { systemErrorBits: [] } })
    await alertsOf('ok', (a) => a.length === 0)
  })

  it('thresholds on the unit inlet temperature: 9 °C warns, exactly 10 °C does not raise; it clears past the 1 °C deadband', async () => {
    await okMock.apply({ registers: [{ ...T2, value: 1000 }] })
    await alertsOf('ok', (a) => a.length === 0)
    await okMock.apply({ registers: [{ ...T2, value: 900 }] })
    const [cold] = await alertsOf('ok', (a) => a.length > 0)
    expect(cold).toMatchObject({ name: 'water_min_inlet_temp_warn', severity: 'warning' })
    await okMock.apply({ registers: [{ ...T2, value: 1101 }] })
    await alertsOf('ok', (a) => a.length === 0)
    await okMock.apply({ registers: [{ ...T2, value: 3000 }] })
  })

  it('getHistoricalLogs alerts in a range: every started alert, newest first, flattened with its thing', async () => {
    const all = await rpc.call<Array<AlertView & { thing: { id: string, code: string, type: string, tags: string[], info: Record<string, unknown> } }>>('getHistoricalLogs', { logType: 'alerts', start: started, end: Date.now() })
    const pump = all.filter((a) => a.thing.id === 'ok' && a.name === 'circulating_pump_fault')
    expect(pump).toHaveLength(2) // it started twice
    expect(pump[0].createdAt).toBeGreaterThan(pump[1].createdAt)
    expect(all.map((a) => a.createdAt)).toEqual([...all.map((a) => a.createdAt)].sort((a, b) => b - a))
    expect(pump[0].thing).toMatchObject({ id: 'ok', code: expect.stringMatching(/^MBT-KEHUA-\d{4}$/) as string, type: 'container-mbt-kehua', info: expect.objectContaining({ container: 'bay-2' }) as object })
    expect(pump[0].thing.tags).toContain('container-bay-2')
    expect(all.some((a) => a.thing.id === 'err' && a.name === 'makeup_water_pump_fault')).toBe(true)
    // limit and offset page through the same order; a range before the start is empty
    const page = await rpc.call<AlertView[]>('getHistoricalLogs', { logType: 'alerts', start: started, limit: 2, offset: 1 })
    expect(page.map((a) => a.uuid)).toEqual(all.slice(1, 3).map((a) => a.uuid))
    expect(await rpc.call('getHistoricalLogs', { logType: 'alerts', start: 0, end: started - 60_000 })).toEqual([])
  })

  it('getHistoricalLogs info: the info changes with query; a missing or unknown logType is refused', async () => {
    await rpc.call('updateThing', { id: 'ok', info: { pos: 'A7', site: { col: 3, row: 1 }, slots: ['s1', 's2'] }, user: 'op' })
    await rpc.call('updateThing', { id: 'ok', info: { site: { col: 4, row: 1 }, slots: ['s2', 's3'] }, user: 'op' })
    const changes = await rpc.call<Array<{ ts: number, changes: Record<string, unknown>, user?: string, thing: { id: string } }>>('getHistoricalLogs', { logType: 'info', query: { 'thing.id': 'ok' } })
    // the reference's shape: dotted paths within info, {oldValue, newValue}, arrays as {additions, deletions}
    expect(changes[0]).toMatchObject({ user: 'op', thing: { id: 'ok' } })
    expect(changes[0].changes).toEqual({ 'site.col': { oldValue: 3, newValue: 4 }, slots: { additions: ['s3'], deletions: ['s1'] } })
    expect(changes[1].changes).toMatchObject({ pos: { newValue: 'A7' }, site: { newValue: { col: 3, row: 1 } }, slots: { newValue: ['s1', 's2'] } })
    expect(changes[1].changes.pos).not.toHaveProperty('oldValue')
    expect(changes.every((c) => c.thing.id === 'ok')).toBe(true)
    expect(await rpc.error('getHistoricalLogs', {})).toBe('ERR_INFO_HISTORY_LOG_TYPE_INVALID')
    expect(await rpc.error('getHistoricalLogs', { logType: 'nope' })).toBe('ERR_INFO_HISTORY_LOG_TYPE_INVALID')
    expect(await rpc.error('getHistoricalLogs', { logType: 'alerts', query: { $where: 'x' } })).toBe('ERR_QUERY_INVALID')
  })
})

describe('stats', () => {
  it('stat-rtd for t-container: one record without ts, alerts_cnt, container_status and power', async () => {
    const [rtd] = await waitFor(async () => {
      const entries = await rpc.send('tailLog', { key: 'stat-rtd', tag: 't-container' })
      return Array.isArray(entries) && entries.length > 0 && (entries[0] as { container_status?: Record<string, string> }).container_status?.['bay-2'] === 'running' ? entries as Array<Record<string, unknown>> : null
    }, 8000, 200)
    expect(rtd).not.toHaveProperty('ts')
    expect(rtd.alerts_cnt).toMatchObject({ critical: expect.any(Number) as number, high: expect.any(Number) as number, medium: expect.any(Number) as number, low: 0 })
    expect((rtd.alerts_cnt as Record<string, number>).critical).toBeGreaterThan(0)
    expect(rtd.container_status).toEqual({ 'bay-1': 'error', 'bay-2': 'running', 'bay-3': 'offline' })
    const power = rtd.container_power_w as Record<string, number>
    expect(Object.keys(power).sort()).toEqual(['bay-1', 'bay-2'])
    expect(rtd.container_power_w_sum).toBeCloseTo(power['bay-1'] + power['bay-2'], 6)
    expect(rtd.container_nominal_hashrate_mhs_sum).toBe(400)
    expect(rtd.container_nominal_hashrate_mhs_avg).toBe(200)
    expect(rtd.container_specific_stats_group).toHaveProperty(['bay-1', 'unit_inlet_temp_t2_group'], 30)
  })

  it('a 5m tick writes stat-5m-t-container and stat-5m-container-bay-1 with tick-aligned ts', async () => {
    const entries = await waitFor(async () => {
      const e = await rpc.send('tailLog', { key: 'stat-5m', tag: 't-container', limit: 3 })
      return Array.isArray(e) && e.length >= 2 ? e as Array<{ ts: number, container_status: Record<string, string> }> : null
    }, 8000, 200)
    for (const e of entries) expect(e.ts % 1000).toBe(0)
    expect(entries[0].ts).toBeGreaterThan(entries[1].ts)
    expect(entries[0].container_status).toHaveProperty('bay-3', 'offline')
    const bay1 = await rpc.call<Array<{ ts: number, container_status: Record<string, string> }>>('tailLog', { key: 'stat-5m', tag: 'container-bay-1', limit: 1 })
    expect(Object.keys(bay1[0].container_status)).toEqual(['bay-1'])
    // per-thing tags are not aggregated
    expect(await rpc.error('tailLog', { key: 'stat-5m', tag: 'id-ok' })).toBe('ERR_LOG_NOTFOUND')
  })
})

describe('write-call approvals', () => {
  it('getWriteCalls → approve → queryThing with the {actionId, user} trailer switches the socket', async () => {
    const params = [[['1', '2', false]]]
    const res = await rpc.call<{ reqVotes: number, calls: Array<{ id: string, tags: string[] }> }>('getWriteCalls', { query: { tags: 'container-bay-2' }, action: 'switchSocket', params })
    expect(res.reqVotes).toBe(1)
    expect(res.calls.map((c) => c.id)).toEqual(['ok'])
    expect(res.calls[0].tags).toContain('container-bay-2')
    expect(okMock.state.isSocketEnabled(1, 2)).toBe(true)
    expect(await rpc.call('queryThing', { id: 'ok', method: 'switchSocket', params: [...params, { actionId: 'act-1', user: 'op' }] })).toEqual({ success: true })
    expect(okMock.state.isSocketEnabled(1, 2)).toBe(false)
  })

  it('an invalid target fails the whole call; not whitelisted → no calls; rackReboot → 2 votes for the rack', async () => {
    expect(await rpc.error('getWriteCalls', { query: { tags: 't-container' }, action: 'switchSocket', params: [[['13', '1', true]]] })).toBe('ERR_SWITCH_SOCKET_PDU_INVALID')
    // the unconnected thing cannot be validated
    expect(await rpc.error('getWriteCalls', { query: {}, action: 'switchContainer', params: [true] })).toBe('ERR_THING_NOT_INITIALIZED')
    expect(await rpc.call('getWriteCalls', { query: {}, action: 'resetAlarm', params: [] })).toEqual({ reqVotes: 1, calls: [] })
    expect(await rpc.call('getWriteCalls', { action: 'rackReboot', params: [], rackActionId: worker.rackId })).toEqual({ reqVotes: 2, calls: [{ id: worker.rackId, tags: [] }] })
  })
})

describe('the documented example', () => {
  it('applyThings setCoolingFanThreshold [{runningSpeed: 2, startTemp: 25, stopTemp: 25}] by tag over RPC writes 613–615', async () => {
    expect(await rpc.call('applyThings', { method: 'setCoolingFanThreshold', params: [{ runningSpeed: 2, startTemp: 25, stopTemp: 25 }], query: { tags: 'container-bay-2' } })).toBe(1)
    expect([613, 614, 615].map((r) => okMock.getRegister(1, r))).toEqual([200, 2500, 2500])
    // start below stop stays invalid: nothing is written
    expect(await rpc.error('queryThing', { id: 'ok', method: 'setCoolingFanThreshold', params: [{ startTemp: 20, stopTemp: 25 }] })).toBe('ERR_COOLING_FAN_THRESHOLD_INVALID')
    expect([613, 614, 615].map((r) => okMock.getRegister(1, r))).toEqual([200, 2500, 2500])
  })
})

describe('restart', () => {
  it('active alerts keep their uuid and createdAt across a restart', async () => {
    await alertsOf('err', (a) => a.length > 0)
    await worker.stop()
    // the set as the stopped worker left it (a collection may have changed it after any earlier read)
    const before = worker.registry.get('err').last.alerts ?? []
    worker = await startWorkerInProcess<RackWorker>(WrkContainerRackKehua, worker.ctx)
    worker.logger.level = 'warn'
    // restored with last, before any new collection, and kept by the next collections
    const restored = worker.registry.get('err').last.alerts ?? []
    expect(restored.map((a) => a.uuid).sort()).toEqual(before.map((a) => a.uuid).sort())
    const startedAt = Date.now()
    await rpc.waitLast('err', (l) => (l.ts ?? 0) > startedAt, 10_000)
    const after = await alertsOf('err', (a) => a.length > 0)
    // the error mode's alerts last; a unit that missed a reply on a loaded machine may come and go
    const lasting = before.filter((a) => a.name !== 'unit_unreachable' && a.name !== 'error_snap')
    expect(lasting.length).toBeGreaterThan(0)
    for (const a of lasting) expect(after.find((x) => x.name === a.name && x.message === a.message), a.name).toMatchObject({ uuid: a.uuid, createdAt: a.createdAt })
  })
})
