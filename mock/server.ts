/**
 * Mock MicroBT container: a Modbus TCP server serving the register map of registers.md for a
 * Kehua or Wonderint container, with per-connection authentication, writes reflected in later
 * reads, slowly drifting live values and fault injection for tests.
 *
 * The Modbus TCP framing is its own (a few dozen lines over `net`): every complete frame of a
 * `data` event is answered synchronously, in order, with one `write` per event, and delayed
 * replies share one timer per server. (modbus-serial's ServerTCP, used before, scheduled every
 * request on its own timer and computed RTU checksums both ways: about 1 ms of latency per
 * request and most of the mock's CPU — too much for a 1000-container fleet benchmark.)
 *
 * Modbus exception codes answered:
 * - 0x01 illegal function: function codes other than FC03/FC06/FC16;
 * - 0x02 illegal data address: a read that reaches a register not listed for the unit (even
 *   partially), a write to a register that is not writable, a zero-length request;
 * - 0x03 illegal data value: FC03 count > 125 or FC16 count > 123, a socket control value other
 *   than 1/2, system_main_control other than 0/1, an auth write that is not exactly FC16 on
 *   305–320;
 * - 0x04 server device failure: a write before a valid authentication response on this TCP
 *   connection, or a wrong authentication response. (Real controllers reject these writes with
 *   an exception; 0x01 would wrongly tell a client the function is unsupported and 0x03 that the
 *   value is out of range, so 0x04 — "the device could not perform it" — is used.)
 * - 0x0B gateway target device failed to respond: unit id outside 1–20.
 * Fault injection can answer any code for a unit, delay replies, never answer a unit, or flood
 * every connection with unsolicited frames (`flood`, frames per second) while still answering.
 *
 * CLI: node dist/mock/server.js --type Kehua|Wonderint [-p 5020] [-h 127.0.0.1] [--error]
 *      [--bulk file.json] [--mockControlPort N] [--username u --password p]
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { hideBin } from 'yargs/helpers'
import { WrkError } from '../workers/core/errors'
import { authResponse } from '../workers/lib/auth'
import {
  FC_READ_HOLDING_REGISTERS, FC_WRITE_MULTIPLE_REGISTERS, FC_WRITE_SINGLE_REGISTER, encodeExceptionResponse,
  encodeReadHoldingRegistersResponse, encodeWriteMultipleRegistersResponse, encodeWriteSingleRegisterResponse
} from '../workers/lib/modbus/frame'
import { runCli, type MockCli, type MockCliOptions } from './cli'
import {
  MOCK_DEFAULT_HOST, MOCK_DEFAULT_PORT, type CreateServerOptions, type FaultPatch, type FaultState, type MockServer,
  type MockServerStats, type ThingInfo, type ThingPatch, type WriteRecord
} from './types'
import {
  CDU, CDU_UNIT, MAX_READ_COUNT, MAX_WRITE_COUNT, PDU, PDU_UNITS, isKnownUnit, isReadable,
  isWritable, socketOfControlRegister, toRegister
} from './registers'
import { MockState, parseContainerType, type ContainerType } from './state'

export { createControlServer, type MockControlServer, type ControlServerOptions } from './control'
export type { MockCli, MockCliOptions } from './cli'
export type { CreateServerOptions, FaultPatch, FaultState, MockServer, MockServerStats, ThingInfo, ThingPatch, WriteRecord } from './types'
export { MockState, parseContainerType, type ContainerType, type MockStatePatch, type RegisterPatch } from './state'

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

export const WRITE_LOG_LIMIT = 10_000

interface Connection {
  id: number
  socket: Socket
  /** 8 random bytes served at unit 1 registers 301–304. */
  challenge: Buffer
  authenticated: boolean
  /** Bytes of an incomplete frame, kept until the rest arrives. */
  pending: Buffer | null
}

/** A request held back by `delayMs`: handled and answered at `due` (ms, monotonic clock). */
interface DelayedReply {
  due: number
  conn: Connection
  make: () => Buffer
}

/** MBAP header without the unit id: transaction id, protocol id, length. */
const MBAP_LEN = 6
/** Function codes a MicroBT controller knows but the mock refuses with exception 01 (fault injection applies). */
const REFUSED_FUNCTIONS: ReadonlySet<number> = new Set([1, 2, 4, 5, 15])
const MAX_DELAY_MS = 600_000
/** Upper bound of the `flood` fault (frames per second per connection). */
export const MAX_FLOOD_FPS = 1_000_000
/** The flood is sent in bursts this far apart (ms). */
const FLOOD_TICK_MS = 10
/** A connection whose unsent output exceeds this gets no flood until it drains (a client that stopped reading). */
const FLOOD_MAX_BUFFERED = 1024 * 1024
let nextServerId = 0

function newChallenge (): Buffer {
  return randomBytes(8)
}

function checkUnit (unit: number, what: string): void {
  if (!Number.isInteger(unit) || unit < 0 || unit > 255) throw new WrkError('ERR_MOCK_BAD_FAULT', `${what}: unit ${unit} outside 0…255`)
}

function emptyStats (): MockServerStats {
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

class MockContainerServer implements MockServer {
  readonly id: string
  readonly type: ContainerType
  readonly host: string
  readonly state: MockState
  stats: MockServerStats = emptyStats()
  writeLog: WriteRecord[] = []

  private boundPort: number
  private readonly username: string
  private readonly password: string
  private readonly tickMs: number
  private tcp: NetServer | undefined
  private listening: Promise<void> | undefined
  private ticker: NodeJS.Timeout | undefined
  private exited = false
  private connSeq = 0
  private readonly connections = new Set<Connection>()
  /** Replies held back by `delayMs`, by due time; one timer for all of them. */
  private delayed: DelayedReply[] = []
  private delayTimer: NodeJS.Timeout | undefined
  private delayMs = 0
  private readonly exceptions = new Map<number, number>()
  private readonly silentUnits = new Set<number>()
  private floodFps = 0
  private floodTimer: NodeJS.Timeout | undefined
  /** Fraction of a frame carried to the next flood tick. */
  private floodCarry = 0
  /** xorshift32 state of the flood's transaction ids. */
  private floodRng = 0x9e3779b9

  constructor (opts: CreateServerOptions) {
    this.type = parseContainerType(opts.type)
    const port = opts.port ?? MOCK_DEFAULT_PORT
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new WrkError('ERR_MOCK_BAD_PORT', `invalid port ${port}`)
    const tickMs = opts.tickMs ?? 1000
    if (!Number.isFinite(tickMs) || tickMs < 0) throw new WrkError('ERR_MOCK_BAD_TICK', `invalid tickMs ${tickMs}`)
    this.boundPort = port
    this.host = opts.host ?? MOCK_DEFAULT_HOST
    this.username = opts.username ?? 'admin'
    this.password = opts.password ?? 'admin'
    this.tickMs = tickMs
    this.id = opts.id ?? String(nextServerId++)
    this.state = new MockState({ type: this.type, error: opts.error === true, seed: opts.seed })
  }

  get port (): number {
    return this.boundPort
  }

  get offline (): boolean {
    return this.tcp === undefined
  }

  get connectionCount (): number {
    return this.connections.size
  }

  get faults (): FaultState {
    return {
      delayMs: this.delayMs,
      exceptions: [...this.exceptions].map(([unit, code]) => ({ unit, code })),
      silentUnits: [...this.silentUnits].sort((a, b) => a - b),
      flood: this.floodFps
    }
  }

  info (): ThingInfo {
    return { id: this.id, type: this.type, host: this.host, port: this.port, offline: this.offline, error: this.state.error }
  }

  async start (): Promise<{ port: number }> {
    if (this.exited) throw new WrkError('ERR_MOCK_EXITED', `mock ${this.id} has exited`)
    if (this.ticker === undefined && this.tickMs > 0) {
      this.ticker = setInterval(() => this.state.tick(this.tickMs), this.tickMs)
      this.ticker.unref()
    }
    if (this.floodFps > 0) this.setFlood(this.floodFps)
    await this.listen()
    return { port: this.port }
  }

  async stop (): Promise<void> {
    if (this.ticker !== undefined) clearInterval(this.ticker)
    this.ticker = undefined
    if (this.floodTimer !== undefined) clearInterval(this.floodTimer)
    this.floodTimer = undefined
    await this.closeListener()
  }

  async exit (): Promise<void> {
    this.exited = true
    await this.stop()
  }

  reset (): void {
    this.state.reset()
    this.clearFaults()
    this.resetStats()
  }

  resetStats (): void {
    this.stats = emptyStats()
    this.writeLog = []
  }

  async setOffline (offline: boolean): Promise<void> {
    if (offline) await this.closeListener()
    else await this.start()
  }

  setFault (fault: FaultPatch): void {
    validateFaultPatch(fault)
    if (fault.delayMs !== undefined) this.delayMs = fault.delayMs
    if (fault.exception === null) this.exceptions.clear()
    else if (fault.exception !== undefined) {
      if (fault.exception.code === 0) this.exceptions.delete(fault.exception.unit)
      else this.exceptions.set(fault.exception.unit, fault.exception.code)
    }
    if (fault.silentUnits !== undefined) {
      this.silentUnits.clear()
      for (const u of fault.silentUnits) this.silentUnits.add(u)
    }
    if (fault.dropUnit !== undefined) this.silentUnits.add(fault.dropUnit)
    if (fault.error !== undefined) this.state.setError(fault.error)
    if (fault.flood !== undefined) this.setFlood(fault.flood)
  }

  clearFaults (): void {
    this.delayMs = 0
    this.exceptions.clear()
    this.silentUnits.clear()
    this.setFlood(0)
  }

  private setFlood (fps: number): void {
    this.floodFps = fps
    this.floodCarry = 0
    if (fps > 0 && this.floodTimer === undefined) {
      this.floodTimer = setInterval(() => this.floodTick(), FLOOD_TICK_MS)
      this.floodTimer.unref()
    } else if (fps === 0 && this.floodTimer !== undefined) {
      clearInterval(this.floodTimer)
      this.floodTimer = undefined
    }
  }

  /** One burst of unsolicited frames (FC03 replies of unit 1, random transaction ids) to every connection. */
  private floodTick (): void {
    const due = this.floodFps * FLOOD_TICK_MS / 1000 + this.floodCarry
    const n = Math.floor(due)
    this.floodCarry = due - n
    if (n === 0 || this.connections.size === 0) return
    this.floodBurst(n, this.connections)
  }

  /** `n` unsolicited frames to each of `conns` (skipping the ones that stopped reading). */
  private floodBurst (n: number, conns: Iterable<Connection>): void {
    const one = encodeReadHoldingRegistersResponse(0, CDU_UNIT, [0x1234])
    const burst = Buffer.allocUnsafe(n * one.length)
    let x = this.floodRng
    for (let i = 0; i < n; i++) {
      one.copy(burst, i * one.length)
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      x >>>= 0
      burst.writeUInt16BE((x % 0xffff) + 1, i * one.length)
    }
    this.floodRng = x
    for (const conn of conns) {
      if (conn.socket.destroyed || conn.socket.writableLength > FLOOD_MAX_BUFFERED) continue
      conn.socket.write(burst)
      this.stats.unsolicited += n
    }
  }

  setRegister (unit: number, register: number, value: number): void {
    this.state.set(unit, register, value)
  }

  getRegister (unit: number, register: number): number {
    return this.state.get(unit, register)
  }

  async apply (patch: ThingPatch): Promise<void> {
    const { offline, state, registers, ...fault } = patch
    // Validate the fault part first: the state patch validates itself before applying, so an
    // invalid patch changes nothing.
    validateFaultPatch(fault)
    if (state !== undefined || registers !== undefined) {
      this.state.patch({ ...state, registers: [...(state?.registers ?? []), ...(registers ?? [])] })
    }
    this.setFault(fault)
    if (offline !== undefined) await this.setOffline(offline)
  }

  // ---------------------------------------------------------------- Modbus listener

  private async listen (): Promise<void> {
    if (this.tcp !== undefined) return
    if (this.listening !== undefined) return await this.listening
    this.listening = this.openListener().finally(() => { this.listening = undefined })
    await this.listening
  }

  private async openListener (): Promise<void> {
    const server = createNetServer({ noDelay: true }, (sock) => this.onConnection(sock))
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error | null): void => {
        const code = (err as NodeJS.ErrnoException | null)?.code ?? 'unknown'
        reject(new WrkError('ERR_MOCK_LISTEN', `mock ${this.id} cannot listen on ${this.host}:${this.boundPort} (${code})`, { cause: err }))
      }
      server.once('error', onError)
      server.listen(this.boundPort, this.host, () => {
        server.removeListener('error', onError)
        server.on('error', () => { /* listener errors after start: ignored */ })
        resolve()
      })
    })
    this.boundPort = (server.address() as AddressInfo).port
    this.tcp = server
  }

  private async closeListener (): Promise<void> {
    if (this.listening !== undefined) await this.listening.catch(() => undefined)
    const tcp = this.tcp
    this.tcp = undefined
    if (this.delayTimer !== undefined) clearTimeout(this.delayTimer)
    this.delayTimer = undefined
    this.delayed = []
    for (const c of this.connections) c.socket.destroy()
    this.connections.clear()
    if (tcp === undefined) return
    await new Promise<void>((resolve) => tcp.close(() => resolve()))
  }

  private onConnection (socket: Socket): void {
    const conn: Connection = { id: ++this.connSeq, socket, challenge: newChallenge(), authenticated: false, pending: null }
    this.connections.add(conn)
    this.stats.connections++
    socket.once('close', () => this.connections.delete(conn))
    socket.on('error', () => { /* reset by peer etc.: the close handler cleans up */ })
    socket.on('data', (data: Buffer) => this.onData(conn, data))
    // flooded from the first byte on, not from the next tick
    if (this.floodFps > 0) this.floodBurst(Math.max(1, Math.floor(this.floodFps * FLOOD_TICK_MS / 1000)), [conn])
  }

  /**
   * Answers every complete frame of `data` in order; the replies that are not delayed go out in
   * one write. A frame is `[tid:2][protocol:2][length:2][unit][fc][data…]`, `length` counting
   * from the unit id; frames too short for their function code are ignored (no reply).
   */
  private onData (conn: Connection, data: Buffer): void {
    const buf = conn.pending === null ? data : Buffer.concat([conn.pending, data])
    conn.pending = null
    const out: Buffer[] = []
    let off = 0
    while (buf.length - off > MBAP_LEN) {
      const pduLen = buf.readUInt16BE(off + 4)
      if (buf.length - off - MBAP_LEN < pduLen) break
      if (pduLen >= 2) {
        const unit = buf[off + MBAP_LEN] as number
        const fc = buf[off + MBAP_LEN + 1] as number
        this.stats.requests++
        bump(this.stats.byUnit, unit)
        bump(this.stats.byFunctionCode, fc)
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
        return this.readReply(tid, unit, address, count, conn)
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
    this.stats.exceptions++
    bump(this.stats.exceptionsByCode, MODBUS_EXCEPTION.ILLEGAL_FUNCTION)
    return encodeExceptionResponse(tid, unit, fc, MODBUS_EXCEPTION.ILLEGAL_FUNCTION)
  }

  // ---------------------------------------------------------------- request handling

  /**
   * Runs `work` for one request of `unit` with the fault injection applied: silent units never
   * answer, `delayMs` postpones the work (the request is handled when its reply is due), and
   * injected exceptions win over everything else. Returns the frame to send now, if any.
   */
  private dispatch (conn: Connection, tid: number, unit: number, fc: number, work: () => Buffer): Buffer | null {
    if (this.silentUnits.has(unit)) {
      this.stats.unanswered++
      return null
    }
    if (this.delayMs > 0) {
      this.hold(conn, this.delayMs, () => this.run(tid, unit, fc, work))
      return null
    }
    return this.run(tid, unit, fc, work)
  }

  private run (tid: number, unit: number, fc: number, work: () => Buffer): Buffer {
    try {
      const injected = this.exceptions.get(unit)
      if (injected !== undefined) throw new ModbusException(injected, `injected exception ${injected}`)
      if (!isKnownUnit(unit)) throw new ModbusException(MODBUS_EXCEPTION.GATEWAY_TARGET_FAILED, `no unit ${unit}`)
      return work()
    } catch (err) {
      const code = err instanceof ModbusException ? err.modbusErrorCode : MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE
      this.stats.exceptions++
      bump(this.stats.exceptionsByCode, code)
      return encodeExceptionResponse(tid, unit, fc, code)
    }
  }

  /** Queues `make()`'s reply to be computed and sent in `ms` (one timer per server, replies in due order). */
  private hold (conn: Connection, ms: number, make: () => Buffer): void {
    const entry: DelayedReply = { due: performance.now() + ms, conn, make }
    const q = this.delayed
    let i = q.length
    while (i > 0 && (q[i - 1] as DelayedReply).due > entry.due) i--
    q.splice(i, 0, entry)
    if (i === 0) this.armDelayTimer()
  }

  private armDelayTimer (): void {
    if (this.delayTimer !== undefined) clearTimeout(this.delayTimer)
    const head = this.delayed[0]
    this.delayTimer = head === undefined
      ? undefined
      : setTimeout(() => this.flushDelayed(), Math.max(0, head.due - performance.now()))
  }

  private flushDelayed (): void {
    this.delayTimer = undefined
    const now = performance.now()
    const byConn = new Map<Connection, Buffer[]>()
    let n = 0
    // 0.5 ms of slack: a timer may fire a little early
    while (n < this.delayed.length && (this.delayed[n] as DelayedReply).due <= now + 0.5) n++
    for (const entry of this.delayed.splice(0, n)) {
      if (entry.conn.socket.destroyed) continue
      const frame = entry.make()
      const list = byConn.get(entry.conn)
      if (list) list.push(frame)
      else byConn.set(entry.conn, [frame])
    }
    for (const [conn, frames] of byConn) conn.socket.write(frames.length === 1 ? frames[0] as Buffer : Buffer.concat(frames))
    this.armDelayTimer()
  }

  /** The FC03 reply frame for `count` registers from on-wire `address` of `unit`. */
  private readReply (tid: number, unit: number, address: number, count: number, conn: Connection): Buffer {
    return encodeReadHoldingRegistersResponse(tid, unit, this.read(unit, address, count, conn))
  }

  private read (unit: number, address: number, count: number, conn: Connection): number[] {
    if (count < 1 || count > MAX_READ_COUNT) {
      throw new ModbusException(MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE, `read count ${count} outside 1…${MAX_READ_COUNT}`)
    }
    const first = toRegister(address)
    if (!isReadable(unit, first, count)) {
      throw new ModbusException(MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS, `unit ${unit} registers ${first}…${first + count - 1} are not readable`)
    }
    const values = this.state.read(unit, first, count)
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
        throw new ModbusException(MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE, 'the authentication response is 16 registers written with FC16 at 305')
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
    values.forEach((v, i) => this.checkWriteValue(unit, first + i, v))
    values.forEach((v, i) => {
      this.state.applyWrite(unit, first + i, v)
      this.writeLog.push({ unit, register: first + i, value: v & 0xffff, fc, connection: conn.id })
    })
    if (this.writeLog.length > WRITE_LOG_LIMIT) this.writeLog.splice(0, this.writeLog.length - WRITE_LOG_LIMIT)
  }

  private checkWriteValue (unit: number, register: number, value: number): void {
    const bad = (what: string): never => {
      throw new ModbusException(MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE, `${what}: invalid value ${value}`)
    }
    if (unit === CDU_UNIT && register === CDU.systemMainControl && value !== 0 && value !== 1) bad('system_main_control')
    if (PDU_UNITS.includes(unit) && socketOfControlRegister(register) !== undefined && value !== PDU.socketOn && value !== PDU.socketOff) {
      bad(`socket ${String(socketOfControlRegister(register))} control`)
    }
  }

  private authenticate (conn: Connection, values: number[]): void {
    const response = Buffer.alloc(values.length * 2)
    values.forEach((v, i) => response.writeUInt16BE(v & 0xffff, i * 2))
    const expected = authResponse(conn.challenge, this.username, this.password)
    if (response.length === expected.length && timingSafeEqual(response, expected)) {
      conn.authenticated = true
      conn.challenge = newChallenge()
      this.stats.authSucceeded++
      return
    }
    conn.authenticated = false
    this.stats.authFailed++
    throw new ModbusException(MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE, 'authentication failed')
  }
}

/** Throws ERR_MOCK_BAD_FAULT unless every field of the patch is valid. */
function validateFaultPatch (fault: FaultPatch): void {
  if (fault.delayMs !== undefined && (!Number.isInteger(fault.delayMs) || fault.delayMs < 0 || fault.delayMs > MAX_DELAY_MS)) {
    throw new WrkError('ERR_MOCK_BAD_FAULT', `delayMs must be an integer 0…${MAX_DELAY_MS}`)
  }
  if (fault.exception != null) {
    checkUnit(fault.exception.unit, 'exception')
    const code = fault.exception.code
    if (!Number.isInteger(code) || code < 0 || code > 255) throw new WrkError('ERR_MOCK_BAD_FAULT', `exception code ${code} outside 0…255`)
  }
  if (fault.dropUnit !== undefined) checkUnit(fault.dropUnit, 'dropUnit')
  for (const u of fault.silentUnits ?? []) checkUnit(u, 'silentUnits')
  if (fault.flood !== undefined && (!Number.isInteger(fault.flood) || fault.flood < 0 || fault.flood > MAX_FLOOD_FPS)) {
    throw new WrkError('ERR_MOCK_BAD_FAULT', `flood must be an integer 0…${MAX_FLOOD_FPS} (frames per second)`)
  }
}

/** A mock container (not started: call `start()`). */
export function createServer (opts: CreateServerOptions): MockServer {
  return new MockContainerServer(opts)
}

/**
 * The mock CLI without process handling (./cli.ts): parses `argv` (without node and the script),
 * starts the servers and the control API, resolves once all listen.
 */
export async function main (argv: readonly string[], opts: MockCliOptions = {}): Promise<MockCli> {
  return await runCli(argv, createServer, opts)
}

if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  main(hideBin(process.argv)).then((cli) => {
    if (cli.servers.length === 0) return
    const shutdown = (): void => {
      cli.stop().then(() => process.exit(0), () => process.exit(0))
    }
    process.once('SIGINT', shutdown)
    process.once('SIGTERM', shutdown)
  }, (err: unknown) => {
    console.error(`mock-server: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  })
}
