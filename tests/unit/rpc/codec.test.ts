/**
 * The RPC wire format (workers/rpc/codec.ts): JSON requests and replies, `undefined` on
 * either side, `[HRPC_ERR]=<code>` replies as typed errors, and malformed replies.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  HRPC_ERR,
  RpcReplyError,
  decodeReply,
  decodeRequest,
  encodeError,
  encodeRequest,
  encodeResult,
  errorCodeOfReply,
  parseReply
} from '../../../workers/rpc/codec'
import { WrkError, errorCode } from '../../../workers/core/errors'

/** What JSON text makes of a value (e.g. -0 → 0), for comparisons. */
const viaJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value)) as unknown

const notAnErrorReply = (value: unknown): boolean => errorCodeOfReply(value) === null

describe('rpc codec', () => {
  it('requests are JSON text; undefined is sent as {}', () => {
    expect(encodeRequest({ a: 1, b: [true, null] }).toString()).toBe('{"a":1,"b":[true,null]}')
    expect(encodeRequest('x').toString()).toBe('"x"')
    expect(encodeRequest(null).toString()).toBe('null')
    expect(encodeRequest(undefined).toString()).toBe('{}')
  })

  it('a request decodes as it was encoded; an empty or null body is {}', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => {
      expect(decodeRequest(encodeRequest(value))).toEqual(viaJson(value))
    }))
    expect(decodeRequest(Buffer.alloc(0))).toEqual({})
    expect(decodeRequest(null)).toEqual({})
  })

  it('a request that is not JSON → ERR_FACS_NET_DATA_FORMAT', () => {
    for (const body of ['{not json', 'id=1', '{"a": ']) {
      expect(() => decodeRequest(Buffer.from(body))).toThrow(expect.objectContaining({ code: 'ERR_FACS_NET_DATA_FORMAT' }))
    }
    expect(() => decodeRequest(Buffer.from([0xff, 0xfe, 0x00]))).toThrow(WrkError)
  })

  it('results round-trip; undefined is sent as null', () => {
    fc.assert(fc.property(fc.jsonValue().filter(notAnErrorReply), (value) => {
      expect(decodeReply(encodeResult(value))).toEqual(viaJson(value))
      expect(parseReply(encodeResult(value).toString())).toEqual(viaJson(value))
    }))
    expect(encodeResult(undefined).toString()).toBe('null')
    expect(decodeReply(encodeResult(undefined))).toBeNull()
    expect(encodeResult({ a: undefined, b: 1 }).toString()).toBe('{"b":1}')
  })

  it('values JSON cannot carry are refused, not sent as nothing', () => {
    expect(() => encodeResult(() => 1)).toThrow(TypeError)
    expect(() => encodeRequest(Symbol('s'))).toThrow(TypeError)
    expect(() => encodeResult(1n)).toThrow(TypeError)
  })

  it('an error reply is the JSON string "[HRPC_ERR]=<code>"', () => {
    expect(HRPC_ERR).toBe('[HRPC_ERR]=')
    expect(encodeError('ERR_THING_NOTFOUND').toString()).toBe('"[HRPC_ERR]=ERR_THING_NOTFOUND"')
    expect(parseReply(encodeError('ERR_X'))).toBe('[HRPC_ERR]=ERR_X')
  })

  it('decodeReply throws RpcReplyError with the code; errorCode() reads it', () => {
    let thrown: unknown = null
    try {
      decodeReply(encodeError('ERR_PERMISSION_DENIED'))
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(RpcReplyError)
    expect(thrown).toBeInstanceOf(Error)
    expect(thrown).toMatchObject({ name: 'RpcReplyError', code: 'ERR_PERMISSION_DENIED', message: 'ERR_PERMISSION_DENIED' })
    expect(errorCode(thrown)).toBe('ERR_PERMISSION_DENIED')
    // a remote "code" that is not an ERR_* code is kept on the error but not adopted as ours
    const odd = new RpcReplyError('something broke')
    expect(odd.code).toBe('something broke')
    expect(errorCode(odd)).toBe('ERR_INTERNAL')
  })

  it('errorCodeOfReply: the code of an error reply, null for anything else', () => {
    expect(errorCodeOfReply('[HRPC_ERR]=ERR_WRK_STOPPING')).toBe('ERR_WRK_STOPPING')
    expect(errorCodeOfReply(parseReply(encodeError('ERR_A')))).toBe('ERR_A')
    for (const value of ['ERR_X', 'x[HRPC_ERR]=ERR_X', null, 1, { code: 'ERR_X' }, ['[HRPC_ERR]=ERR_X'], undefined]) {
      expect(errorCodeOfReply(value)).toBeNull()
    }
    fc.assert(fc.property(fc.string(), (code) => {
      expect(errorCodeOfReply(parseReply(encodeError(code)))).toBe(code)
    }))
  })

  it('a reply that is not JSON → ERR_RPC_REPLY_INVALID, with or without an error check', () => {
    for (const text of ['', '{', 'undefined', '[HRPC_ERR]=ERR_X', 'null null']) {
      expect(() => decodeReply(Buffer.from(text))).toThrow(expect.objectContaining({ code: 'ERR_RPC_REPLY_INVALID' }))
      expect(() => parseReply(text)).toThrow(expect.objectContaining({ code: 'ERR_RPC_REPLY_INVALID' }))
    }
    let thrown: unknown = null
    try {
      parseReply('{"password":"hunter2"')
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(WrkError)
    expect(thrown).not.toBeInstanceOf(RpcReplyError)
    // the message never quotes the reply (it may hold secrets)
    expect((thrown as Error).message).not.toContain('hunter2')
  })
})
