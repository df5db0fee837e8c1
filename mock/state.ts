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
 *
 * The model and how live registers follow from it: ./model/model.ts, ./model/derive.ts; live-value
 * overrides: ./model/live.ts; the error registers and the power fault's bits: ./model/error-bits.ts.
 */
import { WrkError } from '../workers/core/errors'
import { createRng } from './rng'
import { parseContainerType, vendorOf, type ContainerType } from './container-type'
import { profileOf, type RegisterProfile } from '../workers/lib/registers'
import { writeLiveRegisters } from './model/derive'
import { ErrorRegisters } from './model/error-bits'
import { LiveOverrides, type LivePatch } from './model/live'
import { createModel, walkModel, type Model } from './model/model'
import {
  CDU, CDU_UNIT, DIAG, DIAG_UNIT, GTEMP, GTEMP_UNIT, HENV, HENV_UNIT, METER, PDU, PDU_UNITS,
  POWER_METER_UNITS, SOCKETS_PER_PDU, UNIT_IDS, imageSize, socketOfControlRegister, socketStateRegister, toInt16, toUint16
} from './registers'

import { badRegister, checkReadFailure, checkValue, type MockStatePatch } from './state-patch'

export { SOCKET_POWER_KW } from './model/model'
export { CONTAINER_TYPES, parseContainerType, vendorOf, type ContainerType } from './container-type'
export type { MockStatePatch, ReadFailurePatch, RegisterPatch, SocketPatch } from './state-patch'

export interface MockStateOptions {
  type: ContainerType
  /** Start with system error bits 0–15 and the makeup-water-pump general error flag set. */
  error?: boolean
  /** Seed of the pseudo-random generator (initial values and drift). Random when omitted. */
  seed?: number
}

export interface MockStateSummary {
  type: ContainerType
  error: boolean
  systemMainControl: boolean
  enabledSockets: number
  /** Sum of the four meters' total_active_power, kW. */
  powerKw: number
  powerFault: boolean
  /** Active live-value overrides. */
  live: LivePatch
}

export class MockState {
  readonly type: ContainerType
  /** The vendor profile its vendor registers follow (./registers.ts `vendorRegisters`). */
  readonly profile: RegisterProfile
  /** Raw register images, indexed by 1-based register number (index 0 unused). */
  readonly registers = new Map<number, Uint16Array>()
  private readonly pinned = new Map<number, Set<number>>()
  /** Reads still to fail, by unit. */
  private readonly failingReads = new Map<number, number>()
  private readonly seed: number
  private readonly initialError: boolean
  private rng: () => number
  private model: Model
  private readonly overrides: LiveOverrides
  private readonly errors = new ErrorRegisters((register, raw) => this.raw(CDU_UNIT, register, raw))

  constructor (opts: MockStateOptions) {
    this.type = parseContainerType(opts.type)
    this.profile = profileOf(vendorOf(this.type))
    this.seed = opts.seed ?? Math.floor(Math.random() * 0x100000000)
    this.initialError = opts.error === true
    this.rng = createRng(this.seed)
    this.model = createModel(this.rng)
    this.overrides = new LiveOverrides(this.seed)
    this.init()
  }

  /**
   * Back to the initial state (same seed → same values); clears pinned registers, read
   * failures, live-value overrides and the power fault.
   */
  reset (): void {
    this.failingReads.clear()
    this.overrides.clear()
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
    this.errors.setPowerFault(false)
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
    if (this.overrides.changesOnRead(unit)) this.recompute()
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
    if (unit === CDU_UNIT) this.errors.noteSet(register, toUint16(value))
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
    this.errors.setSystemErrorBits(bits)
  }

  /** Sets exactly these general error registers (96…100) to 1, the others to 0. */
  setGeneralErrors (registers: readonly number[]): void {
    this.errors.setGeneralErrors(registers)
  }

  /**
   * Power fault (control API `{powerFault}`): general error flag 99 `power_fault` and system
   * error bits 1, 3, 6 are set on top of the other errors, the circulation pump and fans stop
   * and the loop pressures fall (./model/derive.ts); false gives back the state before.
   */
  setPowerFault (on: boolean): void {
    this.errors.setPowerFault(on)
    this.recompute()
  }

  get powerFault (): boolean {
    return this.errors.powerFault
  }

  /**
   * Sets (spec) or releases (null) live-value overrides (./model/live.ts); the whole patch is
   * validated first. Throws ERR_MOCK_BAD_VALUE.
   */
  setLive (patch: LivePatch): void {
    this.overrides.apply(patch)
    this.recompute()
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
      powerKw: Math.round(power * 100) / 100,
      powerFault: this.powerFault,
      live: this.overrides.specs()
    }
  }

  /** Advances time by `dtMs`: every drifting value takes a small bounded step, energy accrues. */
  tick (dtMs = 1000): void {
    const scale = Math.min(10, Math.max(0, dtMs / 1000))
    // Energy accrues at the power measured at the start of the interval.
    this.model.meters.forEach((m, i) => {
      m.energyKwh += (this.get(POWER_METER_UNITS[i] as number, METER.totalActivePower) / 100) * Math.max(0, dtMs) / 3_600_000
    })
    walkModel(this.model, this.rng, scale)
    this.recompute()
  }

  /** Rewrites every live register from the model, the input registers and the overrides (pinned ones stay). */
  private recompute (): void {
    writeLiveRegisters({
      model: this.model,
      profile: this.profile,
      systemMainControl: this.systemMainControl,
      powerFault: this.powerFault,
      socketEnabled: (unit, socket) => this.get(unit, socketStateRegister(socket)) === 1,
      override: (signal) => this.overrides.value(signal),
      write: (unit, register, value) => this.live(unit, register, value)
    })
  }
}
