import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  MbapStreamParser,
  checkWriteReplyData,
  decodeReadHoldingRegistersData,
  encodeExceptionResponse,
  encodeFrame,
  encodeReadHoldingRegistersRequest,
  encodeReadHoldingRegistersResponse,
  encodeWriteMultipleRegistersRequest,
  encodeWriteMultipleRegistersResponse,
  encodeWriteSingleRegisterRequest,
  encodeWriteSingleRegisterResponse
} from '../../../../workers/lib/modbus/frame'

interface Frame { tid: number, unit: number, fc: number, data: string }

function hex (s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex')
}

function collector (): { parser: MbapStreamParser, frames: Frame[] } {
  const frames: Frame[] = []
  const parser = new MbapStreamParser((tid, unit, fcode, data) => {
    frames.push({ tid, unit, fc: fcode, data: data.toString('hex') })
  })
  return { parser, frames }
}

function pushBytewise (parser: MbapStreamParser, buf: Buffer): void {
  for (let i = 0; i < buf.length; i++) parser.push(buf.subarray(i, i + 1))
}

describe('modbus frame encoding', () => {
  it('encodes FC03 read holding registers requests byte-exact', () => {
    expect(encodeReadHoldingRegistersRequest(1, 1, 300, 4)).toEqual(hex('0001 0000 0006 01 03 012C 0004'))
    expect(encodeReadHoldingRegistersRequest(0xfffe, 20, 0xffff, 125)).toEqual(hex('FFFE 0000 0006 14 03 FFFF 007D'))
  })

  it('encodes FC06 write single register requests byte-exact (negative int16 as two\'s complement)', () => {
    expect(encodeWriteSingleRegisterRequest(0x1234, 9, 307, 1)).toEqual(hex('1234 0000 0006 09 06 0133 0001'))
    expect(encodeWriteSingleRegisterRequest(7, 1, 612, -2)).toEqual(hex('0007 0000 0006 01 06 0264 FFFE'))
    expect(encodeWriteSingleRegisterRequest(7, 1, 612, 65535)).toEqual(hex('0007 0000 0006 01 06 0264 FFFF'))
  })

  it('encodes FC16 write multiple registers requests byte-exact', () => {
    expect(encodeWriteMultipleRegistersRequest(2, 1, 304, [0x0102, 0xabcd])).toEqual(hex('0002 0000 000B 01 10 0130 0002 04 0102 ABCD'))
    expect(encodeWriteMultipleRegistersRequest(3, 255, 0, [-1])).toEqual(hex('0003 0000 0009 FF 10 0000 0001 02 FFFF'))
    const big = encodeWriteMultipleRegistersRequest(4, 1, 0, new Array<number>(123).fill(0x55aa))
    expect(big.length).toBe(13 + 246)
    expect(big.readUInt16BE(4)).toBe(253)
    expect(big[12]).toBe(246)
  })

  it('encodes replies byte-exact', () => {
    expect(encodeReadHoldingRegistersResponse(1, 1, [4, 0xffff])).toEqual(hex('0001 0000 0007 01 03 04 0004 FFFF'))
    expect(encodeWriteSingleRegisterResponse(5, 9, 300, 2)).toEqual(hex('0005 0000 0006 09 06 012C 0002'))
    expect(encodeWriteMultipleRegistersResponse(6, 1, 304, 16)).toEqual(hex('0006 0000 0006 01 10 0130 0010'))
    expect(encodeExceptionResponse(8, 2, 3, 2)).toEqual(hex('0008 0000 0003 02 83 02'))
    expect(encodeExceptionResponse(9, 2, 16, 0x0a)).toEqual(hex('0009 0000 0003 02 90 0A'))
    expect(encodeFrame(10, 3, 0x2b, Buffer.from([1, 2]))).toEqual(hex('000A 0000 0004 03 2B 0102'))
  })

  it('decodes FC03 data and rejects wrong byte counts', () => {
    expect(decodeReadHoldingRegistersData(hex('04 0004 FFFF'), 2)).toEqual([4, 0xffff])
    expect(decodeReadHoldingRegistersData(hex('04 0004 FFFF'), 3)).toBeNull()
    expect(decodeReadHoldingRegistersData(hex('06 0004 FFFF'), 2)).toBeNull() // byte count lies
    expect(decodeReadHoldingRegistersData(hex('04 0004 FF'), 2)).toBeNull() // truncated
    expect(decodeReadHoldingRegistersData(hex('04 0004 FFFF 00'), 2)).toBeNull() // trailing
  })

  it('checks write echoes', () => {
    expect(checkWriteReplyData(hex('0133 0001'), 307, 1)).toBe(true)
    expect(checkWriteReplyData(hex('0133 0002'), 307, 1)).toBe(false)
    expect(checkWriteReplyData(hex('0134 0001'), 307, 1)).toBe(false)
    expect(checkWriteReplyData(hex('0133 0001 00'), 307, 1)).toBe(false)
  })
})

describe('modbus stream parser', () => {
  const f1 = encodeReadHoldingRegistersResponse(0x0101, 1, [1, 2, 3])
  const f2 = encodeWriteSingleRegisterResponse(0x0202, 9, 300, 1)
  const f3 = encodeExceptionResponse(0x0303, 2, 3, 2)
  const expected: Frame[] = [
    { tid: 0x0101, unit: 1, fc: 3, data: '06000100020003' },
    { tid: 0x0202, unit: 9, fc: 6, data: '012c0001' },
    { tid: 0x0303, unit: 2, fc: 0x83, data: '02' }
  ]

  it('reassembles frames fed one byte at a time', () => {
    const { parser, frames } = collector()
    pushBytewise(parser, Buffer.concat([f1, f2, f3]))
    expect(frames).toEqual(expected)
    expect(parser.droppedBytes).toBe(0)
    expect(parser.pendingBytes).toBe(0)
  })

  it('delivers several frames coalesced in one segment, and a split tail later', () => {
    const { parser, frames } = collector()
    const all = Buffer.concat([f1, f2, f3])
    parser.push(all.subarray(0, f1.length + f2.length + 3))
    expect(frames).toEqual(expected.slice(0, 2))
    expect(parser.pendingBytes).toBe(3)
    parser.push(all.subarray(f1.length + f2.length + 3))
    expect(frames).toEqual(expected)
  })

  it('delivers exception frames with the 0x80 flag and their code', () => {
    const { parser, frames } = collector()
    parser.push(encodeExceptionResponse(77, 1, 16, 0x0b))
    expect(frames).toEqual([{ tid: 77, unit: 1, fc: 0x90, data: '0b' }])
  })

  it('resynchronises over junk between frames and counts the dropped bytes', () => {
    const junk = Buffer.alloc(5, 0xff)
    const stream = Buffer.concat([junk, f1, junk, f2, junk, junk, f3])
    for (const chunked of [false, true]) {
      const { parser, frames } = collector()
      if (chunked) pushBytewise(parser, stream)
      else parser.push(stream)
      expect(frames).toEqual(expected)
      expect(parser.droppedBytes).toBe(20)
    }
  })

  it('resynchronises on a bad protocol id and on out-of-range length fields', () => {
    const badProto = hex('0001 0001 0006 01 03 0000 0001') // protocol id 1: 12 bytes, none a frame start
    const tooShort = hex('0000 0000 0001') // length 1 < 2
    const tooLong = hex('0000 0000 00FF') // length 255 > 254
    const { parser, frames } = collector()
    parser.push(Buffer.concat([badProto, f1, tooShort, f2, tooLong, f3]))
    expect(frames).toEqual(expected)
    expect(parser.droppedBytes).toBe(badProto.length + tooShort.length + tooLong.length)
  })

  it('does not wedge on a plausible header with no body: reset() discards it', () => {
    const { parser, frames } = collector()
    parser.push(hex('0009 0000 00FE 01')) // claims 254 bytes follow
    expect(parser.pendingBytes).toBe(7)
    parser.reset()
    parser.push(f1)
    expect(frames).toEqual(expected.slice(0, 1))
  })

  it('stops delivering the rest of a chunk when the handler resets the parser', () => {
    const seen: number[] = []
    const parser: MbapStreamParser = new MbapStreamParser((tid) => {
      seen.push(tid)
      if (tid === 0x0101) parser.reset()
    })
    parser.push(Buffer.concat([f1, f2, f3]))
    expect(seen).toEqual([0x0101])
    expect(parser.pendingBytes).toBe(0)
    parser.push(f3)
    expect(seen).toEqual([0x0101, 0x0303])
  })

  it('handles maximum-size frames split across chunks larger than the internal buffer', () => {
    const values = Array.from({ length: 125 }, (_, i) => i * 3)
    const big = encodeReadHoldingRegistersResponse(42, 1, values)
    expect(big.length).toBe(259)
    const stream = Buffer.concat([f1.subarray(0, 5), f1.subarray(5), big, big, big, f2])
    const { parser, frames } = collector()
    parser.push(stream.subarray(0, 3))
    parser.push(stream.subarray(3)) // pending bytes + ~800 new bytes in one chunk
    expect(frames.map((f) => f.tid)).toEqual([0x0101, 42, 42, 42, 0x0202])
    expect(decodeReadHoldingRegistersData(Buffer.from(frames[1].data, 'hex'), 125)).toEqual(values)
  })
})

const frameArb = fc.record({
  tid: fc.integer({ min: 0, max: 0xffff }),
  unit: fc.integer({ min: 0, max: 255 }),
  fc: fc.constantFrom(0x03, 0x06, 0x10, 0x83, 0x86, 0x90),
  data: fc.uint8Array({ minLength: 0, maxLength: 252 })
})

function chunkStream (stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
  const chunks: Buffer[] = []
  let prev = 0
  for (const p of points) {
    chunks.push(stream.subarray(prev, p))
    prev = p
  }
  chunks.push(stream.subarray(prev))
  return chunks
}

describe('modbus stream parser properties', () => {
  it('every valid frame comes out exactly once, in order, under any chunking', () => {
    fc.assert(fc.property(
      fc.array(frameArb, { minLength: 0, maxLength: 30 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      (input, cuts) => {
        const stream = Buffer.concat(input.map((f) => encodeFrame(f.tid, f.unit, f.fc, f.data)))
        const { parser, frames } = collector()
        for (const c of chunkStream(stream, cuts)) parser.push(c)
        expect(frames).toEqual(input.map((f) => ({ tid: f.tid, unit: f.unit, fc: f.fc, data: Buffer.from(f.data).toString('hex') })))
        expect(parser.droppedBytes).toBe(0)
        expect(parser.pendingBytes).toBe(0)
      }
    ), { numRuns: 300 })
  })

  it('0xFF junk runs between frames are dropped byte for byte and never lose a frame', () => {
    // A frame whose transaction id has a non-zero low byte cannot be mistaken for junk continuation.
    const junkFrameArb = fc.record({
      frame: frameArb.filter((f) => (f.tid & 0xff) !== 0),
      junk: fc.integer({ min: 0, max: 12 })
    })
    fc.assert(fc.property(
      fc.array(junkFrameArb, { minLength: 1, maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      (input, cuts) => {
        const stream = Buffer.concat(input.flatMap(({ frame: f, junk }) => [Buffer.alloc(junk, 0xff), encodeFrame(f.tid, f.unit, f.fc, f.data)]))
        const { parser, frames } = collector()
        for (const c of chunkStream(stream, cuts)) parser.push(c)
        expect(frames.map((f) => f.tid)).toEqual(input.map((x) => x.frame.tid))
        expect(parser.droppedBytes).toBe(input.reduce((n, x) => n + x.junk, 0))
      }
    ), { numRuns: 200 })
  })
})
