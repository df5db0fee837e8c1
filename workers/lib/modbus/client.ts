import net from 'node:net'
import createDebug from 'debug'
import { WrkError } from '../../tpl/errors'
import { silentLogger, type Logger } from '../../tpl/types'
import {
  FC_READ_HOLDING_REGISTERS,
  FC_WRITE_MULTIPLE_REGISTERS,
  FC_WRITE_SINGLE_REGISTER,
  EXCEPTION_FLAG,
  MAX_READ_REGISTERS,
  MAX_WRITE_REGISTERS,
  MbapStreamParser,
  checkWriteReplyData,
  decodeReadHoldingRegistersData,
  encodeReadHoldingRegistersRequest,
  encodeWriteMultipleRegistersRequest,
  encodeWriteSingleRegisterRequest
} from './frame'
import type { ModbusClient, ModbusClientOptions, ModbusClientStats, RequestOptions } from './types'

const debug = createDebug('mbt:modbus')

const DEFAULT_TIMEOUT_MS = 2000
const DEFAULT_RETRIES = 1
const DEFAULT_MAX_IN_FLIGHT = 4
const DEFAULT_HALF_OPEN_AFTER = 3
const DEFAULT_BACKOFF_MIN_MS = 250
const DEFAULT_BACKOFF_MAX_MS = 5000
const KEEPALIVE_INITIAL_DELAY_MS = 10_000

const EXCEPTION_NAMES: Record<number, string> = {
  0x01: 'illegal function',
  0x02: 'illegal data address',
  0x03: 'illegal data value',
  0x04: 'server device failure',
  0x05: 'acknowledge',
  0x06: 'server device busy',
  0x08: 'memory parity error',
  0x0a: 'gateway path unavailable',
  0x0b: 'gateway target device failed to respond'
}

function hex2 (n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0')
}

/** A Modbus exception reply. `code` is `ERR_MODBUS_EXCEPTION_<2 hex digits>`. */
export class ModbusExceptionError extends WrkError {
  /** Exception code from the reply (e.g. 2 = illegal data address). */
  readonly exceptionCode: number
  /** Function code of the request that was refused (without the 0x80 flag). */
  readonly functionCode: number

  constructor (functionCode: number, exceptionCode: number) {
    const hex = hex2(exceptionCode)
    super(`ERR_MODBUS_EXCEPTION_${hex}`, `modbus exception ${hex} (${EXCEPTION_NAMES[exceptionCode] ?? 'unknown'}) for function ${functionCode}`)
    this.name = 'ModbusExceptionError'
    this.exceptionCode = exceptionCode
    this.functionCode = functionCode
  }
}

const QUEUED = 0
const IN_FLIGHT = 1
const DONE = 2
type PendingState = typeof QUEUED | typeof IN_FLIGHT | typeof DONE

type ConnState = 'idle' | 'backoff' | 'connecting' | 'connected' | 'closed'

type TimerHandler = (p: Pending) => void

function noop (): void {}

/** One request, from submit to settle. Reused across retries (new transaction id each send). */
class Pending {
  tid = 0
  state: PendingState = QUEUED
  /** Client timeout sequence number when sent (timeout-burst detection). */
  seqAtSend = 0
  resolve: (value: number[] | undefined) => void = noop
  reject: (err: Error) => void = noop
  readonly timer: NodeJS.Timeout
  readonly fc: number
  readonly unit: number
  readonly address: number
  /** FC03/FC16: register count; FC06: the (uint16) value, echoed by the reply. */
  readonly arg: number
  readonly high: boolean
  /** Pinned connection id, 0 = any. */
  readonly pin: number
  /** Encoded ADU; bytes 0..1 (transaction id) are patched on every send. */
  frame: Buffer
  retriesLeft: number

  constructor (fc: number, unit: number, address: number, arg: number, frame: Buffer, high: boolean, pin: number,
    retriesLeft: number, timeoutMs: number, onTimer: TimerHandler) {
    this.fc = fc
    this.unit = unit
    this.address = address
    this.arg = arg
    this.frame = frame
    this.high = high
    this.pin = pin
    this.retriesLeft = retriesLeft
    this.timer = setTimeout(onTimer, timeoutMs, this)
  }
}

interface ConnectWaiter {
  resolve: (id: number) => void
  reject: (err: Error) => void
}

function invalid (msg: string): Promise<never> {
  return Promise.reject(new WrkError('ERR_MODBUS_INVALID_ARGS', msg))
}

function isUnit (u: number): boolean {
  return Number.isInteger(u) && u >= 0 && u <= 255
}

function isAddress (a: number): boolean {
  return Number.isInteger(a) && a >= 0 && a <= 0xffff
}

/** uint16 or int16 (converted to two's complement by the encoders). */
function isRegisterValue (v: number): boolean {
  return Number.isInteger(v) && v >= -0x8000 && v <= 0xffff
}

function positiveNumber (v: number | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new WrkError('ERR_MODBUS_INVALID_ARGS', `${name} must be a positive number`)
  return v
}

function integerAtLeast (v: number | undefined, fallback: number, min: number, name: string): number {
  if (v === undefined) return fallback
  if (!Number.isInteger(v) || v < min) throw new WrkError('ERR_MODBUS_INVALID_ARGS', `${name} must be an integer >= ${min}`)
  return v
}

function errText (err: Error | null): string {
  if (err === null) return 'closed'
  const code = (err as NodeJS.ErrnoException).code
  return typeof code === 'string' ? code : err.message
}

/** Test hooks, not part of the ModbusClient contract. */
export interface ModbusTcpClientInternals {
  /** Transaction id of the first request sent (1..65535), to exercise the 65535 → 1 wrap quickly. */
  firstTransactionId?: number
  /** Clean replies after which a window dropped by a timeout burst is restored (default 1000). */
  restoreWindowAfterReplies?: number
}

/**
 * A timeout burst may be a passing network fault, so the window comes back after this many
 * replies without a timeout; a mismatched reply proves the device breaks under pipelining and
 * keeps the window at 1 for good.
 */
const DEFAULT_RESTORE_WINDOW_AFTER_REPLIES = 1000
/** How many timed-out transaction ids are remembered (and not reused) to recognise late replies. */
const MAX_REMEMBERED_TIMEOUTS = 256

/**
 * Modbus TCP client over a single `net.Socket`, with pipelining, priorities, strict reply
 * matching, per-request timeouts, read retries, half-open detection and backoff reconnects.
 *
 * Semantics beyond the contract in ./types.ts:
 * - The per-request timeout applies separately to (a) waiting for a connection and (b) each
 *   attempt on the wire. A request queued behind the pipelining window on a live connection
 *   keeps waiting (the requests ahead of it are bounded by their own timeouts). A request that
 *   sees no connection within its timeout rejects with ERR_MODBUS_NOT_CONNECTED.
 * - `stats.requests` counts frames sent (retries included), `stats.responses` replies matched
 *   to a request (exceptions included), `stats.timeouts` attempts that timed out,
 *   `stats.reconnects` connections established after the first one.
 * - `connectionId` increments per successfully established socket (the first is 1).
 * - A failed connect rejects every queued request with ERR_MODBUS_NOT_CONNECTED and arms a
 *   backoff: the next attempt (lazy, on the next request) waits for it. After an established
 *   connection drops, a reconnect is attempted in the background after the backoff delay.
 * - Reads resolve to unsigned values 0..65535; writes accept -32768..65535.
 */
export class ModbusTcpClient implements ModbusClient {
  readonly stats: ModbusClientStats

  private readonly host: string
  private readonly port: number
  private readonly timeoutMs: number
  private readonly retries: number
  private readonly halfOpenAfter: number
  private readonly backoffMinMs: number
  private readonly backoffMaxMs: number
  private readonly connectTimeoutMs: number
  private readonly logger: Logger

  private window: number
  private readonly configuredWindow: number
  private readonly restoreAfterReplies: number
  /** Clean replies still needed to restore the window; null when it is not recoverable (or not dropped). */
  private repliesToRestore: number | null = null
  private state: ConnState = 'idle'
  private socket: net.Socket | null = null
  private connId = 0
  private readonly inflight = new Map<number, Pending>()
  private highQ: Pending[] = []
  private normalQ: Pending[] = []
  private lastTid = 0
  /** Transaction ids of requests that timed out, oldest first: their replies may still come. */
  private readonly timedOutTids = new Set<number>()
  private consecutiveTimeouts = 0
  private timeoutSeq = 0
  /** Consecutive failed/short-lived connections: the backoff exponent. */
  private failures = 0
  private nextAttemptAt = 0
  private backoffTimer: NodeJS.Timeout | null = null
  private connectTimer: NodeJS.Timeout | null = null
  private connectWaiters: ConnectWaiter[] = []
  private connectedAt = 0
  private gotReply = false
  private closePromise: Promise<void> | null = null
  private readonly parser: MbapStreamParser

  constructor (opts: ModbusClientOptions, internals?: ModbusTcpClientInternals) {
    if (typeof opts.host !== 'string' || opts.host.length === 0) throw new WrkError('ERR_MODBUS_INVALID_ARGS', 'host is required')
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 0xffff) throw new WrkError('ERR_MODBUS_INVALID_ARGS', 'port must be 1..65535')
    this.host = opts.host
    this.port = opts.port
    this.timeoutMs = positiveNumber(opts.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs')
    this.retries = integerAtLeast(opts.retries, DEFAULT_RETRIES, 0, 'retries')
    this.window = integerAtLeast(opts.maxInFlight, DEFAULT_MAX_IN_FLIGHT, 1, 'maxInFlight')
    if (this.window > 1024) throw new WrkError('ERR_MODBUS_INVALID_ARGS', 'maxInFlight must be <= 1024')
    this.configuredWindow = this.window
    this.restoreAfterReplies = integerAtLeast(internals?.restoreWindowAfterReplies, DEFAULT_RESTORE_WINDOW_AFTER_REPLIES, 1, 'restoreWindowAfterReplies')
    this.halfOpenAfter = integerAtLeast(opts.halfOpenAfterTimeouts, DEFAULT_HALF_OPEN_AFTER, 1, 'halfOpenAfterTimeouts')
    this.backoffMinMs = positiveNumber(opts.backoffMinMs, DEFAULT_BACKOFF_MIN_MS, 'backoffMinMs')
    this.backoffMaxMs = positiveNumber(opts.backoffMaxMs, Math.max(DEFAULT_BACKOFF_MAX_MS, this.backoffMinMs), 'backoffMaxMs')
    if (this.backoffMaxMs < this.backoffMinMs) throw new WrkError('ERR_MODBUS_INVALID_ARGS', 'backoffMaxMs must be >= backoffMinMs')
    this.connectTimeoutMs = positiveNumber(opts.connectTimeoutMs, this.timeoutMs, 'connectTimeoutMs')
    this.logger = opts.logger ?? silentLogger
    this.stats = { requests: 0, responses: 0, timeouts: 0, lateReplies: 0, exceptions: 0, reconnects: 0, maxInFlight: this.window }
    this.parser = new MbapStreamParser(this.onFrame)
    const first = internals?.firstTransactionId
    if (first !== undefined) {
      if (!Number.isInteger(first) || first < 1 || first > 0xffff) throw new WrkError('ERR_MODBUS_INVALID_ARGS', 'firstTransactionId must be 1..65535')
      this.lastTid = first - 1
    }
  }

  get connected (): boolean {
    return this.state === 'connected'
  }

  get connectionId (): number {
    return this.connId
  }

  /** Waits for a connection at most `timeoutMs` (also through a pending backoff), like a request. */
  connect (): Promise<number> {
    if (this.state === 'closed') return Promise.reject(closedError())
    if (this.state === 'connected') return Promise.resolve(this.connId)
    return new Promise<number>((resolve, reject) => {
      const waiter: ConnectWaiter = {
        resolve: (id) => { clearTimeout(timer); resolve(id) },
        reject: (err) => { clearTimeout(timer); reject(err) }
      }
      const timer = setTimeout(() => {
        this.connectWaiters = this.connectWaiters.filter((w) => w !== waiter)
        reject(new WrkError('ERR_MODBUS_NOT_CONNECTED', `no connection to ${this.host}:${this.port} within ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      this.connectWaiters.push(waiter)
      this.ensureConnecting()
    })
  }

  readHoldingRegisters (unit: number, address: number, count: number, opts?: RequestOptions): Promise<number[]> {
    if (!isUnit(unit)) return invalid(`unit must be 0..255, got ${unit}`)
    if (!isAddress(address)) return invalid(`address must be 0..65535, got ${address}`)
    if (!Number.isInteger(count) || count < 1 || count > MAX_READ_REGISTERS) return invalid(`count must be 1..${MAX_READ_REGISTERS}, got ${count}`)
    if (address + count > 0x10000) return invalid('address + count exceeds the register space')
    const frame = encodeReadHoldingRegistersRequest(0, unit, address, count)
    return this.submit(FC_READ_HOLDING_REGISTERS, unit, address, count, frame, false, opts) as Promise<number[]>
  }

  writeRegister (unit: number, address: number, value: number, opts?: RequestOptions): Promise<void> {
    if (!isUnit(unit)) return invalid(`unit must be 0..255, got ${unit}`)
    if (!isAddress(address)) return invalid(`address must be 0..65535, got ${address}`)
    if (!isRegisterValue(value)) return invalid(`value must be an integer -32768..65535, got ${value}`)
    const v = value & 0xffff
    const frame = encodeWriteSingleRegisterRequest(0, unit, address, v)
    return this.submit(FC_WRITE_SINGLE_REGISTER, unit, address, v, frame, true, opts) as Promise<unknown> as Promise<void>
  }

  writeRegisters (unit: number, address: number, values: number[], opts?: RequestOptions): Promise<void> {
    if (!isUnit(unit)) return invalid(`unit must be 0..255, got ${unit}`)
    if (!isAddress(address)) return invalid(`address must be 0..65535, got ${address}`)
    if (!Array.isArray(values) || values.length < 1 || values.length > MAX_WRITE_REGISTERS) return invalid(`values must hold 1..${MAX_WRITE_REGISTERS} registers`)
    if (address + values.length > 0x10000) return invalid('address + count exceeds the register space')
    for (let i = 0; i < values.length; i++) {
      if (!isRegisterValue(values[i])) return invalid(`values[${i}] must be an integer -32768..65535, got ${values[i]}`)
    }
    const frame = encodeWriteMultipleRegistersRequest(0, unit, address, values)
    return this.submit(FC_WRITE_MULTIPLE_REGISTERS, unit, address, values.length, frame, true, opts) as Promise<unknown> as Promise<void>
  }

  close (): Promise<void> {
    if (this.closePromise !== null) return this.closePromise
    this.state = 'closed'
    this.clearBackoffTimer()
    this.clearConnectTimer()
    const err = closedError()
    for (const p of this.inflight.values()) this.fail(p, err)
    this.inflight.clear()
    this.failQueued(err)
    this.rejectWaiters(err)
    this.parser.reset()
    const sock = this.socket
    this.socket = null
    if (sock === null) {
      this.closePromise = Promise.resolve()
    } else {
      this.closePromise = new Promise<void>((resolve) => {
        sock.once('close', () => resolve())
        sock.destroy()
      })
    }
    debug('closed')
    return this.closePromise
  }

  // ---------------------------------------------------------------- requests

  private submit (fc: number, unit: number, address: number, arg: number, frame: Buffer, isWrite: boolean,
    opts: RequestOptions | undefined): Promise<number[] | undefined> {
    let timeoutMs = this.timeoutMs
    let high = isWrite
    let pin = 0
    if (opts !== undefined) {
      if (opts.timeoutMs !== undefined) {
        if (typeof opts.timeoutMs !== 'number' || !Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) return invalid('timeoutMs must be a positive number')
        timeoutMs = opts.timeoutMs
      }
      if (opts.priority !== undefined) {
        if (opts.priority !== 'high' && opts.priority !== 'normal') return invalid('priority must be high or normal')
        high = opts.priority === 'high'
      }
      if (opts.connectionId !== undefined) {
        if (!Number.isInteger(opts.connectionId) || opts.connectionId < 1) return invalid('connectionId must be a positive integer')
        pin = opts.connectionId
      }
    }
    if (this.state === 'closed') return Promise.reject(closedError())
    if (pin !== 0 && (this.state !== 'connected' || pin !== this.connId)) return Promise.reject(changedError(pin, this.state === 'connected' ? this.connId : -1))

    const p = new Pending(fc, unit, address, arg, frame, high, pin, isWrite ? 0 : this.retries, timeoutMs, this.onTimer)
    const promise = new Promise<number[] | undefined>((resolve, reject) => {
      p.resolve = resolve
      p.reject = reject
    })
    if (high) this.highQ.push(p)
    else this.normalQ.push(p)
    if (this.state === 'connected') this.pump()
    else this.ensureConnecting()
    return promise
  }

  /** Sends queued requests while the window allows. High priority first; FIFO within a priority. */
  private pump (): void {
    if (this.state !== 'connected') return
    const sock = this.socket
    if (sock === null) return
    while (this.inflight.size < this.window) {
      const p = this.highQ.length > 0 ? this.highQ.shift() : this.normalQ.shift()
      if (p === undefined) return
      if (p.pin !== 0 && p.pin !== this.connId) {
        this.fail(p, changedError(p.pin, this.connId))
        continue
      }
      const tid = this.nextTid()
      p.tid = tid
      p.frame.writeUInt16BE(tid, 0)
      p.state = IN_FLIGHT
      p.seqAtSend = this.timeoutSeq
      p.timer.refresh()
      this.inflight.set(tid, p)
      this.stats.requests++
      sock.write(p.frame)
    }
  }

  private nextTid (): number {
    let t = this.lastTid
    do {
      t = t >= 0xffff ? 1 : t + 1
    } while (this.inflight.has(t) || this.timedOutTids.has(t))
    this.lastTid = t
    return t
  }

  private readonly onFrame = (tid: number, unit: number, fc: number, data: Buffer): void => {
    // Any frame, even a late one, proves the link carries data: it is slow, not half-open.
    this.consecutiveTimeouts = 0
    const p = this.inflight.get(tid)
    if (p === undefined) {
      if (this.timedOutTids.delete(tid)) {
        // The reply of a request that already timed out: counted and dropped, no penalty.
        this.stats.lateReplies++
        debug('dropped late reply tid=%d unit=%d fc=%d', tid, unit, fc)
        return
      }
      this.unmatchedReply('tid_mismatch', tid, unit, fc)
      return
    }
    if (unit !== p.unit || (fc & ~EXCEPTION_FLAG) !== p.fc) {
      this.unmatchedReply('unit_fc_mismatch', tid, unit, fc)
      return
    }
    this.inflight.delete(tid)
    this.gotReply = true
    this.stats.responses++
    if (this.repliesToRestore !== null && --this.repliesToRestore <= 0) this.restoreWindow()
    if ((fc & EXCEPTION_FLAG) !== 0) {
      if (data.length !== 1) {
        this.fail(p, malformedError(p, 'exception reply length'))
        return
      }
      this.stats.exceptions++
      this.fail(p, new ModbusExceptionError(p.fc, data[0]))
      return
    }
    if (p.fc === FC_READ_HOLDING_REGISTERS) {
      const regs = decodeReadHoldingRegistersData(data, p.arg)
      if (regs === null) this.fail(p, malformedError(p, `byte count (expected ${2 * p.arg})`))
      else this.succeed(p, regs)
    } else if (checkWriteReplyData(data, p.address, p.arg)) {
      this.succeed(p, undefined)
    } else {
      this.fail(p, malformedError(p, 'write echo'))
    }
  }

  private unmatchedReply (reason: string, tid: number, unit: number, fc: number): void {
    this.stats.lateReplies++
    debug('dropped unmatched reply tid=%d unit=%d fc=%d (%s)', tid, unit, fc, reason)
    this.dropWindow(reason)
  }

  private dropWindow (reason: string): void {
    const recoverable = reason === 'timeout_burst'
    // A mismatch makes a recoverable drop permanent; a new burst restarts the count.
    if (this.window <= 1) {
      if (this.repliesToRestore !== null) this.repliesToRestore = recoverable ? this.restoreAfterReplies : null
      return
    }
    this.window = 1
    this.stats.maxInFlight = 1
    this.repliesToRestore = recoverable ? this.restoreAfterReplies : null
    this.logger.warn({ maxInFlight: 1, reason, host: this.host, port: this.port, restoreAfterReplies: this.repliesToRestore ?? undefined },
      recoverable ? 'modbus: pipelining suspended for this connection target' : 'modbus: pipelining disabled for this connection target')
  }

  private restoreWindow (): void {
    this.repliesToRestore = null
    this.window = this.configuredWindow
    this.stats.maxInFlight = this.window
    this.logger.info({ maxInFlight: this.window, host: this.host, port: this.port }, 'modbus: pipelining restored after clean replies')
    this.pump()
  }

  private readonly onTimer = (p: Pending): void => {
    if (p.state === QUEUED) {
      // Waiting behind the window on a live link: the requests ahead are bounded by their own timeouts.
      if (this.state === 'connected') {
        p.timer.refresh()
        return
      }
      this.removeQueued(p)
      this.fail(p, new WrkError('ERR_MODBUS_NOT_CONNECTED', `no connection to ${this.host}:${this.port} within the request timeout`))
      return
    }
    if (p.state !== IN_FLIGHT) return
    this.inflight.delete(p.tid)
    this.timedOutTids.add(p.tid)
    if (this.timedOutTids.size > MAX_REMEMBERED_TIMEOUTS) this.timedOutTids.delete(this.timedOutTids.values().next().value as number)
    this.stats.timeouts++
    this.consecutiveTimeouts++
    // Another request timed out while this one was on the wire: the device does not cope with the window.
    const burst = this.timeoutSeq > p.seqAtSend
    this.timeoutSeq++
    debug('timeout tid=%d unit=%d fc=%d (consecutive %d)', p.tid, p.unit, p.fc, this.consecutiveTimeouts)
    if (burst) this.dropWindow('timeout_burst')
    else if (this.repliesToRestore !== null) this.repliesToRestore = this.restoreAfterReplies
    if (p.retriesLeft > 0) {
      p.retriesLeft--
      this.requeueFront(p)
      p.timer.refresh()
    } else {
      this.fail(p, new WrkError('ERR_MODBUS_TIMEOUT', `modbus request timed out (unit ${p.unit}, fc ${p.fc}, address ${p.address})`))
    }
    if (this.consecutiveTimeouts >= this.halfOpenAfter && this.state === 'connected') {
      this.logger.warn({ timeouts: this.consecutiveTimeouts, connectionId: this.connId, host: this.host, port: this.port },
        'modbus: connection looks half-open, reconnecting')
      const sock = this.socket
      this.socket = null
      sock?.destroy()
      this.connectionLost(new Error('half-open'))
      return
    }
    this.pump()
  }

  private requeueFront (p: Pending): void {
    p.state = QUEUED
    // The old buffer may still sit in the socket's write queue: never patch it in place.
    p.frame = Buffer.from(p.frame)
    if (p.high) this.highQ.unshift(p)
    else this.normalQ.unshift(p)
  }

  private removeQueued (p: Pending): void {
    const q = p.high ? this.highQ : this.normalQ
    const i = q.indexOf(p)
    if (i >= 0) q.splice(i, 1)
  }

  private succeed (p: Pending, value: number[] | undefined): void {
    clearTimeout(p.timer)
    p.state = DONE
    p.resolve(value)
  }

  private fail (p: Pending, err: Error): void {
    clearTimeout(p.timer)
    p.state = DONE
    p.reject(err)
  }

  private failQueued (err: Error): void {
    const high = this.highQ
    const normal = this.normalQ
    this.highQ = []
    this.normalQ = []
    for (const p of high) this.fail(p, err)
    for (const p of normal) this.fail(p, err)
  }

  private rejectWaiters (err: Error): void {
    const waiters = this.connectWaiters
    this.connectWaiters = []
    for (const w of waiters) w.reject(err)
  }

  // -------------------------------------------------------------- connection

  private ensureConnecting (): void {
    if (this.state !== 'idle') return // connecting, backoff (wait for it), connected, closed
    const wait = this.nextAttemptAt - Date.now()
    if (wait > 0) this.scheduleAttempt(wait)
    else this.startConnect()
  }

  private scheduleAttempt (delayMs: number): void {
    this.state = 'backoff'
    this.clearBackoffTimer()
    this.backoffTimer = setTimeout(this.onBackoffTimer, delayMs)
    this.backoffTimer.unref()
    debug('reconnect in %d ms', delayMs)
  }

  private readonly onBackoffTimer = (): void => {
    this.backoffTimer = null
    if (this.state === 'backoff') this.startConnect()
  }

  /** Jittered exponential backoff in [backoffMinMs, backoffMaxMs]. */
  private nextBackoffDelay (): number {
    const base = Math.min(this.backoffMaxMs, this.backoffMinMs * 2 ** Math.min(this.failures, 20))
    this.failures++
    const jittered = Math.round(base * (0.75 + Math.random() * 0.5))
    return Math.max(this.backoffMinMs, Math.min(this.backoffMaxMs, jittered))
  }

  private startConnect (): void {
    this.state = 'connecting'
    const sock = new net.Socket()
    this.socket = sock
    let lastErr: Error | null = null
    sock.on('error', (err: Error) => {
      lastErr = err
      debug('socket error: %s', errText(err))
    })
    sock.on('close', () => {
      if (this.socket !== sock) return
      this.socket = null
      this.onSocketClosed(lastErr)
    })
    sock.on('data', (chunk: Buffer) => {
      if (this.socket !== sock) return
      this.parser.push(chunk)
      this.pump()
    })
    sock.once('connect', () => {
      if (this.socket === sock) this.onConnected(sock)
    })
    this.connectTimer = setTimeout(this.onConnectTimeout, this.connectTimeoutMs)
    debug('connecting to %s:%d', this.host, this.port)
    try {
      sock.connect({ host: this.host, port: this.port })
    } catch (err) {
      this.socket = null
      this.clearConnectTimer()
      sock.destroy()
      this.connectFailed(err instanceof Error ? err : new Error(String(err)))
    }
  }

  private onConnected (sock: net.Socket): void {
    this.clearConnectTimer()
    sock.setNoDelay(true)
    sock.setKeepAlive(true, KEEPALIVE_INITIAL_DELAY_MS)
    this.connId++
    if (this.connId > 1) this.stats.reconnects++
    this.state = 'connected'
    this.connectedAt = Date.now()
    this.gotReply = false
    this.consecutiveTimeouts = 0
    this.parser.reset()
    this.timedOutTids.clear()
    debug('connected #%d to %s:%d', this.connId, this.host, this.port)
    const waiters = this.connectWaiters
    this.connectWaiters = []
    for (const w of waiters) w.resolve(this.connId)
    this.pump()
  }

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = null
    if (this.state !== 'connecting') return
    const sock = this.socket
    this.socket = null
    sock?.destroy()
    this.connectFailed(new Error(`connect timeout after ${this.connectTimeoutMs} ms`))
  }

  private onSocketClosed (err: Error | null): void {
    if (this.state === 'connecting') {
      this.clearConnectTimer()
      this.connectFailed(err)
    } else if (this.state === 'connected') {
      this.connectionLost(err)
    }
  }

  private connectFailed (err: Error | null): void {
    this.state = 'idle'
    const delay = this.nextBackoffDelay()
    this.nextAttemptAt = Date.now() + delay
    const e = new WrkError('ERR_MODBUS_NOT_CONNECTED', `connect to ${this.host}:${this.port} failed: ${errText(err)}`)
    this.logger.debug({ host: this.host, port: this.port, err: errText(err), retryInMs: delay }, 'modbus: connect failed')
    this.rejectWaiters(e)
    this.failQueued(e)
  }

  /** The established connection is gone (already detached from `this.socket`). */
  private connectionLost (err: Error | null): void {
    this.logger.warn({ host: this.host, port: this.port, connectionId: this.connId, err: errText(err), inFlight: this.inflight.size },
      'modbus: connection lost')
    this.parser.reset()
    if (this.gotReply || Date.now() - this.connectedAt >= this.backoffMaxMs) this.failures = 0
    this.consecutiveTimeouts = 0
    const retry: Pending[] = []
    let closedErr: WrkError | null = null
    for (const p of this.inflight.values()) {
      if (p.retriesLeft > 0 && p.pin === 0) {
        p.retriesLeft--
        retry.push(p)
      } else {
        closedErr ??= new WrkError('ERR_MODBUS_CONNECTION_CLOSED', `connection #${this.connId} to ${this.host}:${this.port} closed with the request in flight`)
        this.fail(p, closedErr)
      }
    }
    this.inflight.clear()
    for (let i = retry.length - 1; i >= 0; i--) {
      this.requeueFront(retry[i])
      retry[i].timer.refresh()
    }
    // Requests pinned to the dead connection can never be sent.
    if (this.highQ.some(isPinned) || this.normalQ.some(isPinned)) {
      const changed = changedError(this.connId, -1)
      const pinned = this.highQ.filter(isPinned).concat(this.normalQ.filter(isPinned))
      this.highQ = this.highQ.filter(notPinned)
      this.normalQ = this.normalQ.filter(notPinned)
      for (const p of pinned) this.fail(p, changed)
    }
    this.scheduleAttempt(this.nextBackoffDelay())
  }

  private clearBackoffTimer (): void {
    if (this.backoffTimer !== null) {
      clearTimeout(this.backoffTimer)
      this.backoffTimer = null
    }
  }

  private clearConnectTimer (): void {
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer)
      this.connectTimer = null
    }
  }
}

function isPinned (p: Pending): boolean {
  return p.pin !== 0
}

function notPinned (p: Pending): boolean {
  return p.pin === 0
}

function closedError (): WrkError {
  return new WrkError('ERR_MODBUS_CLOSED', 'modbus client closed')
}

function changedError (pinned: number, live: number): WrkError {
  return new WrkError('ERR_MODBUS_CONNECTION_CHANGED',
    live > 0 ? `request pinned to connection #${pinned}, live connection is #${live}` : `request pinned to connection #${pinned}, which is gone`)
}

function malformedError (p: Pending, what: string): WrkError {
  return new WrkError('ERR_MODBUS_MALFORMED_REPLY', `malformed reply to fc ${p.fc} (unit ${p.unit}, address ${p.address}): ${what}`)
}
