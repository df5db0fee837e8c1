import HyperDHT, { type DHTNodeAddress } from 'hyperdht'
import RPC, { type Server } from '@hyperswarm/rpc'
import { Facility } from './facility'
import { RpcClient } from '../rpc/client'
import type { Logger } from '../core/types'
import type { KeySpec } from '../core/config-keys'

/** The keys of `r0` (facs/net.config.json) the worker reads. */
export const NET_CONF_KEYS: KeySpec = {
  allow: true, allowReadOnly: true, maxRequestBytes: true, dhtOpts: { bootstrap: true, host: true, port: true }
}

export interface NetConfig {
  /** Hex public keys with full access; absent → every peer may call (a warning is logged). */
  allow?: string[]
  /** Hex public keys that may call read methods only. */
  allowReadOnly?: string[]
  /** Largest request (JSON bytes) the RPC server accepts; default 1 MiB. */
  maxRequestBytes?: number
  dhtOpts?: {
    bootstrap?: Array<DHTNodeAddress | string>
    host?: string
    port?: number
  }
}

export type Access = 'full' | 'read'

export type RpcHandler = (payload: Buffer, callerKey: Buffer | null) => Promise<Buffer>

export function parseBootstrap (list: Array<DHTNodeAddress | string> | undefined): DHTNodeAddress[] | undefined {
  if (!list) return undefined
  return list.map((entry) => {
    if (typeof entry !== 'string') return { host: entry.host, port: Number(entry.port) }
    const idx = entry.lastIndexOf(':')
    if (idx <= 0) throw new Error(`ERR_NET_BOOTSTRAP_INVALID: ${entry}`)
    return { host: entry.slice(0, idx), port: Number(entry.slice(idx + 1)) }
  })
}

/**
 * HyperDHT node + `@hyperswarm/rpc` server. The server key pair comes from a seed persisted in
 * the store (stable across restarts); the DHT key pair (used for outgoing calls) from another.
 */
export class NetFacility extends Facility {
  readonly name = 'net'
  override readonly dependsOn = ['logging', 'store']
  private dht: HyperDHT | null = null
  private rpc: RPC | null = null
  private server: Server | null = null
  private client: RpcClient | null = null
  private readonly full: Set<string> | null
  private readonly readOnly: Set<string>

  constructor (
    private readonly conf: NetConfig,
    private readonly seeds: { rpc: () => Promise<Buffer>, dht: () => Promise<Buffer> },
    private readonly logger: Logger
  ) {
    super()
    this.full = conf.allow ? new Set(conf.allow.map((k) => k.toLowerCase())) : null
    this.readOnly = new Set((conf.allowReadOnly ?? []).map((k) => k.toLowerCase()))
  }

  protected override async _open (): Promise<void> {
    const dhtOpts = this.conf.dhtOpts ?? {}
    this.dht = new HyperDHT({
      keyPair: HyperDHT.keyPair(await this.seeds.dht()),
      bootstrap: parseBootstrap(dhtOpts.bootstrap),
      host: dhtOpts.host,
      port: dhtOpts.port
    })
    await this.dht.ready()
    if (this.dht.toArray().length === 0) {
      // started "fine" otherwise: every caller would then time out without a word here
      this.logger.warn(
        { bootstrap: dhtOpts.bootstrap ?? 'the public HyperDHT bootstrap nodes' },
        'no DHT node answered: RPC callers cannot find this worker until one does (check r0.dhtOpts.bootstrap in facs/net.config.json)'
      )
    }
    // outgoing calls go out under the DHT key pair (rpcClientKey); close() leaves this dht alone
    this.client = new RpcClient({ dht: this.dht })
    this.rpc = new RPC({ dht: this.dht, keyPair: HyperDHT.keyPair(await this.seeds.rpc()) })
    this.server = this.rpc.createServer({
      firewall: (remotePublicKey: Buffer) => {
        const refused = this.accessOf(remotePublicKey) === null
        if (refused) {
          this.logger.debug(
            { peer: remotePublicKey.toString('hex') },
            'rpc peer refused: its key is in neither r0.allow nor r0.allowReadOnly'
          )
        }
        return refused
      }
    })
    if (!this.full) this.logger.warn('facs/net.config.json has no r0.allow list: every peer may call this worker')
    await this.server.listen()
  }

  /** What a caller may do: full access, read-only, or nothing (refused by the firewall). */
  accessOf (key: Buffer | null): Access | null {
    const hex = key ? key.toString('hex') : ''
    if (this.full?.has(hex)) return 'full'
    // A read-only key stays read-only even when there is no allow list.
    if (this.readOnly.has(hex)) return 'read'
    return this.full ? null : 'full'
  }

  respond (method: string, handler: RpcHandler): void {
    if (!this.server) throw new Error('ERR_NET_NOT_STARTED')
    // @hyperswarm/rpc delivers an empty request body as null
    this.server.respond(method, (req, conn) => handler(req ?? Buffer.alloc(0), conn?.stream?.remotePublicKey ?? null))
  }

  get rpcPublicKey (): Buffer {
    if (!this.server || !this.rpc) throw new Error('ERR_NET_NOT_STARTED')
    return this.rpc.defaultKeyPair.publicKey
  }

  get rpcClientKey (): Buffer {
    if (!this.dht) throw new Error('ERR_NET_NOT_STARTED')
    return this.dht.defaultKeyPair.publicKey
  }

  /**
   * Outgoing JSON request to another RPC server (e.g. the DHCP service); an `[HRPC_ERR]=` reply
   * rejects with `RpcReplyError` (its `code` is the remote code).
   */
  async request (publicKey: Buffer, method: string, payload: unknown, timeoutMs = 10000): Promise<unknown> {
    if (!this.client) throw new Error('ERR_NET_NOT_STARTED')
    return await this.client.request(publicKey, method, payload, { timeoutMs })
  }

  protected override async _close (): Promise<void> {
    const { server, client, rpc, dht } = this
    this.server = null
    this.client = null
    this.rpc = null
    this.dht = null
    if (server) await server.close()
    if (client) await client.close()
    if (rpc) await rpc.destroy()
    if (dht) await dht.destroy()
  }
}
