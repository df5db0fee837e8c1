/**
 * The TCP connection under the Modbus client: one `net.Socket` at a time, connect with a
 * timeout, jittered exponential backoff between attempts and a background reconnect after a
 * drop, half-open detection, flood detection (./flood.ts) and close. It cuts the byte stream
 * into frames and reports them (and its state changes) to the layer above, which says whether
 * each answered a request; it knows nothing else about requests.
 */
import net from 'node:net'
import createDebug from 'debug'
import { ModbusError, closedError } from './errors'
import { FloodGuard } from './flood'
import { MbapStreamParser } from './frame'
import type { ModbusClientStats, ModbusLogger } from './types'

const debug = createDebug('mbt:modbus')

const KEEPALIVE_INITIAL_DELAY_MS = 10_000

export interface ConnectionSettings {
  host: string
  port: number
  /** TCP connect timeout (ms). */
  connectTimeoutMs: number
  /** Consecutive request timeouts, with no frame in between, after which the socket is replaced. */
  halfOpenAfterTimeouts: number
  backoffMinMs: number
  backoffMaxMs: number
  logger: ModbusLogger
}

/**
 * What a frame was to the layer above: the reply to a request in flight (proof that the
 * connection is useful), the late reply to an attempt that timed out, or unsolicited (it
 * matches nothing: counted against the flood budget).
 */
export type FrameVerdict = 'answer' | 'late' | 'unsolicited'

/** What the connection reports to the layer above. */
export interface ConnectionEvents {
  /** A socket is up (its id is `ModbusConnection.id`). */
  connected: () => void
  /** A frame arrived; returns what it was. */
  frame: (transactionId: number, unitId: number, functionCode: number, data: Buffer) => FrameVerdict
  /** The frames of one chunk read from the socket have all been reported. */
  received: () => void
  /** A connect attempt failed; the next one waits for the backoff. */
  connectFailed: (err: ModbusError) => void
  /** The established connection is gone (`reason` is for logs); a reconnect follows after the backoff. */
  lost: (reason: string) => void
  /**
   * The device flooded the connection, which was dropped (`err` is ERR_MODBUS_FLOOD): every
   * request should fail with `err`, none be resent. A reconnect follows after the backoff.
   */
  flooded: (err: ModbusError) => void
}

type ConnState = 'idle' | 'backoff' | 'connecting' | 'connected' | 'closed'

interface ConnectWaiter {
  resolve: (id: number) => void
  reject: (err: Error) => void
}

function errText (err: Error | null): string {
  if (err === null) return 'closed'
  const code = (err as NodeJS.ErrnoException).code
  return typeof code === 'string' ? code : err.message
}

/**
 * - `id` increments per successfully established socket (the first is 1); `stats.reconnects`
 *   counts the sockets established after the first one.
 * - A failed connect arms a backoff: the next attempt (lazy, on `ensureConnecting()`) waits for
 *   it. After an established connection drops, a reconnect is attempted in the background
 *   after the backoff delay. The backoff resets once a connection answered a request or lived
 *   longer than `backoffMaxMs`.
 * - A device that sends far more than it is asked for (unsolicited frames, junk bytes: ./flood.ts)
 *   gets its connection dropped at once, the rest of the chunk unparsed; every request fails with
 *   ERR_MODBUS_FLOOD (`events.flooded`). The backoff does not reset for such a connection, even
 *   if it answered requests, and until the next attempt starts `connect()` and new requests are
 *   refused with the same error instead of waiting.
 */
export class ModbusConnection {
  readonly host: string
  readonly port: number

  private readonly settings: ConnectionSettings
  private readonly stats: Pick<ModbusClientStats, 'reconnects' | 'floods'>
  private readonly events: ConnectionEvents
  private readonly parser: MbapStreamParser
  private readonly flood = new FloodGuard()
  /** The flood that dropped the last connection, until the next connect attempt starts. */
  private floodError: ModbusError | null = null
  /** When the chunk being parsed arrived. */
  private chunkAt = 0
  private state: ConnState = 'idle'
  private socket: net.Socket | null = null
  /** The socket corked until the next tick (see `write`). */
  private corkedSocket: net.Socket | null = null
  private connId = 0
  /** Consecutive failed/short-lived connections: the backoff exponent. */
  private failures = 0
  private nextAttemptAt = 0
  private backoffTimer: NodeJS.Timeout | null = null
  private connectTimer: NodeJS.Timeout | null = null
  private connectWaiters: ConnectWaiter[] = []
  private connectedAt = 0
  private gotReply = false
  private consecutiveTimeouts = 0

  constructor (settings: ConnectionSettings, stats: Pick<ModbusClientStats, 'reconnects' | 'floods'>, events: ConnectionEvents) {
    this.host = settings.host
    this.port = settings.port
    this.settings = settings
    this.stats = stats
    this.events = events
    this.parser = new MbapStreamParser(this.onFrame)
  }

  get connected (): boolean {
    return this.state === 'connected'
  }

  get closed (): boolean {
    return this.state === 'closed'
  }

  /** Id of the current (or last) connection; 0 before the first. */
  get id (): number {
    return this.connId
  }

  /** Why requests are refused now instead of waiting for a connection (ERR_MODBUS_FLOOD during the backoff after a flood), or null. */
  get refusal (): ModbusError | null {
    return this.state === 'backoff' ? this.floodError : null
  }

  /**
   * Waits for a connection at most `timeoutMs` (also through a pending backoff); during the
   * backoff after a flood, rejects at once with ERR_MODBUS_FLOOD.
   */
  connect (timeoutMs: number): Promise<number> {
    if (this.state === 'closed') return Promise.reject(closedError())
    if (this.state === 'connected') return Promise.resolve(this.connId)
    const refused = this.refusal
    if (refused !== null) return Promise.reject(refused)
    return new Promise<number>((resolve, reject) => {
      const waiter: ConnectWaiter = {
        resolve: (id) => { clearTimeout(timer); resolve(id) },
        reject: (err) => { clearTimeout(timer); reject(err) }
      }
      const timer = setTimeout(() => {
        this.connectWaiters = this.connectWaiters.filter((w) => w !== waiter)
        reject(new ModbusError('ERR_MODBUS_NOT_CONNECTED', `no connection to ${this.host}:${this.port} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.connectWaiters.push(waiter)
      this.ensureConnecting()
    })
  }

  /** Starts a connect attempt unless one is under way, pending (backoff), up, or the connection is closed. */
  ensureConnecting (): void {
    if (this.state !== 'idle') return
    const wait = this.nextAttemptAt - Date.now()
    if (wait > 0) this.scheduleAttempt(wait)
    else this.startConnect()
  }

  /**
   * Sends a frame. Frames written in the same tick leave in one `writev` (the socket is corked
   * until the next tick): a snapshot's requests cost a few syscalls, not one each.
   */
  write (frame: Buffer): void {
    const sock = this.socket
    if (sock === null) return
    if (this.corkedSocket !== sock) {
      this.corkedSocket = sock
      sock.cork()
      process.nextTick(this.uncork, sock)
    }
    this.flood.sentOne(Date.now())
    sock.write(frame)
  }

  private readonly uncork = (sock: net.Socket): void => {
    if (this.corkedSocket === sock) this.corkedSocket = null
    sock.uncork()
  }

  /**
   * Counts a request timeout. After `halfOpenAfterTimeouts` of them with no frame in between,
   * the socket is taken for half-open and replaced; returns whether that happened.
   */
  timedOut (): boolean {
    this.consecutiveTimeouts++
    if (this.consecutiveTimeouts < this.settings.halfOpenAfterTimeouts || this.state !== 'connected') return false
    this.settings.logger.warn({ timeouts: this.consecutiveTimeouts, connectionId: this.connId, host: this.host, port: this.port },
      'modbus: connection looks half-open, reconnecting')
    const sock = this.socket
    this.socket = null
    sock?.destroy()
    this.connectionLost(new Error('half-open'))
    return true
  }

  /** Closes the socket for good; rejects `connect()` waiters with `err`. Call once. */
  close (err: ModbusError): Promise<void> {
    this.state = 'closed'
    this.clearBackoffTimer()
    this.clearConnectTimer()
    this.rejectWaiters(err)
    this.parser.reset()
    const sock = this.socket
    this.socket = null
    debug('closed')
    if (sock === null) return Promise.resolve()
    return new Promise<void>((resolve) => {
      sock.once('close', () => resolve())
      sock.destroy()
    })
  }

  private readonly onFrame = (tid: number, unit: number, fc: number, data: Buffer): void => {
    // Any frame, even a late or unsolicited one, proves the link carries data: not half-open.
    this.consecutiveTimeouts = 0
    const verdict = this.events.frame(tid, unit, fc, data)
    if (verdict === 'answer') this.gotReply = true
    // past the budget the connection is dropped and the parser reset, which ends the scan of this chunk
    else if (verdict === 'unsolicited' && this.flood.unsolicited(this.chunkAt)) this.flooded()
  }

  /** The device floods the live connection: drop it, fail every request, back off (not reset). */
  private flooded (): void {
    const sock = this.socket
    if (sock === null || this.state !== 'connected') return
    const report = this.flood.report()
    const err = new ModbusError('ERR_MODBUS_FLOOD',
      `${this.host}:${this.port} sent ${report.unsolicitedFrames} unsolicited frames and ${report.junkBytes} junk bytes ` +
      `within ${report.windowMs} ms for ${report.attemptsSent} requests`)
    this.settings.logger.warn({ ...report, connectionId: this.connId, host: this.host, port: this.port },
      'modbus: the device floods the connection; dropping it')
    this.socket = null
    sock.destroy()
    this.parser.reset()
    this.stats.floods = (this.stats.floods ?? 0) + 1
    this.consecutiveTimeouts = 0
    this.floodError = err
    this.scheduleAttempt(this.nextBackoffDelay())
    this.events.flooded(err)
  }

  private scheduleAttempt (delayMs: number): void {
    this.state = 'backoff'
    this.clearBackoffTimer()
    this.backoffTimer = setTimeout(this.onBackoffTimer, delayMs)
    this.backoffTimer.unref()
    debug('reconnect in %d ms', delayMs)
  }

  private readonly onBackoffTimer = (): void => {
    this.backoffTimer = null
    if (this.state === 'backoff') this.startConnect()
  }

  /** Jittered exponential backoff in [backoffMinMs, backoffMaxMs]. */
  private nextBackoffDelay (): number {
    const { backoffMinMs, backoffMaxMs } = this.settings
    const base = Math.min(backoffMaxMs, backoffMinMs * 2 ** Math.min(this.failures, 20))
    this.failures++
    const jittered = Math.round(base * (0.75 + Math.random() * 0.5))
    return Math.max(backoffMinMs, Math.min(backoffMaxMs, jittered))
  }

  private startConnect (): void {
    this.state = 'connecting'
    this.floodError = null
    const sock = new net.Socket()
    this.socket = sock
    let lastErr: Error | null = null
    sock.on('error', (err: Error) => {
      lastErr = err
      debug('socket error: %s', errText(err))
    })
    sock.on('close', () => {
      if (this.socket !== sock) return
      this.socket = null
      this.onSocketClosed(lastErr)
    })
    sock.on('data', (chunk: Buffer) => {
      if (this.socket !== sock) return
      this.chunkAt = Date.now()
      const dropped = this.parser.droppedBytes
      this.parser.push(chunk)
      if (this.socket !== sock) return // dropped for a flood while parsing
      if (this.flood.junkBytes(this.parser.droppedBytes - dropped, this.chunkAt)) {
        this.flooded()
        return
      }
      this.events.received()
    })
    sock.once('connect', () => {
      if (this.socket === sock) this.onConnected(sock)
    })
    this.connectTimer = setTimeout(this.onConnectTimeout, this.settings.connectTimeoutMs)
    debug('connecting to %s:%d', this.host, this.port)
    try {
      sock.connect({ host: this.host, port: this.port })
    } catch (err) {
      this.socket = null
      this.clearConnectTimer()
      sock.destroy()
      this.connectFailed(err instanceof Error ? err : new Error(String(err)))
    }
  }

  private onConnected (sock: net.Socket): void {
    this.clearConnectTimer()
    sock.setNoDelay(true)
    sock.setKeepAlive(true, KEEPALIVE_INITIAL_DELAY_MS)
    this.connId++
    if (this.connId > 1) this.stats.reconnects++
    this.state = 'connected'
    this.connectedAt = Date.now()
    this.gotReply = false
    this.consecutiveTimeouts = 0
    this.parser.reset()
    this.flood.reset(Date.now())
    debug('connected #%d to %s:%d', this.connId, this.host, this.port)
    const waiters = this.connectWaiters
    this.connectWaiters = []
    for (const w of waiters) w.resolve(this.connId)
    this.events.connected()
  }

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = null
    if (this.state !== 'connecting') return
    const sock = this.socket
    this.socket = null
    sock?.destroy()
    this.connectFailed(new Error(`connect timeout after ${this.settings.connectTimeoutMs} ms`))
  }

  private onSocketClosed (err: Error | null): void {
    if (this.state === 'connecting') {
      this.clearConnectTimer()
      this.connectFailed(err)
    } else if (this.state === 'connected') {
      this.connectionLost(err)
    }
  }

  private connectFailed (err: Error | null): void {
    this.state = 'idle'
    const delay = this.nextBackoffDelay()
    this.nextAttemptAt = Date.now() + delay
    const e = new ModbusError('ERR_MODBUS_NOT_CONNECTED', `connect to ${this.host}:${this.port} failed: ${errText(err)}`)
    this.settings.logger.debug({ host: this.host, port: this.port, err: errText(err), retryInMs: delay }, 'modbus: connect failed')
    this.rejectWaiters(e)
    this.events.connectFailed(e)
  }

  /** The established connection is gone (already detached from `this.socket`). */
  private connectionLost (err: Error | null): void {
    this.parser.reset()
    if (this.gotReply || Date.now() - this.connectedAt >= this.settings.backoffMaxMs) this.failures = 0
    this.consecutiveTimeouts = 0
    this.events.lost(errText(err))
    this.scheduleAttempt(this.nextBackoffDelay())
  }

  private rejectWaiters (err: Error): void {
    const waiters = this.connectWaiters
    this.connectWaiters = []
    for (const w of waiters) w.reject(err)
  }

  private clearBackoffTimer (): void {
    if (this.backoffTimer !== null) {
      clearTimeout(this.backoffTimer)
      this.backoffTimer = null
    }
  }

  private clearConnectTimer (): void {
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer)
      this.connectTimer = null
    }
  }
}
