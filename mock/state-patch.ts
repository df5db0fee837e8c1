/** The shapes of the mock state's patches (control API `{state: …}`, `{registers: …}`) and their checks. */
import { WrkError } from '../workers/core/errors'

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

export function badRegister (unit: number, register: number): WrkError {
  return new WrkError('ERR_MOCK_BAD_REGISTER', `unit ${unit} has no register ${register}`)
}

export function checkReadFailure (units: ReadonlyMap<number, unknown>, f: ReadFailurePatch): void {
  if (!units.has(f.unit)) throw new WrkError('ERR_MOCK_BAD_FAULT', `failReads: no unit ${f.unit}`)
  if (!Number.isInteger(f.count) || f.count < 0) {
    throw new WrkError('ERR_MOCK_BAD_FAULT', `failReads: count ${f.count} is not an integer >= 0`)
  }
}

export function checkValue (value: number): void {
  if (!Number.isInteger(value) || value < -0x8000 || value > 0xffff) {
    throw new WrkError('ERR_MOCK_BAD_VALUE', `register value ${value} is not a 16-bit integer`)
  }
}
