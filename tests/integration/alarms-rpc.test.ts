/**
 * Alarm management over RPC against the mock: the `--error` cascade shows its root causes only
 * (listThings {status: 1}), listAlerts names the suppressed ones' causes; an acknowledge/shelve
 * round trip, the refusals (unknown uuid, shelve beyond the maximum, a read-only caller), the
 * write-call path of shelving, and the transitions in the history.
 */
import { execFile } from 'node:child_process'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, cleanupAll, createBootstrap, createRpcClient, waitFor, type DHTNodeAddress } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks, type InProcessRack } from '../helpers/rack'
import type { MockServer } from '../../mock/server'

interface Listed { name: string, uuid: string, state: string, thingId: string | null, suppressedBy?: string, acknowledged?: boolean, ackedBy?: string }

let bootstrap: DHTNodeAddress[]
let mock: MockServer
let rack: InProcessRack
let rpc: RackRpc
let ro: RackRpc

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  mock = await startMock('Kehua', 77)
  const roClient = createRpcClient(bootstrap, { seed: Buffer.alloc(32, 9) })
  rack = await startRackInProcess({ bootstrap, rack: 'alarms-rpc', net: { r0: { allowReadOnly: [roClient.publicKey] } } })
  rpc = new RackRpc(createRpcClient(bootstrap), rack.key)
  ro = new RackRpc(roClient, rack.key)
  await rpc.call('registerThing', { id: 'e1', opts: mockOpts(mock) })
  await mock.apply({ state: { error: true } })
})

afterAll(async () => {
  await rack.worker.stop()
  await stopMocks()
  await cleanupAll()
})

describe('the --error cascade', () => {
  it('listThings {status: 1} shows the root causes only; listAlerts has the rest, suppressed, naming the cause', async () => {
    const last = await rpc.waitLast('e1', (l) => Array.isArray(l.alerts) && l.alerts.length > 0)
    const shown = (last.alerts as Listed[]).map((a) => a.name).sort()
    expect(shown).toEqual(['circ_pump_inverter_fault', 'makeup_water_pump_fault', 'unit_inlet_temp_sensor_fault'])
    expect((last.alerts as Listed[]).every((a) => a.state === 'active-unacknowledged')).toBe(true)
    const listed = await rpc.call<Listed[]>('listAlerts', { query: { thingId: 'e1' } })
    expect(listed).toHaveLength(17)
    const suppressed = await rpc.call<Listed[]>('listAlerts', { states: ['suppressed'] })
    expect(suppressed).toHaveLength(14)
    expect(suppressed.every((a) => typeof a.suppressedBy === 'string' && a.suppressedBy.length > 0)).toBe(true)
    // the stats count what is shown
    const thing = await rpc.thing('e1')
    expect(thing.last?.alerts).toHaveLength(3)
  })
})

describe('operator round trip', () => {
  it('acknowledge then shelve over RPC; refusals change nothing; a read-only key may list but not act', async () => {
    const shown = (await rpc.waitLast('e1', (l) => ((l.alerts as Listed[] | undefined)?.length ?? 0) === 3)).alerts as Listed[]
    const pump = shown.find((a) => a.name === 'makeup_water_pump_fault') as Listed
    expect(await rpc.error('acknowledgeAlerts', { uuids: ['no-such-uuid'], user: 'ann' })).toBe('ERR_ALERT_NOTFOUND')
    expect(await rpc.error('acknowledgeAlerts', { user: 'ann' })).toBe('ERR_PARAMS_INVALID')
    expect(await ro.error('acknowledgeAlerts', { uuids: [pump.uuid], user: 'eve' })).toBe('ERR_PERMISSION_DENIED')
    expect(await ro.error('shelveAlerts', { uuids: [pump.uuid], durationMs: 1000, reason: 'x' })).toBe('ERR_PERMISSION_DENIED')
    expect((await ro.call<Listed[]>('listAlerts', { states: ['active-unacknowledged'] })).map((a) => a.name)).toContain('makeup_water_pump_fault')

    expect(await rpc.call('acknowledgeAlerts', { uuids: [pump.uuid], user: 'ann', comment: 'valve closed' })).toEqual({ count: 1, uuids: [pump.uuid] })
    const acked = await rpc.waitLast('e1', (l) => (l.alerts as Listed[]).some((a) => a.uuid === pump.uuid && a.acknowledged === true))
    expect((acked.alerts as Listed[]).find((a) => a.uuid === pump.uuid)).toMatchObject({ state: 'active-acknowledged', ackedBy: 'ann' })

    expect(await rpc.error('shelveAlerts', { uuids: [pump.uuid], durationMs: 8 * 3_600_000 + 1, reason: 'too long' })).toBe('ERR_ALERT_SHELVE_TOO_LONG')
    expect(await rpc.call('getWriteCalls', { action: 'shelveAlerts', rackActionId: 'shelve-1' })).toEqual({ reqVotes: 1, calls: [{ id: 'shelve-1', tags: [] }] })
    expect((await rpc.call<{ count: number }>('shelveAlerts', { uuids: [pump.uuid], durationMs: 600_000, reason: 'pump swap', user: 'ann' })).count).toBe(1)
    const after = await rpc.waitLast('e1', (l) => ((l.alerts as Listed[] | undefined)?.length ?? 0) === 2)
    expect((after.alerts as Listed[]).map((a) => a.name)).not.toContain('makeup_water_pump_fault')
    expect((await rpc.call<Listed[]>('listAlerts', { states: ['shelved'] })).map((a) => a.uuid)).toEqual([pump.uuid])

    expect((await rpc.call<{ count: number }>('unshelveAlerts', { uuids: [pump.uuid], user: 'ann' })).count).toBe(1)
    await rpc.waitLast('e1', (l) => ((l.alerts as Listed[] | undefined)?.length ?? 0) === 3)

    type Entry = { transition?: string, by?: string, uuid: string }
    const historyReq = { logType: 'alerts', transitions: true, query: { uuid: pump.uuid } }
    const transitionsOf = (h: Entry[]): string[] => h.filter((e) => e.transition !== undefined).map((e) => `${e.transition ?? ''}:${e.by ?? ''}`)
    // the journal writes after the store: give a loaded machine a moment, then compare exactly
    const history = await waitFor(async () => {
      const h = await rpc.call<Entry[]>('getHistoricalLogs', historyReq)
      return transitionsOf(h).length >= 4 ? h : null
    }, 10_000, 100)
    expect(history.filter((h) => h.transition === undefined)).toHaveLength(1)
    expect(transitionsOf(history).reverse()).toEqual(['active:system', 'acknowledged:ann', 'shelved:ann', 'unshelved:ann'])
    const plain = await rpc.call<Array<{ transition?: string }>>('getHistoricalLogs', { logType: 'alerts' })
    expect(plain.every((h) => h.transition === undefined)).toBe(true)
  })

  it('out of service and back; KPIs count the activations', async () => {
    expect(await rpc.call('setAlertsOutOfService', { thingId: 'e1', outOfService: true, reason: 'maintenance', user: 'ann' })).toEqual({ count: 17 })
    await rpc.waitLast('e1', (l) => ((l.alerts as Listed[] | undefined)?.length ?? 0) === 0)
    expect(await rpc.error('setAlertsOutOfService', { thingId: 'nope', outOfService: true })).toBe('ERR_THING_NOTFOUND')
    expect(await rpc.call('setAlertsOutOfService', { thingId: 'e1', outOfService: false, user: 'ann' })).toEqual({ count: 17 })
    await rpc.waitLast('e1', (l) => ((l.alerts as Listed[] | undefined)?.length ?? 0) === 3)
    const kpis = await rpc.call<{ activations: number, priorityMix: Record<string, { count: number }>, badActors: unknown[], things: Record<string, unknown> }>('getAlertKpis', {})
    expect(kpis.activations).toBe(17)
    expect(kpis.badActors).toHaveLength(10)
    expect(Object.keys(kpis.things)).toEqual(['e1'])
    expect(kpis.priorityMix.critical.count).toBeGreaterThan(0)
  })
})

describe('with mbt-rpc', () => {
  /** The built CLI (needs `npm run build`), run without blocking this process (the worker runs in it): exit code, stdout, stderr. */
  async function mbtRpc (method: string, data: unknown): Promise<{ code: number | null, stdout: string, stderr: string }> {
    const bn = bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
    const args = [path.join(REPO_ROOT, 'dist', 'workers', 'cli', 'mbt-rpc.js'), '--bn', bn, '-s', rack.key, '-m', method, '-d', JSON.stringify(data)]
    return await new Promise((resolve) => {
      execFile(process.execPath, args, { timeout: 20_000, env: { ...process.env, MBT_RPC_SEED: '', MBT_RPC_SEED_FILE: '' } }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
      })
    })
  }

  it('lists, acknowledges and shelves an alert; a refusal exits 1 with its code', async () => {
    const listed = await mbtRpc('listAlerts', { query: { name: 'circ_pump_inverter_fault' } })
    expect(listed.stderr).toBe('')
    expect(listed.code).toBe(0)
    const [alert] = JSON.parse(listed.stdout) as Listed[]
    expect(alert.state).toMatch(/^active-/)
    const ack = await mbtRpc('acknowledgeAlerts', { uuids: [alert.uuid], user: 'cli-op', comment: 'via mbt-rpc' })
    expect(ack.code).toBe(0)
    expect(JSON.parse(ack.stdout)).toMatchObject({ count: expect.any(Number) })
    const tooLong = await mbtRpc('shelveAlerts', { uuids: [alert.uuid], durationMs: 9 * 3_600_000, reason: 'x' })
    expect(tooLong.code).toBe(1)
    expect(tooLong.stderr).toMatch(/^ERR_ALERT_SHELVE_TOO_LONG\b/)
    const shelve = await mbtRpc('shelveAlerts', { uuids: [alert.uuid], durationMs: 60_000, reason: 'cli', user: 'cli-op' })
    expect(JSON.parse(shelve.stdout)).toEqual({ count: 1, uuids: [alert.uuid] })
    const [after] = await rpc.call<Listed[]>('listAlerts', { query: { uuid: alert.uuid } })
    expect(after).toMatchObject({ state: 'shelved', ackedBy: 'cli-op' })
  })
})
