/**
 * A read replica shows the master's alarm states (acknowledgements, shelves, suppressions and
 * out-of-service marks come with the main bee) and refuses the operator methods.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient, waitFor, type DHTNodeAddress } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks } from '../helpers/rack'
import type { MockServer } from '../../mock/server'

interface Listed { name: string, uuid: string, state: string, thingId: string | null }

const TOPIC = 'b2'.repeat(32)
let bootstrap: DHTNodeAddress[]
let mock: MockServer

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  mock = await startMock('Kehua', 93)
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

const view = (list: Listed[]): string[] => list.map((a) => `${a.thingId ?? ''}:${a.name}:${a.uuid}:${a.state}`).sort()

describe('alarms on a read replica', () => {
  it('lists the master\'s alerts with their states and refuses acknowledge', async () => {
    const master = await startRackInProcess({ bootstrap, rack: 'alarms-m', baseThing: { replicaDiscoveryKey: TOPIC, storeSnapItvMs: 0, collectSnapsItvMs: 300 } })
    const replica = await startRackInProcess({
      bootstrap, rack: 'alarms-r', ctx: { slave: true }, baseThing: { replicaRpcPublicKey: master.key, replicaRetryMaxMs: 1000, refreshReplicaConfItvMs: 2000 }
    })
    try {
      const m = new RackRpc(createRpcClient(bootstrap), master.key)
      const r = new RackRpc(createRpcClient(bootstrap), replica.key)
      await m.call('registerThing', { id: 'rp', opts: mockOpts(mock) })
      await mock.apply({ state: { error: true } })
      const shown = (await m.waitLast('rp', (l) => ((l.alerts as Listed[] | undefined)?.length ?? 0) === 3)).alerts as Listed[]
      await m.call('acknowledgeAlerts', { uuids: [shown[0].uuid], user: 'ann' })
      await m.call('shelveAlerts', { uuids: [shown[1].uuid], durationMs: 600_000, reason: 'r', user: 'ann' })
      await m.call('setAlertsOutOfService', { name: 'circulating_pump_fault', outOfService: true, user: 'ann' })
      const want = view(await m.call<Listed[]>('listAlerts', {}))
      expect(want.some((a) => a.endsWith(':active-acknowledged'))).toBe(true)
      expect(want.some((a) => a.endsWith(':shelved'))).toBe(true)
      expect(want.some((a) => a.endsWith(':out-of-service'))).toBe(true)
      expect(want.filter((a) => a.endsWith(':suppressed')).length).toBeGreaterThan(0)
      await waitFor(async () => {
        const got = await r.send('listAlerts', {})
        return Array.isArray(got) && JSON.stringify(view(got as Listed[])) === JSON.stringify(want) ? true : null
      }, 20_000, 200)
      expect(await r.error('acknowledgeAlerts', { uuids: [shown[2].uuid], user: 'eve' })).toBe('ERR_SLAVE_BLOCK')
    } finally {
      await replica.worker.stop()
      await master.worker.stop()
    }
  }, 60_000)
})
