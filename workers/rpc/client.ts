/**
 * The one JSON RPC client (over `@hyperswarm/rpc` + HyperDHT) used by the worker's outgoing
 * calls, the demo and the tests. Per server key it first opens the protomux RPC channel (each
 * attempt bounded, failed or stalled attempts retried on a fresh connection), keeps the open
 * channel until it closes, and sends every request exactly once on an open channel — a slow
 * connect is retried, a request never is. Every request is bounded by its timeout, connect
 * included. Wire format: ./codec.ts.
 */
import { setTimeout as delay } from 'node:timers/promises'
import HyperDHT, { type DHTNodeAddress } from 'hyperdht'
import RPC, { type Client } from '@hyperswarm/rpc'
import { WrkError } from '../core/errors'
import { decodeReply, encodeRequest } from './codec'

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
/** Above the ~4 s a first connect can take when the DHT still holds a stale record of the key. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000
export const DEFAULT_CONNECT_ATTEMPTS = 3
/** Pause before connect attempt n (n ≥ 2): n-1 times this. */
const RETRY_DELAY_MS = 250

export interface RpcConnectOptions {
  /** Bound on one connect attempt (until the RPC channel is open); default 5000 ms. */
  connectTimeoutMs?: number
  /** Connect attempts per server key before `ERR_RPC_CONNECT_FAILED`; default 3. */
  connectAttempts?: number
}

/** Either an existing DHT node (its key is the caller's key; never destroyed here) or a new one. */
export type RpcClientOptions = RpcConnectOptions & (
  | { dht: HyperDHT, bootstrap?: never, host?: never, seed?: never, firewalled?: never }
  | {
    dht?: undefined
    bootstrap?: Array<DHTNodeAddress | string>
    /** Address the new DHT node binds (e.g. '127.0.0.1' on a loopback testnet). */
    host?: string
    /** 32 bytes: a stable client key (for allow lists); random when absent. */
    seed?: Buffer
    /**
       * false: the node says it is reachable (a loopback testnet), which spares the first connect
       * a holepunch that can stall for seconds there.
       */
    firewalled?: boolean
  }
)

export interface RpcRequestOptions {
  /** Bound on the whole request, connect included; default 10 s. */
  timeoutMs?: number
}

/** A server key: 32 bytes, or 64 hex characters. */
export type RpcKey = Buffer | string

export class RpcClient {
  /** Hex of this client's DHT public key: the key a server sees as the caller. */
  readonly publicKey: string
  private readonly dht: HyperDHT
  private readonly ownsDht: boolean
  private readonly rpc: RPC
  private readonly connectTimeoutMs: number
  private readonly connectAttempts: number
  /** Per server key (hex): the channel being opened or open. Dropped when it fails or closes. */
  private readonly channels = new Map<string, Promise<Client>>()
  private readonly closing = new AbortController()
  private closed: Promise<void> | null = null

  constructor (opts: RpcClientOptions = {}) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    this.connectAttempts = Math.max(1, opts.connectAttempts ?? DEFAULT_CONNECT_ATTEMPTS)
    if (opts.dht) {
      this.dht = opts.dht
      this.ownsDht = false
    } else {
      this.dht = new HyperDHT({
        bootstrap: opts.bootstrap,
        host: opts.host,
        keyPair: HyperDHT.keyPair(opts.seed),
        ...(opts.firewalled === false ? { firewalled: false } : {})
      })
      this.ownsDht = true
    }
    // Given a dht, @hyperswarm/rpc never destroys it; ours is destroyed in close().
    this.rpc = new RPC({ dht: this.dht })
    this.publicKey = this.dht.defaultKeyPair.publicKey.toString('hex')
  }

  /** A JSON request; resolves with the decoded reply, rejects with `RpcReplyError` on `[HRPC_ERR]=`. */
  async request (key: RpcKey, method: string, data?: unknown, opts: RpcRequestOptions = {}): Promise<unknown> {
    const payload = encodeRequest(data)
    return decodeReply(await this.call(key, method, payload, opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS))
  }

  /** Sends `raw` as it is; resolves with the reply text (not parsed). */
  async requestRaw (key: RpcKey, method: string, raw: Buffer, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<string> {
    return (await this.call(key, method, raw, timeoutMs)).toString()
  }

  /** Closes the channels and, if this client created it, the DHT node. Idempotent. */
  async close (): Promise<void> {
    if (!this.closed) {
      this.closing.abort()
      this.channels.clear()
      this.closed = (async () => {
        await this.rpc.destroy({ force: true })
        if (this.ownsDht) await this.dht.destroy({ force: true })
      })()
    }
    await this.closed
  }

  private async call (key: RpcKey, method: string, payload: Buffer, timeoutMs: number): Promise<Buffer> {
    const publicKey = toKey(key)
    if (this.closed) throw clientClosed()
    const deadline = Date.now() + timeoutMs
    const timeout = (cause?: unknown): WrkError =>
      new WrkError('ERR_RPC_TIMEOUT', `${method}: no reply within ${timeoutMs} ms`, { cause })

    const client = await within(this.channel(publicKey), timeoutMs, timeout)
    const remaining = deadline - Date.now()
    if (remaining <= 0) throw timeout()
    try {
      // protomux-rpc bounds the request itself and rejects it when the channel closes
      return (await client.request(method, payload, { timeout: remaining })) ?? Buffer.alloc(0)
    } catch (err) {
      if (err instanceof Error && (err as Error & { code?: unknown }).code === 'TIMEOUT_EXCEEDED') throw timeout(err)
      if (this.closed) throw clientClosed(err)
      throw err
    }
  }

  /** The open channel to `key`, or the one being opened (shared by concurrent requests). */
  private channel (key: Buffer): Promise<Client> {
    const id = key.toString('hex')
    const current = this.channels.get(id)
    if (current) return current
    const drop = (): void => {
      if (this.channels.get(id) === opening) this.channels.delete(id)
    }
    const opening = this.open(key, drop)
    // Callers stop waiting at their own deadline; a failure after that must not be unhandled.
    opening.catch(drop)
    this.channels.set(id, opening)
    return opening
  }

  private async open (key: Buffer, onClose: () => void): Promise<Client> {
    const signal = this.closing.signal
    let lastError: unknown = null
    for (let attempt = 1; attempt <= this.connectAttempts; attempt++) {
      if (attempt > 1) await delay(RETRY_DELAY_MS * (attempt - 1), undefined, { signal }).catch(() => {})
      if (signal.aborted) throw clientClosed()
      const client = this.rpc.connect(key)
      try {
        await opened(client, this.connectTimeoutMs, signal)
      } catch (err) {
        lastError = err
        client.destroy()
        continue
      }
      if (client.closed) {
        lastError = new Error('the channel closed as it opened')
        continue
      }
      client.once('close', onClose)
      return client
    }
    if (signal.aborted) throw clientClosed()
    const why = lastError instanceof Error ? lastError.message : String(lastError)
    throw new WrkError(
      'ERR_RPC_CONNECT_FAILED',
      `no RPC channel to ${key.toString('hex').slice(0, 16)}… after ${this.connectAttempts} attempts: ${why}`,
      { cause: lastError }
    )
  }
}

function clientClosed (cause?: unknown): WrkError {
  return new WrkError('ERR_RPC_CLIENT_CLOSED', 'the RPC client is closed', { cause })
}

function toKey (key: RpcKey): Buffer {
  if (Buffer.isBuffer(key) && key.length === 32) return key
  if (typeof key === 'string' && /^[0-9a-f]{64}$/i.test(key)) return Buffer.from(key, 'hex')
  throw new WrkError('ERR_RPC_KEY_INVALID', 'a server key is 32 bytes or 64 hex characters')
}

/** Resolves when the client's RPC channel opens; rejects when it closes first, after `ms`, or on abort. */
function opened (client: Client, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let streamError: unknown = null
    const onError = (err: unknown): void => { streamError = err }
    const settle = (err: Error | null): void => {
      clearTimeout(timer)
      client.off('open', onOpen)
      client.off('close', onClose)
      client.stream?.off('error', onError)
      signal.removeEventListener('abort', onAbort)
      if (err) reject(err)
      else resolve()
    }
    const onOpen = (): void => settle(null)
    // a failed connect (PEER_NOT_FOUND, refused by the firewall…) errors the stream, then closes
    const onClose = (): void => settle(
      streamError instanceof Error ? streamError : new Error('the connection closed before the channel opened')
    )
    const onAbort = (): void => settle(clientClosed())
    const timer = setTimeout(() => settle(new Error(`the channel did not open within ${ms} ms`)), ms)
    client.once('open', onOpen)
    client.once('close', onClose)
    client.stream?.on('error', onError)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** `promise`, or a rejection with `onTimeout()` after `ms` (the promise's own late outcome is ignored). */
async function within<T> (promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms)
  })
  try {
    return await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}
