import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { authResponse, bytesToRegisters, registersToBytes } from '../../../workers/lib/auth'

const md5 = (s: string): Buffer => createHash('md5').update(s, 'utf8').digest()
const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest()

describe('authResponse', () => {
  it('matches a known vector (computed outside node with Python hashlib)', () => {
    const challenge = Buffer.from('a1b2c3d4e5f60718', 'hex')
    expect(authResponse(challenge, 'admin', 'pässwörd-1').toString('hex'))
      .toBe('15ac38262ffa97e5e2c760eb6b6f64a50691ab9257a9994ca19bb8ba4c4edc9e')
    expect(authResponse(Buffer.alloc(8), '', '').toString('hex'))
      .toBe('78b6aacd3807ece216cef2ca2a9267edd10c3f97059c70e9ac77a1dbe01d9d8a')
  })

  it('is sha256(R ‖ md5(user) ‖ md5(pass)) with raw digests', () => {
    const challenge = Buffer.from([0, 1, 2, 3, 0xfc, 0xfd, 0xfe, 0xff])
    const expected = sha256(Buffer.concat([challenge, md5('operator'), md5('s3cret!')]))
    const got = authResponse(challenge, 'operator', 's3cret!')
    expect(got.length).toBe(32)
    expect(got.equals(expected)).toBe(true)
    // hex-encoded digests would give a different answer
    const hexVariant = sha256(Buffer.concat([challenge, Buffer.from(md5('operator').toString('hex')), Buffer.from(md5('s3cret!').toString('hex'))]))
    expect(got.equals(hexVariant)).toBe(false)
  })

  it('depends on every input', () => {
    const r = Buffer.from('0011223344556677', 'hex')
    const base = authResponse(r, 'u', 'p')
    expect(authResponse(Buffer.from('0011223344556678', 'hex'), 'u', 'p').equals(base)).toBe(false)
    expect(authResponse(r, 'v', 'p').equals(base)).toBe(false)
    expect(authResponse(r, 'u', 'q').equals(base)).toBe(false)
  })

  it('rejects a challenge that is not 8 bytes', () => {
    expect(() => authResponse(Buffer.alloc(7), 'u', 'p')).toThrow(expect.objectContaining({ code: 'ERR_AUTH_CHALLENGE_INVALID' }))
    expect(() => authResponse(Buffer.alloc(9), 'u', 'p')).toThrow(expect.objectContaining({ code: 'ERR_AUTH_CHALLENGE_INVALID' }))
  })
})

describe('register (de)serialisation', () => {
  it('4 registers → 8 bytes, big-endian', () => {
    expect(registersToBytes([0x0102, 0x0304, 0xa5b6, 0xffff]).toString('hex')).toBe('01020304a5b6ffff')
  })

  it('32 bytes → 16 registers, big-endian', () => {
    const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 1))
    const regs = bytesToRegisters(bytes)
    expect(regs).toHaveLength(16)
    expect(regs[0]).toBe(0x0108)
    expect(regs[15]).toBe(((30 * 7 + 1) << 8) | (31 * 7 + 1))
    expect(registersToBytes(regs).equals(bytes)).toBe(true)
  })

  it('rejects odd byte counts and out-of-range registers', () => {
    expect(() => bytesToRegisters(Buffer.alloc(3))).toThrow(expect.objectContaining({ code: 'ERR_REGISTER_BYTES_INVALID' }))
    expect(() => registersToBytes([0x10000])).toThrow(expect.objectContaining({ code: 'ERR_REGISTER_VALUE_INVALID' }))
    expect(() => registersToBytes([-1])).toThrow(expect.objectContaining({ code: 'ERR_REGISTER_VALUE_INVALID' }))
    expect(() => registersToBytes([1.5])).toThrow(expect.objectContaining({ code: 'ERR_REGISTER_VALUE_INVALID' }))
  })
})
