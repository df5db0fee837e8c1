/**
 * The register map the mock serves, as data (see docs: shared spec "registers.md").
 *
 * Register numbers are 1-based everywhere in this module; the on-wire (PDU) address of a
 * register is `register - 1` — convert with `toRegister` / `toAddress` at the Modbus boundary.
 */

import {
  containerVendors, encodeMapped, profileOf, unitDefOfKind, valueMapOf, type DecodedScalar, type RegisterProfile
} from '../workers/lib/registers'

/** Inclusive range of 1-based register numbers. */
export type RegisterRange = readonly [first: number, last: number]

export const CDU_UNIT = 1
export const GTEMP_UNIT = 2
export const HENV_UNIT = 3
export const DIAG_UNIT = 8
export const POWER_METER_UNITS: readonly number[] = [4, 5, 6, 7]
export const PDU_UNITS: readonly number[] = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
export const SOCKETS_PER_PDU = 20
/** Every unit id answered behind one endpoint. */
export const UNIT_IDS: readonly number[] = Array.from({ length: 20 }, (_, i) => i + 1)

/** Modbus limits: FC03 reads at most 125 registers, FC16 writes at most 123. */
export const MAX_READ_COUNT = 125
export const MAX_WRITE_COUNT = 123

/** Named CDU (unit 1) registers. */
export const CDU = {
  protocolVersion: 1,
  dewPoint: 95,
  generalErrorFirst: 96,
  generalErrorLast: 100,
  /** General error flag `makeup_water_pump_fault`, set by `--error`. */
  makeupWaterPumpFault: 98,
  inletTempT2: 201,
  coolingTempT1: 202,
  inletPressureP2: 203,
  outletPressureP3: 204,
  pumpInletPressureP1: 205,
  pumpOutletPressureP5: 206,
  /** A vendor register (the vendor profiles, `vendorRegisters`). */
  reg208: 208,
  pumpSpeed: 209,
  filterPressureDiff: 210,
  /** Vendor registers (`vendorRegisters`): unit_outlet_temp_t3, cooling_system_status where decoded. */
  outletTempT3: 211,
  coolingSystemStatus: 212,
  systemErrorFirst: 291,
  systemErrorLast: 300,
  challengeFirst: 301,
  challengeLast: 304,
  authResponseFirst: 305,
  authResponseLast: 320,
  systemMainControl: 601,
  circulationPumpSwitch: 602,
  drainValveSwitch: 603,
  coolingFanSwitch: 604,
  makeupWaterPumpSwitch: 605,
  /** A vendor register (`vendorRegisters`). */
  reg606: 606,
  coolingFanControl: 607,
  makeupWaterPumpControl: 608,
  buzzerAlarm: 609,
  fanRunningSpeedThreshold: 613,
  fanStartTempThreshold: 614,
  fanStopTempThreshold: 615
} as const

/** Named gtemp (unit 2) / henv (unit 3) registers. */
export const GTEMP = { status: 2, temperature: 3, humidity: 4 } as const
export const HENV = { status: 2, smoke: 3, water: 8 } as const

/** Named power meter (units 4–7) registers. */
export const METER = {
  status: 2,
  totalActiveEnergy: 3,
  voltageAb: 50,
  voltageBc: 51,
  voltageCa: 52,
  currentA: 53,
  currentB: 54,
  currentC: 55,
  totalActivePower: 57,
  totalApparentPower: 65,
  totalPowerFactor: 69,
  freq: 82
} as const

/** Named diagnostics (unit 8) registers. */
export const DIAG = {
  communicateStatus: 2,
  softwareVersion: 3,
  pcbVersion: 4,
  hardwareVersion: 5,
  year: 6,
  month: 7,
  day: 8,
  cpu: 9,
  disk: 10,
  memory: 11,
  ethSpeed: 12,
  ethUp: 13,
  ethDown: 14
} as const

/** Named PDU (units 9–20) registers. */
export const PDU = {
  status: 2,
  buzzer: 5,
  socketStateFirst: 46,
  socketStateLast: 65,
  frequency: 74,
  voltageAb: 75,
  voltageCa: 76,
  voltageBc: 77,
  currentA: 78,
  currentB: 79,
  currentC: 80,
  totalPower: 81,
  socketControlFirst: 289,
  socketControlLast: 308,
  /** Socket control values (FC06). */
  socketOn: 1,
  socketOff: 2
} as const

/** State register of socket `s` (1…20): 46…65; value 1 = enabled. */
export function socketStateRegister (socket: number): number {
  return PDU.socketStateFirst - 1 + socket
}

/** Control register of socket `s` (1…20): `309 - s`. */
export function socketControlRegister (socket: number): number {
  return 309 - socket
}

/** Inverse of `socketControlRegister`; undefined outside 289–308. */
export function socketOfControlRegister (register: number): number | undefined {
  if (register < PDU.socketControlFirst || register > PDU.socketControlLast) return undefined
  return 309 - register
}

const CDU_RANGES: readonly RegisterRange[] = [
  [1, 4], [26, 35], [46, 65], [90, 100], [201, 212], [291, 300], [301, 304], [601, 623]
]
const METER_RANGES: readonly RegisterRange[] = [[2, 71], [73, 84]]
const PDU_RANGES: readonly RegisterRange[] = [[2, 192]]

/** Readable ranges per unit, exactly as listed in the register map. */
export const READABLE_RANGES: ReadonlyMap<number, readonly RegisterRange[]> = new Map<number, readonly RegisterRange[]>([
  [CDU_UNIT, CDU_RANGES],
  [GTEMP_UNIT, [[2, 4]]],
  [HENV_UNIT, [[2, 16]]],
  ...POWER_METER_UNITS.map((u): [number, readonly RegisterRange[]] => [u, METER_RANGES]),
  [DIAG_UNIT, [[2, 14]]],
  ...PDU_UNITS.map((u): [number, readonly RegisterRange[]] => [u, PDU_RANGES])
])

/** Writable ranges per unit (FC06/FC16). 305–320 only accepts the FC16 auth response. */
export const WRITABLE_RANGES: ReadonlyMap<number, readonly RegisterRange[]> = new Map<number, readonly RegisterRange[]>([
  [CDU_UNIT, [
    [CDU.authResponseFirst, CDU.authResponseLast],
    [CDU.systemMainControl, CDU.systemMainControl],
    [CDU.fanRunningSpeedThreshold, CDU.fanStopTempThreshold]
  ]],
  ...PDU_UNITS.map((u): [number, readonly RegisterRange[]] => [u, [[PDU.socketControlFirst, PDU.socketControlLast]]])
])

/** Sorts and merges ranges that overlap or touch (e.g. 291–300 + 301–304 → 291–304). */
export function mergeRanges (ranges: readonly RegisterRange[]): RegisterRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0])
  const out: Array<[number, number]> = []
  for (const [first, last] of sorted) {
    const prev = out[out.length - 1]
    if (prev !== undefined && first <= prev[1] + 1) prev[1] = Math.max(prev[1], last)
    else out.push([first, last])
  }
  return out
}

const MERGED_READABLE = new Map<number, RegisterRange[]>(
  [...READABLE_RANGES].map(([unit, ranges]) => [unit, mergeRanges(ranges)])
)

export function isKnownUnit (unit: number): boolean {
  return READABLE_RANGES.has(unit)
}

function inside (ranges: readonly RegisterRange[] | undefined, first: number, count: number): boolean {
  if (ranges === undefined || count < 1) return false
  const last = first + count - 1
  return ranges.some(([a, b]) => first >= a && last <= b)
}

/**
 * True when every register `first … first+count-1` of `unit` is readable. Adjacent listed
 * ranges count as one block (a reader may merge ranges that touch), but a read that reaches a
 * register that is not listed (even partially) is not readable.
 */
export function isReadable (unit: number, first: number, count: number): boolean {
  return inside(MERGED_READABLE.get(unit), first, count)
}

/** True when every register of the block is writable on `unit`. */
export function isWritable (unit: number, first: number, count = 1): boolean {
  const ranges = WRITABLE_RANGES.get(unit)
  if (ranges === undefined || count < 1) return false
  for (let r = first; r < first + count; r++) {
    if (!ranges.some(([a, b]) => r >= a && r <= b)) return false
  }
  return true
}

/** Highest register number a unit's image must hold (readable or writable). */
export function imageSize (unit: number): number {
  const all = [...(READABLE_RANGES.get(unit) ?? []), ...(WRITABLE_RANGES.get(unit) ?? [])]
  return all.reduce((max, [, last]) => Math.max(max, last), 0)
}

/** On-wire address → 1-based register number. */
export function toRegister (address: number): number {
  return address + 1
}

/** 1-based register number → on-wire address. */
export function toAddress (register: number): number {
  return register - 1
}

/** Two's complement encoding of a signed or unsigned 16-bit value. */
export function toUint16 (value: number): number {
  return value & 0xffff
}

/** Reads a raw uint16 as int16. */
export function toInt16 (raw: number): number {
  return raw >= 0x8000 ? raw - 0x10000 : raw
}

/** What the model says of the quantities vendor registers hold, by the decoded field each feeds. */
export type VendorReadings = Readonly<Record<string, DecodedScalar>>

/** One register value to store. */
export interface RegisterValue { unit: number, register: number, value: number }

/**
 * The vendor registers (those the overlay of any registered vendor profile names) as the
 * container's profile encodes `readings`, the way its controller would: a field the profile
 * decodes gets its reading (× scale, or the raw value of its value map), any other one 0.
 * The same profile the worker decodes with, so a new vendor's mock needs no code of its own.
 */
export function vendorRegisters (profile: RegisterProfile, readings: VendorReadings): RegisterValue[] {
  const out = new Map<string, RegisterValue>()
  const put = (unit: number, register: number, value: number): void => { out.set(`${unit}:${register}`, { unit, register, value }) }
  for (const other of containerVendors().map(profileOf)) {
    for (const [kind, fields] of Object.entries(other.overlay)) {
      for (const unit of unitDefOfKind(kind as keyof RegisterProfile['overlay']).ids) for (const f of fields ?? []) put(unit, f.reg, 0)
    }
  }
  for (const [kind, fields] of Object.entries(profile.overlay)) {
    for (const f of fields ?? []) {
      const reading = readings[f.field]
      if (reading === undefined) continue
      const value = f.map !== undefined
        ? encodeMapped(valueMapOf(profile, f.map), reading)
        : Number(reading) * (f.scale ?? 1)
      for (const unit of unitDefOfKind(kind as keyof RegisterProfile['overlay']).ids) put(unit, f.reg, value)
    }
  }
  return [...out.values()]
}
