/**
 * kill -9 of a real worker process in the middle of a pending on-delay, a shelve, a latch, an
 * acknowledgement and an out-of-service mark: after the restart every alert has the state,
 * identity and times it had (the deadline of the pending one counts from when its condition
 * started). Needs `npm run build`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient, makeRoot, spawnWorker, type DHTNodeAddress, type WorkerStatus } from '../helpers'
import { FAST_THING_CONF, RackRpc, WTYPE, mockOpts, startMock, stopMocks } from '../helpers/rack'
import type { MockServer } from '../../mock/server'

interface Listed { name: string, uuid: string, state: string, createdAt: number, pendingSince?: number, ackedBy?: string, shelvedUntil?: number }

const TYPE = 'container-mbt-kehua'
let bootstrap: DHTNodeAddress[]
let mock: MockServer

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  mock = await startMock('Kehua', 91)
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

const connect = (status: WorkerStatus): RackRpc => new RackRpc(createRpcClient(bootstrap), status.rpcPublicKey)
const byName = (list: Listed[], name: string): Listed => {
  const found = list.find((a) => a.name === name)
  if (!found) throw new Error(`no ${name} in ${list.map((a) => `${a.name}:${a.state}`).join(', ')}`)
  return found
}

describe('kill -9 with alarms in every state', () => {
  it('pending, acknowledged, shelved, latched and out-of-service alerts come back as they were', async () => {
    const root = await makeRoot({ bootstrap, baseThing: { ...FAST_THING_CONF, collectSnapsItvMs: 300 } })
    let worker = spawnWorker({ wtype: WTYPE.kehua, rack: 'alarms-k9', root })
    let rpc = connect(await worker.waitForStatus())
    await rpc.call('saveWrkSettings', { entries: { alertParams: { [TYPE]: { fan_fault: { onDelayMs: 3_600_000 }, unit_outlet_temp_sensor_fault: { latched: true } } } } })
    await rpc.call('registerThing', { id: 'k1', opts: mockOpts(mock) })
    // pump inverter (4), outlet temperature sensor (14), fan (20); make-up water pump (98)
    await mock.apply({ state: { systemErrorBits: [4, 14, 20], generalErrors: [98] } })
    await rpc.waitLast('k1', (l) => ((l.alerts as Listed[] | undefined)?.length ?? 0) === 3)
    let list = await rpc.call<Listed[]>('listAlerts', {})
    expect(byName(list, 'fan_fault').state).toBe('pending')
    await rpc.call('acknowledgeAlerts', { uuids: [byName(list, 'circ_pump_inverter_fault').uuid], user: 'ann' })
    await rpc.call('shelveAlerts', { uuids: [byName(list, 'makeup_water_pump_fault').uuid], durationMs: 3_600_000, reason: 'pump swap', user: 'ann' })
    await rpc.call('setAlertsOutOfService', { name: 'circulating_pump_fault', outOfService: true, user: 'ann' })
    await mock.apply({ state: { systemErrorBits: [3, 4, 20], generalErrors: [98] } })
    await rpc.waitLast('k1', (l) => ((l.alerts ?? []) as Listed[]).some((a) => a.state === 'cleared-unacknowledged'))
    list = await rpc.call<Listed[]>('listAlerts', {})
    const states = Object.fromEntries(list.map((a) => [a.name, a.state]))
    expect(states).toEqual({
      circ_pump_inverter_fault: 'active-acknowledged',
      unit_outlet_temp_sensor_fault: 'cleared-unacknowledged',
      fan_fault: 'pending',
      makeup_water_pump_fault: 'shelved',
      circulating_pump_fault: 'out-of-service'
    })

    const exit = await worker.kill9()
    expect(exit.signal).toBe('SIGKILL')
    await rpc.client.close()
    worker = spawnWorker({ wtype: WTYPE.kehua, rack: 'alarms-k9', root })
    rpc = connect(await worker.waitForStatus())
    const restartedAt = Date.now()
    // a fresh collection after the restart finds the same conditions: same states, identities and times
    await rpc.waitLast('k1', (l) => (l.ts ?? 0) > restartedAt)
    const after = await rpc.call<Listed[]>('listAlerts', {})
    const keep = (a: Listed): unknown[] => [a.name, a.uuid, a.state, a.createdAt, a.pendingSince, a.ackedBy, a.shelvedUntil]
    expect(after.map(keep).sort()).toEqual(list.map(keep).sort())
    await worker.stop('SIGTERM')
  }, 60_000)
})
