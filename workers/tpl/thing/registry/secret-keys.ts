/**
 * Crypto-shredding of credentials: each stored credentials entry (`<thing id>/<ref>` in the
 * secrets bee) is encrypted (AES-256-GCM) with a key of its own, kept in a side file of the
 * store (`side/secret-keys.json`: mutable, 0600, never replicated, in every backup). Deleting the
 * key — when a password is replaced or its thing forgotten — makes the entry unreadable for
 * good, although the append-only core still holds its (encrypted) blocks.
 *
 * The file is a journal of JSON lines `{"k": <entry>, "v": <key hex>}`: a new key is appended
 * (one synced write, whatever the number of keys); forgetting keys rewrites the file without
 * them, so their bytes leave the file at once.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { appendSideFile, readSideFile, writeSideFile } from '../../../facs/side-files'
import { KeyedLock } from '../../../core/async'
import type { JsonObject } from '../types'

export const SECRET_KEYS_FILE = 'secret-keys.json'
const ALGORITHM = 'aes-256-gcm'

/** An encrypted credentials entry as stored. */
export interface SealedValue { v: 1, iv: string, tag: string, data: string }

export function isSealed (value: unknown): value is SealedValue {
  const v = value as Partial<SealedValue> | null
  return v !== null && typeof v === 'object' && v.v === 1 &&
    typeof v.iv === 'string' && typeof v.tag === 'string' && typeof v.data === 'string'
}

export class SecretKeys {
  private keys = new Map<string, Buffer>()
  /** File writes run one at a time, each with the whole map as it is then. */
  private readonly writes = new KeyedLock()

  constructor (private readonly storeDir: string) {}

  async load (): Promise<void> {
    const raw = await readSideFile(this.storeDir, SECRET_KEYS_FILE)
    this.keys = new Map()
    for (const line of (raw?.toString('utf8') ?? '').split('\n')) {
      if (line === '') continue
      const { k, v } = JSON.parse(line) as { k: string, v: string }
      this.keys.set(k, Buffer.from(v, 'hex'))
    }
  }

  get entryNames (): string[] {
    return [...this.keys.keys()]
  }

  /** Encrypts each value with a fresh key of its own; the keys are on disk (one synced append) before it resolves. */
  async sealAll (entries: ReadonlyArray<readonly [name: string, value: JsonObject]>): Promise<SealedValue[]> {
    const lines: string[] = []
    const out = entries.map(([name, value]) => {
      const key = randomBytes(32)
      const iv = randomBytes(12)
      const cipher = createCipheriv(ALGORITHM, key, iv)
      const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()])
      this.keys.set(name, key)
      lines.push(`${JSON.stringify({ k: name, v: key.toString('hex') })}\n`)
      return { v: 1 as const, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') }
    })
    if (lines.length > 0) {
      await this.writes.run('file', async () => { await appendSideFile(this.storeDir, SECRET_KEYS_FILE, lines.join('')) })
    }
    return out
  }

  /** {@link sealAll} of one value. */
  async seal (name: string, value: JsonObject): Promise<SealedValue> {
    const [sealed] = await this.sealAll([[name, value]])
    return sealed as SealedValue
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
    if (!changed) return
    // the journal rewritten with the keys left: the forgotten ones' bytes leave the file
    await this.writes.run('file', async () => {
      const journal = [...this.keys].map(([k, key]) => `${JSON.stringify({ k, v: key.toString('hex') })}\n`).join('')
      await writeSideFile(this.storeDir, SECRET_KEYS_FILE, journal)
    })
  }
}
