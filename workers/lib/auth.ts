import { createHash } from 'node:crypto'
import { WrkError } from '../core/errors'

/**
 * MicroBT controller authentication (registers.md): the response to an 8-byte challenge R is
 * sha256(R ‖ md5(username) ‖ md5(password)), all raw digests. The inputs and the result are
 * secrets: never log them.
 */

export const AUTH_CHALLENGE_BYTES = 8
export const AUTH_RESPONSE_BYTES = 32

export function authResponse (challenge: Buffer, username: string, password: string): Buffer {
  if (!Buffer.isBuffer(challenge) || challenge.length !== AUTH_CHALLENGE_BYTES) {
    throw new WrkError('ERR_AUTH_CHALLENGE_INVALID', `challenge must be ${AUTH_CHALLENGE_BYTES} bytes`)
  }
  const md5User = createHash('md5').update(username, 'utf8').digest()
  const md5Pass = createHash('md5').update(password, 'utf8').digest()
  return createHash('sha256').update(Buffer.concat([challenge, md5User, md5Pass])).digest()
}

/** Registers (uint16 each) → bytes, big-endian: 4 registers → 8 bytes. */
export function registersToBytes (registers: readonly number[]): Buffer {
  const buf = Buffer.alloc(registers.length * 2)
  registers.forEach((reg, i) => {
    if (!Number.isInteger(reg) || reg < 0 || reg > 0xffff) {
      throw new WrkError('ERR_REGISTER_VALUE_INVALID', `register ${i} is not a uint16`)
    }
    buf.writeUInt16BE(reg, i * 2)
  })
  return buf
}

/** Bytes → registers, big-endian: 32 bytes → 16 registers. */
export function bytesToRegisters (bytes: Buffer): number[] {
  if (bytes.length % 2 !== 0) throw new WrkError('ERR_REGISTER_BYTES_INVALID', 'byte count must be even')
  const regs: number[] = []
  for (let i = 0; i < bytes.length; i += 2) regs.push(bytes.readUInt16BE(i))
  return regs
}
