/**
 * The MicroBT defaults against the mock's control API: a power fault shows as `power_fault`
 * alone (the pump and pressure alerts it causes suppressed, naming it); an inlet temperature
 * oscillating around its threshold raises one alert (1 °C deadband), and without the deadband
 * it chatters and is shelved automatically, a `chattering` alert naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient, sleep, waitFor, type DHTNodeAddress } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks, type InProcessRack } from '../helpers/rack'
import type { MockServer } from '../../mock/server'

interface Listed { name: string, uuid: string, state: string, suppressedBy?: string, message?: string, transition?: string }

const TYPE = 'container-mbt-kehua'
let bootstrap: DHTNodeAddress[]
let rack: InProcessRack
let rpc: RackRpc

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  rack = await startRackInProcess({ bootstrap, rack: 'alarms-mock' })
  rpc = new RackRpc(createRpcClient(bootstrap), rack.key)
})

afterAll(async () => {
  await rack.worker.stop()
  await stopMocks()
  await cleanupAll()
})

const shownNames = (alerts: unknown): string[] => ((alerts ?? []) as Listed[]).map((a) => a.name).sort()

describe('power fault', () => {
  it('shows power_fault alone; the pump and pressure alerts it causes are suppressed, naming it', async () => {
    const mock: MockServer = await startMock('Kehua', 95)
    await rpc.call('registerThing', { id: 'pf', opts: mockOpts(mock) })
    await rpc.waitLast('pf', (l) => l.snap?.success === true)
    await mock.apply({ powerFault: true })
    await rpc.waitLast('pf', (l) => shownNames(l.alerts).includes('power_fault'))
    // a few more collections: nothing else shows
    await sleep(1200)
    expect(shownNames((await rpc.thing('pf')).last?.alerts)).toEqual(['power_fault'])
    const suppressed = await rpc.call<Listed[]>('listAlerts', { query: { thingId: 'pf' }, states: ['suppressed'] })
    expect(suppressed.map((a) => a.name).sort()).toEqual(expect.arrayContaining(['circulating_pump_fault', 'low_outlet_pressure_circ_pump', 'small_inlet_outlet_pressure_diff']))
    expect(suppressed.every((a) => a.suppressedBy === 'power_fault')).toBe(true)
    await mock.apply({ powerFault: false })
    await rpc.waitLast('pf', (l) => shownNames(l.alerts).length === 0)
    expect(await rpc.call<Listed[]>('listAlerts', { query: { thingId: 'pf' } })).toEqual([])
  })
})

describe('inlet temperature at its threshold', () => {
  it('one alert with the deadband; without it the alert chatters and is shelved, a chattering alert naming it', async () => {
    const mock: MockServer = await startMock('Kehua', 96)
    await rpc.call('registerThing', { id: 'it', opts: mockOpts(mock) })
    await rpc.waitLast('it', (l) => l.snap?.success === true)
    await mock.apply({ live: { inletTemperature: { value: 45, amplitude: 0.3, periodMs: 1000, noise: 0.05 } } })
    const since = Date.now()
    await sleep(6000)
    const started = (await rpc.call<Listed[]>('getHistoricalLogs', { logType: 'alerts', start: since, query: { name: 'water_max_inlet_temp_warn', 'thing.id': 'it' } }))
    expect(started).toHaveLength(1)

    // the reference semantics: no deadband → active/clear on the crossings → chattering → shelved
    await rpc.call('saveWrkSettings', { entries: { alertParams: { [TYPE]: { water_max_inlet_temp_warn: { deadband: 0 } } } } })
    const last = await rpc.waitLast('it', (l) => shownNames(l.alerts).includes('chattering'), 20_000)
    const chattering = (last.alerts as Listed[]).find((a) => a.name === 'chattering')
    expect(chattering?.message).toBe('water_max_inlet_temp_warn (cdu) is chattering')
    // `last` is published before the collection's history entries are written: wait for the entry
    const shelvedReq = { logType: 'alerts', transitions: true, start: since, query: { transition: 'shelved', 'thing.id': 'it' } }
    const transitions = await waitFor(async () => {
      const found = await rpc.call<Listed[]>('getHistoricalLogs', shelvedReq)
      return found.length > 0 ? found : null
    }, 10_000, 100)
    expect(transitions.map((t) => t.name)).toEqual(['water_max_inlet_temp_warn'])
  }, 40_000)
})
