/**
 * Crypto-shredding of credentials: each stored credentials entry (`<thing id>/<ref>` in the
 * secrets bee) is encrypted (AES-256-GCM) with a key of its own, kept in a side file of the
 * store (`side/secret-keys.json`: mutable, 0600, never replicated, in every backup). Deleting the
 * key — when a password is replaced or its thing forgotten — makes the entry unreadable for
 * good, although the append-only core still holds its (encrypted) blocks.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { readSideFile, writeSideFile } from '../../../facs/side-files'
import { KeyedLock } from '../../../core/async'
import type { JsonObject } from '../types'

export const SECRET_KEYS_FILE = 'secret-keys.json'
const ALGORITHM = 'aes-256-gcm'

/** An encrypted credentials entry as stored. */
export interface SealedValue { v: 1, iv: string, tag: string, data: string }

export function isSealed (value: unknown): value is SealedValue {
  const v = value as Partial<SealedValue> | null
  return v !== null && typeof v === 'object' && v.v === 1 && typeof v.iv === 'string' && typeof v.tag === 'string' && typeof v.data === 'string'
}

export class SecretKeys {
  private keys = new Map<string, Buffer>()
  /** File writes run one at a time, each with the whole map as it is then. */
  private readonly writes = new KeyedLock()

  constructor (private readonly storeDir: string) {}

  async load (): Promise<void> {
    const raw = await readSideFile(this.storeDir, SECRET_KEYS_FILE)
    const parsed = raw === null ? {} : JSON.parse(raw.toString('utf8')) as Record<string, string>
    this.keys = new Map(Object.entries(parsed).map(([k, hex]) => [k, Buffer.from(hex, 'hex')]))
  }

  get entryNames (): string[] {
    return [...this.keys.keys()]
  }

  private async persist (): Promise<void> {
    await this.writes.run('file', async () => {
      const json = JSON.stringify(Object.fromEntries([...this.keys].map(([k, key]) => [k, key.toString('hex')])))
      await writeSideFile(this.storeDir, SECRET_KEYS_FILE, json)
    })
  }

  /** Encrypts `value` for entry `name` with a fresh key, written to disk before the value is returned. */
  async seal (name: string, value: JsonObject): Promise<SealedValue> {
    const key = randomBytes(32)
    const iv = randomBytes(12)
    const cipher = createCipheriv(ALGORITHM, key, iv)
    const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()])
    this.keys.set(name, key)
    await this.persist()
    return { v: 1, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') }
  }

  /** The value of entry `name`, or null when its key is gone (shredded) or it does not decrypt. */
  open (name: string, sealed: SealedValue): JsonObject | null {
    const key = this.keys.get(name)
    if (key === undefined) return null
    try {
      const decipher = createDecipheriv(ALGORITHM, key, Buffer.from(sealed.iv, 'base64'))
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'))
      const text = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8')
      return JSON.parse(text) as JsonObject
    } catch {
      return null
    }
  }

  /** Forgets the keys of these entries, on disk before it resolves: their values are unreadable from then on. */
  async shred (names: readonly string[]): Promise<void> {
    let changed = false
    for (const name of names) changed = this.keys.delete(name) || changed
    if (changed) await this.persist()
  }
}
