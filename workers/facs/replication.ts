/**
 * `replication` facility: Hypercore replication over Hyperswarm, on a HyperDHT node of its own
 * (same bootstrap and bind address as the RPC node). Only cores named here are replicated:
 *
 * - cores `add`ed (a read replica's copies) are attached to every connection;
 * - a `resolver` (the master) is asked for each core a peer opens; it answers the core, or null
 *   for anything it does not publish — so the master never offers a core nobody may read.
 *
 * Peers are filtered by `allow` (their Hyperswarm public key) before anything is exchanged.
 */
import HyperDHT, { type DHTNodeAddress, type KeyPair } from 'hyperdht'
import Hyperswarm, { type SwarmConnection } from 'hyperswarm'
import Hypercore from 'hypercore'
import { Facility } from './facility'
import type { Logger } from '../core/types'

export interface ReplicationOptions {
  bootstrap?: DHTNodeAddress[]
  /** Address the DHT node binds (e.g. 127.0.0.1 on a loopback testnet). */
  host?: string
  keyPair: () => Promise<KeyPair>
  /** Whether a peer with this public key may connect. */
  allow: (remotePublicKey: Buffer) => boolean
  logger: Logger
}

/** Reconnect delays to a lost peer: a replica wants its master back soon. */
const BACKOFFS: [number, number, number, number] = [1000, 3000, 10_000, 60_000]

export type CoreResolver = (discoveryKey: Buffer) => Promise<Hypercore | null>

export class ReplicationFacility extends Facility {
  readonly name = 'replication'
  override readonly dependsOn = ['logging', 'store']
  private swarm: Hyperswarm | null = null
  private readonly conns = new Set<SwarmConnection>()
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
    for (const conn of this.conns) if (conn.remotePublicKey.equals(publicKey)) return true
    return false
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
    for (const conn of this.conns) this.attach(core, conn)
  }

  /** Stops attaching `core` to new connections (closing it ends its replication). */
  remove (core: Hypercore): void {
    this.cores.delete(core.discoveryKey.toString('hex'))
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
    conn.on('error', (err: unknown) => this.opts.logger.debug({ err, peer: conn.remotePublicKey.toString('hex') }, 'replication connection error'))
    this.conns.add(conn)
    conn.once('close', () => this.conns.delete(conn))
    const resolve = this.resolver
    if (resolve) {
      Hypercore.createProtocolStream(conn, {
        ondiscoverykey: (discoveryKey: Buffer) => {
          resolve(discoveryKey).then((core) => {
            if (core && !conn.destroyed) this.attach(core, conn)
          }, (err: unknown) => this.opts.logger.debug({ err }, 'replication: a requested core could not be opened'))
        }
      })
    }
    for (const core of this.cores.values()) this.attach(core, conn)
    this.opts.logger.debug({ peer: conn.remotePublicKey.toString('hex'), peers: this.conns.size }, 'replication peer connected')
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
    for (const conn of this.conns) conn.destroy()
    this.conns.clear()
    // destroys its DHT node too
    if (swarm) await swarm.destroy()
  }
}
