/**
 * `replication` facility: Hypercore replication over Hyperswarm, on a HyperDHT node of its own
 * (same bootstrap and bind address as the RPC node). Only cores named here are replicated:
 *
 * - cores `add`ed (a read replica's copies) are attached to every connection;
 * - a `resolver` (the master) is asked for each core a peer opens; it answers the core, or null
 *   for anything it does not publish — so the master never offers a core nobody may read.
 *
 * Peers are filtered by `allow` (their Hyperswarm public key) before anything is exchanged, and
 * a core is attached to a connection only once both sides found their copies to be one history
 * (./replication-heads.ts): a peer holding a diverged copy (e.g. a replica ahead of a master
 * whose store folder was copied back) is refused that core — logged with its key, listed in
 * `status()` — and the master's own core is never frozen by it.
 */
import HyperDHT, { type DHTNodeAddress, type KeyPair } from 'hyperdht'
import Hyperswarm, { type SwarmConnection } from 'hyperswarm'
import Hypercore from 'hypercore'
import { Facility } from './facility'
import { CoreHeads, type Divergence } from './replication-heads'
import type { Logger } from '../core/types'

export interface ReplicationOptions {
  bootstrap?: DHTNodeAddress[]
  /** Address the DHT node binds (e.g. 127.0.0.1 on a loopback testnet). */
  host?: string
  keyPair: () => Promise<KeyPair>
  /** Whether a peer with this public key may connect. */
  allow: (remotePublicKey: Buffer) => boolean
  logger: Logger
  /** A core refused on a connection because the two copies diverged (after it is logged). */
  ondiverged?: (d: Divergence) => void
}

/** What `status()` reports: the connected peers and the cores refused to a peer (newest last). */
export interface ReplicationStatus {
  peers: number
  diverged: Divergence[]
}

/** Refusals kept for `status()` (the oldest are dropped). */
const MAX_KEPT_DIVERGENCES = 100

/** Reconnect delays to a lost peer: a replica wants its master back soon. */
const BACKOFFS: [number, number, number, number] = [1000, 3000, 10_000, 60_000]

export type CoreResolver = (discoveryKey: Buffer) => Promise<Hypercore | null>

export class ReplicationFacility extends Facility {
  readonly name = 'replication'
  override readonly dependsOn = ['logging', 'store']
  private swarm: Hyperswarm | null = null
  private readonly conns = new Map<SwarmConnection, CoreHeads>()
  /** `<peer>:<discovery key>` → the refusal of that core to that peer. */
  private readonly diverged = new Map<string, Divergence>()
  private readonly cores = new Map<string, Hypercore>()
  private resolver: CoreResolver | null = null
  private readonly topics = new Set<string>()

  constructor (private readonly opts: ReplicationOptions) {
    super()
  }

  protected override async _open (): Promise<void> {
    const keyPair = await this.opts.keyPair()
    const dht = new HyperDHT({ bootstrap: this.opts.bootstrap, host: this.opts.host, keyPair })
    await dht.ready()
    const swarm = new Hyperswarm({ dht, keyPair, backoffs: BACKOFFS, firewall: (remote) => !this.opts.allow(remote) })
    swarm.on('connection', (conn) => this.onConnection(conn))
    this.swarm = swarm
  }

  /** This node's Hyperswarm public key (the peers' firewalls see it). */
  get publicKey (): Buffer {
    if (!this.swarm) throw new Error('ERR_NET_NOT_STARTED')
    return this.swarm.keyPair.publicKey
  }

  connectedTo (publicKey: Buffer): boolean {
    for (const conn of this.conns.keys()) if (conn.remotePublicKey.equals(publicKey)) return true
    return false
  }

  status (): ReplicationStatus {
    return { peers: this.conns.size, diverged: [...this.diverged.values()] }
  }

  /** Serves the cores `resolve` names to every peer that asks for them (the master side). */
  serve (resolve: CoreResolver): void {
    this.resolver = resolve
  }

  /** Replicates `core` with every peer, now and later (a replica's copy). */
  add (core: Hypercore): void {
    const id = core.discoveryKey.toString('hex')
    if (this.cores.has(id)) return
    this.cores.set(id, core)
    for (const heads of this.conns.values()) heads.offer(core)
  }

  /** Stops attaching `core` to new connections (closing it ends its replication). */
  remove (core: Hypercore): void {
    const id = core.discoveryKey.toString('hex')
    if (this.cores.get(id) === core) this.cores.delete(id)
    for (const heads of this.conns.values()) heads.withdraw(core)
  }

  /** Announces and looks up `topic` (server and client), once. */
  join (topic: Buffer): void {
    const id = topic.toString('hex')
    if (!this.swarm || this.topics.has(id)) return
    this.topics.add(id)
    this.swarm.join(topic, { server: true, client: true })
  }

  /**
   * Keeps a connection to one peer, whatever the topic lookups find; called again it starts
   * over (a peer that was away for long is tried at once instead of after the long backoff).
   */
  joinPeer (publicKey: Buffer): void {
    if (!this.swarm) return
    this.swarm.leavePeer(publicKey)
    this.swarm.joinPeer(publicKey)
  }

  private onConnection (conn: SwarmConnection): void {
    const peer = conn.remotePublicKey.toString('hex')
    conn.on('error', (err: unknown) => this.opts.logger.debug({ err, peer }, 'replication connection error'))
    const resolve = async (discoveryKey: Buffer): Promise<Hypercore | null> =>
      this.cores.get(discoveryKey.toString('hex')) ?? (this.resolver ? await this.resolver(discoveryKey) : null)
    const stream = Hypercore.createProtocolStream(conn, {
      // a core the peer opened first: offered (attached once the heads agree)
      ondiscoverykey: (discoveryKey: Buffer) => {
        resolve(discoveryKey).then((core) => {
          if (core && !conn.destroyed) this.conns.get(conn)?.offer(core)
        }, (err: unknown) => this.opts.logger.debug({ err }, 'replication: a requested core could not be opened'))
      }
    })
    const mux = (stream as unknown as { userData: ConstructorParameters<typeof CoreHeads>[0] }).userData
    const heads = new CoreHeads(mux, conn.remotePublicKey, {
      resolve,
      agreed: (core) => {
        if (!conn.destroyed) this.attach(core, conn)
        this.agreedAgain(peer, core)
      },
      diverged: (d) => this.onDiverged(d),
      logger: this.opts.logger
    })
    this.conns.set(conn, heads)
    conn.once('close', () => {
      heads.close()
      this.conns.delete(conn)
    })
    for (const core of this.cores.values()) heads.offer(core)
    this.opts.logger.debug({ peer, peers: this.conns.size }, 'replication peer connected')
  }

  /**
   * A core refused to a peer: an error for the first core of that peer (the others, and the
   * same ones at each reconnection, at debug level: no storm), kept for `status()`.
   */
  private onDiverged (d: Divergence): void {
    const id = `${d.peer}:${d.discoveryKey}`
    const first = ![...this.diverged.values()].some((k) => k.peer === d.peer)
    const known = this.diverged.has(id)
    this.diverged.delete(id)
    this.diverged.set(id, d)
    if (this.diverged.size > MAX_KEPT_DIVERGENCES) this.diverged.delete(this.diverged.keys().next().value as string)
    // on a replica, the view says what it means to the operator (reads refused)
    const log = first && d.writer ? 'error' : 'debug'
    this.opts.logger[log]({ code: 'ERR_REPLICA_DIVERGED', ...d, known }, d.writer
      ? 'replication: a peer holds a copy of this core that diverged from it (this store went back in time, or the peer is another ' +
        'history); the core is not replicated to that peer'
      : 'replication: the master\'s history of a core diverged from the copy here (its store went back in time); the core is not ' +
        'replicated')
    this.opts.ondiverged?.(d)
  }

  private agreedAgain (peer: string, core: Hypercore): void {
    const id = `${peer}:${core.discoveryKey.toString('hex')}`
    if (!this.diverged.delete(id)) return
    this.opts.logger.info(
      { peer, discoveryKey: core.discoveryKey.toString('hex') },
      'replication: a peer that held a diverged copy of a core now agrees with it'
    )
  }

  private attach (core: Hypercore, conn: SwarmConnection): void {
    if (core.closing || core.closed) return
    try {
      core.replicate(conn)
    } catch (err) {
      this.opts.logger.debug({ err }, 'replication: attaching a core failed')
    }
  }

  protected override async _close (): Promise<void> {
    const swarm = this.swarm
    this.swarm = null
    this.resolver = null
    this.cores.clear()
    for (const [conn, heads] of this.conns) {
      heads.close()
      conn.destroy()
    }
    this.conns.clear()
    // destroys its DHT node too
    if (swarm) await swarm.destroy()
  }
}
