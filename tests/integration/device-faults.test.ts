/**
 * Faults a site meets, seen through a real Kehua rack worker (in process) polling mock
 * containers with production request settings: a container that floods the link gets the
 * `ERR_MODBUS_FLOOD` error status within seconds, from its first connection on, not after the
 * collection timeout; a partial outage (units 2–13 silent, the cooling controller fine) keeps
 * the controller's status and raises one `unit_unreachable` alert per missing unit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Alert } from '../../workers/tpl/thing/types'
import { cleanupAll, createBootstrap, waitFor } from '../helpers'
import { mockOpts, startMock, startRackInProcess, stopMocks, type RackWorker } from '../helpers/rack'

let worker: RackWorker

beforeAll(async () => {
  const { bootstrap } = await createBootstrap()
  const rack = await startRackInProcess({
    bootstrap,
    rack: 'faults-1',
    // production request settings; a collection timeout far above what the answers may take
    baseThing: { collectSnapsItvMs: 300, collectSnapTimeoutMs: 120_000, container: { timeout: 2000, retry: 4 } }
  })
  worker = rack.worker
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

describe('device faults through the rack', () => {
  it('a container flooding from its first connection: error status ERR_MODBUS_FLOOD within seconds, an error_snap alert naming it', async () => {
    const mock = await startMock('Kehua', 5)
    mock.setFault({ flood: 20_000 })
    const registered = Date.now()
    await worker.callRpc('registerThing', { id: 'flooding', opts: mockOpts(mock) })
    const last = await waitFor(() => {
      const l = worker.registry.get('flooding').last
      return l.ts !== undefined && l.ts >= registered ? l : null
    }, 10_000, 20)
    expect(Date.now() - registered).toBeLessThan(5000)
    expect(last.err).toBe('ERR_MODBUS_FLOOD')
    expect(last.snap).toMatchObject({ success: false, stats: { status: 'error', errors: [{ msg: 'ERR_MODBUS_FLOOD' }] } })
    expect((last.alerts ?? []).map((a) => [a.name, a.message])).toEqual([['error_snap', 'ERR_MODBUS_FLOOD']])
  })

  it('units 2–13 silent: status stays running, one unit_unreachable alert per missing unit, the collection within a few timeouts', async () => {
    const mock = await startMock('Kehua', 6)
    await worker.callRpc('registerThing', { id: 'partial', opts: mockOpts(mock) })
    await waitFor(() => worker.registry.get('partial').last.snap?.success === true, 10_000, 20)
    mock.setFault({ silentUnits: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13] })
    const silentFrom = Date.now()
    const last = await waitFor(() => {
      const l = worker.registry.get('partial').last
      return (l.ts ?? 0) >= silentFrom && (l.alerts ?? []).length > 0 ? l : null
    }, 30_000, 20)
    // the first collection that met them: 12 single attempts through a window of 4 (3 × 2 s), not 9 rounds
    expect(Date.now() - silentFrom).toBeLessThan(12_000)
    const stats = last.snap?.stats as { status?: string, incomplete?: string[], power_w?: number | null } | undefined
    expect(stats?.status).toBe('running')
    expect(stats?.power_w).toBeNull()
    expect(stats?.incomplete).toHaveLength(12)
    const alerts = last.alerts as Alert[]
    expect(alerts.every((a) => a.name === 'unit_unreachable' && a.severity === 'high')).toBe(true)
    expect(alerts.map((a) => a.deviceTag)).toEqual(['gtemp', 'henv', 'meter-1', 'meter-2', 'meter-3', 'meter-4', 'diag', 'pdu-1', 'pdu-2', 'pdu-3', 'pdu-4', 'pdu-5'])
    expect(alerts.find((a) => a.deviceTag === 'meter-2')?.message).toBe('powermeter02 (unit 5) did not answer')
    // back: the alerts clear once every unit answered again (dead units are asked in turn)
    mock.clearFaults()
    await waitFor(() => (worker.registry.get('partial').last.alerts ?? []).length === 0, 30_000, 50)
    expect(worker.registry.get('partial').last.snap?.success).toBe(true)
  })
})
