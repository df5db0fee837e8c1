/**
 * The guards of a staged power-up, read from the container itself: the total active power of
 * its four meters against the power cap, the unit inlet temperature T2 against the inlet
 * temperature alert's threshold, the circulation pressures P2 (supply) and P3 (return)
 * against the configured limits. One reading is five requests sent at once, ahead of polls.
 */
import { CDU_UNIT, GUARD_REGISTERS, POWER_METER, type UnitId } from '../registers'
import type { DeviceReader } from './plan'
import { scaled } from './plan'

export interface GuardReading {
  /** Sum of the four meters' total active power (W). */
  powerW: number
  /** Unit inlet water temperature T2 (°C). */
  inletTempC: number
  /** Unit inlet (supply) pressure P2 and outlet (return) pressure P3 (bar). */
  supplyBar: number
  returnBar: number
  at: number
}

export interface GuardLimits {
  maxPowerW: number | null
  /** The `water_max_inlet_temp_warn` threshold (°C) in effect; null when the alert is not configured. */
  inletMaxC: number | null
  pressureBar: { min: number | null, max: number | null }
}

export interface GuardBreach {
  guard: 'power' | 'inletTemperature' | 'supplyPressure' | 'returnPressure' | 'unreadable'
  value: number
  limit: number
  /** e.g. `power 412000 W above 400000 W`. */
  message: string
}

export async function readGuards (io: DeviceReader, now: () => number = Date.now): Promise<GuardReading> {
  const { cdu, meterActivePower } = GUARD_REGISTERS
  const [cduRegs, ...meters] = await Promise.all([
    io.read(CDU_UNIT, cdu.start, cdu.end - cdu.start + 1),
    ...POWER_METER.ids.map((unit) => io.read(unit as UnitId, meterActivePower, 1))
  ])
  // meters: unsigned kW × 100 → W
  const powerW = meters.reduce((sum, [raw]) => sum + raw * 10, 0)
  const at = (reg: number): number => scaled(cduRegs[reg - cdu.start])
  return {
    powerW,
    inletTempC: at(GUARD_REGISTERS.inletTemperature),
    supplyBar: at(GUARD_REGISTERS.supplyPressure),
    returnBar: at(GUARD_REGISTERS.returnPressure),
    at: now()
  }
}

/** Every guard the reading breaches (empty: all clear). */
export function checkGuards (r: GuardReading, limits: GuardLimits): GuardBreach[] {
  const out: GuardBreach[] = []
  const cap = limits.maxPowerW
  if (cap !== null && r.powerW > cap) {
    out.push({ guard: 'power', value: r.powerW, limit: cap, message: `power ${r.powerW} W above the cap ${cap} W` })
  }
  const inletMax = limits.inletMaxC
  if (inletMax !== null && r.inletTempC > inletMax) {
    out.push({
      guard: 'inletTemperature',
      value: r.inletTempC,
      limit: inletMax,
      message: `inlet temperature ${r.inletTempC} °C above ${inletMax} °C`
    })
  }
  const { min, max } = limits.pressureBar
  for (const [guard, value, name] of [['supplyPressure', r.supplyBar, 'supply'], ['returnPressure', r.returnBar, 'return']] as const) {
    if (min !== null && value < min) out.push({ guard, value, limit: min, message: `${name} pressure ${value} bar below ${min} bar` })
    if (max !== null && value > max) out.push({ guard, value, limit: max, message: `${name} pressure ${value} bar above ${max} bar` })
  }
  return out
}
