/**
 * In-memory device state of one mock MicroBT container: one register image per unit id,
 * holding raw 16-bit values (negative values are stored as two's complement).
 *
 * Three kinds of registers:
 * - inputs (socket states, system_main_control, fan thresholds, error bits/flags, switches):
 *   changed only by writes and patches, never by time;
 * - live values (temperatures, pressures, voltages, power …): derived from a slowly drifting
 *   model on every `tick()` and after every accepted write, so snapshots look alive;
 * - pinned registers: a live register set through `set()` keeps its value (ticks leave it
 *   alone) until `reset()`.
 *
 * Transient device failures (`failReads`): the next reads of a unit fail, which the server
 * answers with exception 04 (server device failure), then the unit answers again.
 */
import { WrkError } from '../workers/core/errors'
import { createRng } from './rng'
import { CONTAINER_VENDORS, type ContainerVendor } from '../workers/lib/registers/types'
import {
  CDU, CDU_UNIT, DIAG, DIAG_UNIT, GTEMP, GTEMP_UNIT, HENV, HENV_UNIT, METER, PDU, PDU_UNITS,
  POWER_METER_UNITS, SOCKETS_PER_PDU, UNIT_IDS, imageSize, socketOfControlRegister, socketStateRegister, toInt16, toUint16
} from './registers'

/** A vendor's name as the mock's CLI and control API write it (`Kehua`). */
export type ContainerType = Capitalize<ContainerVendor>

export const CONTAINER_TYPES: readonly ContainerType[] = CONTAINER_VENDORS.map((v) => `${v[0].toUpperCase()}${v.slice(1)}` as ContainerType)

/** The vendor of a container type (`Kehua` → `kehua`). */
export function vendorOf (type: ContainerType): ContainerVendor {
  return type.toLowerCase() as ContainerVendor
}

/** Case-insensitive container type ('kehua', 'WONDERINT' …); throws ERR_MOCK_INVALID_TYPE. */
export function parseContainerType (input: unknown): ContainerType {
  const found = typeof input === 'string'
    ? CONTAINER_TYPES.find((t) => t.toLowerCase() === input.trim().toLowerCase())
    : undefined
  if (found === undefined) {
    throw new WrkError('ERR_MOCK_INVALID_TYPE', `invalid container type ${JSON.stringify(input)}: expected one of ${CONTAINER_TYPES.join(', ')}`)
  }
  return found
}

export interface MockStateOptions {
  type: ContainerType
  /** Start with system error bits 0–15 and the makeup-water-pump general error flag set. */
  error?: boolean
  /** Seed of the pseudo-random generator (initial values and drift). Random when omitted. */
  seed?: number
}

export interface RegisterPatch {
  unit: number
  /** 1-based register number. */
  register: number
  /** -32768 … 65535 (negative values are stored as two's complement). */
  value: number
}

export interface SocketPatch {
  /** PDU number 1…12 (unit id = 8 + pdu). */
  pdu: number
  /** Socket 1…20. */
  socket: number
  enabled: boolean
}

/** The next `count` reads of `unit` fail (exception 04); 0 clears. */
export interface ReadFailurePatch {
  unit: number
  count: number
}

/** High-level state changes (control API `{state: …}`); validated as a whole before applying. */
export interface MockStatePatch {
  error?: boolean
  systemMainControl?: boolean
  allSockets?: boolean
  sockets?: SocketPatch[]
  smoke?: boolean
  waterIngress?: boolean
  /** Exactly these system error bits (0…159) are set afterwards. */
  systemErrorBits?: number[]
  /** Exactly these general error registers (96…100) are 1 afterwards. */
  generalErrors?: number[]
  /** Ambient temperature in °C (gtemp), drifts on from there. */
  ambientTemperature?: number
  /** Relative humidity in % (gtemp), drifts on from there. */
  humidity?: number
  registers?: RegisterPatch[]
  /** Transient device failures: the next `count` reads of `unit` answer exception 04 (replaces the unit's remaining count). */
  failReads?: ReadFailurePatch[]
}

export interface MockStateSummary {
  type: ContainerType
  error: boolean
  systemMainControl: boolean
  enabledSockets: number
  /** Sum of the four meters' total_active_power, kW. */
  powerKw: number
}

/** Mean draw of one enabled socket (kW). */
export const SOCKET_POWER_KW = 5.5
const SQRT3 = Math.sqrt(3)
const SYSTEM_ERROR_BITS = (CDU.systemErrorLast - CDU.systemErrorFirst + 1) * 16

/** A bounded random walk: each step moves at most `step`, reflecting at the bounds. */
class Drift {
  value: number

  constructor (readonly min: number, readonly max: number, readonly step: number, start: number) {
    this.value = start
  }

  walk (rng: () => number, scale: number): void {
    let v = this.value + (rng() * 2 - 1) * this.step * scale
    if (v > this.max) v = 2 * this.max - v
    if (v < this.min) v = 2 * this.min - v
    this.value = Math.min(this.max, Math.max(this.min, v))
  }
}

interface PhaseModel {
  voltage: [Drift, Drift, Drift]
  freq: Drift
  pf: Drift
}

interface Model {
  cdu: {
    dewPoint: Drift
    t2: Drift
    t1: Drift
    t3: Drift
    p1: Drift
    p2: Drift
    p3: Drift
    p5: Drift
    filterDiff: Drift
    pumpSpeed: Drift
  }
  env: { temperature: Drift, humidity: Drift }
  meters: Array<PhaseModel & { aux: Drift, energyKwh: number }>
  pdus: Array<PhaseModel & { sockets: Drift[] }>
  diag: { cpu: Drift, memory: Drift, up: Drift, down: Drift }
}

function phases (rng: () => number, vMin: number, vMax: number): PhaseModel {
  const v = (): Drift => new Drift(vMin, vMax, 0.3, vMin + (vMax - vMin) * rng())
  return {
    voltage: [v(), v(), v()],
    freq: new Drift(49.95, 50.05, 0.01, 49.98 + 0.04 * rng()),
    pf: new Drift(0.96, 0.99, 0.002, 0.97 + 0.01 * rng())
  }
}

function drift (rng: () => number, min: number, max: number, step: number): Drift {
  return new Drift(min, max, step, min + (max - min) * (0.3 + 0.4 * rng()))
}

function createModel (rng: () => number): Model {
  return {
    cdu: {
      dewPoint: drift(rng, -5, 15, 0.05),
      t2: drift(rng, 30, 36, 0.05),
      t1: drift(rng, 26, 32, 0.05),
      t3: drift(rng, 36, 42, 0.05),
      p1: drift(rng, 1.5, 1.8, 0.005),
      p2: drift(rng, 2.3, 2.7, 0.005),
      p3: drift(rng, 1.7, 2.0, 0.005),
      p5: drift(rng, 2.8, 3.2, 0.005),
      filterDiff: drift(rng, 0.2, 0.4, 0.002),
      pumpSpeed: drift(rng, 44, 46, 0.05)
    },
    env: { temperature: drift(rng, 30, 40, 0.05), humidity: drift(rng, 40, 60, 0.1) },
    meters: POWER_METER_UNITS.map(() => ({
      ...phases(rng, 395, 405),
      aux: drift(rng, 2, 3, 0.02),
      energyKwh: Math.floor(rng() * 500)
    })),
    // PDU registers are int16 /100 (max 327.67), so the PDUs report ~230 V phase voltages.
    pdus: PDU_UNITS.map(() => ({
      ...phases(rng, 228, 232),
      sockets: Array.from({ length: SOCKETS_PER_PDU }, () => drift(rng, SOCKET_POWER_KW - 0.2, SOCKET_POWER_KW + 0.2, 0.01))
    })),
    diag: {
      cpu: drift(rng, 10, 40, 1),
      memory: drift(rng, 40, 60, 0.5),
      up: drift(rng, 100, 1000, 10),
      down: drift(rng, 100, 1000, 10)
    }
  }
}

function badRegister (unit: number, register: number): WrkError {
  return new WrkError('ERR_MOCK_BAD_REGISTER', `unit ${unit} has no register ${register}`)
}

function checkReadFailure (units: ReadonlyMap<number, unknown>, f: ReadFailurePatch): void {
  if (!units.has(f.unit)) throw new WrkError('ERR_MOCK_BAD_FAULT', `failReads: no unit ${f.unit}`)
  if (!Number.isInteger(f.count) || f.count < 0) throw new WrkError('ERR_MOCK_BAD_FAULT', `failReads: count ${f.count} is not an integer >= 0`)
}

function checkValue (value: number): void {
  if (!Number.isInteger(value) || value < -0x8000 || value > 0xffff) {
    throw new WrkError('ERR_MOCK_BAD_VALUE', `register value ${value} is not a 16-bit integer`)
  }
}

export class MockState {
  readonly type: ContainerType
  /** Raw register images, indexed by 1-based register number (index 0 unused). */
  readonly registers = new Map<number, Uint16Array>()
  private readonly pinned = new Map<number, Set<number>>()
  /** Reads still to fail, by unit. */
  private readonly failingReads = new Map<number, number>()
  private readonly seed: number
  private readonly initialError: boolean
  private rng: () => number
  private model: Model

  constructor (opts: MockStateOptions) {
    this.type = parseContainerType(opts.type)
    this.seed = opts.seed ?? Math.floor(Math.random() * 0x100000000)
    this.initialError = opts.error === true
    this.rng = createRng(this.seed)
    this.model = createModel(this.rng)
    this.init()
  }

  /** Back to the initial state (same seed → same values); clears pinned registers and read failures. */
  reset (): void {
    this.failingReads.clear()
    this.rng = createRng(this.seed)
    this.model = createModel(this.rng)
    this.init()
  }

  private init (): void {
    this.pinned.clear()
    for (const unit of UNIT_IDS) {
      this.registers.set(unit, new Uint16Array(imageSize(unit) + 1))
      this.pinned.set(unit, new Set())
    }
    const cdu = (reg: number, v: number): void => this.raw(CDU_UNIT, reg, v)
    cdu(CDU.protocolVersion, 4)
    cdu(CDU.systemMainControl, 1)
    cdu(CDU.circulationPumpSwitch, 1)
    cdu(CDU.drainValveSwitch, 1)
    cdu(CDU.coolingFanSwitch, 1)
    cdu(CDU.makeupWaterPumpSwitch, 1)
    cdu(CDU.makeupWaterPumpControl, 0)
    cdu(CDU.buzzerAlarm, 0)
    cdu(CDU.fanRunningSpeedThreshold, 8000)
    cdu(CDU.fanStartTempThreshold, 3500)
    cdu(CDU.fanStopTempThreshold, 3000)
    this.raw(GTEMP_UNIT, GTEMP.status, 1)
    this.raw(HENV_UNIT, HENV.status, 1)
    for (const unit of POWER_METER_UNITS) this.raw(unit, METER.status, 1)
    for (const unit of PDU_UNITS) {
      this.raw(unit, PDU.status, 1)
      for (let s = 1; s <= SOCKETS_PER_PDU; s++) this.raw(unit, socketStateRegister(s), 1)
    }
    const d = (reg: number, v: number): void => this.raw(DIAG_UNIT, reg, v)
    d(DIAG.communicateStatus, 1)
    d(DIAG.softwareVersion, 103)
    d(DIAG.pcbVersion, 2)
    d(DIAG.hardwareVersion, 1)
    d(DIAG.disk, 35)
    d(DIAG.ethSpeed, 100)
    this.setError(this.initialError)
    this.recompute()
  }

  private image (unit: number, register: number): Uint16Array {
    const img = this.registers.get(unit)
    if (img === undefined || !Number.isInteger(register) || register < 1 || register >= img.length) {
      throw badRegister(unit, register)
    }
    return img
  }

  private raw (unit: number, register: number, value: number): void {
    this.image(unit, register)[register] = toUint16(Math.round(value))
  }

  /** Writes a live value unless the register is pinned. */
  private live (unit: number, register: number, value: number): void {
    if (this.pinned.get(unit)?.has(register) === true) return
    this.raw(unit, register, value)
  }

  /** True when `unit` has a register image holding `register`. */
  has (unit: number, register: number): boolean {
    const img = this.registers.get(unit)
    return img !== undefined && Number.isInteger(register) && register >= 1 && register < img.length
  }

  /** Raw uint16 value. */
  get (unit: number, register: number): number {
    return this.image(unit, register)[register] as number
  }

  /** Value as int16. */
  getSigned (unit: number, register: number): number {
    return toInt16(this.get(unit, register))
  }

  /**
   * Raw uint16 values of `count` registers from `first` (the caller checks readability). Throws
   * while the unit has reads to fail (`failReads`): the server answers exception 04.
   */
  read (unit: number, first: number, count: number): number[] {
    const img = this.image(unit, first)
    this.image(unit, first + count - 1)
    const failing = this.failingReads.get(unit)
    if (failing !== undefined) {
      if (failing <= 1) this.failingReads.delete(unit)
      else this.failingReads.set(unit, failing - 1)
      throw new WrkError('ERR_MOCK_DEVICE_FAILURE', `unit ${unit}: injected read failure`)
    }
    return Array.from(img.subarray(first, first + count))
  }

  /** The next `count` reads of `unit` fail (exception 04 at the server); 0 clears. Throws ERR_MOCK_BAD_FAULT. */
  failReads (unit: number, count: number): void {
    checkReadFailure(this.registers, { unit, count })
    if (count === 0) this.failingReads.delete(unit)
    else this.failingReads.set(unit, count)
  }

  /** Reads of `unit` still to fail. */
  readFailuresLeft (unit: number): number {
    return this.failingReads.get(unit) ?? 0
  }

  /**
   * Sets a register (value -32768…65535, two's complement) and pins it so ticks no longer
   * change it; live values derived from it are recomputed. Throws ERR_MOCK_BAD_REGISTER /
   * ERR_MOCK_BAD_VALUE.
   */
  set (unit: number, register: number, value: number): void {
    this.image(unit, register)
    checkValue(value)
    this.raw(unit, register, value)
    this.pinned.get(unit)?.add(register)
    this.recompute()
  }

  /**
   * Applies an accepted Modbus write (no pinning): the stored value is what later reads return,
   * and the live values that depend on it follow.
   */
  applyWrite (unit: number, register: number, value: number): void {
    this.raw(unit, register, value)
    const socket = PDU_UNITS.includes(unit) ? socketOfControlRegister(register) : undefined
    if (socket !== undefined) this.raw(unit, socketStateRegister(socket), value === PDU.socketOn ? 1 : 0)
    this.recompute()
  }

  isSocketEnabled (pdu: number, socket: number): boolean {
    return this.get(this.pduUnit(pdu), socketStateRegister(this.checkSocket(socket))) === 1
  }

  setSocket (pdu: number, socket: number, enabled: boolean): void {
    this.raw(this.pduUnit(pdu), socketStateRegister(this.checkSocket(socket)), enabled ? 1 : 0)
    this.recompute()
  }

  setAllSockets (enabled: boolean): void {
    for (const unit of PDU_UNITS) {
      for (let s = 1; s <= SOCKETS_PER_PDU; s++) this.raw(unit, socketStateRegister(s), enabled ? 1 : 0)
    }
    this.recompute()
  }

  enabledSockets (): number {
    let n = 0
    for (const unit of PDU_UNITS) {
      for (let s = 1; s <= SOCKETS_PER_PDU; s++) if (this.get(unit, socketStateRegister(s)) === 1) n++
    }
    return n
  }

  private pduUnit (pdu: number): number {
    const unit = PDU_UNITS[pdu - 1]
    if (!Number.isInteger(pdu) || unit === undefined) throw new WrkError('ERR_MOCK_BAD_PDU', `no PDU ${pdu} (1…${PDU_UNITS.length})`)
    return unit
  }

  private checkSocket (socket: number): number {
    if (!Number.isInteger(socket) || socket < 1 || socket > SOCKETS_PER_PDU) {
      throw new WrkError('ERR_MOCK_BAD_SOCKET', `no socket ${socket} (1…${SOCKETS_PER_PDU})`)
    }
    return socket
  }

  /**
   * `--error`: system error bits 0–15 (register 291 = 0xFFFF, MSB of its first byte = bit 0) and
   * general error flag 98 (`makeup_water_pump_fault`); false clears every error bit and flag.
   */
  setError (on: boolean): void {
    this.setSystemErrorBits(on ? Array.from({ length: 16 }, (_, i) => i) : [])
    this.setGeneralErrors(on ? [CDU.makeupWaterPumpFault] : [])
  }

  /** True when any system error bit or general error flag is set. */
  get error (): boolean {
    for (let r = CDU.systemErrorFirst; r <= CDU.systemErrorLast; r++) if (this.get(CDU_UNIT, r) !== 0) return true
    for (let r = CDU.generalErrorFirst; r <= CDU.generalErrorLast; r++) if (this.get(CDU_UNIT, r) !== 0) return true
    return false
  }

  /** Sets exactly these system error bits (bit i: register 291 + ⌊i/16⌋, mask 0x8000 >> i%16). */
  setSystemErrorBits (bits: readonly number[]): void {
    for (const bit of bits) {
      if (!Number.isInteger(bit) || bit < 0 || bit >= SYSTEM_ERROR_BITS) {
        throw new WrkError('ERR_MOCK_BAD_VALUE', `system error bit ${bit} outside 0…${SYSTEM_ERROR_BITS - 1}`)
      }
    }
    const words = new Array<number>(CDU.systemErrorLast - CDU.systemErrorFirst + 1).fill(0)
    for (const bit of bits) words[Math.floor(bit / 16)] |= 0x8000 >>> (bit % 16)
    words.forEach((w, i) => this.raw(CDU_UNIT, CDU.systemErrorFirst + i, w))
  }

  /** Sets exactly these general error registers (96…100) to 1, the others to 0. */
  setGeneralErrors (registers: readonly number[]): void {
    for (const r of registers) {
      if (!Number.isInteger(r) || r < CDU.generalErrorFirst || r > CDU.generalErrorLast) {
        throw new WrkError('ERR_MOCK_BAD_VALUE', `general error register ${r} outside ${CDU.generalErrorFirst}…${CDU.generalErrorLast}`)
      }
    }
    for (let r = CDU.generalErrorFirst; r <= CDU.generalErrorLast; r++) this.raw(CDU_UNIT, r, registers.includes(r) ? 1 : 0)
  }

  get systemMainControl (): boolean {
    return this.get(CDU_UNIT, CDU.systemMainControl) === 1
  }

  setSystemMainControl (on: boolean): void {
    this.raw(CDU_UNIT, CDU.systemMainControl, on ? 1 : 0)
    this.recompute()
  }

  /** Validates the whole patch, then applies it. Throws WrkError (ERR_MOCK_*) on invalid input. */
  patch (p: MockStatePatch): void {
    for (const s of p.sockets ?? []) {
      this.pduUnit(s.pdu)
      this.checkSocket(s.socket)
    }
    for (const r of p.registers ?? []) {
      if (!this.has(r.unit, r.register)) throw badRegister(r.unit, r.register)
      checkValue(r.value)
    }
    for (const v of [p.ambientTemperature, p.humidity]) {
      if (v !== undefined && !Number.isFinite(v)) throw new WrkError('ERR_MOCK_BAD_VALUE', 'not a finite number')
    }
    for (const f of p.failReads ?? []) checkReadFailure(this.registers, f)
    if (p.systemErrorBits !== undefined) this.setSystemErrorBits(p.systemErrorBits)
    if (p.generalErrors !== undefined) this.setGeneralErrors(p.generalErrors)
    if (p.error !== undefined) this.setError(p.error)
    if (p.systemMainControl !== undefined) this.raw(CDU_UNIT, CDU.systemMainControl, p.systemMainControl ? 1 : 0)
    if (p.allSockets !== undefined) this.setAllSockets(p.allSockets)
    for (const s of p.sockets ?? []) this.raw(this.pduUnit(s.pdu), socketStateRegister(s.socket), s.enabled ? 1 : 0)
    if (p.smoke !== undefined) this.raw(HENV_UNIT, HENV.smoke, p.smoke ? 1 : 0)
    if (p.waterIngress !== undefined) this.raw(HENV_UNIT, HENV.water, p.waterIngress ? 1 : 0)
    if (p.ambientTemperature !== undefined) this.model.env.temperature.value = p.ambientTemperature
    if (p.humidity !== undefined) this.model.env.humidity.value = p.humidity
    this.recompute()
    for (const r of p.registers ?? []) this.set(r.unit, r.register, r.value)
    for (const f of p.failReads ?? []) this.failReads(f.unit, f.count)
  }

  summary (): MockStateSummary {
    let power = 0
    for (const unit of POWER_METER_UNITS) power += this.get(unit, METER.totalActivePower) / 100
    return {
      type: this.type,
      error: this.error,
      systemMainControl: this.systemMainControl,
      enabledSockets: this.enabledSockets(),
      powerKw: Math.round(power * 100) / 100
    }
  }

  /** Advances time by `dtMs`: every drifting value takes a small bounded step, energy accrues. */
  tick (dtMs = 1000): void {
    const scale = Math.min(10, Math.max(0, dtMs / 1000))
    // Energy accrues at the power measured at the start of the interval.
    this.model.meters.forEach((m, i) => {
      m.energyKwh += (this.get(POWER_METER_UNITS[i] as number, METER.totalActivePower) / 100) * Math.max(0, dtMs) / 3_600_000
    })
    const walkAll = (o: Record<string, Drift>): void => { for (const d of Object.values(o)) d.walk(this.rng, scale) }
    walkAll(this.model.cdu)
    walkAll(this.model.env)
    walkAll(this.model.diag)
    for (const m of [...this.model.meters, ...this.model.pdus]) {
      for (const v of m.voltage) v.walk(this.rng, scale)
      m.freq.walk(this.rng, scale)
      m.pf.walk(this.rng, scale)
    }
    for (const m of this.model.meters) m.aux.walk(this.rng, scale)
    for (const p of this.model.pdus) for (const s of p.sockets) s.walk(this.rng, scale)
    this.recompute()
  }

  /** Rewrites every live register from the model and the input registers. */
  private recompute (): void {
    const m = this.model
    const on = this.systemMainControl
    const kehua = this.type === 'Kehua'
    const c = (reg: number, v: number): void => this.live(CDU_UNIT, reg, v)

    // CDU: temperatures and pressures ×100; pump state follows system_main_control.
    c(CDU.dewPoint, m.cdu.dewPoint.value * 100)
    c(CDU.inletTempT2, m.cdu.t2.value * 100)
    c(CDU.coolingTempT1, m.cdu.t1.value * 100)
    c(CDU.inletPressureP2, m.cdu.p2.value * 100)
    c(CDU.outletPressureP3, m.cdu.p3.value * 100)
    c(CDU.pumpInletPressureP1, m.cdu.p1.value * 100)
    c(CDU.pumpOutletPressureP5, (on ? m.cdu.p5.value : m.cdu.p1.value) * 100)
    c(CDU.pumpSpeed, on ? m.cdu.pumpSpeed.value * 100 : 0)
    c(CDU.filterPressureDiff, on ? m.cdu.filterDiff.value * 100 : 0)
    c(CDU.outletTempT3, kehua ? 0 : m.cdu.t3.value * 100)
    c(CDU.coolingSystemStatus, kehua ? (on ? 100 : 0) : 0)
    // Kehua: 208 = pump running status (100 running), 606 = cycle_pump_control.
    // Wonderint: 208 = cycle_pump_control, 606 = pump running (1).
    c(CDU.reg208, kehua ? (on ? 100 : 0) : (on ? 1 : 0))
    c(CDU.reg606, on ? 1 : 0)
    c(CDU.coolingFanControl, on ? 1 : 0)

    // gtemp: Kehua ×100, Wonderint ×10.
    const envScale = kehua ? 100 : 10
    this.live(GTEMP_UNIT, GTEMP.temperature, m.env.temperature.value * envScale)
    this.live(GTEMP_UNIT, GTEMP.humidity, m.env.humidity.value * envScale)

    // PDUs: power = sum of the enabled sockets' draw.
    const pduPowerKw = PDU_UNITS.map((unit, i) => {
      const pdu = m.pdus[i] as Model['pdus'][number]
      let kw = 0
      pdu.sockets.forEach((s, si) => { if (this.get(unit, socketStateRegister(si + 1)) === 1) kw += s.value })
      const vPhase = (pdu.voltage[0].value + pdu.voltage[1].value + pdu.voltage[2].value) / 3
      const amps = (kw * 1000) / (3 * vPhase * pdu.pf.value)
      const p = (reg: number, v: number): void => this.live(unit, reg, v)
      p(PDU.frequency, pdu.freq.value * 100)
      p(PDU.voltageAb, pdu.voltage[0].value * 100)
      p(PDU.voltageCa, pdu.voltage[1].value * 100)
      p(PDU.voltageBc, pdu.voltage[2].value * 100)
      p(PDU.currentA, amps * 100)
      p(PDU.currentB, amps * 100)
      p(PDU.currentC, amps * 100)
      p(PDU.totalPower, kw * 100)
      return kw
    })

    // Meter k measures PDUs 3k-2 … 3k plus the cooling auxiliaries.
    POWER_METER_UNITS.forEach((unit, i) => {
      const meter = m.meters[i] as Model['meters'][number]
      const kw = pduPowerKw.slice(i * 3, i * 3 + 3).reduce((a, b) => a + b, 0) + (on ? meter.aux.value : 0.2)
      const vLine = (meter.voltage[0].value + meter.voltage[1].value + meter.voltage[2].value) / 3
      const pf = meter.pf.value
      const amps = (kw * 1000) / (SQRT3 * vLine * pf)
      const w = (reg: number, v: number): void => this.live(unit, reg, v)
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
    })

    // Diagnostics.
    const now = new Date()
    const d = (reg: number, v: number): void => this.live(DIAG_UNIT, reg, v)
    d(DIAG.year, now.getFullYear())
    d(DIAG.month, now.getMonth() + 1)
    d(DIAG.day, now.getDate())
    d(DIAG.cpu, m.diag.cpu.value)
    d(DIAG.memory, m.diag.memory.value)
    d(DIAG.ethUp, m.diag.up.value)
    d(DIAG.ethDown, m.diag.down.value)
  }
}
