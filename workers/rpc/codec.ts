/**
 * The JSON RPC wire format, written once (the one `hp-rpc-cli` speaks): a request is JSON text
 * in a buffer (an empty body means `{}`), a reply is JSON text, and a failure is the JSON string
 * `"[HRPC_ERR]=<ERR_CODE>"`. Used by the server dispatch, the RPC client, the demo and the tests.
 */
import { WrkError } from '../core/errors'

/** Prefix of an error reply: the reply is the JSON string `HRPC_ERR + code`. */
export const HRPC_ERR = '[HRPC_ERR]='

/** The server replied `[HRPC_ERR]=<code>`: `code` is what it sent (an `ERR_*` code from this worker). */
export class RpcReplyError extends Error {
  readonly code: string

  constructor (code: string) {
    super(code)
    this.name = 'RpcReplyError'
    this.code = code
  }
}

function json (value: unknown, what: string): Buffer {
  const text = JSON.stringify(value)
  // JSON.stringify returns undefined for functions and symbols: not something the wire can carry
  if (typeof text !== 'string') throw new TypeError(`${what} is not JSON-serialisable`)
  return Buffer.from(text)
}

/** A request body; `undefined` (no data) is sent as `{}`. */
export function encodeRequest (data: unknown): Buffer {
  return json(data === undefined ? {} : data, 'request')
}

/**
 * A request body as the server reads it: empty (or `null`, which `@hyperswarm/rpc` delivers for
 * an empty body) → `{}`; text that is not JSON → `ERR_FACS_NET_DATA_FORMAT`.
 */
export function decodeRequest (payload: Buffer | null): unknown {
  if (payload === null || payload.length === 0) return {}
  try {
    return JSON.parse(payload.toString()) as unknown
  } catch (err) {
    throw new WrkError('ERR_FACS_NET_DATA_FORMAT', 'the request is not JSON', { cause: err })
  }
}

/** A success reply; `undefined` is sent as `null`. */
export function encodeResult (value: unknown): Buffer {
  return json(value === undefined ? null : value, 'result')
}

/** An error reply: the JSON string `"[HRPC_ERR]=<code>"`. */
export function encodeError (code: string): Buffer {
  return json(HRPC_ERR + code, 'error code')
}

/** `"[HRPC_ERR]=ERR_X"` (a parsed reply) → `'ERR_X'`; any other value → null. */
export function errorCodeOfReply (value: unknown): string | null {
  return typeof value === 'string' && value.startsWith(HRPC_ERR) ? value.slice(HRPC_ERR.length) : null
}

/**
 * A reply as sent, error strings included (`"[HRPC_ERR]=…"` is returned, not thrown).
 * Text that is not JSON → `ERR_RPC_REPLY_INVALID`.
 */
export function parseReply (reply: Buffer | string): unknown {
  const text = typeof reply === 'string' ? reply : reply.toString()
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new WrkError('ERR_RPC_REPLY_INVALID', `the reply is not JSON (${text.length} bytes)`, { cause: err })
  }
}

/** A reply's value; an `[HRPC_ERR]=<code>` reply throws `RpcReplyError` with that code. */
export function decodeReply (reply: Buffer | string): unknown {
  const value = parseReply(reply)
  const code = errorCodeOfReply(value)
  if (code !== null) throw new RpcReplyError(code)
  return value
}
