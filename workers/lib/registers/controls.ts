import { CDU_UNIT, PDU } from './units'
import type { RegisterSpan, UnitId } from './types'

/** Registers the worker writes (registers.md), all on 1-based register numbers. */

/** Unit 1: 8 challenge bytes, read with FC03 before the first write of a connection. */
export const AUTH_CHALLENGE: RegisterSpan = { start: 301, end: 304 }
/** Unit 1: 32-byte challenge response, written with FC16. */
export const AUTH_RESPONSE: RegisterSpan = { start: 305, end: 320 }

export const CDU_CONTROL = {
  unit: CDU_UNIT,
  /** Write 1 / 0 to switch the container (cooling system) on / off. */
  systemMainControl: 601,
  on: 1,
  off: 0,
  /** Written as round(value × 100). */
  fanRunningSpeedThreshold: 613,
  fanStartTemperatureThreshold: 614,
  fanStopTemperatureThreshold: 615,
  thresholdScale: 100
} as const

export const PDU_COUNT = PDU.ids.length
export const SOCKETS_PER_PDU = 20

export const SOCKET_CONTROL = {
  /** FC06 value that switches a socket on / off. */
  on: 1,
  off: 2
} as const

/** Unit id of PDU n (1…12). */
export function pduUnit (pdu: number): UnitId {
  const unit = PDU.ids[pdu - 1]
  if (unit === undefined) throw new RangeError(`no PDU ${pdu}`)
  return unit
}

/** Control register of socket s (1…20): 309 − s. */
export function socketControlRegister (socket: number): number {
  if (!Number.isInteger(socket) || socket < 1 || socket > SOCKETS_PER_PDU) throw new RangeError(`no socket ${socket}`)
  return 309 - socket
}

/** The socket state registers of a PDU (46–65): socket s is 45 + s, value 1 = on, anything else off. */
export const SOCKET_STATE: RegisterSpan = { start: 46, end: 65 }

/** What the guards of a staged power-up read (registers.md). */
export const GUARD_REGISTERS = {
  /** Units 4–7: total active power, unsigned kW × 100. */
  meterActivePower: 57,
  /** Unit 1, 201–204, signed ×100: T2 inlet °C, T1 °C, P2 and P3 bar. */
  cdu: { start: 201, end: 204 } satisfies RegisterSpan,
  inletTemperature: 201,
  /** P2 unit inlet (supply) and P3 unit outlet (return) pressure. */
  supplyPressure: 203,
  returnPressure: 204,
  scale: 100
} as const

/** The writable cooling-fan setpoints, read back before a change (613–615). */
export const FAN_SETPOINTS: RegisterSpan = { start: CDU_CONTROL.fanRunningSpeedThreshold, end: CDU_CONTROL.fanStopTemperatureThreshold }
