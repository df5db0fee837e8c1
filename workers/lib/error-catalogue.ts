/** The MicroBT layer's error codes (device, authentication, Modbus transport, register plan), and the whole catalogue. */
import { TPL_ERRORS, type ErrorCatalogue } from '../core/error-catalogue'

export const MBT_ERRORS: ErrorCatalogue = {
  ERR_AUTH_FAILED: 'the controller refused the credentials',
  ERR_AUTH_CHALLENGE_INVALID: 'the controller sent an unusable authentication challenge',
  ERR_REGISTER_BYTES_INVALID: 'a register value cannot be encoded (programming error)',
  ERR_REGISTER_VALUE_INVALID: 'a register value is out of range (programming error)',
  ERR_SNAPSHOT_INCOMPLETE: 'in stats.errors of a snapshot whose status or error registers were not read: ' +
    'status is error (never running/stopped); ' +
    'in stats.unit_errors, a unit not read whose own latest attempt did not fail (e.g. the connection dropped)',
  ERR_CDU_NO_DATA: 'the cooling controller answered no data',
  ERR_CONTAINER_VENDOR_INVALID: 'unknown vendor',
  ERR_PLAN_INVALID_ARGS: 'invalid read plan settings (programming error)',
  ERR_MODBUS_TIMEOUT: 'no Modbus reply within the request timeout',
  ERR_MODBUS_NOT_CONNECTED: 'the Modbus connection could not be made',
  ERR_MODBUS_CONNECTION_CLOSED: 'the Modbus connection closed while a request was in flight',
  ERR_MODBUS_CONNECTION_CHANGED: 'the connection changed between authentication and the write',
  ERR_MODBUS_CLOSED: 'the Modbus client was closed',
  ERR_MODBUS_MALFORMED_REPLY: 'a Modbus reply that does not fit its request',
  ERR_MODBUS_FLOOD: 'the device sent far more than it was asked for (unsolicited frames or junk): the connection was dropped',
  ERR_MODBUS_INVALID_ARGS: 'invalid Modbus request arguments (programming error)',
  'ERR_MODBUS_EXCEPTION_<hex>': 'the device answered a Modbus exception (02 illegal address, 04 device failure, 0A/0B gateway)',
  // guarded control (docs/rpc.md "Guarded control")
  ERR_CONTROL_OPTIONS_INVALID: 'control options of a write (batchSize, batchDelayMs below control.minBatchDelayMs, ' +
    'maxPowerW above control.maxPowerW, onBreach, staged, force) are invalid; nothing was written',
  ERR_CONTROL_GUARD_TRIPPED: 'a guard (meter power over the cap, inlet temperature over its alert threshold, ' +
    'a circulation pressure out of its limits, or guards unreadable) stopped a staged power-up; ' +
    'the sockets it switched on were switched off again unless onBreach is stop',
  ERR_CONTROL_FORCE_REQUIRED: 'switching the container off while it draws more than control.forceSwitchOffAboveW ' +
    'needs {force: true}; nothing was written',
  ERR_SETPOINT_CHANGE_TOO_LARGE: 'a cooling-fan setpoint would move more than control.maxSetpointChange ' +
    'from the value the device holds; nothing was written'
}

/** Every code the worker can answer or log, with its meaning. */
export const ERROR_CATALOGUE: ErrorCatalogue = { ...TPL_ERRORS, ...MBT_ERRORS }

/** What an error code means (docs/rpc.md): its entry, or that of its `<…>` family; '' when uncatalogued. */
export function meaningOf (code: string): string {
  const direct = ERROR_CATALOGUE[code]
  if (direct !== undefined) return direct
  for (const [name, meaning] of Object.entries(ERROR_CATALOGUE)) {
    const i = name.indexOf('<')
    if (i > 0 && code.startsWith(name.slice(0, i))) return meaning
  }
  return ''
}
