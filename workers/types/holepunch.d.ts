// Minimal typings for the holepunch modules this project uses (they ship no declarations).

declare module 'hyperdht' {
  import { EventEmitter } from 'events'
  export interface KeyPair { publicKey: Buffer, secretKey: Buffer }
  export interface DHTNodeAddress { host: string, port: number }
  export interface DHTOptions {
    bootstrap?: Array<DHTNodeAddress | string>
    host?: string
    port?: number
    keyPair?: KeyPair
    ephemeral?: boolean
    firewalled?: boolean
  }
  class HyperDHT extends EventEmitter {
    constructor (opts?: DHTOptions)
    static keyPair (seed?: Buffer): KeyPair
    /** A bootstrap node of a private DHT on `host:port` (host: the IPv4 address others reach it at). */
    static bootstrapper (port: number, host: string, opts?: DHTOptions): HyperDHT
    readonly defaultKeyPair: KeyPair
    readonly destroyed: boolean
    ready (): Promise<void>
    fullyBootstrapped (): Promise<void>
    /** The nodes of the routing table (empty when no bootstrap node answered). */
    toArray (opts?: { limit?: number }): DHTNodeAddress[]
    address (): { host: string, port: number }
    destroy (opts?: { force?: boolean }): Promise<void>
  }
  export default HyperDHT
}

declare module 'hyperdht/testnet' {
  import HyperDHT, { DHTNodeAddress } from 'hyperdht'
  interface Testnet {
    nodes: HyperDHT[]
    bootstrap: DHTNodeAddress[]
    destroy (): Promise<void>
  }
  function createTestnet (size?: number, opts?: { host?: string, port?: number, bootstrap?: DHTNodeAddress[] }): Promise<Testnet>
  export default createTestnet
}

declare module '@hyperswarm/rpc' {
  import { EventEmitter } from 'events'
  import HyperDHT, { KeyPair, DHTNodeAddress } from 'hyperdht'
  export interface RPCStream { remotePublicKey: Buffer }
  export interface RPCConnection { stream: RPCStream }
  export interface ServerOptions {
    firewall?: (remotePublicKey: Buffer, remoteHandshakePayload: unknown) => boolean | Promise<boolean>
  }
  export class Server extends EventEmitter {
    readonly publicKey: Buffer
    listen (keyPair?: KeyPair): Promise<void>
    /** `request` is null when the caller sent an empty body. */
    respond (method: string, handler: (request: Buffer | null, rpc: RPCConnection) => Promise<Buffer> | Buffer): this
    respond (method: string, options: object, handler: (request: Buffer | null, rpc: RPCConnection) => Promise<Buffer> | Buffer): this
    close (): Promise<void>
  }
  /**
   * One connection to a server (`rpc.connect(key)`): emits 'open' once the protomux RPC channel
   * is open, 'close' when it closes (also when the connect fails) and 'destroy' after that.
   */
  export class Client extends EventEmitter {
    /** True before the channel exists and after it closed. */
    readonly closed: boolean
    /** The encrypted stream (null before the channel exists); emits 'error' on a failed connect. */
    readonly stream: (EventEmitter & { remotePublicKey?: Buffer }) | null
    /** An empty reply body comes back as null. */
    request (method: string, value: Buffer, opts?: { timeout?: number }): Promise<Buffer | null>
    destroy (err?: Error): void
  }
  export interface RPCOptions {
    dht?: HyperDHT
    keyPair?: KeyPair
    seed?: Buffer
    bootstrap?: DHTNodeAddress[]
    poolLinger?: number
  }
  export default class RPC {
    constructor (opts?: RPCOptions)
    readonly dht: HyperDHT
    readonly defaultKeyPair: KeyPair
    createServer (opts?: ServerOptions): Server
    connect (publicKey: Buffer): Client
    destroy (opts?: { force?: boolean }): Promise<void>
  }
}

declare module 'hypercore' {
  import { EventEmitter } from 'events'
  import type { Duplex } from 'stream'
  /** A live or bounded range download (`end: -1` keeps downloading what is appended). */
  export interface Download { done (): Promise<void>, destroy (): void }
  /** hypercore-storage's store of cores (opaque here; handed to Corestore). */
  export interface CoreStorage { readonly __coreStorage: unique symbol }
  export default class Hypercore extends EventEmitter {
    /**
     * Puts the hypercore protocol on `stream` (e.g. a Hyperswarm connection); `ondiscoverykey`
     * is told of every core the remote opens that is not attached here yet.
     */
    static createProtocolStream (stream: Duplex, opts?: { ondiscoverykey?: (discoveryKey: Buffer) => unknown }): Duplex
    /** The storage Corestore would make of `directory` (hypercore-storage on RocksDB), with its options. */
    static defaultStorage (directory: string, opts?: { writeBufferSize?: number }): CoreStorage
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly length: number
    readonly writable: boolean
    readonly closing: Promise<void> | null
    readonly closed: boolean
    ready (): Promise<void>
    close (): Promise<void>
    /** Deletes the stored blocks in [start, end). */
    clear (start: number, end?: number): Promise<unknown>
    /** Whether block `index` is stored locally. */
    has (index: number): Promise<boolean>
    /** Block `index`; null when `wait: false` and it is not stored here. */
    get (index: number, opts?: { wait?: boolean, timeout?: number, valueEncoding?: string }): Promise<Buffer | null>
    append (block: Buffer | Buffer[]): Promise<{ length: number, byteLength: number }>
    /** Attaches this core to a connection (several cores share one connection). */
    replicate (stream: Duplex): Duplex
    download (range?: { start?: number, end?: number }): Download
  }
}

declare module 'hyperswarm' {
  import { EventEmitter } from 'events'
  import type { Duplex } from 'stream'
  import HyperDHT, { KeyPair } from 'hyperdht'
  export interface SwarmConnection extends Duplex {
    readonly remotePublicKey: Buffer
    readonly publicKey: Buffer
  }
  export interface PeerDiscovery {
    flushed (): Promise<void>
    refresh (opts?: { server?: boolean, client?: boolean }): Promise<void>
    destroy (): Promise<void>
  }
  export interface SwarmOptions {
    keyPair?: KeyPair
    dht?: HyperDHT
    /** Return true to refuse a peer. */
    firewall?: (remotePublicKey: Buffer) => boolean
    /** Reconnect delays [short, medium, long, explicit-peer] in ms. */
    backoffs?: [number, number, number, number]
    jitter?: number
  }
  export default class Hyperswarm extends EventEmitter {
    constructor (opts?: SwarmOptions)
    readonly keyPair: KeyPair
    readonly dht: HyperDHT
    readonly connections: Set<SwarmConnection>
    readonly destroyed: boolean
    join (topic: Buffer, opts?: { server?: boolean, client?: boolean }): PeerDiscovery
    leave (topic: Buffer): Promise<void>
    joinPeer (publicKey: Buffer): void
    leavePeer (publicKey: Buffer): void
    flush (): Promise<boolean>
    /** Destroys the swarm and its DHT node (also one passed in). */
    destroy (opts?: { force?: boolean }): Promise<void>
    on (event: 'connection', listener: (conn: SwarmConnection, info: unknown) => void): this
    on (event: string, listener: (...args: unknown[]) => void): this
  }
}

declare module 'corestore' {
  import Hypercore, { type CoreStorage } from 'hypercore'
  export default class Corestore {
    constructor (storage: string | CoreStorage, opts?: { readOnly?: boolean, globalCache?: unknown })
    /** `timeout`: default bound (ms) of a block read that waits for peers (0 = none). */
    get (opts: { name: string } | { key: Buffer, timeout?: number, writable?: boolean } | { discoveryKey: Buffer } | Buffer): Hypercore
    /** Discovery keys of every core stored here. */
    list (namespace?: Buffer): AsyncIterable<Buffer>
    /** The storage engine: the names (aliases) of the cores created by name in a namespace. */
    readonly storage: {
      createAliasStream: (namespace: Buffer) => AsyncIterable<{ alias: { name: string, namespace: Buffer }, discoveryKey: Buffer }>
    }
    namespace (name: string): Corestore
    replicate (isInitiator: boolean | object, opts?: object): NodeJS.ReadWriteStream
    ready (): Promise<void>
    close (): Promise<void>
  }
}

declare module 'hyperbee' {
  import Hypercore from 'hypercore'
  export interface BeeEntry<T = unknown> { seq: number, key: string, value: T }
  export interface RangeOpts { gt?: string, gte?: string, lt?: string, lte?: string, limit?: number, reverse?: boolean }
  /** Per-call encodings ('binary': keys and values as stored bytes, as Buffers). */
  export interface BeeEncodings { keyEncoding?: string, valueEncoding?: string }
  export interface BeeBatch {
    put (key: string | Buffer, value: unknown, opts?: BeeEncodings): Promise<void>
    del (key: string): Promise<void>
    flush (): Promise<void>
    close (): Promise<void>
  }
  export interface BeeDiff<T = unknown> { left: BeeEntry<T> | null, right: BeeEntry<T> | null }
  export default class Hyperbee<T = unknown> {
    constructor (core: Hypercore, opts?: { keyEncoding?: string, valueEncoding?: string, readonly?: boolean, extension?: boolean })
    readonly core: Hypercore
    readonly version: number
    readonly writable: boolean
    readonly closed: boolean
    ready (): Promise<void>
    /** `valueEncoding` overrides the bee's for this call (e.g. 'binary': the stored bytes). */
    get (key: string, opts?: { wait?: boolean, timeout?: number, valueEncoding?: string }): Promise<BeeEntry<T> | null>
    put (key: string, value: T, opts?: { valueEncoding?: string }): Promise<void>
    del (key: string): Promise<void>
    peek (range?: RangeOpts, opts?: BeeEncodings): Promise<BeeEntry<T> | null>
    batch (): BeeBatch
    createReadStream (range?: RangeOpts, opts?: BeeEncodings): AsyncIterable<BeeEntry<T>>
    sub (prefix: string, opts?: { keyEncoding?: string, valueEncoding?: string }): Hyperbee<T>
    /** A read-only view at the current version. */
    snapshot (): Hyperbee<T>
    /** Changes from `version` to this view: `left` = here, `right` = there (null = absent). */
    createDiffStream (version: number, range?: RangeOpts): AsyncIterable<BeeDiff<T>>
    close (): Promise<void>
  }
}

declare module 'rache' {
  /** A bounded cache; children made with `from(parent)` share the parent's bound. */
  export default class Rache {
    constructor (opts?: { maxSize?: number })
    readonly globalSize: number
  }
}
