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
    readonly defaultKeyPair: KeyPair
    readonly destroyed: boolean
    ready (): Promise<void>
    fullyBootstrapped (): Promise<void>
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
  export default class Hypercore extends EventEmitter {
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly length: number
    readonly writable: boolean
    ready (): Promise<void>
    close (): Promise<void>
    /** Deletes the stored blocks in [start, end). */
    clear (start: number, end?: number): Promise<unknown>
    /** Whether block `index` is stored locally. */
    has (index: number): Promise<boolean>
    append (block: Buffer | Buffer[]): Promise<{ length: number, byteLength: number }>
  }
}

declare module 'corestore' {
  import Hypercore from 'hypercore'
  export default class Corestore {
    constructor (storage: string, opts?: { readOnly?: boolean, globalCache?: unknown })
    get (opts: { name: string } | { key: Buffer } | Buffer): Hypercore
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
  export interface BeeBatch {
    put (key: string, value: unknown): Promise<void>
    del (key: string): Promise<void>
    flush (): Promise<void>
    close (): Promise<void>
  }
  export default class Hyperbee<T = unknown> {
    constructor (core: Hypercore, opts?: { keyEncoding?: string, valueEncoding?: string, readonly?: boolean })
    readonly core: Hypercore
    readonly version: number
    readonly writable: boolean
    readonly closed: boolean
    ready (): Promise<void>
    get (key: string): Promise<BeeEntry<T> | null>
    put (key: string, value: T): Promise<void>
    del (key: string): Promise<void>
    peek (range?: RangeOpts): Promise<BeeEntry<T> | null>
    batch (): BeeBatch
    createReadStream (range?: RangeOpts): AsyncIterable<BeeEntry<T>>
    sub (prefix: string, opts?: { keyEncoding?: string, valueEncoding?: string }): Hyperbee<T>
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
