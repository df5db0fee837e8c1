/**
 * The master's side of read replicas (worker.md §10). What a replica may copy is exactly:
 *
 * - the main bee (things without their secret opts, settings, log metadata, active alerts,
 *   DHCP leases, the published rack identity and configuration), and
 * - the generations of the time logs (`log:<key>:<gen>`: snapshots, stats, alert and info
 *   history), each announced with its core key in the main bee (`log_cores`) when the master
 *   first opens it, so a replica learns of a new thing's log, or of a rotation, by replication.
 *
 * Everything else in the store (the `wrk` bee with the key seeds, the `thing-secrets` bee, an
 * old main bee cleared by a migration) has no entry here and is never served to a peer.
 */
import type Hypercore from 'hypercore'
import type { Bee, BeeStore, StoreFacility } from '../../../facs/store'
import type { Logger } from '../../../core/types'
import { logBeeName, parseLogBeeName, type LogMeta } from '../logs/time-log'
import { withTimeout } from '../../../core/async'
import type { JsonObject } from '../types'

/** Sub-database of the main bee: bee name of a log generation → its core key. */
export const LOG_CORES_SUB = 'log_cores'
/** Sub-database of the main bee: what the master publishes about itself (`rack`, `thing`). */
export const PUBLISHED_SUB = 'published'
/** Name of the main core in `getReplicaConf` (as the reference implementation names it). */
export const MAIN_CORE = 'main-0'

export interface LogCore { key: string, discoveryKey: string }

export interface PublishedRack { rackId: string, thingType: string }

/** `getReplicaConf`: where a replica finds the master's data. */
export interface ReplicaConf {
  rackId: string
  /** Topic (64 hex) the master joins for replication; null when it serves no replicas. */
  replicaDiscoveryKey: string | null
  /** The master's Hyperswarm public key (a replica accepts only this peer). */
  swarmPublicKey: string | null
  /** `main-0` → main core key; `<log>-<generation>` → that generation's core key. */
  metaDiscoveryKeys: Record<string, string>
}

export class ReplicaSource implements BeeStore {
  private readonly cores = new Map<string, LogCore>()
  private readonly byDiscovery = new Map<string, string>()
  private closed = false
  /** The announced cores being read (at start, in the background: see open). */
  private loading: Promise<void> = Promise.resolve()

  constructor (
    private readonly store: StoreFacility,
    private readonly db: Bee,
    private readonly mainName: string,
    private readonly opts: { logger: Logger, writeTimeoutMs: number }
  ) {}

  private get table (): Bee<LogCore> {
    return this.db.sub(LOG_CORES_SUB) as Bee<LogCore>
  }

  /**
   * Starts reading the announced cores (one entry per log generation: thousands with thousands
   * of things). The start does not wait for it: whatever needs the table (opening a log
   * generation, serving or listing cores, the backfill) waits until it is read.
   */
  async open (): Promise<void> {
    this.byDiscovery.set(this.db.core.discoveryKey.toString('hex'), this.mainName)
    this.loading = (async () => {
      for await (const e of this.table.createReadStream()) {
        this.cores.set(e.key, e.value)
        this.byDiscovery.set(e.value.discoveryKey, e.key)
      }
    })()
    // a failure is answered to each caller that waits for it
    this.loading.catch((err: unknown) => { if (!this.closed) this.opts.logger.warn({ err }, 'reading the announced log cores failed') })
  }

  // ---- BeeStore for the time logs: each generation the master opens is announced -------------

  async getBee<T = unknown> (name: string): Promise<Bee<T>> {
    const bee = await this.store.getBee<T>(name)
    if (!this.cores.has(name) && parseLogBeeName(name)) {
      await this.loading
      if (!this.cores.has(name)) await this.announce(name, (bee as Bee).core)
    }
    return bee
  }

  async closeBee (name: string): Promise<void> {
    await this.store.closeBee(name)
  }

  /** A rotated-out generation: its blocks are freed and it is no longer offered. */
  async clearBee (name: string): Promise<void> {
    await this.store.clearBee(name)
    await this.loading
    const core = this.cores.get(name)
    if (!core) return
    this.cores.delete(name)
    this.byDiscovery.delete(core.discoveryKey)
    await withTimeout(this.table.del(name), this.opts.writeTimeoutMs, 'ERR_STORE_TIMEOUT').catch(() => {})
  }

  private async announce (name: string, keys: { key: Buffer, discoveryKey: Buffer }): Promise<void> {
    const core: LogCore = { key: keys.key.toString('hex'), discoveryKey: keys.discoveryKey.toString('hex') }
    try {
      await withTimeout(this.table.put(name, core), this.opts.writeTimeoutMs, 'ERR_STORE_TIMEOUT')
      this.cores.set(name, core)
      this.byDiscovery.set(core.discoveryKey, name)
    } catch (err) {
      // the log itself goes on; the next open of this generation announces it again
      this.opts.logger.warn({ err, log: name }, 'could not announce a log core to replicas')
    }
  }

  /**
   * Announces the generations that existed before announcing did (a store from an older
   * version): every generation a read can reach, its keys read from a session of its own.
   */
  async backfill (meta: Bee<LogMeta>, maxHeight: number): Promise<number> {
    await this.loading
    let added = 0
    for await (const e of meta.createReadStream()) {
      const cur = typeof e.value?.cur === 'number' ? e.value.cur : 0
      for (let gen = Math.max(0, cur - maxHeight + 1); gen <= cur; gen++) {
        if (this.closed) return added
        const name = logBeeName(e.key, gen)
        if (this.cores.has(name)) continue
        await this.announce(name, await this.store.coreKeys(name))
        added++
      }
    }
    return added
  }

  /** The worker stops: a backfill in progress ends, no core is served any more. */
  close (): void {
    this.closed = true
  }

  /** The core a peer asks for by discovery key, when it is one the master publishes. */
  async resolve (discoveryKey: Buffer): Promise<Hypercore | null> {
    await this.loading
    const name = this.byDiscovery.get(discoveryKey.toString('hex'))
    if (name === undefined || this.closed) return null
    return (await this.store.getBee(name)).core
  }

  /** Writes the rack identity and configuration a replica serves, when they changed. */
  async publish (rack: PublishedRack, thingConf: JsonObject): Promise<void> {
    const sub = this.db.sub(PUBLISHED_SUB)
    for (const [key, value] of [['rack', rack], ['thing', thingConf]] as const) {
      const current = await sub.get(key)
      if (JSON.stringify(current?.value) !== JSON.stringify(value)) {
        await withTimeout(sub.put(key, value), this.opts.writeTimeoutMs, 'ERR_STORE_TIMEOUT')
      }
    }
  }

  /** `getReplicaConf`. */
  async conf (
    rackId: string, replicaDiscoveryKey: string | null, swarmPublicKey: string | null, meta: Bee<LogMeta>, maxHeight: number
  ): Promise<ReplicaConf> {
    await this.loading
    const keys: Record<string, string> = { [MAIN_CORE]: this.db.core.key.toString('hex') }
    for await (const e of meta.createReadStream()) {
      const cur = typeof e.value?.cur === 'number' ? e.value.cur : 0
      for (let gen = Math.max(0, cur - maxHeight + 1); gen <= cur; gen++) {
        const core = this.cores.get(logBeeName(e.key, gen))
        if (core) keys[`${e.key}-${gen}`] = core.key
      }
    }
    return { rackId, replicaDiscoveryKey, swarmPublicKey, metaDiscoveryKeys: keys }
  }
}
