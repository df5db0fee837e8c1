/**
 * Adding a vendor is one profile file plus one worker file (README, "Adding a vendor"): a fake
 * third vendor, Kehua's profile under another name with another pump-status value map, is
 * registered, served by the mock and read by a real MicroBTContainer, while the real vendors
 * are left as they were.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { createServer, type MockServer } from '../../../../mock/server'
import { parseContainerType } from '../../../../mock/container-type'
import { MicroBTContainer } from '../../../../workers/lib/container'
import { WrkContainerRackMbt } from '../../../../workers/lib/rack.mbt.wrk'
import {
  CONTAINER_VENDORS, RegisterImage, containerVendors, decodeSnapshot, profileOf, registerProfile, snapshotRanges,
  type ContainerSnapshot, type RegisterProfile
} from '../../../../workers/lib/registers'
import { KEHUA } from '../../../../workers/lib/registers/profiles/kehua'
import type { ThingSnap } from '../../../../workers/tpl/thing/base-thing'
import type { WorkerContext } from '../../../../workers/tpl/wrk-base'

/** Kehua's registers, its own pump-status raw values: 7 running, 9 error. */
const ACME: RegisterProfile = {
  ...KEHUA,
  name: 'acme',
  valueMaps: { pumpStatus: { values: { 7: 'running', 9: 'error' }, otherwise: 'stopped' } }
}

/** The vendor's worker file, all of it. */
class WrkContainerRackAcme extends WrkContainerRackMbt {
  constructor (ctx: WorkerContext) {
    super(ctx, ACME)
  }
}

const open: Array<{ close: () => Promise<void> }> = []
afterAll(async () => {
  for (const o of open.reverse()) await o.close()
})

async function mockOf (type: string): Promise<MockServer> {
  const mock = createServer({ type, port: 0, host: '127.0.0.1', tickMs: 0, seed: 3 })
  open.push({ close: async () => await mock.exit() })
  await mock.start()
  return mock
}

function containerOf (vendor: string, port: number): MicroBTContainer {
  const c = new MicroBTContainer({ vendor, address: '127.0.0.1', port, username: 'admin', password: 'admin', timeout: 1000, retry: 0 })
  open.push(c)
  return c
}

function success (snap: ThingSnap<ContainerSnapshot>): ContainerSnapshot {
  if (!snap.success) expect.fail(`snapshot failed: ${JSON.stringify(snap)}`)
  return snap
}

describe('a third vendor from its profile and its worker file alone', () => {
  it('is unknown before its worker hands its profile in', () => {
    expect(containerVendors()).toEqual([...CONTAINER_VENDORS])
    expect(() => profileOf('acme')).toThrow(expect.objectContaining({ code: 'ERR_CONTAINER_VENDOR_INVALID' }))
    expect(() => parseContainerType('acme')).toThrow(expect.objectContaining({ code: 'ERR_MOCK_INVALID_TYPE' }))
  })

  it('is registered by its worker, which names its things after it', () => {
    const worker = new WrkContainerRackAcme({ wtype: 'wrk-container-rack-acme', env: 'development', rack: 'acme-test', root: '.' })
    expect(worker.vendor).toBe('acme')
    expect(worker.getThingType()).toBe('container-mbt-acme')
    expect(containerVendors()).toEqual([...CONTAINER_VENDORS, 'acme'])
    // the shipped list is unchanged; registering the same profile again is a no-op, another one of the name is refused
    expect(CONTAINER_VENDORS).not.toContain('acme')
    expect(registerProfile(ACME)).toBe(ACME)
    expect(() => registerProfile({ ...ACME })).toThrow(expect.objectContaining({ code: 'ERR_CONTAINER_VENDOR_INVALID' }))
    expect(parseContainerType('ACME')).toBe('Acme')
  })

  it('reads the same registers as Kehua and decodes them with its own value map', () => {
    expect(snapshotRanges('acme')).toEqual(snapshotRanges('kehua'))
    const image = new RegisterImage().set(1, 208, 7)
    expect(decodeSnapshot(image, 'acme').stats.container_specific.cdu.circulation_pump_running_status).toBe('running')
    // 7 is no Kehua value: stopped there; Kehua's 100 is none of Acme's
    expect(decodeSnapshot(image, 'kehua').stats.container_specific.cdu.circulation_pump_running_status).toBe('stopped')
    image.set(1, 208, 100)
    expect(decodeSnapshot(image, 'acme').stats.container_specific.cdu.circulation_pump_running_status).toBe('stopped')
  })

  it('is served by the mock in its own encoding and read into a complete snapshot', async () => {
    const mock = await mockOf('Acme')
    expect(mock.type).toBe('Acme')
    expect(mock.getRegister(1, 208)).toBe(7) // running, in Acme's value map
    const c = containerOf('acme', mock.port)
    const on = success(await c.getSnap())
    expect(on.stats.status).toBe('running')
    expect(on.stats.incomplete).toBeUndefined()
    expect(on.stats.container_specific.cdu.circulation_pump_running_status).toBe('running')
    expect(on.stats.container_specific.cdu.cooling_system_status).toBe(1) // Kehua's register 212, ×100
    expect(on.stats.container_specific.cdu.unit_outlet_temp_t3).toBeUndefined() // Wonderint's only
    expect(on.stats.ambient_temp_c).toBe(mock.getRegister(2, 3) / 100) // Kehua's gtemp scale
    expect(on.stats.container_specific.pdu_data).toHaveLength(12)
    expect(on.stats.container_specific.power_meters).toHaveLength(4)

    await c.switchContainer(false)
    expect(mock.getRegister(1, 208)).toBe(0)
    const off = success(await c.getSnap())
    expect(off.stats.container_specific.cdu.circulation_pump_running_status).toBe('stopped')
    expect(off.stats.status).toBe('stopped')
  })

  it('leaves the real vendors as they were: their mocks still encode their own values', async () => {
    const kehua = await mockOf('Kehua')
    const wonderint = await mockOf('Wonderint')
    expect(kehua.getRegister(1, 208)).toBe(100)
    expect(wonderint.getRegister(1, 606)).toBe(1)
    for (const [vendor, mock] of [['kehua', kehua], ['wonderint', wonderint]] as const) {
      const snap = success(await containerOf(vendor, mock.port).getSnap())
      expect(snap.stats.status).toBe('running')
      expect(snap.stats.container_specific.cdu.circulation_pump_running_status).toBe('running')
    }
  })
})
