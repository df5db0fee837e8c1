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
 *    generations a read can reach are opened and downloaded too; older ones are cleared.
 * 4. `last` of a thing: `snap`, `err` and `ts` of the newest entry of its `thing-5m-<id>` log
 *    (the master stores one every `storeSnapItvMs`), `alerts` = its active alerts as the master
 *    evaluated them at its latest collection (written when they change).
 *
 * Nothing here writes to a replicated core: they are opened without a key pair.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Bee, BeeStore, StoreFacility } from '../../../facs/store'
import type { ReplicationFacility } from '../../../facs/replication'
import { WrkError, errorCode } from '../../../core/errors'
import type { Logger } from '../../../core/types'
import { LOG_CORES_SUB, MAIN_CORE, PUBLISHED_SUB, type LogCore, type PublishedRack, type ReplicaConf } from './replica-source'
import { ThingRegistry } from '../registry/registry'
import { thingLogKey } from '../logs/log-names'
import { THING_CONF_DEFAULTS } from '../thing-conf'
import { StatTimeLogs } from '../logs/stat-log'
import { logBeeName, parseLogBeeName, type LogMeta, type TimeLogs } from '../logs/time-log'
import type { Alert, JsonObject, Snap, ThingRecord } from '../types'

export interface ReplicaSettings {
  /** RPC key of the master (`replicaRpcPublicKey`). */
  masterRpcKey: string
  /** The replica's own `replicaDiscoveryKey`; null = the master's. */
  discoveryKey: string | null
  /** Longest pause between two `getReplicaConf` attempts while the master is away. */
  retryMaxMs: number
  /** How often the configuration is asked again once known. */
  refreshItvMs: number
  /** Bound of a read of a block that is not copied yet. */
  readTimeoutMs: number
}

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

const HEX64 = /^[0-9a-f]{64}$/i
const CONF_KEY = 'replica:conf'
const ASK_TIMEOUT_MS = 10_000
/** Appends that come together are applied in one pass. */
const PASS_DEBOUNCE_MS = 1
/** A pass that failed (e.g. a block not copied yet) is tried again after this. */
const RETRY_PASS_MS = 1000

function hexOrNull (v: unknown): string | null {
  return typeof v === 'string' && HEX64.test(v) ? v.toLowerCase() : null
}

/** A `getReplicaConf` answer, checked. */
export function parseReplicaConf (value: unknown): ReplicaConf {
  const v = (value !== null && typeof value === 'object' ? value : {}) as Record<string, unknown>
  const keys = (v.metaDiscoveryKeys !== null && typeof v.metaDiscoveryKeys === 'object' ? v.metaDiscoveryKeys : {}) as Record<string, unknown>
  const main = hexOrNull(keys[MAIN_CORE])
  if (main === null || typeof v.rackId !== 'string') throw new WrkError('ERR_REPLICA_CONF_INVALID', 'getReplicaConf answered no main core key')
  const metaDiscoveryKeys: Record<string, string> = {}
  for (const [k, key] of Object.entries(keys)) if (hexOrNull(key) !== null) metaDiscoveryKeys[k] = String(key).toLowerCase()
  return { rackId: v.rackId, replicaDiscoveryKey: hexOrNull(v.replicaDiscoveryKey), swarmPublicKey: hexOrNull(v.swarmPublicKey), metaDiscoveryKeys }
}

/** A log generation the master has not announced (yet): it reads as empty. */
const EMPTY_BEE = {
  core: { length: 0 },
  async get () { return null },
  async peek () { return null },
  async * createReadStream () {}
} as unknown as Bee

interface StoredSnap { ts?: number, err?: string | null, snap?: Snap | null }

export class ReplicaView implements BeeStore {
  private conf: ReplicaConf | null = null
  private db: Bee | null = null
  private parts: ReplicaParts | null = null
  private publishedText = ''
  /** The JSON of what `wrk` holds under CONF_KEY (read at start, then as written). */
  private keptConfText: string | undefined
  /** Version of the main bee the last pass applied. */
  private version = 0
  private readonly logCores = new Map<string, string>()
  private readonly metaCur = new Map<string, number>()
  /** Bee name → the replicated generation (opening or open). */
  private readonly opened = new Map<string, Promise<Bee>>()
  private readonly openedByLog = new Map<string, Set<number>>()
  /** Thing id → `<generation>@<length>` of its snapshot log when `last` was read. */
  private readonly lastSeen = new Map<string, string>()
  private passing: Promise<void> | null = null
  private again = false
  private timer: NodeJS.Timeout | null = null
  private retryTimer: NodeJS.Timeout | null = null
  private readonly closing = new AbortController()
  private loop: Promise<void> | null = null
  private onAppend = (): void => this.schedule()

  constructor (private readonly host: ReplicaHost, private readonly settings: ReplicaSettings) {}

  /** Whether the master's rack is known (reads are served from then on). */
  get ready (): boolean {
    return this.parts !== null
  }

  /** The configuration in use (what this replica answers to `getReplicaConf`). */
  get replicaConf (): ReplicaConf | null {
    return this.conf
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
        if (conf.swarmPublicKey === null) throw new WrkError('ERR_REPLICA_NOT_SERVED', 'the master serves no replicas (it has no replicaDiscoveryKey)')
        await this.keep(conf)
        if (this.conf?.metaDiscoveryKeys[MAIN_CORE] !== conf.metaDiscoveryKeys[MAIN_CORE]) {
          if (this.conf) this.host.logger.warn('replica: the master has a new main core (its store was replaced); copying it afresh')
          await this.attach(conf)
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
        this.host.logger[log]({ code: errorCode(err, 'ERR_RPC_CONNECT_FAILED'), reason: (err as Error).message, failures, retryInMs: pause }, 'replica: getReplicaConf from the master failed')
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
    this.follow(db)
    this.join(conf)
    if (conf.swarmPublicKey !== null) this.host.replication.joinPeer(Buffer.from(conf.swarmPublicKey, 'hex'))
    this.schedule()
  }

  private follow (bee: Bee): void {
    bee.core.download({ start: 0, end: -1 })
    this.host.replication.add(bee.core)
    bee.core.on('append', this.onAppend)
  }

  private async detach (): Promise<void> {
    const bees = [...this.opened.values()]
    this.opened.clear()
    this.openedByLog.clear()
    for (const opening of bees) await this.release(await opening.catch(() => null))
    if (this.db) await this.release(this.db)
    this.db = null
    this.parts = null
    this.publishedText = ''
    this.version = 0
    this.logCores.clear()
    this.metaCur.clear()
    this.lastSeen.clear()
  }

  private async release (bee: Bee | null): Promise<void> {
    if (!bee) return
    bee.core.off('append', this.onAppend)
    this.host.replication.remove(bee.core)
    await this.host.store.closeRemote(bee)
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
          await this.dropLog(thingLogKey(id))
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
        if (d.left && typeof d.left.value?.key === 'string' && HEX64.test(d.left.value.key)) this.logCores.set(name, d.left.value.key)
        else this.logCores.delete(name)
        touched.add(parsed[0])
      }
      for await (const d of (snap.sub('meta_logs') as Bee<LogMeta>).createDiffStream(from)) {
        const key = (d.left ?? d.right)?.key
        if (key === undefined) continue
        if (d.left && typeof d.left.value?.cur === 'number') this.metaCur.set(key, d.left.value.cur)
        else this.metaCur.delete(key)
        touched.add(key)
      }
      for (const log of touched) await this.ensureWindow(log)
      this.version = snap.version
      await this.refreshLast()
    } finally {
      await snap.close()
    }
  }

  private adopt (db: Bee, rack: PublishedRack, thingConf: JsonObject, text: string): void {
    const registry = this.parts?.registry ?? new ThingRegistry(db.sub('things') as Bee<ThingRecord>, this.host.thingType(), this.host.thingTags())
    // the master's layout: stat logs per timeframe (and per tag, from an older store)
    const logs = new StatTimeLogs(this, db.sub('meta_logs') as Bee<LogMeta>, {
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

  /** Opens the generations of `log` a read can reach; clears the ones that fell out of reach. */
  private async ensureWindow (log: string): Promise<void> {
    const cur = this.metaCur.get(log)
    const open = this.openedByLog.get(log) ?? new Set<number>()
    const low = cur === undefined ? Infinity : Math.max(0, cur - this.maxHeight + 1)
    for (const gen of [...open]) if (gen < low) await this.closeGeneration(log, gen, true)
    if (cur === undefined) return
    for (let gen = low; gen <= cur; gen++) {
      const name = logBeeName(log, gen)
      if (!this.opened.has(name) && this.logCores.has(name)) await this.openLog(name).catch((err: unknown) => this.host.logger.debug({ err, log: name }, 'replica: log core not opened'))
    }
  }

  private openLog (name: string): Promise<Bee> {
    const existing = this.opened.get(name)
    if (existing) return existing
    const key = this.logCores.get(name)
    const parsed = parseLogBeeName(name)
    if (key === undefined || !parsed) return Promise.resolve(EMPTY_BEE)
    const opening = this.host.store.openByKey(Buffer.from(key, 'hex'), this.settings.readTimeoutMs).then((bee) => {
      if (this.opened.get(name) !== opening) {
        void this.host.store.closeRemote(bee)
        return EMPTY_BEE
      }
      this.follow(bee)
      return bee
    })
    this.opened.set(name, opening)
    const gens = this.openedByLog.get(parsed[0]) ?? new Set<number>()
    gens.add(parsed[1])
    this.openedByLog.set(parsed[0], gens)
    opening.catch(() => {
      if (this.opened.get(name) === opening) this.opened.delete(name)
      gens.delete(parsed[1])
    })
    return opening
  }

  private async closeGeneration (log: string, gen: number, clear: boolean): Promise<void> {
    const name = logBeeName(log, gen)
    const opening = this.opened.get(name)
    this.opened.delete(name)
    this.openedByLog.get(log)?.delete(gen)
    const bee = await opening?.catch(() => null)
    if (!bee || bee === EMPTY_BEE) return
    if (clear && bee.core.length > 0) await bee.core.clear(0, bee.core.length).catch(() => {})
    await this.release(bee)
  }

  /** A forgotten thing's log: its copies are closed (the data stays on disk, like the master's). */
  private async dropLog (log: string): Promise<void> {
    for (const gen of [...(this.openedByLog.get(log) ?? [])]) await this.closeGeneration(log, gen, false)
    this.openedByLog.delete(log)
  }

  /** `last` of the things whose snapshot log grew since it was read. */
  private async refreshLast (): Promise<void> {
    const parts = this.parts
    if (!parts) return
    for (const state of parts.registry.all()) {
      const id = state.record.id
      const log = thingLogKey(id)
      const cur = this.metaCur.get(log)
      if (cur === undefined) continue
      const opening = this.opened.get(logBeeName(log, cur))
      if (!opening) continue
      const bee = await opening.catch(() => null)
      if (!bee || bee === EMPTY_BEE) continue
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

  // ---- BeeStore: the replicated log generations, for the time logs -----------------------------

  async getBee<T = unknown> (name: string): Promise<Bee<T>> {
    return await this.openLog(name) as Bee<T>
  }

  async closeBee (name: string): Promise<void> {
    const parsed = parseLogBeeName(name)
    if (parsed) await this.closeGeneration(parsed[0], parsed[1], false)
  }

  async clearBee (name: string): Promise<void> {
    const parsed = parseLogBeeName(name)
    if (parsed) await this.closeGeneration(parsed[0], parsed[1], true)
  }
}

/** The replication settings of base.thing.json, checked (the replica's only with `--slave`). */
export function parseReplicaSettings (conf: JsonObject, slave: boolean): { discoveryKey: string | null, replica: ReplicaSettings | null } {
  const invalid = (what: string): WrkError => new WrkError('ERR_CONFIG_INVALID', `config base.thing.json: ${what}`)
  const key = (name: string): string | null => {
    const v = conf[name]
    if (v === undefined || v === null || v === '') return null
    if (typeof v !== 'string' || !HEX64.test(v)) throw invalid(`${name} must be 64 hex characters`)
    return v.toLowerCase()
  }
  const ms = (name: string, fallback: number, min: number): number => {
    const v = conf[name]
    if (v === undefined) return fallback
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw invalid(`${name} must be an integer ≥ ${min}`)
    return v
  }
  const discoveryKey = key('replicaDiscoveryKey')
  if (!slave) return { discoveryKey, replica: null }
  const masterRpcKey = key('replicaRpcPublicKey')
  if (masterRpcKey === null) throw invalid('a replica (--slave) needs replicaRpcPublicKey, the RPC key of its master')
  return {
    discoveryKey,
    replica: {
      masterRpcKey,
      discoveryKey,
      retryMaxMs: ms('replicaRetryMaxMs', 30_000, 100),
      refreshItvMs: ms('refreshReplicaConfItvMs', 30_000, 100),
      readTimeoutMs: ms('replicaReadTimeoutMs', 3000, 100)
    }
  }
}
