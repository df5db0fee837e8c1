/**
 * A read replica (`--slave`, worker.md §10): another worker process that copies the master's
 * cores by Hypercore replication over Hyperswarm and answers the read methods from the copy.
 *
 * 1. It asks the master (`replicaRpcPublicKey`) for `getReplicaConf` — retried with a growing
 *    pause while the master is away; the answer is kept in the replica's own store, so a
 *    restart serves the copy at once even when the master is down.
 * 2. It opens the master's main core read-only by key, downloads it in full and keeps it
 *    current (live download), on the topic of `replicaDiscoveryKey` and directly to the
 *    master's swarm key (the only peer it accepts).
 * 3. Each time the copy grows, one pass applies what changed (Hyperbee diffs since the last
 *    pass): things, active alerts, log metadata and the announced log cores. The log
 *    generations a read can reach are opened and downloaded too (./replica-log-copies.ts).
 * 4. `last` of a thing: `snap`, `err` and `ts` of the newest entry of its `thing-5m-<id>` log
 *    (the master stores one every `storeSnapItvMs`), `alerts` = its active alerts as the master
 *    evaluated them at its latest collection (written when they change).
 * 5. A master whose history went back in time under the same keys (its store folder copied
 *    back) is found when the heads are compared on connecting (facs/replication-heads.ts): the
 *    copy is not touched, reads answer ERR_REPLICA_DIVERGED until an operator resets the copy
 *    (`mbt-store reset-replica`); the refusal is kept in the replica's store, so a restart does
 *    not serve the diverged copy either.
 *
 * Nothing here writes to a replicated core: they are opened without a key pair.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Bee, StoreFacility } from '../../../facs/store'
import type { ReplicationFacility } from '../../../facs/replication'
import type { Divergence } from '../../../facs/replication-heads'
import { WrkError, errorCode } from '../../../core/errors'
import type { Logger } from '../../../core/types'
import { LOG_CORES_SUB, MAIN_CORE, PUBLISHED_SUB, type LogCore, type PublishedRack, type ReplicaConf } from './replica-source'
import { parseReplicaConf, type ReplicaSettings } from './replica-settings'
import { ReplicaLogCopies } from './replica-log-copies'
import { ReplicaDivergence } from './replica-divergence'
import { ThingRegistry } from '../registry/registry'
import { thingLogKey } from '../logs/log-names'
import { THING_CONF_DEFAULTS } from '../thing-conf'
import { StatTimeLogs } from '../logs/stat-log'
import { logBeeName, parseLogBeeName, type LogMeta, type TimeLogs } from '../logs/time-log'
import type { Alert, JsonObject, Snap, ThingRecord } from '../types'

export { parseReplicaConf, parseReplicaSettings, type ReplicaSettings } from './replica-settings'

/** What the replica hands the rack once it knows the master's rack. */
export interface ReplicaParts {
  rackId: string
  thingConf: JsonObject
  db: Bee
  registry: ThingRegistry
  logs: TimeLogs
}

export interface ReplicaHost {
  readonly store: StoreFacility
  readonly logger: Logger
  readonly replication: ReplicationFacility
  thingType: () => string
  thingTags: () => string[]
  /** `getReplicaConf` of the master over RPC. */
  askMaster: (timeoutMs: number) => Promise<unknown>
  /** The master's rack as copied (called again when its configuration changes). */
  adopt: (parts: ReplicaParts) => void
}

const CONF_KEY = 'replica:conf'
const ASK_TIMEOUT_MS = 10_000
/** Appends that come together are applied in one pass. */
const PASS_DEBOUNCE_MS = 1
/** A pass that failed (e.g. a block not copied yet) is tried again after this. */
const RETRY_PASS_MS = 1000

interface StoredSnap { ts?: number, err?: string | null, snap?: Snap | null }

export class ReplicaView {
  private conf: ReplicaConf | null = null
  private db: Bee | null = null
  private parts: ReplicaParts | null = null
  private publishedText = ''
  /** The JSON of what `wrk` holds under CONF_KEY (read at start, then as written). */
  private keptConfText: string | undefined
  /** Version of the main bee the last pass applied. */
  private version = 0
  /** The divergence from the master found (reads refused), if any. */
  private readonly divergence: ReplicaDivergence
  /** Thing id → `<generation>@<length>` of its snapshot log when `last` was read. */
  private readonly lastSeen = new Map<string, string>()
  private passing: Promise<void> | null = null
  private again = false
  private timer: NodeJS.Timeout | null = null
  private retryTimer: NodeJS.Timeout | null = null
  private readonly closing = new AbortController()
  private loop: Promise<void> | null = null
  private readonly copies: ReplicaLogCopies

  constructor (private readonly host: ReplicaHost, private readonly settings: ReplicaSettings) {
    this.copies = new ReplicaLogCopies({ ...host, readTimeoutMs: settings.readTimeoutMs, onAppend: () => this.schedule() })
    this.divergence = new ReplicaDivergence(host.store, host.logger, settings.masterRpcKey)
  }

  /** Whether the master's rack is known (reads are served from then on). */
  get ready (): boolean {
    return this.parts !== null
  }

  /** The configuration in use (what this replica answers to `getReplicaConf`). */
  get replicaConf (): ReplicaConf | null {
    return this.conf
  }

  /** The divergence from the master (reads answer ERR_REPLICA_DIVERGED), or null. */
  get diverged (): Divergence | null {
    return this.divergence.current
  }

  /** Whether a Hyperswarm peer may connect: only the master. */
  allowsPeer (publicKey: Buffer): boolean {
    return this.conf?.swarmPublicKey === publicKey.toString('hex')
  }

  /** Opens the copy kept from an earlier run (if any) and starts asking the master. */
  async start (): Promise<void> {
    const wrk = await this.host.store.getBee<{ masterRpcKey: string, conf: unknown }>('wrk')
    const cached = await wrk.get(CONF_KEY)
    this.keptConfText = JSON.stringify(cached?.value)
    if (cached?.value?.masterRpcKey === this.settings.masterRpcKey) {
      try {
        await this.attach(parseReplicaConf(cached.value.conf))
        if (this.db) await this.divergence.restore(this.conf?.metaDiscoveryKeys[MAIN_CORE] ?? '', this.db.core.length)
        // what was copied before is served from the start
        await this.runPass()
      } catch (err) {
        this.host.logger.warn({ err }, 'replica: the kept configuration could not be used; waiting for the master')
      }
    }
    this.loop = this.refreshLoop()
  }

  async close (): Promise<void> {
    this.closing.abort()
    if (this.timer) clearTimeout(this.timer)
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.timer = null
    this.retryTimer = null
    await this.loop?.catch(() => {})
    await this.passing?.catch(() => {})
    await this.detach()
  }

  // ---- the configuration -------------------------------------------------------------------

  private async refreshLoop (): Promise<void> {
    const signal = this.closing.signal
    let failures = 0
    while (!signal.aborted) {
      let pause = this.settings.refreshItvMs
      try {
        const conf = parseReplicaConf(await this.host.askMaster(ASK_TIMEOUT_MS))
        if (conf.swarmPublicKey === null) {
          throw new WrkError('ERR_REPLICA_NOT_SERVED', 'the master serves no replicas (it has no replicaDiscoveryKey)')
        }
        await this.keep(conf)
        if (this.conf?.metaDiscoveryKeys[MAIN_CORE] !== conf.metaDiscoveryKeys[MAIN_CORE]) {
          if (this.conf) this.host.logger.warn('replica: the master has a new main core (its store was replaced); copying it afresh')
          await this.attach(conf)
          await this.divergence.forget()
        } else {
          this.conf = conf
          this.join(conf)
        }
        if (failures > 0) this.host.logger.info({ failures }, 'replica: the master answers again')
        failures = 0
        // The master answers RPC but the swarm has no connection to it: try it at once.
        const master = Buffer.from(conf.swarmPublicKey, 'hex')
        if (!this.host.replication.connectedTo(master)) this.host.replication.joinPeer(master)
      } catch (err) {
        failures++
        pause = Math.min(500 * 2 ** Math.min(failures - 1, 16), this.settings.retryMaxMs)
        const log = failures === 1 ? 'warn' : 'debug'
        this.host.logger[log](
          { code: errorCode(err, 'ERR_RPC_CONNECT_FAILED'), reason: (err as Error).message, failures, retryInMs: pause },
          'replica: getReplicaConf from the master failed'
        )
      }
      await sleep(pause, undefined, { signal }).catch(() => {})
    }
  }

  private async keep (conf: ReplicaConf): Promise<void> {
    const value = { masterRpcKey: this.settings.masterRpcKey, conf }
    const text = JSON.stringify(value)
    if (text === this.keptConfText) return
    const wrk = await this.host.store.getBee<{ masterRpcKey: string, conf: unknown }>('wrk')
    await wrk.put(CONF_KEY, value)
    this.keptConfText = text
  }

  private join (conf: ReplicaConf): void {
    const topic = this.settings.discoveryKey ?? conf.replicaDiscoveryKey
    if (topic !== null) this.host.replication.join(Buffer.from(topic, 'hex'))
  }

  /** Starts copying the master's main core (replacing a copy of another one). */
  private async attach (conf: ReplicaConf): Promise<void> {
    await this.detach()
    const db = await this.host.store.openByKey(Buffer.from(conf.metaDiscoveryKeys[MAIN_CORE], 'hex'), this.settings.readTimeoutMs)
    this.db = db
    this.conf = conf
    this.copies.follow(db)
    this.join(conf)
    if (conf.swarmPublicKey !== null) this.host.replication.joinPeer(Buffer.from(conf.swarmPublicKey, 'hex'))
    this.schedule()
  }

  private async detach (): Promise<void> {
    await this.copies.reset()
    await this.copies.release(this.db)
    this.db = null
    this.parts = null
    this.publishedText = ''
    this.version = 0
    this.lastSeen.clear()
  }

  /** A copy here and the master's core are two histories (facs/replication-heads.ts): reads are refused. */
  onDiverged (d: Divergence): void {
    const db = this.db
    const mainKey = this.conf?.metaDiscoveryKeys[MAIN_CORE]
    if (d.writer || !db || mainKey === undefined || this.closing.signal.aborted) return
    this.divergence.found(d, mainKey, db.core.length)
  }

  // ---- passes --------------------------------------------------------------------------------

  /** A pass soon (appends that come together are applied once). */
  private schedule (): void {
    if (this.closing.signal.aborted || this.timer) return
    this.timer = setTimeout(() => {
      this.timer = null
      void this.runPass()
    }, PASS_DEBOUNCE_MS)
  }

  /** Applies what changed since the last pass (also when the last one failed: the next retries it). */
  private async runPass (): Promise<void> {
    if (this.passing) {
      this.again = true
      return await this.passing
    }
    this.passing = (async () => {
      do {
        this.again = false
        try {
          await this.pass()
        } catch (err) {
          if (this.closing.signal.aborted) break
          this.host.logger.warn({ err }, 'replica: applying the master\'s changes failed; retried')
          // the same changes again soon, even if nothing more is appended
          this.retryTimer ??= setTimeout(() => {
            this.retryTimer = null
            this.schedule()
          }, RETRY_PASS_MS)
        }
      } while (this.again && !this.closing.signal.aborted)
    })().finally(() => { this.passing = null })
    await this.passing
  }

  private async pass (): Promise<void> {
    const db = this.db
    if (!db) return
    const snap = db.snapshot()
    try {
      const published = snap.sub(PUBLISHED_SUB)
      const rack = (await published.get('rack'))?.value as PublishedRack | undefined
      if (!rack) return
      const thingConf = ((await published.get('thing'))?.value ?? {}) as JsonObject
      const text = JSON.stringify([rack, thingConf])
      if (this.parts === null || text !== this.publishedText) this.adopt(db, rack, thingConf, text)
      const { registry } = this.parts as ReplicaParts
      const from = this.version
      const alerts = snap.sub('alerts_active') as Bee<Alert[]>
      for await (const d of (snap.sub('things') as Bee<ThingRecord>).createDiffStream(from)) {
        const id = (d.left ?? d.right)?.key
        if (id === undefined) continue
        const known = registry.has(id)
        const state = registry.applyReplicated(id, d.left?.value ?? null)
        if (!state) {
          this.lastSeen.delete(id)
          await this.copies.dropLog(thingLogKey(id))
        } else if (!known) {
          const active = await alerts.get(id)
          state.last = { ...state.last, alerts: Array.isArray(active?.value) ? active.value : state.last.alerts }
        }
      }
      for await (const d of alerts.createDiffStream(from)) {
        const id = (d.left ?? d.right)?.key
        if (id === undefined || !registry.has(id)) continue
        const state = registry.get(id)
        state.last = { ...state.last, alerts: Array.isArray(d.left?.value) ? d.left.value : null }
      }
      const touched = new Set<string>()
      for await (const d of (snap.sub(LOG_CORES_SUB) as Bee<LogCore>).createDiffStream(from)) {
        const name = (d.left ?? d.right)?.key
        const parsed = name === undefined ? null : parseLogBeeName(name)
        if (!name || !parsed) continue
        this.copies.announce(name, d.left?.value ?? null)
        touched.add(parsed[0])
      }
      for await (const d of (snap.sub('meta_logs') as Bee<LogMeta>).createDiffStream(from)) {
        const key = (d.left ?? d.right)?.key
        if (key === undefined) continue
        this.copies.setCurrent(key, d.left && typeof d.left.value?.cur === 'number' ? d.left.value.cur : null)
        touched.add(key)
      }
      for (const log of touched) await this.copies.ensureWindow(log, this.maxHeight)
      this.version = snap.version
      await this.refreshLast()
    } finally {
      await snap.close()
    }
  }

  private adopt (db: Bee, rack: PublishedRack, thingConf: JsonObject, text: string): void {
    const registry = this.parts?.registry ??
      new ThingRegistry(db.sub('things') as Bee<ThingRecord>, this.host.thingType(), this.host.thingTags())
    // the master's layout: stat logs per timeframe (and per tag, from an older store)
    const logs = new StatTimeLogs(this.copies, db.sub('meta_logs') as Bee<LogMeta>, {
      maxLength: Number(thingConf.logRotateMaxLength ?? THING_CONF_DEFAULTS.logRotateMaxLength),
      keepCount: Number(thingConf.logKeepCount ?? THING_CONF_DEFAULTS.logKeepCount),
      cacheMeta: false
    })
    this.parts = { rackId: rack.rackId, thingConf, db, registry, logs }
    this.publishedText = text
    this.host.adopt(this.parts)
    this.host.logger.info({ rackId: rack.rackId }, 'replica: serving the master\'s rack')
  }

  private get maxHeight (): number {
    return this.parts?.logs.maxHeight ?? 5
  }

  /** `last` of the things whose snapshot log grew since it was read. */
  private async refreshLast (): Promise<void> {
    const parts = this.parts
    if (!parts) return
    for (const state of parts.registry.all()) {
      const id = state.record.id
      const log = thingLogKey(id)
      const cur = this.copies.current(log)
      if (cur === undefined) continue
      const bee = await this.copies.openCopy(logBeeName(log, cur))
      if (!bee) continue
      const seen = `${cur}@${bee.core.length}`
      if (this.lastSeen.get(id) === seen) continue
      try {
        const latest = await parts.logs.latest(log) as StoredSnap | null
        if (latest) state.last = { ...state.last, snap: latest.snap ?? null, err: latest.err ?? null, ts: latest.ts }
        this.lastSeen.set(id, seen)
      } catch (err) {
        this.host.logger.debug({ err, thingId: id }, 'replica: newest snapshot not readable yet')
      }
    }
  }
}
