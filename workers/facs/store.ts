import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readdir } from 'node:fs/promises'
import path from 'node:path'
import Corestore from 'corestore'
import Hyperbee from 'hyperbee'
import Hypercore from 'hypercore'
import Rache from 'rache'
import { Facility } from './facility'
import { WrkError } from '../core/errors'

export type Bee<T = unknown> = Hyperbee<T>

/** Corestore's namespace of the cores it names (`store.get({name})`): 32 zero bytes. */
const DEFAULT_NAMESPACE = Buffer.alloc(32)

/** What the time logs need of a store: bees by name (the master's own, or a replica's copies). */
export interface BeeStore {
  getBee: <T = unknown>(name: string) => Promise<Bee<T>>
  closeBee: (name: string) => Promise<void>
  clearBee: (name: string) => Promise<void>
}

/** The store holds credentials: only the worker's own user may read it. */
export const STORE_DIR_MODE = 0o700
export const STORE_FILE_MODE = 0o600

/**
 * Largest JSON value one store entry may hold. A Hypercore block must stay under 15 MiB and a
 * Hyperbee node adds its key and index to the value; 1 MiB keeps every entry far from that.
 */
export const MAX_STORED_VALUE_BYTES = 1024 * 1024

/** Refuses, before anything is written, a value that could not be stored as one entry; else its JSON text. */
export function assertStorable (value: unknown, what: string): string {
  const json = JSON.stringify(value) ?? 'null'
  const bytes = Buffer.byteLength(json)
  if (bytes > MAX_STORED_VALUE_BYTES) {
    throw new WrkError('ERR_VALUE_TOO_LARGE', `${what} is ${bytes} bytes; at most ${MAX_STORED_VALUE_BYTES} can be stored`)
  }
  return json
}

/**
 * Decoded blocks kept in memory, shared by every core of the store (a bound on the whole cache,
 * not per core: Hyperbee's default is 65 536 entries for each bee).
 */
export const STORE_CACHE_ENTRIES = 2048

/**
 * Size of one RocksDB memtable (two may be held): writes are buffered in memory up to this before
 * they are flushed to a table file. RocksDB's default, 64 MiB, lets the worker's resident memory
 * grow by up to 128 MiB over a long run; 16 MiB bounds that to 32 MiB (flushes, on RocksDB's
 * own threads, come more often — docs/performance.md).
 */
export const STORE_WRITE_BUFFER_BYTES = 16 * 1024 * 1024

/** chmod that tolerates a file the storage engine removed meanwhile (compaction). */
async function chmodIfThere (p: string, mode: number): Promise<void> {
  try {
    await chmod(p, mode)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}

/** Makes `dir` and everything below it private to the owner (stores created before this rule). */
async function restrictTree (dir: string): Promise<void> {
  await chmodIfThere(dir, STORE_DIR_MODE)
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  for (const entry of entries) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) await restrictTree(p)
    else if (entry.isFile()) await chmodIfThere(p, STORE_FILE_MODE)
  }
}

/**
 * Corestore + Hyperbee under one directory (`store/<rack>-db`). Every named bee is a JSON
 * key/value log that survives restarts and can be replicated to read replicas by core key.
 *
 * One Hypercore must never have two writers: `getBee` hands every caller of a name the same
 * instance, also while it is still opening (the opening promise is what is cached).
 */
export class StoreFacility extends Facility implements BeeStore {
  readonly name = 'store'
  private store: Corestore | null = null
  private readonly bees = new Map<string, Promise<Bee>>()
  /** Bees opened by core key (a read replica's copies of another store's cores). */
  private readonly remote = new Set<Bee>()

  constructor (readonly dir: string) {
    super()
  }

  protected override async _open (): Promise<void> {
    // The parent (`store/`) is private too: it lists the racks of this host.
    await mkdir(path.dirname(this.dir), { recursive: true, mode: STORE_DIR_MODE })
    await mkdir(this.dir, { recursive: true, mode: STORE_DIR_MODE })
    await chmod(path.dirname(this.dir), STORE_DIR_MODE)
    await restrictTree(this.dir)
    const storage = Hypercore.defaultStorage(this.dir, { writeBufferSize: STORE_WRITE_BUFFER_BYTES })
    const store = new Corestore(storage, { globalCache: new Rache({ maxSize: STORE_CACHE_ENTRIES }) })
    try {
      await store.ready()
    } catch (err) {
      await store.close().catch(() => {})
      const locked = /lock/i.test((err as Error).message)
      throw new WrkError(locked ? 'ERR_STORE_LOCKED' : 'ERR_STORE_OPEN', locked
        ? `store ${this.dir} is in use by another process (is this rack already running?)`
        : `cannot open store ${this.dir}: ${(err as Error).message}`)
    }
    // What the store created on open was made under the process umask: restrict it too.
    await restrictTree(this.dir)
    this.store = store
  }

  /** The bee called `name`, opened on first use; a failed open is not cached. */
  async getBee<T = unknown> (name: string): Promise<Bee<T>> {
    let opening = this.bees.get(name)
    if (!opening) {
      if (!this.store) throw new WrkError('ERR_STORE_NOT_STARTED')
      const bee = new Hyperbee<unknown>(this.store.get({ name }), { keyEncoding: 'utf-8', valueEncoding: 'json' })
      opening = bee.ready().then(() => bee, async (err: unknown) => {
        if (this.bees.get(name) === opening) this.bees.delete(name)
        await bee.close().catch(() => {})
        throw new WrkError('ERR_STORE_OPEN', `cannot open ${name}: ${(err as Error).message}`, { cause: err })
      })
      this.bees.set(name, opening)
    }
    return await opening as Bee<T>
  }

  /**
   * A read-only bee over the core with `key` (another store's core, replicated into this one).
   * A block read that has to wait for a peer fails after `timeoutMs`. The caller closes it with
   * `closeRemote`; closing the store closes what is left.
   */
  async openByKey<T = unknown> (key: Buffer, timeoutMs: number): Promise<Bee<T>> {
    if (!this.store) throw new WrkError('ERR_STORE_NOT_STARTED')
    const bee = new Hyperbee<unknown>(this.store.get({ key, timeout: timeoutMs }), {
      keyEncoding: 'utf-8',
      valueEncoding: 'json',
      extension: false
    })
    this.remote.add(bee)
    try {
      await bee.ready()
    } catch (err) {
      await this.closeRemote(bee)
      throw new WrkError(
        'ERR_STORE_OPEN',
        `cannot open core ${key.toString('hex').slice(0, 16)}…: ${(err as Error).message}`,
        { cause: err }
      )
    }
    return bee as Bee<T>
  }

  /**
   * The key and discovery key of the core called `name`, from a session of its own (closed
   * again): a bee of that name that is open elsewhere is not touched.
   */
  async coreKeys (name: string): Promise<{ key: Buffer, discoveryKey: Buffer }> {
    if (!this.store) throw new WrkError('ERR_STORE_NOT_STARTED')
    const core = this.store.get({ name })
    try {
      await core.ready()
      return { key: core.key, discoveryKey: core.discoveryKey }
    } finally {
      await core.close().catch(() => {})
    }
  }

  async closeRemote (bee: Bee<unknown>): Promise<void> {
    this.remote.delete(bee as Bee)
    await bee.close().catch(() => {})
  }

  /** Whether a bee of that name is open (or opening) in this process. */
  isOpen (name: string): boolean {
    return this.bees.has(name)
  }

  /** The names of the open bees: what a leak test watches. */
  openNames (): string[] {
    return [...this.bees.keys()]
  }

  get openCount (): number {
    return this.bees.size
  }

  /** Closes a bee that nothing uses any more; its data stays on disk. A no-op when not open. */
  async closeBee (name: string): Promise<void> {
    const opening = this.bees.get(name)
    if (!opening) return
    this.bees.delete(name)
    const bee = await opening.catch(() => null)
    if (bee) await bee.close()
  }

  /**
   * Frees the blocks of a bee that nothing reads any more (e.g. a log generation that rotated
   * out), keeping only the core's small header, then closes it; a core whose last block is
   * gone already was cleared before. (Hypercore 11.37's `purge()` is broken.)
   */
  async clearBee (name: string): Promise<void> {
    const bee = await this.getBee(name)
    try {
      if (bee.core.length > 0 && await bee.core.has(bee.core.length - 1)) await bee.core.clear(0, bee.core.length)
    } finally {
      await this.closeBee(name)
    }
  }

  /**
   * A read snapshot of every named bee of the store whose data is there (cleared log generations
   * left out), all taken in one synchronous step after they are open: a consistent cut while
   * writes go on. The caller closes the snapshots.
   */
  async snapshotAll (): Promise<Array<{ name: string, snapshot: Bee }>> {
    const store = this.store
    if (!store) throw new WrkError('ERR_STORE_NOT_STARTED')
    const names: string[] = []
    for await (const { alias } of store.storage.createAliasStream(DEFAULT_NAMESPACE)) names.push(alias.name)
    const sessions: Array<{ name: string, bee: Bee }> = []
    try {
      for (const name of names.sort()) {
        const bee = new Hyperbee<unknown>(store.get({ name }), { keyEncoding: 'utf-8', valueEncoding: 'json' })
        sessions.push({ name, bee })
        await bee.ready()
      }
      const kept: Array<{ name: string, bee: Bee }> = []
      for (const s of sessions) {
        const core = s.bee.core
        if (core.length > 0 && !(await core.has(core.length - 1))) continue // cleared: unreachable by any read
        kept.push(s)
      }
      // the cut
      return kept.map(({ name, bee }) => ({ name, snapshot: bee.snapshot() }))
    } finally {
      for (const { bee } of sessions) await bee.close().catch(() => {})
    }
  }

  /** A 32-byte secret persisted under `key` in the `wrk` bee, created on first use. */
  async getSeed (key: string): Promise<Buffer> {
    const bee = await this.getBee<string>('wrk')
    const entry = await bee.get(`seed:${key}`)
    if (entry) return Buffer.from(entry.value, 'hex')
    const seed = randomBytes(32)
    await bee.put(`seed:${key}`, seed.toString('hex'))
    return seed
  }

  protected override async _close (): Promise<void> {
    const store = this.store
    this.store = null
    const bees = [...this.bees.values()]
    this.bees.clear()
    const remote = [...this.remote]
    this.remote.clear()
    await Promise.allSettled([
      ...bees.map(async (opening) => { await (await opening).close() }),
      ...remote.map(async (bee) => { await bee.close() })
    ])
    if (store) await store.close()
  }
}
