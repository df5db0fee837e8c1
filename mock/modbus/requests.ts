/**
 * Modbus TCP request handling of one mock container: framing, FC03 reads, FC06/FC16 writes,
 * authentication, the exceptions answered (see ../server.ts) and the fault injection applied to
 * each request. Every complete frame of a `data` event is answered synchronously, in order,
 * with one `write` per event.
 */
import { timingSafeEqual } from 'node:crypto'
import { authResponse } from '../../workers/lib/auth'
import {
  FC_READ_HOLDING_REGISTERS, FC_WRITE_MULTIPLE_REGISTERS, FC_WRITE_SINGLE_REGISTER, encodeExceptionResponse,
  encodeReadHoldingRegistersResponse, encodeWriteMultipleRegistersResponse, encodeWriteSingleRegisterResponse
} from '../../workers/lib/modbus/frame'
import {
  CDU, CDU_UNIT, MAX_READ_COUNT, MAX_WRITE_COUNT, PDU, PDU_UNITS, isKnownUnit, isReadable,
  isWritable, socketOfControlRegister, toRegister
} from '../registers'
import type { MockState } from '../state'
import type { MockServerStats } from '../types'
import { newChallenge, type Connection } from './connection'
import type { FaultInjector } from './faults'
import type { WriteLog } from './write-log'

export const MODBUS_EXCEPTION = {
  ILLEGAL_FUNCTION: 0x01,
  ILLEGAL_DATA_ADDRESS: 0x02,
  ILLEGAL_DATA_VALUE: 0x03,
  /** Not authenticated on this connection / wrong authentication response. */
  SERVER_DEVICE_FAILURE: 0x04,
  /** Unit id outside 1–20. */
  GATEWAY_TARGET_FAILED: 0x0b
} as const

/** A request answered with a Modbus exception response. */
class ModbusException extends Error {
  readonly modbusErrorCode: number

  constructor (code: number, message: string) {
    super(message)
    this.name = 'ModbusException'
    this.modbusErrorCode = code
  }
}

/** MBAP header without the unit id: transaction id, protocol id, length. */
const MBAP_LEN = 6
/** Function codes a MicroBT controller knows but the mock refuses with exception 01 (fault injection applies). */
const REFUSED_FUNCTIONS: ReadonlySet<number> = new Set([1, 2, 4, 5, 15])

export function emptyStats (): MockServerStats {
  return {
    requests: 0,
    byFunctionCode: {},
    byUnit: {},
    exceptions: 0,
    exceptionsByCode: {},
    unanswered: 0,
    unsolicited: 0,
    connections: 0,
    authSucceeded: 0,
    authFailed: 0
  }
}

function bump (rec: Record<number, number>, key: number): void {
  rec[key] = (rec[key] ?? 0) + 1
}

export interface RequestContext {
  state: MockState
  faults: FaultInjector
  log: WriteLog
  /** The current statistics (replaced when they are reset). */
  stats: () => MockServerStats
  /** Credentials the authentication response is checked against. */
  username: string
  password: string
}

export class RequestHandler {
  constructor (private readonly ctx: RequestContext) {}

  /**
   * Answers every complete frame of `data` in order; the replies that are not delayed go out in
   * one write. A frame is `[tid:2][protocol:2][length:2][unit][fc][data…]`, `length` counting
   * from the unit id; frames too short for their function code are ignored (no reply).
   */
  onData (conn: Connection, data: Buffer): void {
    const buf = conn.pending === null ? data : Buffer.concat([conn.pending, data])
    conn.pending = null
    const out: Buffer[] = []
    const stats = this.ctx.stats()
    let off = 0
    while (buf.length - off > MBAP_LEN) {
      const pduLen = buf.readUInt16BE(off + 4)
      if (buf.length - off - MBAP_LEN < pduLen) break
      if (pduLen >= 2) {
        const unit = buf[off + MBAP_LEN] as number
        const fc = buf[off + MBAP_LEN + 1] as number
        stats.requests++
        bump(stats.byUnit, unit)
        bump(stats.byFunctionCode, fc)
        const frame = this.handle(conn, buf.readUInt16BE(off), unit, fc, buf, off + MBAP_LEN + 2, pduLen - 2)
        if (frame !== null) out.push(frame)
      }
      off += MBAP_LEN + pduLen
    }
    if (off < buf.length) {
      // A frame is at most 6 + 65535 bytes; anything beyond is garbage and dropped.
      const rest = buf.subarray(off)
      conn.pending = rest.length > MBAP_LEN + 0xffff ? null : Buffer.from(rest)
    }
    if (out.length === 1) conn.socket.write(out[0] as Buffer)
    else if (out.length > 1) conn.socket.write(Buffer.concat(out))
  }

  /**
   * One request: the reply frame to send now, or null (no reply, or a reply held back by
   * `delayMs`). `at`/`len` locate the request data after the function code.
   */
  private handle (conn: Connection, tid: number, unit: number, fc: number, buf: Buffer, at: number, len: number): Buffer | null {
    if (fc === FC_READ_HOLDING_REGISTERS) {
      if (len !== 4) return null
      const address = buf.readUInt16BE(at)
      const count = buf.readUInt16BE(at + 2)
      return this.dispatch(conn, tid, unit, fc, () => {
        if (count === 0) throw new ModbusException(MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS, 'zero-length read')
        return encodeReadHoldingRegistersResponse(tid, unit, this.read(unit, address, count, conn))
      })
    }
    if (fc === FC_WRITE_SINGLE_REGISTER) {
      if (len !== 4) return null
      const address = buf.readUInt16BE(at)
      const value = buf.readUInt16BE(at + 2)
      return this.dispatch(conn, tid, unit, fc, () => {
        this.write(unit, address, [value], 6, conn)
        return encodeWriteSingleRegisterResponse(tid, unit, address, value)
      })
    }
    if (fc === FC_WRITE_MULTIPLE_REGISTERS) {
      if (len < 5) return null
      const address = buf.readUInt16BE(at)
      const count = buf.readUInt16BE(at + 2)
      if (len !== 5 + 2 * count) return null
      const values: number[] = []
      for (let i = 0; i < count; i++) values.push(buf.readUInt16BE(at + 5 + 2 * i))
      return this.dispatch(conn, tid, unit, fc, () => {
        if (count === 0) throw new ModbusException(MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS, 'zero-length write')
        this.write(unit, address, values, 16, conn)
        return encodeWriteMultipleRegistersResponse(tid, unit, address, count)
      })
    }
    if (REFUSED_FUNCTIONS.has(fc)) {
      return this.dispatch(conn, tid, unit, fc, () => {
        throw new ModbusException(MODBUS_EXCEPTION.ILLEGAL_FUNCTION, 'only FC03, FC06 and FC16 are supported')
      })
    }
    const stats = this.ctx.stats()
    stats.exceptions++
    bump(stats.exceptionsByCode, MODBUS_EXCEPTION.ILLEGAL_FUNCTION)
    return encodeExceptionResponse(tid, unit, fc, MODBUS_EXCEPTION.ILLEGAL_FUNCTION)
  }

  /**
   * Runs `work` for one request of `unit` with the fault injection applied: silent units never
   * answer, `delayMs` postpones the work (the request is handled when its reply is due), and
   * injected exceptions win over everything else. Returns the frame to send now, if any.
   */
  private dispatch (conn: Connection, tid: number, unit: number, fc: number, work: () => Buffer): Buffer | null {
    const faults = this.ctx.faults
    if (faults.isSilent(unit)) {
      this.ctx.stats().unanswered++
      return null
    }
    if (faults.delaying) {
      faults.hold(conn, () => this.run(tid, unit, fc, work))
      return null
    }
    return this.run(tid, unit, fc, work)
  }

  private run (tid: number, unit: number, fc: number, work: () => Buffer): Buffer {
    try {
      const injected = this.ctx.faults.exceptionFor(unit)
      if (injected !== undefined) throw new ModbusException(injected, `injected exception ${injected}`)
      if (!isKnownUnit(unit)) throw new ModbusException(MODBUS_EXCEPTION.GATEWAY_TARGET_FAILED, `no unit ${unit}`)
      return work()
    } catch (err) {
      const code = err instanceof ModbusException ? err.modbusErrorCode : MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE
      const stats = this.ctx.stats()
      stats.exceptions++
      bump(stats.exceptionsByCode, code)
      return encodeExceptionResponse(tid, unit, fc, code)
    }
  }

  private read (unit: number, address: number, count: number, conn: Connection): number[] {
    if (count < 1 || count > MAX_READ_COUNT) {
      throw new ModbusException(MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE, `read count ${count} outside 1…${MAX_READ_COUNT}`)
    }
    const first = toRegister(address)
    if (!isReadable(unit, first, count)) {
      throw new ModbusException(
        MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS,
        `unit ${unit} registers ${first}…${first + count - 1} are not readable`
      )
    }
    const values = this.ctx.state.read(unit, first, count)
    if (unit === CDU_UNIT) {
      // The challenge is per connection, not part of the shared image.
      const challenge = conn.challenge
      for (let r = CDU.challengeFirst; r <= CDU.challengeLast; r++) {
        const i = r - first
        if (i >= 0 && i < count) values[i] = challenge.readUInt16BE((r - CDU.challengeFirst) * 2)
      }
    }
    return values
  }

  private write (unit: number, address: number, values: number[], fc: 6 | 16, conn: Connection): void {
    const count = values.length
    const first = toRegister(address)
    const last = first + count - 1
    if (count < 1 || count > MAX_WRITE_COUNT) {
      throw new ModbusException(MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE, `write count ${count} outside 1…${MAX_WRITE_COUNT}`)
    }
    if (unit === CDU_UNIT && first <= CDU.authResponseLast && last >= CDU.authResponseFirst) {
      if (fc !== 16 || first !== CDU.authResponseFirst || last !== CDU.authResponseLast) {
        throw new ModbusException(
          MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE,
          'the authentication response is 16 registers written with FC16 at 305'
        )
      }
      this.authenticate(conn, values)
      return
    }
    if (!conn.authenticated) {
      throw new ModbusException(MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE, 'not authenticated on this connection')
    }
    if (!isWritable(unit, first, count)) {
      throw new ModbusException(MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS, `unit ${unit} registers ${first}…${last} are not writable`)
    }
    values.forEach((v, i) => checkWriteValue(unit, first + i, v))
    values.forEach((v, i) => this.ctx.state.applyWrite(unit, first + i, v))
    this.ctx.log.record({ unit, fc, register: first, values: values.map((v) => v & 0xffff), connection: conn.id })
  }

  private authenticate (conn: Connection, values: number[]): void {
    const response = Buffer.alloc(values.length * 2)
    values.forEach((v, i) => response.writeUInt16BE(v & 0xffff, i * 2))
    const expected = authResponse(conn.challenge, this.ctx.username, this.ctx.password)
    const stats = this.ctx.stats()
    if (response.length === expected.length && timingSafeEqual(response, expected)) {
      conn.authenticated = true
      conn.challenge = newChallenge()
      stats.authSucceeded++
      return
    }
    conn.authenticated = false
    stats.authFailed++
    throw new ModbusException(MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE, 'authentication failed')
  }
}

function checkWriteValue (unit: number, register: number, value: number): void {
  const bad = (what: string): never => {
    throw new ModbusException(MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE, `${what}: invalid value ${value}`)
  }
  if (unit === CDU_UNIT && register === CDU.systemMainControl && value !== 0 && value !== 1) bad('system_main_control')
  if (PDU_UNITS.includes(unit) && socketOfControlRegister(register) !== undefined && value !== PDU.socketOn && value !== PDU.socketOff) {
    bad(`socket ${String(socketOfControlRegister(register))} control`)
  }
}
