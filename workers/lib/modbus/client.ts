/**
 * The Modbus TCP client API: validates and encodes FC03/FC06/FC16 requests and hands them to
 * the request pipeline (./pipeline.ts), which sends them over one connection
 * (./connection.ts). Framing is in ./frame.ts, errors in ./errors.ts, the contract in ./types.ts.
 */
import { ModbusConnection } from './connection'
import { ModbusError, closedError } from './errors'
import {
  FC_READ_HOLDING_REGISTERS,
  FC_WRITE_MULTIPLE_REGISTERS,
  FC_WRITE_SINGLE_REGISTER,
  MAX_READ_REGISTERS,
  MAX_WRITE_REGISTERS,
  encodeReadHoldingRegistersRequest,
  encodeWriteMultipleRegistersRequest,
  encodeWriteSingleRegisterRequest
} from './frame'
import { RequestPipeline, type RequestResult } from './pipeline'
import type { ModbusClient, ModbusClientOptions, ModbusLogger, ModbusTcpClientStats, RequestOptions } from './types'
import { DEFAULT_WINDOW_SETTINGS } from './window'

const DEFAULT_TIMEOUT_MS = 2000
const DEFAULT_RETRIES = 1
const DEFAULT_MAX_IN_FLIGHT = 4
const DEFAULT_HALF_OPEN_AFTER = 3
const DEFAULT_BACKOFF_MIN_MS = 250
const DEFAULT_BACKOFF_MAX_MS = 5000
/** Upper bound of per-request resends. */
const MAX_RETRIES = 100

const silentLogger: ModbusLogger = { debug: () => {}, info: () => {}, warn: () => {} }

function invalidArgs (msg: string): ModbusError {
  return new ModbusError('ERR_MODBUS_INVALID_ARGS', msg)
}

function invalid (msg: string): Promise<never> {
  return Promise.reject(invalidArgs(msg))
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
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw invalidArgs(`${name} must be a positive number`)
  return v
}

function integerAtLeast (v: number | undefined, fallback: number, min: number, name: string): number {
  if (v === undefined) return fallback
  if (!Number.isInteger(v) || v < min) throw invalidArgs(`${name} must be an integer >= ${min}`)
  return v
}

/** Test hooks, not part of the ModbusClient contract. */
export interface ModbusTcpClientInternals {
  /** Transaction id of the first request sent (1..65535), to exercise the 65535 → 1 wrap quickly. */
  firstTransactionId?: number
  /** Replies at window 1 after which a window suspended for pipelined timeouts is tried again (default 1000). */
  restoreWindowAfterReplies?: number
  /** Pipelined requests judged together by the window policy (default 20). */
  windowSampleSize?: number
  /** Requests sent one at a time when most pipelined requests timed out (default 10). */
  windowTrialSize?: number
}

/**
 * Modbus TCP client over a single `net.Socket`, with pipelining, priorities, strict reply
 * matching, per-request timeouts, read retries, half-open detection and backoff reconnects.
 *
 * Semantics beyond the contract in ./types.ts:
 * - The per-request timeout applies separately to (a) waiting for a connection and (b) each
 *   attempt on the wire (details in ./pipeline.ts).
 * - `connectionId` increments per successfully established socket (the first is 1).
 * - A failed connect rejects every queued request with ERR_MODBUS_NOT_CONNECTED and arms a
 *   backoff (details in ./connection.ts).
 * - Reads resolve to unsigned values 0..65535; writes accept -32768..65535.
 * - Reads are resent after a timeout (and, unless pinned, after a lost connection) up to
 *   `retries` times; writes only when the caller asks for it with `RequestOptions.retries`
 *   (for writes of absolute values, which are safe to repeat). Only a reply to the latest
 *   attempt settles a request.
 * - Exception replies to a read, within the same `retries` (`exceptionResend` in ./errors.ts):
 *   04 (server device failure) and 0B (gateway target failed to respond: the gateway already
 *   waited, like a timeout) are resent at once; 05 (acknowledge), 06 (server device busy) and
 *   0A (gateway path unavailable) after `backoffMinMs` (at most the request timeout); 01/02/03
 *   (illegal function, address, value) and any other code are final. The exception of the last
 *   attempt is the result (`ERR_MODBUS_EXCEPTION_xx`). A write answered with an exception is
 *   never resent, whatever its `retries`: the device answered it (and may have acted on it).
 * - `stats.retries` counts resends, `stats.recovered` requests that succeeded after one.
 * - A device that floods the connection (far more unsolicited frames or junk bytes than it was
 *   asked for, ./flood.ts) has it dropped at once: every request fails with ERR_MODBUS_FLOOD
 *   (never resent), and until the next connect attempt (after a backoff that keeps growing while
 *   the device floods) `connect()` and new requests fail with it at once. `stats.floods` counts
 *   such connections.
 */
export class ModbusTcpClient implements ModbusClient {
  readonly stats: ModbusTcpClientStats

  private readonly timeoutMs: number
  private readonly retries: number
  private readonly connection: ModbusConnection
  private readonly pipeline: RequestPipeline
  private closePromise: Promise<void> | null = null

  constructor (opts: ModbusClientOptions, internals?: ModbusTcpClientInternals) {
    if (typeof opts.host !== 'string' || opts.host.length === 0) throw invalidArgs('host is required')
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 0xffff) throw invalidArgs('port must be 1..65535')
    this.timeoutMs = positiveNumber(opts.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs')
    this.retries = integerAtLeast(opts.retries, DEFAULT_RETRIES, 0, 'retries')
    if (this.retries > MAX_RETRIES) throw invalidArgs(`retries must be <= ${MAX_RETRIES}`)
    const maxInFlight = integerAtLeast(opts.maxInFlight, DEFAULT_MAX_IN_FLIGHT, 1, 'maxInFlight')
    if (maxInFlight > 1024) throw invalidArgs('maxInFlight must be <= 1024')
    const window = {
      ...DEFAULT_WINDOW_SETTINGS,
      maxInFlight,
      restoreAfterReplies: integerAtLeast(
        internals?.restoreWindowAfterReplies, DEFAULT_WINDOW_SETTINGS.restoreAfterReplies, 1, 'restoreWindowAfterReplies'),
      sampleSize: integerAtLeast(internals?.windowSampleSize, DEFAULT_WINDOW_SETTINGS.sampleSize, 1, 'windowSampleSize'),
      trialSize: integerAtLeast(internals?.windowTrialSize, DEFAULT_WINDOW_SETTINGS.trialSize, 1, 'windowTrialSize')
    }
    const halfOpenAfterTimeouts = integerAtLeast(opts.halfOpenAfterTimeouts, DEFAULT_HALF_OPEN_AFTER, 1, 'halfOpenAfterTimeouts')
    const backoffMinMs = positiveNumber(opts.backoffMinMs, DEFAULT_BACKOFF_MIN_MS, 'backoffMinMs')
    const backoffMaxMs = positiveNumber(opts.backoffMaxMs, Math.max(DEFAULT_BACKOFF_MAX_MS, backoffMinMs), 'backoffMaxMs')
    if (backoffMaxMs < backoffMinMs) throw invalidArgs('backoffMaxMs must be >= backoffMinMs')
    const connectTimeoutMs = positiveNumber(opts.connectTimeoutMs, this.timeoutMs, 'connectTimeoutMs')
    const firstTransactionId = internals?.firstTransactionId ?? 1
    if (!Number.isInteger(firstTransactionId) || firstTransactionId < 1 || firstTransactionId > 0xffff) {
      throw invalidArgs('firstTransactionId must be 1..65535')
    }
    const logger = opts.logger ?? silentLogger

    this.stats = {
      requests: 0, responses: 0, timeouts: 0, lateReplies: 0, exceptions: 0, reconnects: 0, floods: 0, maxInFlight, retries: 0, recovered: 0
    }
    // The connection reports to the pipeline; the pipeline sends through the connection.
    this.connection = new ModbusConnection(
      { host: opts.host, port: opts.port, connectTimeoutMs, halfOpenAfterTimeouts, backoffMinMs, backoffMaxMs, logger },
      this.stats,
      {
        connected: () => this.pipeline.connectionUp(),
        frame: (tid, unit, fc, data) => this.pipeline.matchFrame(tid, unit, fc, data),
        received: () => this.pipeline.pump(),
        connectFailed: (err) => this.pipeline.failQueued(err),
        lost: (reason) => this.pipeline.connectionLost(reason),
        flooded: (err) => this.pipeline.flooded(err)
      })
    const pipelineSettings = { window, firstTransactionId, busyRetryDelayMs: backoffMinMs, logger, unitObserver: opts.unitObserver }
    this.pipeline = new RequestPipeline(pipelineSettings, this.stats, this.connection)
  }

  get connected (): boolean {
    return this.connection.connected
  }

  get connectionId (): number {
    return this.connection.id
  }

  /** Waits for a connection at most `timeoutMs` (also through a pending backoff), like a request. */
  connect (): Promise<number> {
    return this.connection.connect(this.timeoutMs)
  }

  readHoldingRegisters (unit: number, address: number, count: number, opts?: RequestOptions): Promise<number[]> {
    if (!isUnit(unit)) return invalid(`unit must be 0..255, got ${unit}`)
    if (!isAddress(address)) return invalid(`address must be 0..65535, got ${address}`)
    if (!Number.isInteger(count) || count < 1 || count > MAX_READ_REGISTERS) {
      return invalid(`count must be 1..${MAX_READ_REGISTERS}, got ${count}`)
    }
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
    if (!Array.isArray(values) || values.length < 1 || values.length > MAX_WRITE_REGISTERS) {
      return invalid(`values must hold 1..${MAX_WRITE_REGISTERS} registers`)
    }
    if (address + values.length > 0x10000) return invalid('address + count exceeds the register space')
    for (let i = 0; i < values.length; i++) {
      if (!isRegisterValue(values[i])) return invalid(`values[${i}] must be an integer -32768..65535, got ${values[i]}`)
    }
    const frame = encodeWriteMultipleRegistersRequest(0, unit, address, values)
    return this.submit(FC_WRITE_MULTIPLE_REGISTERS, unit, address, values.length, frame, true, opts) as Promise<unknown> as Promise<void>
  }

  close (): Promise<void> {
    if (this.closePromise === null) {
      const err = closedError()
      this.pipeline.failAll(err)
      this.closePromise = this.connection.close(err)
    }
    return this.closePromise
  }

  private submit (fc: number, unit: number, address: number, arg: number, frame: Buffer, isWrite: boolean,
    opts: RequestOptions | undefined): Promise<RequestResult> {
    let timeoutMs = this.timeoutMs
    let high = isWrite
    let pin = 0
    let retries = isWrite ? 0 : this.retries
    let timeoutRetries: number | undefined
    if (opts !== undefined) {
      if (opts.timeoutMs !== undefined) {
        if (typeof opts.timeoutMs !== 'number' || !Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) {
          return invalid('timeoutMs must be a positive number')
        }
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
      if (opts.retries !== undefined) {
        if (!Number.isInteger(opts.retries) || opts.retries < 0 || opts.retries > MAX_RETRIES) {
          return invalid(`retries must be an integer 0..${MAX_RETRIES}`)
        }
        retries = opts.retries
      }
      if (opts.timeoutRetries !== undefined) {
        if (!Number.isInteger(opts.timeoutRetries) || opts.timeoutRetries < 0 || opts.timeoutRetries > MAX_RETRIES) {
          return invalid(`timeoutRetries must be an integer 0..${MAX_RETRIES}`)
        }
        timeoutRetries = opts.timeoutRetries
      }
    }
    return this.pipeline.submit({
      fc, unit, address, arg, frame, high, pin, retries, timeoutMs, ...(timeoutRetries !== undefined ? { timeoutRetries } : {})
    })
  }
}
