/** One client TCP connection of a mock container and its authentication. */
import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'

export interface Connection {
  id: number
  socket: Socket
  /** 8 random bytes served at unit 1 registers 301–304. */
  challenge: Buffer
  authenticated: boolean
  /** Bytes of an incomplete frame, kept until the rest arrives. */
  pending: Buffer | null
}

/** A fresh authentication challenge. */
export function newChallenge (): Buffer {
  return randomBytes(8)
}

export function openConnection (id: number, socket: Socket): Connection {
  return { id, socket, challenge: newChallenge(), authenticated: false, pending: null }
}
