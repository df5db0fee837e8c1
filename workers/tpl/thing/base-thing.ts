import { errorCode } from '../errors'
import { silentLogger, type Logger } from '../types'

/** One entry of a failed snapshot: the error CODE (never a message with secrets) and when. */
export interface ThingErrorEntry {
  msg: string
  timestamp: number
}

/** The device failed but answered recently. */
export interface ThingErrorSnap {
  success: false
  stats: { status: 'error', errors: ThingErrorEntry[] }
}

/** The device has not answered within `offlineAfterMs` (or never). */
export interface ThingOfflineSnap {
  success: false
  stats: { status: 'offline' }
}

export type ThingFailureSnap = ThingErrorSnap | ThingOfflineSnap

/** What `getSnap()` resolves to: the thing's own snapshot or a failure envelope. */
export type ThingSnap<TSnap> = TSnap | ThingFailureSnap

export interface BaseThingOptions {
  /** A failing device seen within this many ms gets an error envelope, otherwise 'offline'. Default 120000. */
  offlineAfterMs?: number
  logger?: Logger
  /** Clock (ms), injectable for tests. */
  now?: () => number
}

export const DEFAULT_OFFLINE_AFTER_MS = 120_000

/** Codes that always mean "offline", whenever the device was last seen. */
const OFFLINE_CODES: ReadonlySet<string> = new Set(['ERR_OFFLINE', 'ERR_THING_NOT_CONNECTED', 'ERR_THING_CLOSED'])

/**
 * Vendor-neutral device controller: owns the "last seen" clock and turns any failure of
 * `collectSnap()` into an error or offline envelope, so that `getSnap()` never throws.
 * Concurrent `getSnap()` calls share one collection.
 */
export abstract class BaseThing<TSnap extends { success: true }> {
  readonly offlineAfterMs: number
  protected readonly logger: Logger
  protected readonly now: () => number
  private seenAt: number | null = null
  private last: ThingSnap<TSnap> | null = null
  private lastError: string | null = null
  private collecting: Promise<ThingSnap<TSnap>> | null = null

  constructor (opts: BaseThingOptions = {}) {
    this.offlineAfterMs = opts.offlineAfterMs ?? DEFAULT_OFFLINE_AFTER_MS
    this.logger = opts.logger ?? silentLogger
    this.now = opts.now ?? Date.now
  }

  /** When the device last answered (ms), or null if never. */
  get lastSeen (): number | null {
    return this.seenAt
  }

  /** The result of the latest `getSnap()`, or null before the first one. */
  get lastSnap (): ThingSnap<TSnap> | null {
    return this.last
  }

  /** The error code of the latest failed `getSnap()` (null after a success or before the first). */
  get lastErrorCode (): string | null {
    return this.lastError
  }

  /** Subclasses call this whenever the device answers. */
  protected markSeen (): void {
    this.seenAt = this.now()
  }

  isOnline (): boolean {
    return this.seenAt !== null && this.now() - this.seenAt < this.offlineAfterMs
  }

  /** Reads the device. Extra arguments (e.g. a trailing `{actionId, user}`) are ignored. Never throws. */
  getSnap (..._ignored: unknown[]): Promise<ThingSnap<TSnap>> {
    if (this.collecting === null) {
      this.collecting = this.collectSafely().finally(() => { this.collecting = null })
    }
    return this.collecting
  }

  private async collectSafely (): Promise<ThingSnap<TSnap>> {
    let snap: ThingSnap<TSnap>
    try {
      snap = await this.collectSnap()
      this.lastError = null
    } catch (err) {
      const code = errorCode(err)
      this.lastError = code
      this.logger.debug({ code }, 'snapshot failed')
      snap = this.isOnline() && !OFFLINE_CODES.has(code)
        ? { success: false, stats: { status: 'error', errors: [{ msg: code, timestamp: this.now() }] } }
        : { success: false, stats: { status: 'offline' } }
    }
    this.last = snap
    return snap
  }

  /** Reads the device and builds a successful snapshot; throws on failure. */
  protected abstract collectSnap (): Promise<TSnap>

  /** Releases connections. Safe to call more than once. */
  async close (): Promise<void> {}
}
