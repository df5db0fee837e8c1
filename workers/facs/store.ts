import { randomBytes } from 'node:crypto'
import Corestore from 'corestore'
import Hyperbee from 'hyperbee'
import type { Facility } from './facility'
import { WrkError } from '../tpl/errors'

export type Bee<T = unknown> = Hyperbee<T>

/**
 * Corestore + Hyperbee under one directory (`store/<rack>-db`). Every named bee is a JSON
 * key/value log that survives restarts and can be replicated to read replicas by core key.
 */
export class StoreFacility implements Facility {
  readonly name = 'store'
  readonly priority = 10
  private store: Corestore | null = null
  private readonly bees = new Map<string, Bee>()

  constructor (readonly dir: string) {}

  async start (): Promise<void> {
    const store = new Corestore(this.dir)
    try {
      await store.ready()
    } catch (err) {
      await store.close().catch(() => {})
      const locked = /lock/i.test((err as Error).message)
      throw new WrkError(locked ? 'ERR_STORE_LOCKED' : 'ERR_STORE_OPEN', locked
        ? `store ${this.dir} is in use by another process (is this rack already running?)`
        : `cannot open store ${this.dir}: ${(err as Error).message}`)
    }
    this.store = store
  }

  async getBee<T = unknown> (name: string): Promise<Bee<T>> {
    const cached = this.bees.get(name)
    if (cached) return cached as Bee<T>
    if (!this.store) throw new Error('ERR_STORE_NOT_STARTED')
    const bee = new Hyperbee<T>(this.store.get({ name }), { keyEncoding: 'utf-8', valueEncoding: 'json' })
    await bee.ready()
    this.bees.set(name, bee as Bee)
    return bee
  }

  /**
   * Frees the blocks of a bee that nothing reads any more (e.g. a log generation that rotated
   * out), keeping only the core's small header. (Hypercore 11.37's `purge()` is broken.)
   */
  async clearBee (name: string): Promise<void> {
    const bee = await this.getBee(name)
    this.bees.delete(name)
    try {
      if (bee.core.length > 0) await bee.core.clear(0, bee.core.length)
    } finally {
      await bee.close()
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

  async stop (): Promise<void> {
    const store = this.store
    this.store = null
    this.bees.clear()
    if (store) await store.close()
  }
}
