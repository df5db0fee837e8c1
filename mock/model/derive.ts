/**
 * How the live registers follow from the model, the input registers (system_main_control,
 * socket states), the live-value overrides and a power fault. Pure: everything comes in
 * through `LiveInputs`, every register goes out through `write`.
 *
 * - CDU: temperatures and pressures ×100; the circulation pump runs while system_main_control
 *   is 1 and there is no power fault. A stopped pump has no speed and no filter pressure
 *   difference, and its outlet pressure falls to its inlet pressure. Under a power fault the
 *   whole loop falls to its static pressure (`STATIC_DROP_BAR` below the pump inlet pressure):
 *   P1, P2 (supply), P3 (return) and P5 all show it.
 * - Vendor registers (pump running status: 'error' under a power fault; cycle_pump_control: 1
 *   while commanded on; cooling_system_status; t3; gtemp): the container's vendor profile
 *   encodes them (../registers.ts `vendorRegisters`), as it decodes them in the worker.
 * - PDUs: power = the enabled sockets' draw; meters: their three PDUs + cooling auxiliaries
 *   (0.2 kW while the pump is stopped) + a quarter of the `extraPowerKw` override, 0…655.35 kW.
 */
import type { LiveSignal } from './live'
import type { MeterModel, Model, PduModel } from './model'
import {
  CDU, CDU_UNIT, DIAG, DIAG_UNIT, METER, PDU, PDU_UNITS, POWER_METER_UNITS, SOCKETS_PER_PDU, vendorRegisters
} from '../registers'
import type { RegisterProfile } from '../../workers/lib/registers'

/** A stopped loop settles this far below the pump inlet pressure (bar). */
export const STATIC_DROP_BAR = 0.4
/** Meter draw while the cooling auxiliaries are stopped (kW). */
const AUX_STOPPED_KW = 0.2
/** total_active_power is uint16 /100. */
const METER_MAX_KW = 655.35
const SQRT3 = Math.sqrt(3)

export interface LiveInputs {
  model: Model
  /** The container's vendor profile: how its vendor registers hold the model. */
  profile: RegisterProfile
  systemMainControl: boolean
  powerFault: boolean
  socketEnabled: (unit: number, socket: number) => boolean
  /** An override's value now, or undefined when the model drives the signal. */
  override: (signal: LiveSignal) => number | undefined
  /** Stores a live register (the caller leaves pinned registers alone). */
  write: (unit: number, register: number, value: number) => void
}

function writeCdu (d: LiveInputs): void {
  const m = d.model.cdu
  const on = d.systemMainControl
  const pumping = on && !d.powerFault
  const still = Math.max(0, m.p1.value - STATIC_DROP_BAR)
  const c = (reg: number, v: number): void => d.write(CDU_UNIT, reg, v)
  c(CDU.dewPoint, m.dewPoint.value * 100)
  c(CDU.inletTempT2, (d.override('inletTemperature') ?? m.t2.value) * 100)
  c(CDU.coolingTempT1, m.t1.value * 100)
  c(CDU.inletPressureP2, (d.override('supplyPressure') ?? (d.powerFault ? still : m.p2.value)) * 100)
  c(CDU.outletPressureP3, (d.override('returnPressure') ?? (d.powerFault ? still : m.p3.value)) * 100)
  c(CDU.pumpInletPressureP1, (d.powerFault ? still : m.p1.value) * 100)
  c(CDU.pumpOutletPressureP5, (pumping ? m.p5.value : d.powerFault ? still : m.p1.value) * 100)
  c(CDU.pumpSpeed, pumping ? m.pumpSpeed.value * 100 : 0)
  c(CDU.filterPressureDiff, pumping ? m.filterDiff.value * 100 : 0)
  const vendor = vendorRegisters(d.profile, {
    circulation_pump_running_status: d.powerFault ? 'error' : pumping ? 'running' : 'stopped',
    cycle_pump_control: on ? 1 : 0,
    cooling_system_status: pumping ? 1 : 0,
    unit_outlet_temp_t3: d.override('outletTemperature') ?? m.t3.value,
    temperature: d.model.env.temperature.value,
    humidity: d.model.env.humidity.value
  })
  for (const r of vendor) d.write(r.unit, r.register, r.value)
  c(CDU.coolingFanControl, pumping ? 1 : 0)
}

function writePdu (d: LiveInputs, unit: number, pdu: PduModel): number {
  let kw = 0
  for (let s = 1; s <= SOCKETS_PER_PDU; s++) if (d.socketEnabled(unit, s)) kw += (pdu.sockets[s - 1] as PduModel['sockets'][number]).value
  const vPhase = (pdu.voltage[0].value + pdu.voltage[1].value + pdu.voltage[2].value) / 3
  const amps = (kw * 1000) / (3 * vPhase * pdu.pf.value)
  const p = (reg: number, v: number): void => d.write(unit, reg, v)
  p(PDU.frequency, pdu.freq.value * 100)
  p(PDU.voltageAb, pdu.voltage[0].value * 100)
  p(PDU.voltageCa, pdu.voltage[1].value * 100)
  p(PDU.voltageBc, pdu.voltage[2].value * 100)
  p(PDU.currentA, amps * 100)
  p(PDU.currentB, amps * 100)
  p(PDU.currentC, amps * 100)
  p(PDU.totalPower, kw * 100)
  return kw
}

function writeMeter (d: LiveInputs, unit: number, meter: MeterModel, loadKw: number): void {
  const kw = Math.min(METER_MAX_KW, Math.max(0, loadKw))
  const vLine = (meter.voltage[0].value + meter.voltage[1].value + meter.voltage[2].value) / 3
  const pf = meter.pf.value
  const amps = (kw * 1000) / (SQRT3 * vLine * pf)
  const w = (reg: number, v: number): void => d.write(unit, reg, v)
  w(METER.totalActiveEnergy, Math.round(meter.energyKwh * 100) % 0x10000)
  w(METER.voltageAb, meter.voltage[0].value * 100)
  w(METER.voltageBc, meter.voltage[1].value * 100)
  w(METER.voltageCa, meter.voltage[2].value * 100)
  w(METER.currentA, amps * 100)
  w(METER.currentB, amps * 100)
  w(METER.currentC, amps * 100)
  w(METER.totalActivePower, kw * 100)
  w(METER.totalApparentPower, (kw / pf) * 100)
  w(METER.totalPowerFactor, pf * 100)
  w(METER.freq, meter.freq.value * 100)
}

/** Rewrites every live register. */
export function writeLiveRegisters (d: LiveInputs): void {
  const m = d.model
  writeCdu(d)

  const pduKw = PDU_UNITS.map((unit, i) => writePdu(d, unit, m.pdus[i] as PduModel))
  // Meter k measures PDUs 3k-2 … 3k plus the cooling auxiliaries.
  const pumping = d.systemMainControl && !d.powerFault
  const extraKw = (d.override('extraPowerKw') ?? 0) / POWER_METER_UNITS.length
  POWER_METER_UNITS.forEach((unit, i) => {
    const meter = m.meters[i] as MeterModel
    const socketsKw = pduKw.slice(i * 3, i * 3 + 3).reduce((a, b) => a + b, 0)
    writeMeter(d, unit, meter, socketsKw + (pumping ? meter.aux.value : AUX_STOPPED_KW) + extraKw)
  })

  const now = new Date()
  const g = (reg: number, v: number): void => d.write(DIAG_UNIT, reg, v)
  g(DIAG.year, now.getFullYear())
  g(DIAG.month, now.getMonth() + 1)
  g(DIAG.day, now.getDate())
  g(DIAG.cpu, m.diag.cpu.value)
  g(DIAG.memory, m.diag.memory.value)
  g(DIAG.ethUp, m.diag.up.value)
  g(DIAG.ethDown, m.diag.down.value)
}
