/**
 * The rack's side of read replicas (worker.md §10): on a master, the replication facility
 * (when `replicaDiscoveryKey` is set), the ReplicaSource that announces its cores, and
 * `getReplicaConf`; on a replica (`--slave`), the ReplicaView that copies the master and the
 * refusals of what only the master can answer. On both, `getReplicationStatus`: the peers and
 * the copies refused because they diverged (a restored master, a replica ahead of it).
 */
import HyperDHT from 'hyperdht'
import { z } from 'zod'
import { parseBootstrap, type NetConfig, type NetFacility } from '../../../facs/net'
import { ReplicationFacility } from '../../../facs/replication'
import type { Divergence } from '../../../facs/replication-heads'
import type { Bee, StoreFacility } from '../../../facs/store'
import { WrkError } from '../../../core/errors'
import { defineMethod, type RpcKind, type RpcMethod } from '../../../rpc/method'
import type { Logger } from '../../../core/types'
import { ReplicaSource, type ReplicaConf } from './replica-source'
import { ReplicaView, type ReplicaParts } from './replica'
import { parseReplicaSettings, type ReplicaSettings } from './replica-settings'
import { openMainDb, type SecretOpts } from '../registry/secret-opts'
import type { ThingConf } from '../thing-conf'
import type { TimeLogs, LogMeta } from '../logs/time-log'

/** On a read replica: what needs the device, answered by the master only. */
const MASTER_ONLY = new Set(['queryThing', 'getWriteCalls'])
/** On a read replica: answered before the master's data arrived. */
const REPLICA_ALWAYS = new Set(['ping', 'echo', 'getInstanceId', 'getReplicationStatus'])

const DIVERGENCE = z.object({
  peer: z.string(),
  discoveryKey: z.string(),
  localLength: z.number(),
  writer: z.boolean(),
  peerLength: z.number(),
  reason: z.enum(['fork', 'writer-behind']),
  by: z.enum(['local', 'peer']),
  at: z.number()
})

/** `getReplicationStatus`. */
export interface ReplicationStatus {
  role: 'master' | 'replica'
  /** Whether this rack replicates at all (a master needs `replicaDiscoveryKey`). */
  enabled: boolean
  peers: number
  /** Cores refused to a peer because its copy and this one are two histories (newest last). */
  diverged: Divergence[]
  /** On a replica: whether it serves reads, and the divergence that stops it (ERR_REPLICA_DIVERGED). */
  replica: { masterRpcKey: string, ready: boolean, connected: boolean, refusing: Divergence | null } | null
}

/** What replication needs of the rack (read at call time). */
export interface ReplicationHost {
  readonly store: StoreFacility
  readonly logger: Logger
  readonly isStopping: boolean
  readonly rackId: string
  thingConf: ThingConf
  /** The RPC side: its firewall (replication connections pass the same allow lists) and outgoing calls. */
  readonly net: Pick<NetFacility, 'accessOf' | 'request'>
  getThingType: () => string
  getThingTags: () => string[]
  secretOptKeys: () => readonly string[]
}

export class RackReplication {
  facility: ReplicationFacility | null = null
  /** The master's side (null on a replica). */
  source: ReplicaSource | null = null
  /** The replica's copy of its master (`--slave` only). */
  view: ReplicaView | null = null
  private settings: { discoveryKey: string | null, replica: ReplicaSettings | null } = { discoveryKey: null, replica: null }
  private mainDb: Bee | null = null
  private backfilling: Promise<void> | null = null

  constructor (private readonly host: ReplicationHost, readonly isReplica: boolean) {}

  /** The replication facility to add, when this rack replicates (init, before start). */
  configure (netConf: NetConfig): ReplicationFacility | null {
    this.settings = parseReplicaSettings(this.host.thingConf, this.isReplica)
    if (!this.isReplica && this.settings.discoveryKey === null) return null
    const dhtOpts = netConf.dhtOpts ?? {}
    this.facility = new ReplicationFacility({
      bootstrap: parseBootstrap(dhtOpts.bootstrap),
      host: dhtOpts.host,
      // the swarm key is the rpcClientKey: the allow lists that admit a replica's RPC admit its copy
      keyPair: async () => HyperDHT.keyPair(await this.host.store.getSeed('dht')),
      allow: (key) => this.view ? this.view.allowsPeer(key) : this.host.net.accessOf(key) !== null,
      logger: this.host.logger,
      ondiverged: (d) => this.view?.onDiverged(d)
    })
    return this.facility
  }

  /**
   * A code that refuses a request before its handler runs: on a read replica, writes and device
   * calls (ERR_SLAVE_BLOCK), reads before the master's data arrived (ERR_REPLICA_NOT_READY) and
   * reads of a copy the master's history diverged from (ERR_REPLICA_DIVERGED).
   */
  refusal (method: string, kind: RpcKind): string | null {
    if (!this.isReplica) return null
    if (kind === 'write' || MASTER_ONLY.has(method)) return 'ERR_SLAVE_BLOCK'
    if (REPLICA_ALWAYS.has(method)) return null
    if (this.view?.diverged) return 'ERR_REPLICA_DIVERGED'
    if (!this.view?.ready) return 'ERR_REPLICA_NOT_READY'
    return null
  }

  status (): ReplicationStatus {
    const facility = this.facility?.opened === true ? this.facility : null
    const { peers, diverged } = facility?.status() ?? { peers: 0, diverged: [] }
    const settings = this.settings.replica
    const master = this.view?.replicaConf?.swarmPublicKey
    return {
      role: this.isReplica ? 'replica' : 'master',
      enabled: this.facility !== null,
      peers,
      diverged,
      replica: this.isReplica && settings
        ? {
            masterRpcKey: settings.masterRpcKey,
            ready: this.view?.ready === true,
            connected: facility !== null && typeof master === 'string' && facility.connectedTo(Buffer.from(master, 'hex')),
            refusing: this.view?.diverged ?? null
          }
        : null
    }
  }

  /** `/healthz` of a replica that refuses reads (null: nothing to say). */
  health (): { ok: false, reason: string, code: string, since: number } | null {
    const d = this.view?.diverged
    return d
      ? {
          ok: false,
          reason: 'the master\'s history diverged from the copy here (mbt-store reset-replica)',
          code: 'ERR_REPLICA_DIVERGED',
          since: d.at
        }
      : null
  }

  declarations (): RpcMethod[] {
    return [defineMethod({
      name: 'getReplicationStatus',
      kind: 'read',
      summary: 'Replication peers and the copies refused because they diverged (a restored master, a replica ahead of it).',
      result: z.object({
        role: z.enum(['master', 'replica']),
        enabled: z.boolean(),
        peers: z.number(),
        diverged: z.array(DIVERGENCE),
        replica: z.object({
          masterRpcKey: z.string(),
          ready: z.boolean(),
          connected: z.boolean(),
          refusing: DIVERGENCE.nullable()
        }).nullable()
      }),
      errors: [],
      handler: () => this.status()
    })]
  }

  /** The master's main bee (credentials moved out of it) and the source that announces its cores. */
  async openMaster (): Promise<{ db: Bee, secrets: SecretOpts | null, source: ReplicaSource }> {
    const { store, logger, thingConf } = this.host
    const { db, name, secrets } = await openMainDb(store, this.host.secretOptKeys(), logger, thingConf.storeTimeoutMs)
    this.mainDb = db
    const source = new ReplicaSource(store, db, name, { logger, writeTimeoutMs: thingConf.storeTimeoutMs })
    await source.open()
    this.source = source
    await source.publish({ rackId: this.host.rackId, thingType: this.host.getThingType() }, thingConf)
    return { db, secrets, source }
  }

  /** Once the master's logs are open: serve its cores, join the topic, announce old generations. */
  serveMaster (logs: TimeLogs): void {
    const { facility, source, mainDb } = this
    if (!facility || !source || !mainDb) return
    facility.serve((discoveryKey) => source.resolve(discoveryKey))
    if (this.settings.discoveryKey !== null) facility.join(Buffer.from(this.settings.discoveryKey, 'hex'))
    // generations written before they were announced (a store from an older version)
    this.backfilling = source.backfill(mainDb.sub('meta_logs') as Bee<LogMeta>, logs.maxHeight).then((n) => {
      if (n > 0) this.host.logger.info({ logs: n }, 'log generations announced to replicas')
    }, (err: unknown) => {
      if (!this.host.isStopping) this.host.logger.warn({ err }, 'announcing older log generations failed')
    })
  }

  /** A read replica: copies the master and hands each new copy to `adopt`. */
  async startReplica (adopt: (parts: ReplicaParts) => void): Promise<ReplicaSettings> {
    const settings = this.settings.replica
    if (!settings || !this.facility) throw new WrkError('ERR_CONFIG_INVALID', 'a replica needs replicaRpcPublicKey')
    this.view = new ReplicaView({
      store: this.host.store,
      logger: this.host.logger,
      replication: this.facility,
      thingType: () => this.host.getThingType(),
      thingTags: () => this.host.getThingTags(),
      askMaster: (timeoutMs) => this.host.net.request(Buffer.from(settings.masterRpcKey, 'hex'), 'getReplicaConf', {}, timeoutMs),
      adopt: (parts) => {
        this.mainDb = parts.db
        adopt(parts)
      }
    }, settings)
    await this.view.start()
    return settings
  }

  /** `getReplicaConf`: the master's keys (a replica answers the configuration it uses). */
  async replicaConf (logs: TimeLogs): Promise<ReplicaConf> {
    if (this.view) {
      const conf = this.view.replicaConf
      if (!conf) throw new WrkError('ERR_REPLICA_NOT_READY')
      return conf
    }
    if (!this.source || !this.mainDb) throw new WrkError('ERR_WRK_STOPPING')
    const swarmKey = this.facility?.opened ? this.facility.publicKey.toString('hex') : null
    try {
      return await this.source.conf(this.host.rackId, this.settings.discoveryKey, swarmKey, this.mainDb.sub('meta_logs') as Bee<LogMeta>,
        logs.maxHeight)
    } catch (err) {
      // the store closed under the read: the worker is stopping
      if (this.host.isStopping) throw new WrkError('ERR_WRK_STOPPING', 'stopping', { cause: err })
      throw err
    }
  }

  async close (): Promise<void> {
    await this.view?.close()
    this.source?.close()
    await this.backfilling
  }
}
