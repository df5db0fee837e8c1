/**
 * Errors of the Modbus TCP transport: `ModbusError` with a stable `ERR_MODBUS_*` code, and
 * `ModbusExceptionError` for exception replies. The layers above read the code through its
 * `code` property (`errorCode()` in workers/core/errors.ts); the transport imports no other layer.
 */

/**
 * - `ERR_MODBUS_INVALID_ARGS`: an option or request argument is out of range.
 * - `ERR_MODBUS_NOT_CONNECTED`: the connect attempt failed, or no connection came up within the timeout.
 * - `ERR_MODBUS_TIMEOUT`: no reply within the request timeout (after the retries of a read).
 * - `ERR_MODBUS_CONNECTION_CLOSED`: the socket dropped with the request in flight.
 * - `ERR_MODBUS_CONNECTION_CHANGED`: the request was pinned to a connection that is not the live one.
 * - `ERR_MODBUS_CLOSED`: the client is closed.
 * - `ERR_MODBUS_MALFORMED_REPLY`: a reply matched the request but its payload does not (e.g. FC03 byte count).
 * - `ERR_MODBUS_FLOOD`: the device sent far more than it was asked for (unsolicited frames or junk
 *   bytes, ./flood.ts): the connection was dropped, and requests are refused until the next one.
 * - `ERR_MODBUS_EXCEPTION_<2 hex digits, upper case>`: the device answered with that exception code
 *   (for a read answered 04, 05, 06, 0A or 0B: on its last attempt, see `exceptionResend`).
 */
export type ModbusErrorCode =
  | 'ERR_MODBUS_INVALID_ARGS'
  | 'ERR_MODBUS_NOT_CONNECTED'
  | 'ERR_MODBUS_TIMEOUT'
  | 'ERR_MODBUS_CONNECTION_CLOSED'
  | 'ERR_MODBUS_CONNECTION_CHANGED'
  | 'ERR_MODBUS_CLOSED'
  | 'ERR_MODBUS_MALFORMED_REPLY'
  | 'ERR_MODBUS_FLOOD'
  | `ERR_MODBUS_EXCEPTION_${string}`

export class ModbusError extends Error {
  readonly code: ModbusErrorCode

  constructor (code: ModbusErrorCode, message: string) {
    super(message)
    this.name = 'ModbusError'
    this.code = code
  }
}

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

/**
 * How a read answered with exception `code` is resent, within the request's `retries` (the
 * budget its timeouts use): `now`, `later` (after the client's busy delay), or `null` (final).
 * - 04 server device failure: `now`. The controllers answer it for a read they fail now and
 *   then serve on the next try (the JavaScript reference retries every read).
 * - 05 acknowledge, 06 server device busy: `later`. The device asks to be asked again later.
 * - 0A gateway path unavailable: `later` (an overloaded gateway; a misconfigured one fails every
 *   attempt, and the container's unit breaker then leaves one attempt per snapshot).
 * - 0B gateway target failed to respond: `now`. The gateway already waited for the device: an
 *   attempt that timed out behind the gateway, resent like a timeout.
 * - 01/02/03 (illegal function, address, value), 08 and unknown codes: `null`. The request
 *   itself is refused; asking again gets the same answer.
 * Writes are never resent on an exception (the device answered; see ./client.ts).
 */
export function exceptionResend (code: number): 'now' | 'later' | null {
  switch (code) {
    case 0x04:
    case 0x0b:
      return 'now'
    case 0x05:
    case 0x06:
    case 0x0a:
      return 'later'
    default:
      return null
  }
}

/** A Modbus exception reply. `code` is `ERR_MODBUS_EXCEPTION_<2 hex digits>`. */
export class ModbusExceptionError extends ModbusError {
  /** Exception code from the reply (e.g. 2 = illegal data address). */
  readonly exceptionCode: number
  /** Function code of the request that was refused (without the 0x80 flag). */
  readonly functionCode: number

  constructor (functionCode: number, exceptionCode: number) {
    const hex = exceptionCode.toString(16).toUpperCase().padStart(2, '0')
    super(`ERR_MODBUS_EXCEPTION_${hex}`,
      `modbus exception ${hex} (${EXCEPTION_NAMES[exceptionCode] ?? 'unknown'}) for function ${functionCode}`)
    this.name = 'ModbusExceptionError'
    this.exceptionCode = exceptionCode
    this.functionCode = functionCode
  }
}

export function closedError (): ModbusError {
  return new ModbusError('ERR_MODBUS_CLOSED', 'modbus client closed')
}
