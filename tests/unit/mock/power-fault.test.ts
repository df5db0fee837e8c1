import { describe, expect, it } from 'vitest'
import { GENERAL_ERRORS, SYSTEM_ERRORS } from '../../../workers/lib/registers/errors'
import { POWER_FAULT_FLAG, POWER_FAULT_SYSTEM_BITS } from '../../../mock/model/error-bits'
import { CDU, METER, POWER_METER_UNITS } from '../../../mock/registers'
import { post, readRaw, readScaled, startHarness, type Harness } from './harness'

/** Unit 1 registers a power fault may touch. */
const CDU_REGS = [
  ...Array.from({ length: 5 }, (_, i) => CDU.generalErrorFirst + i),
  ...Array.from({ length: 12 }, (_, i) => 201 + i),
  ...Array.from({ length: 10 }, (_, i) => CDU.systemErrorFirst + i),
  606, 607
]

async function cduImage (h: Harness): Promise<number[]> {
  const out: number[] = []
  for (const r of CDU_REGS) out.push(await readRaw(h.client, 1, r))
  return out
}

async function meterKw (h: Harness): Promise<number> {
  let kw = 0
  for (const unit of POWER_METER_UNITS) kw += (await readRaw(h.client, unit, METER.totalActivePower)) / 100
  return kw
}

describe('power fault', () => {
  it('maps to the worker\'s power_fault flag and pump/pressure error bits', () => {
    expect(GENERAL_ERRORS.find((e) => e.reg === POWER_FAULT_FLAG)?.name).toBe('power_fault')
    expect(POWER_FAULT_SYSTEM_BITS.map((b) => SYSTEM_ERRORS[b]))
      .toEqual(['low_outlet_pressure_circ_pump', 'circulating_pump_fault', 'small_inlet_outlet_pressure_diff'])
  })

  it('Kehua: sets flag 99 and bits 1, 3, 6, stops the pump (208 = 200), drops the pressures; false restores', async () => {
    const h = await startHarness({ type: 'Kehua' })
    const before = await cduImage(h)
    const p2 = await readScaled(h.client, 1, CDU.inletPressureP2)
    const p3 = await readScaled(h.client, 1, CDU.outletPressureP3)
    const p1 = await readScaled(h.client, 1, CDU.pumpInletPressureP1)
    const power = await meterKw(h)
    expect(await readRaw(h.client, 1, CDU.reg208)).toBe(100)

    const res = await post(`${h.base}/thing/m`, { powerFault: true })
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({ error: true, state: { powerFault: true } })
    expect(await readRaw(h.client, 1, POWER_FAULT_FLAG)).toBe(1)
    expect(await readRaw(h.client, 1, CDU.systemErrorFirst)).toBe(0x4000 | 0x1000 | 0x0200)
    expect(await readRaw(h.client, 1, CDU.systemErrorFirst + 1)).toBe(0)
    expect(await readRaw(h.client, 1, CDU.reg208)).toBe(200)
    expect(await readRaw(h.client, 1, CDU.reg606)).toBe(1) // still commanded on
    expect(await readRaw(h.client, 1, CDU.pumpSpeed)).toBe(0)
    expect(await readRaw(h.client, 1, CDU.filterPressureDiff)).toBe(0)
    expect(await readRaw(h.client, 1, CDU.coolingFanControl)).toBe(0)
    expect(await readRaw(h.client, 1, CDU.coolingSystemStatus)).toBe(0)
    const still = await readScaled(h.client, 1, CDU.inletPressureP2)
    expect(still).toBeLessThan(p2 - 0.5)
    expect(still).toBeLessThan(p3)
    expect(still).toBeCloseTo(p1 - 0.4, 1)
    expect(await readScaled(h.client, 1, CDU.outletPressureP3)).toBe(still)
    expect(await readScaled(h.client, 1, CDU.pumpOutletPressureP5)).toBe(still)
    expect(await meterKw(h)).toBeLessThan(power - 4) // the cooling auxiliaries stopped

    expect((await post(`${h.base}/thing/m`, { powerFault: false })).status).toBe(200)
    expect(await cduImage(h)).toEqual(before)
    expect(await meterKw(h)).toBeCloseTo(power, 2)
    expect(h.server.state.error).toBe(false)
  })

  it('Wonderint: pump running (606) goes to 0, cycle_pump_control (208) stays 1', async () => {
    const h = await startHarness({ type: 'Wonderint' })
    expect(await readRaw(h.client, 1, CDU.reg606)).toBe(1)
    h.server.setPowerFault(true)
    expect(await readRaw(h.client, 1, CDU.reg606)).toBe(0)
    expect(await readRaw(h.client, 1, CDU.reg208)).toBe(1)
    expect(await readRaw(h.client, 1, POWER_FAULT_FLAG)).toBe(1)
    h.server.setPowerFault(false)
    expect(await readRaw(h.client, 1, CDU.reg606)).toBe(1)
  })

  it('keeps the errors set otherwise, during and after the fault', async () => {
    const h = await startHarness({ error: true })
    expect(await readRaw(h.client, 1, CDU.systemErrorFirst)).toBe(0xffff)
    h.server.state.patch({ generalErrors: [98, 99], systemErrorBits: [0, 1, 17] })
    h.server.setPowerFault(true)
    expect(await readRaw(h.client, 1, CDU.systemErrorFirst)).toBe(0x8000 | 0x4000 | 0x1000 | 0x0200)
    expect(await readRaw(h.client, 1, CDU.systemErrorFirst + 1)).toBe(0x4000)
    // a change of the other errors during the fault keeps the fault's bits on top
    h.server.state.patch({ systemErrorBits: [17] })
    expect(await readRaw(h.client, 1, CDU.systemErrorFirst)).toBe(0x4000 | 0x1000 | 0x0200)
    h.server.setPowerFault(false)
    expect(await readRaw(h.client, 1, CDU.systemErrorFirst)).toBe(0)
    expect(await readRaw(h.client, 1, CDU.systemErrorFirst + 1)).toBe(0x4000)
    expect(await readRaw(h.client, 1, 98)).toBe(1)
    expect(await readRaw(h.client, 1, 99)).toBe(1) // set on purpose before the fault
  })

  it('a live override of a pressure wins over the fault; reset clears the fault', async () => {
    const h = await startHarness()
    const p2 = await readScaled(h.client, 1, CDU.inletPressureP2)
    await post(`${h.base}/thing/m`, { powerFault: true, live: { supplyPressure: { value: 2.9 } } })
    expect(await readScaled(h.client, 1, CDU.inletPressureP2)).toBeCloseTo(2.9, 2)
    expect((await post(`${h.base}/thing/m/reset`, {})).status).toBe(200)
    expect(h.server.state.powerFault).toBe(false)
    expect(await readRaw(h.client, 1, POWER_FAULT_FLAG)).toBe(0)
    expect(await readScaled(h.client, 1, CDU.inletPressureP2)).toBeCloseTo(p2, 2)
  })

  it('refuses a powerFault that is not a boolean (400, nothing changed)', async () => {
    const h = await startHarness()
    for (const powerFault of ['yes', 1, null]) {
      const res = await post(`${h.base}/thing/m`, { powerFault })
      expect(res.status).toBe(400)
      expect(res.json.error).toBe('ERR_BAD_REQUEST')
    }
    await expect(h.server.apply({ powerFault: 'yes' as never })).rejects.toMatchObject({ code: 'ERR_MOCK_BAD_FAULT' })
    expect(h.server.state.powerFault).toBe(false)
    expect(await readRaw(h.client, 1, POWER_FAULT_FLAG)).toBe(0)
  })
})
