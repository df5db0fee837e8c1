/**
 * Modbus TCP framing: MBAP header + PDU encoders for the function codes we use (FC03, FC06,
 * FC16, requests and replies) and an incremental stream parser that re-assembles ADUs from
 * arbitrary TCP segmentation and resynchronises on junk.
 *
 * MBAP header (7 bytes, big-endian):
 *   0..1 transaction id, 2..3 protocol id (always 0), 4..5 length (= bytes that follow:
 *   unit id + PDU), 6 unit id. The PDU follows: function code + data.
 */

export const FC_READ_HOLDING_REGISTERS = 0x03
export const FC_WRITE_SINGLE_REGISTER = 0x06
export const FC_WRITE_MULTIPLE_REGISTERS = 0x10
/** Set on the function code of an exception reply. */
export const EXCEPTION_FLAG = 0x80

/** Bytes before the function code: MBAP (6) + unit id (1). */
export const MBAP_HEADER_LENGTH = 7
/** Largest ADU on Modbus TCP: 7 bytes MBAP + 253 bytes PDU. */
export const MAX_ADU_LENGTH = 260
/** Valid range of the MBAP length field (unit id + function code … unit id + 253-byte PDU). */
export const MIN_MBAP_LENGTH_FIELD = 2
export const MAX_MBAP_LENGTH_FIELD = 254

/** Modbus limits on the quantities of one request (the read planner and the config schema use these). */
export const MAX_READ_REGISTERS = 125
export const MAX_WRITE_REGISTERS = 123

function writeHeader (buf: Buffer, transactionId: number, unitId: number, functionCode: number): void {
  buf.writeUInt16BE(transactionId & 0xffff, 0)
  buf.writeUInt16BE(0, 2)
  buf.writeUInt16BE(buf.length - 6, 4)
  buf[6] = unitId & 0xff
  buf[7] = functionCode & 0xff
}

/**
 * Any ADU: MBAP header + function code + `data`. The caller is responsible for the data being
 * at most 252 bytes (the PDU limit); larger data produce a frame no Modbus peer accepts.
 */
export function encodeFrame (transactionId: number, unitId: number, functionCode: number, data: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(8 + data.length)
  writeHeader(buf, transactionId, unitId, functionCode)
  buf.set(data, 8)
  return buf
}

/** A 12-byte frame whose PDU is a function code and two 16-bit words (address + count/value). */
function encodeTwoWords (transactionId: number, unitId: number, functionCode: number, first: number, second: number): Buffer {
  const buf = Buffer.allocUnsafe(12)
  writeHeader(buf, transactionId, unitId, functionCode)
  buf.writeUInt16BE(first & 0xffff, 8)
  buf.writeUInt16BE(second & 0xffff, 10)
  return buf
}

/** FC03 request (12 bytes). Arguments are not validated here (the client does that). */
export function encodeReadHoldingRegistersRequest (transactionId: number, unitId: number, address: number, count: number): Buffer {
  return encodeTwoWords(transactionId, unitId, FC_READ_HOLDING_REGISTERS, address, count)
}

/** FC06 request (12 bytes). Negative int16 values are written as two's complement. */
export function encodeWriteSingleRegisterRequest (transactionId: number, unitId: number, address: number, value: number): Buffer {
  return encodeTwoWords(transactionId, unitId, FC_WRITE_SINGLE_REGISTER, address, value)
}

/** FC16 request (13 + 2n bytes). Negative int16 values are written as two's complement. */
export function encodeWriteMultipleRegistersRequest (
  transactionId: number, unitId: number, address: number, values: readonly number[]
): Buffer {
  const n = values.length
  const buf = Buffer.allocUnsafe(13 + 2 * n)
  writeHeader(buf, transactionId, unitId, FC_WRITE_MULTIPLE_REGISTERS)
  buf.writeUInt16BE(address & 0xffff, 8)
  buf.writeUInt16BE(n & 0xffff, 10)
  buf[12] = (2 * n) & 0xff
  for (let i = 0; i < n; i++) buf.writeUInt16BE(values[i] & 0xffff, 13 + 2 * i)
  return buf
}

/** FC03 reply carrying `values` (9 + 2n bytes). */
export function encodeReadHoldingRegistersResponse (transactionId: number, unitId: number, values: readonly number[]): Buffer {
  const n = values.length
  const buf = Buffer.allocUnsafe(9 + 2 * n)
  writeHeader(buf, transactionId, unitId, FC_READ_HOLDING_REGISTERS)
  buf[8] = (2 * n) & 0xff
  for (let i = 0; i < n; i++) buf.writeUInt16BE(values[i] & 0xffff, 9 + 2 * i)
  return buf
}

/** FC06 reply (an echo of the request, 12 bytes). */
export function encodeWriteSingleRegisterResponse (transactionId: number, unitId: number, address: number, value: number): Buffer {
  return encodeWriteSingleRegisterRequest(transactionId, unitId, address, value)
}

/** FC16 reply (address + quantity, 12 bytes). */
export function encodeWriteMultipleRegistersResponse (transactionId: number, unitId: number, address: number, count: number): Buffer {
  return encodeTwoWords(transactionId, unitId, FC_WRITE_MULTIPLE_REGISTERS, address, count)
}

/** Exception reply to `functionCode` (9 bytes); the reply carries `functionCode | 0x80`. */
export function encodeExceptionResponse (transactionId: number, unitId: number, functionCode: number, exceptionCode: number): Buffer {
  const buf = Buffer.allocUnsafe(9)
  writeHeader(buf, transactionId, unitId, (functionCode | EXCEPTION_FLAG) & 0xff)
  buf[8] = exceptionCode & 0xff
  return buf
}

/**
 * Registers of an FC03 reply's data (the bytes after the function code), or `null` when the
 * data are malformed: byte count must be exactly `2 * expectedCount` and match the data length.
 * Values are unsigned (0..65535).
 */
export function decodeReadHoldingRegistersData (data: Uint8Array, expectedCount: number): number[] | null {
  const byteCount = 2 * expectedCount
  if (data.length !== byteCount + 1 || data[0] !== byteCount) return null
  const out = new Array<number>(expectedCount)
  for (let i = 0, o = 1; i < expectedCount; i++, o += 2) out[i] = (data[o] << 8) | data[o + 1]
  return out
}

/**
 * Whether the data of an FC06/FC16 reply are well-formed: 4 bytes echoing the address and the
 * value (FC06) or the quantity (FC16) of the request.
 */
export function checkWriteReplyData (data: Uint8Array, address: number, valueOrCount: number): boolean {
  return data.length === 4 &&
    ((data[0] << 8) | data[1]) === (address & 0xffff) &&
    ((data[2] << 8) | data[3]) === (valueOrCount & 0xffff)
}

/**
 * Called for each complete ADU. `data` is the PDU after the function code; it is a view into a
 * buffer the parser reuses, valid only during the call — copy it to keep it.
 */
export type FrameHandler = (transactionId: number, unitId: number, functionCode: number, data: Buffer) => void

/**
 * Incremental MBAP stream parser. Feed it every chunk read from the socket with `push()`; it
 * calls the handler once per complete frame, in stream order. Frames may be split anywhere
 * (down to one byte per chunk) and several may share a chunk.
 *
 * Resynchronisation: a header whose protocol id is not 0 or whose length field is outside
 * 2..254 cannot start a frame; the parser drops one byte, counts it in `droppedBytes`, and
 * scans forward. (A run of junk that happens to look like a valid header is taken for one —
 * Modbus TCP has no checksum — but the parser never wedges: any header consumes at most 260 bytes.)
 *
 * The handler may call `reset()` (e.g. when the connection is dropped); the rest of the chunk
 * is then discarded.
 */
export class MbapStreamParser {
  /** Bytes discarded while resynchronising. */
  droppedBytes = 0
  /** Frames delivered. */
  frames = 0

  /** Its own allocation: a slice of Node's 8 kB buffer pool would keep the whole slab alive per connection. */
  private buf: Buffer = Buffer.allocUnsafeSlow(2 * MAX_ADU_LENGTH)
  /** Pending bytes, always at the start of `buf`. */
  private len = 0
  /** Bumped by reset(), so a scan interrupted by a reset from the handler stops. */
  private generation = 0
  private readonly onFrame: FrameHandler

  constructor (onFrame: FrameHandler) {
    this.onFrame = onFrame
  }

  /** Bytes held waiting for the rest of a frame. */
  get pendingBytes (): number {
    return this.len
  }

  /** Forget any partial frame (call on a new connection). */
  reset (): void {
    this.len = 0
    this.generation++
  }

  push (chunk: Buffer): void {
    if (chunk.length === 0) return
    const gen = this.generation
    if (this.len === 0) {
      // Fast path: parse straight from the chunk, keep only an incomplete tail.
      const off = this.scan(chunk, 0, chunk.length, gen)
      if (off < 0) return
      const rest = chunk.length - off
      if (rest > 0) {
        this.ensureCapacity(rest)
        chunk.copy(this.buf, 0, off)
        this.len = rest
      }
      return
    }
    this.ensureCapacity(this.len + chunk.length)
    chunk.copy(this.buf, this.len)
    const end = this.len + chunk.length
    const off = this.scan(this.buf, 0, end, gen)
    if (off < 0) return
    if (off > 0 && off < end) this.buf.copyWithin(0, off, end)
    this.len = end - off
  }

  private ensureCapacity (n: number): void {
    if (n <= this.buf.length) return
    const next = Buffer.allocUnsafeSlow(Math.max(n, 2 * this.buf.length))
    this.buf.copy(next, 0, 0, this.len)
    this.buf = next
  }

  /** Delivers complete frames in buf[off, end); returns the offset of the unconsumed tail, or -1 after a reset. */
  private scan (buf: Buffer, off: number, end: number, gen: number): number {
    while (end - off >= 6) {
      const length = (buf[off + 4] << 8) | buf[off + 5]
      if (buf[off + 2] !== 0 || buf[off + 3] !== 0 || length < MIN_MBAP_LENGTH_FIELD || length > MAX_MBAP_LENGTH_FIELD) {
        off++
        this.droppedBytes++
        continue
      }
      const total = 6 + length
      if (end - off < total) break
      const transactionId = (buf[off] << 8) | buf[off + 1]
      this.frames++
      this.onFrame(transactionId, buf[off + 6], buf[off + 7], buf.subarray(off + 8, off + total))
      if (this.generation !== gen) return -1
      off += total
    }
    return off
  }
}
