/**
 * Credentials stay on the master. The `opts` keys a rack names secret (`secretOptKeys`, e.g. a
 * container's username and password) are kept in a bee of their own (`thing-secrets`), which is
 * never offered for replication; the thing record in the main bee — what read replicas copy —
 * holds only a reference (`secretRef`, a random id) to the entry with its secrets.
 *
 * Each entry is encrypted with a key of its own (./secret-keys.ts); replacing a password or
 * forgetting a thing deletes the key, so the old credentials become unreadable on disk although
 * the append-only core keeps the entry's blocks.
 *
 * Stores written before these rules are migrated at start: credentials inside the records of
 * the main bee go to a fresh main bee without them; plaintext entries of the secrets bee go,
 * encrypted, to a fresh secrets bee; the old cores' blocks are cleared.
 */
import { randomUUID } from 'node:crypto'
import type { Bee, StoreFacility } from '../../../facs/store'
import type { Logger } from '../../../core/types'
import { SecretKeys, isSealed } from './secret-keys'
import { withTimeout } from '../../../core/async'
import type { JsonObject, ThingRecord } from '../types'

/** The bee of the secret opts of a store from before their encryption (never replicated). */
export const SECRETS_BEE = 'thing-secrets'
/** The bee of the encrypted secret opts (never replicated). */
export const SEALED_SECRETS_BEE = 'thing-secrets-2'
/** Key in the `wrk` bee naming the secrets bee in use. */
const SECRETS_LAYOUT_KEY = 'layout:secrets'
/** The main bee of a store written before credentials were kept apart. */
export const LEGACY_MAIN_BEE = 'db'
/** The main bee a legacy store is migrated into. */
export const MIGRATED_MAIN_BEE = 'main-1'
/** Key in the `wrk` bee naming the main bee in use. */
const LAYOUT_KEY = 'layout:main'
/** Prefix of the records in the main bee (`db.sub('things')`). */
const THINGS_PREFIX = 'things\u0000'

/** A record as stored in the main bee: opts without the secret keys, and the secrets' reference. */
export type StoredThingRecord = ThingRecord & { secretRef?: string }

export class SecretOpts {
  constructor (
    private readonly bee: Bee<JsonObject>,
    readonly keys: readonly string[],
    private readonly writeTimeoutMs = 10_000,
    private readonly sealing: SecretKeys | null = null
  ) {}

  /** `opts` split into what may be stored with the record and the secrets (null: none). */
  split (opts: JsonObject): { open: JsonObject, secret: JsonObject | null } {
    const open: JsonObject = {}
    const secret: JsonObject = {}
    for (const [k, v] of Object.entries(opts)) {
      if (this.keys.includes(k)) secret[k] = v
      else open[k] = v
    }
    return { open, secret: Object.keys(secret).length > 0 ? secret : null }
  }

  /** Every readable entry: `<thing id>/<ref>` → secrets (an entry whose key was shredded is left out). */
  async all (): Promise<Map<string, JsonObject>> {
    const out = new Map<string, JsonObject>()
    for await (const entry of this.bee.createReadStream()) {
      const value = isSealed(entry.value) ? this.sealing?.open(entry.key, entry.value) ?? null : entry.value
      if (value !== null) out.set(entry.key, value)
    }
    return out
  }

  /** Stores `secret` for thing `id` under a new reference (encrypted with a new key), which it returns. */
  async put (id: string, secret: JsonObject): Promise<string> {
    const ref = randomUUID()
    const name = entryKey(id, ref)
    const value = this.sealing ? await this.sealing.seal(name, secret) as unknown as JsonObject : secret
    await withTimeout(this.bee.put(name, value), this.writeTimeoutMs, 'ERR_STORE_TIMEOUT')
    return ref
  }

  /**
   * Forgets the entries of thing `id` except `keep`: their keys first (from then on they are
   * unreadable), then the entries (best effort: a leftover is deleted at the next start).
   */
  async drop (id: string, keep?: string): Promise<void> {
    try {
      const names: string[] = []
      for await (const entry of this.bee.createReadStream({ gte: `${id}/`, lt: `${id}/\uffff` })) {
        const ref = entry.key.slice(id.length + 1)
        // `a/b/<ref>` belongs to thing `a/b`, not to `a` (a reference never holds a slash)
        if (!ref.includes('/') && ref !== keep) names.push(entry.key)
      }
      await this.sealing?.shred(names)
      for (const name of names) await this.bee.del(name)
    } catch {
      // the next start removes entries no record refers to
    }
  }

  async del (key: string): Promise<void> {
    await this.sealing?.shred([key])
    await this.bee.del(key)
  }
}

export function entryKey (id: string, ref: string): string {
  return `${id}/${ref}`
}

export interface MainDb {
  db: Bee
  /** Name of the main bee in this store. */
  name: string
  secrets: SecretOpts
}

/**
 * Opens the rack's main bee and the secrets bee. A store whose main bee may still hold
 * credentials (written before they were kept apart, recognised by the missing layout entry
 * on a non-empty `db`) is first copied record by record into a fresh main bee with the secrets
 * moved out; nothing else changes, and the old core's blocks are cleared afterwards.
 */
export async function openMainDb (
  store: StoreFacility, secretKeys: readonly string[], logger: Logger, writeTimeoutMs = 10_000
): Promise<MainDb> {
  const wrk = await store.getBee<{ name: string }>('wrk')
  const secrets = await openSecrets(store, secretKeys, logger, writeTimeoutMs)
  const layout = await wrk.get(LAYOUT_KEY)
  if (layout && typeof layout.value?.name === 'string') {
    const name = layout.value.name
    // a migration stopped between its layout entry and clearing the old core: clear it now
    if (name !== LEGACY_MAIN_BEE) await clearLegacy(store, logger)
    return { db: await store.getBee(name), name, secrets }
  }

  const legacy = await store.getBee(LEGACY_MAIN_BEE)
  if (legacy.core.length === 0) {
    // a new store: its main bee never held a credential
    await wrk.put(LAYOUT_KEY, { name: LEGACY_MAIN_BEE })
    return { db: legacy, name: LEGACY_MAIN_BEE, secrets }
  }

  const db = await store.getBee(MIGRATED_MAIN_BEE)
  let records = 0
  let moved = 0
  const batch = db.batch()
  for await (const entry of legacy.createReadStream()) {
    let value = entry.value
    if (entry.key.startsWith(THINGS_PREFIX) && value !== null && typeof value === 'object') {
      const record = value as StoredThingRecord
      const { open, secret } = secrets.split(record.opts ?? {})
      records++
      if (secret) {
        moved++
        value = { ...record, opts: open, secretRef: await secrets.put(record.id, secret) }
      }
    }
    await batch.put(entry.key, value)
  }
  await batch.flush()
  // from here on the migrated bee is the main bee; the old one is never offered to a replica
  await wrk.put(LAYOUT_KEY, { name: MIGRATED_MAIN_BEE })
  await clearLegacy(store, logger)
  logger.warn({ records, withSecrets: moved, from: LEGACY_MAIN_BEE, to: MIGRATED_MAIN_BEE },
    'store migrated: thing credentials moved out of the replicable main bee')
  return { db, name: MIGRATED_MAIN_BEE, secrets }
}

/**
 * The secrets bee with its keys. A store whose secrets bee holds plaintext entries (written
 * before their encryption) has them copied, encrypted, into a fresh bee, and the old core's
 * blocks cleared; keys that no entry uses any more are forgotten.
 */
async function openSecrets (
  store: StoreFacility, secretKeys: readonly string[], logger: Logger, writeTimeoutMs: number
): Promise<SecretOpts> {
  const wrk = await store.getBee<{ name: string }>('wrk')
  const sealing = new SecretKeys(store.dir)
  await sealing.load()
  const layout = await wrk.get(SECRETS_LAYOUT_KEY)
  if (layout?.value?.name === SEALED_SECRETS_BEE) {
    await clearBee(store, SECRETS_BEE, logger) // a migration stopped before clearing it
  } else {
    const plain = await store.getBee<JsonObject>(SECRETS_BEE)
    const target = await store.getBee<JsonObject>(SEALED_SECRETS_BEE)
    const entries: Array<[string, JsonObject]> = []
    for await (const entry of plain.createReadStream()) entries.push([entry.key, entry.value])
    // every key written in one append, then the entries in one batch
    const sealed = await sealing.sealAll(entries.filter(([, v]) => !isSealed(v)))
    const batch = target.batch()
    let i = 0
    for (const [key, value] of entries) await batch.put(key, isSealed(value) ? value : sealed[i++])
    await batch.flush()
    const moved = entries.length
    await wrk.put(SECRETS_LAYOUT_KEY, { name: SEALED_SECRETS_BEE })
    await clearBee(store, SECRETS_BEE, logger)
    if (moved > 0) {
      logger.warn({ entries: moved, from: SECRETS_BEE, to: SEALED_SECRETS_BEE },
        'store migrated: thing credentials encrypted, each with a key of its own')
    }
  }
  const bee = await store.getBee<JsonObject>(SEALED_SECRETS_BEE)
  const live = new Set<string>()
  for await (const entry of bee.createReadStream()) live.add(entry.key)
  await sealing.shred(sealing.entryNames.filter((name) => !live.has(name)))
  return new SecretOpts(bee, secretKeys, writeTimeoutMs, sealing)
}

/** Frees the blocks of a bee that may hold credentials; closes it. */
async function clearBee (store: StoreFacility, name: string, logger: Logger): Promise<void> {
  try {
    await store.clearBee(name)
  } catch (err) {
    logger.warn({ err, bee: name }, 'could not clear an old bee after a migration')
  }
}

/** Frees the blocks of the old main bee (they may hold credentials); closes it. */
async function clearLegacy (store: StoreFacility, logger: Logger): Promise<void> {
  try {
    await store.clearBee(LEGACY_MAIN_BEE)
  } catch (err) {
    logger.warn({ err }, 'could not clear the old main bee after the migration')
  }
}
