/**
 * Contract of the Modbus TCP client (implemented in ./client.ts). Addresses are on-wire PDU
 * addresses (register number − 1); callers convert. Errors are in ./errors.ts.
 */

/** The logger calls the transport makes (the worker's Logger fits it). */
export interface ModbusLogger {
  debug: (obj: object | string, msg?: string) => void
  info: (obj: object | string, msg?: string) => void
  warn: (obj: object | string, msg?: string) => void
}

export interface ModbusClientOptions {
  host: string
  port: number
  /** Per-request timeout (ms). Default 2000. */
  timeoutMs?: number
  /**
   * Resends of a read after a timeout, a lost connection or a transient exception reply (04,
   * 05, 06, 0A, 0B; `exceptionResend` in ./errors.ts). Default 1. Writes are resent only when a
   * request asks for it (`RequestOptions.retries`), and only when unacknowledged.
   */
  retries?: number
  /** Requests in flight at once on the connection (pipelining). Default 4; 1 = strictly serial. */
  maxInFlight?: number
  /** Consecutive timeouts after which the socket is treated as half-open and replaced. Default 3. */
  halfOpenAfterTimeouts?: number
  /**
   * Reconnect backoff bounds (ms), jittered. Defaults 250 and 5000. `backoffMinMs` (at most the
   * request's timeout) is also the wait before a read answered 05, 06 or 0A is resent.
   */
  backoffMinMs?: number
  backoffMaxMs?: number
  /** TCP connect timeout (ms). Default = timeoutMs. */
  connectTimeoutMs?: number
  logger?: ModbusLogger
  /** Told of every attempt per unit (link health, ../link-health.ts); never changes what is sent. */
  unitObserver?: UnitObserver
}

/**
 * What the pipeline reports per Modbus unit: each attempt sent, the reply that settles it (with its
 * exception code, else null) or its timeout, and each resend. `request` identifies the request
 * (the same object for all its attempts), so that the observer can time each attempt.
 */
export interface UnitObserver {
  sent: (unit: number, request: object) => void
  answered: (unit: number, request: object, exception: number | null) => void
  timedOut: (unit: number, request: object) => void
  resent: (unit: number) => void
}

export interface RequestOptions {
  /** Control writes use 'high' and jump ahead of queued polling reads. Default: reads 'normal', writes 'high'. */
  priority?: 'high' | 'normal'
  /** Override the client's timeout for this request. */
  timeoutMs?: number
  /**
   * Only send on this connection (see `connectionId`). If the link was replaced in between,
   * reject with ERR_MODBUS_CONNECTION_CHANGED instead of sending (used to keep authentication
   * and the writes it allows on one connection).
   */
  connectionId?: number
  /**
   * Resends of this request after a timeout (and, unless pinned, after a lost connection; for
   * a read also after a transient exception reply), each with a new transaction id. Default:
   * the client's `retries` for reads, 0 for writes. Give it for a write only when repeating the
   * write is harmless (an absolute value): a write whose acknowledgement was lost has probably
   * been applied already. A write answered with an exception is never resent.
   */
  retries?: number
  /**
   * Of `retries`, at most this many after a timeout (default: all of them). With 0 a timeout is
   * final while transient exception replies are still resent within `retries`: for a caller
   * that decides itself whether a request that met silence is worth another attempt.
   */
  timeoutRetries?: number
}

export interface ModbusClientStats {
  /** Request frames sent (each retry counts). */
  requests: number
  /** Replies matched to a request (exception replies included). */
  responses: number
  /** Request attempts that timed out. */
  timeouts: number
  /** Replies dropped because they matched no outstanding request (unknown transaction id, or wrong unit / function code). */
  lateReplies: number
  /** Modbus exception replies. */
  exceptions: number
  /** Connections established after the first one. */
  reconnects: number
  /**
   * Connections dropped because the device flooded them (ERR_MODBUS_FLOOD, ./flood.ts). Optional
   * for other implementations of `ModbusClient`; `ModbusTcpClient` counts it.
   */
  floods?: number
  /** Current pipelining window (1 after a transaction-id mismatch, or while pipelined requests are found to be dropped). */
  maxInFlight: number
  /**
   * Resends: after a timeout, a lost connection, or (reads) a transient exception reply.
   * Optional for other implementations of `ModbusClient`; `ModbusTcpClient` counts it.
   */
  retries?: number
  /**
   * Requests that succeeded after at least one resend: loss (or a transient refusal) that
   * resending made up for. Optional like `retries`.
   */
  recovered?: number
}

/** The stats `ModbusTcpClient` keeps: every counter. */
export type ModbusTcpClientStats = Required<ModbusClientStats>

export interface ModbusClient {
  /** Connects if needed; resolves with the id of the live connection (increments per new socket). */
  connect: () => Promise<number>
  readonly connected: boolean
  readonly connectionId: number
  readHoldingRegisters: (unit: number, address: number, count: number, opts?: RequestOptions) => Promise<number[]>
  writeRegister: (unit: number, address: number, value: number, opts?: RequestOptions) => Promise<void>
  writeRegisters: (unit: number, address: number, values: number[], opts?: RequestOptions) => Promise<void>
  readonly stats: ModbusClientStats
  /** Closes the socket, rejects pending requests with ERR_MODBUS_CLOSED, stops reconnecting. */
  close: () => Promise<void>
}
