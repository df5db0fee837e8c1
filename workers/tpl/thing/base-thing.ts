import { errorCode } from '../../core/errors'
import { silentLogger, type Logger } from '../../core/types'

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

/** The snapshot of a thing that is offline (shared: never changed). */
export const OFFLINE_SNAP: ThingOfflineSnap = { success: false, stats: { status: 'offline' } }

/** The snapshot of a read that failed with `code` at `timestamp`. */
export function errorSnap (code: string, timestamp: number): ThingErrorSnap {
  return { success: false, stats: { status: 'error', errors: [{ msg: code, timestamp }] } }
}

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

/** A snapshot collection under way, and how many control writes had settled when it started. */
interface Collection<TSnap> {
  readonly promise: Promise<ThingSnap<TSnap>>
  readonly writesSettled: number
}

/**
 * Vendor-neutral device controller: owns the "last seen" clock and turns any failure of
 * `collectSnap()` into an error or offline envelope, so that `getSnap()` never throws.
 * Concurrent `getSnap()` calls share one collection, except that a `getSnap()` after a control
 * write settled (see `controlWrite`) never joins a collection that started before it: it starts
 * its own, so it reads what was written.
 */
export abstract class BaseThing<TSnap extends { success: true }> {
  readonly offlineAfterMs: number
  protected readonly logger: Logger
  protected readonly now: () => number
  private seenAt: number | null = null
  private last: ThingSnap<TSnap> | null = null
  private lastError: string | null = null
  private collecting: Collection<TSnap> | null = null
  /** Control writes settled so far (acknowledged or failed: a failed one may have landed in part). */
  private writesSettled = 0
  /** Collections started so far; `last` is the result of the latest-started one that finished. */
  private collectionsStarted = 0
  private lastFrom = 0

  constructor (opts: BaseThingOptions = {}) {
    this.offlineAfterMs = opts.offlineAfterMs ?? DEFAULT_OFFLINE_AFTER_MS
    this.logger = opts.logger ?? silentLogger
    this.now = opts.now ?? Date.now
  }

  /** When the device last answered (ms), or null if never. */
  get lastSeen (): number | null {
    return this.seenAt
  }

  /**
   * The result of the most recently started collection that has finished (a slower, older one never replaces it),
   * or null before the first.
   */
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
    const current = this.collecting
    if (current !== null && current.writesSettled === this.writesSettled) return current.promise
    const seq = ++this.collectionsStarted
    const collection: Collection<TSnap> = {
      writesSettled: this.writesSettled,
      promise: this.collectSafely(seq).finally(() => {
        if (this.collecting === collection) this.collecting = null
      })
    }
    this.collecting = collection
    return collection.promise
  }

  /**
   * Runs a control write. Once it settles, later `getSnap()` calls no longer join a collection
   * that started before: subclasses route every device write through this.
   */
  protected async controlWrite<T> (write: () => Promise<T>): Promise<T> {
    try {
      return await write()
    } finally {
      this.writesSettled++
    }
  }

  private async collectSafely (seq: number): Promise<ThingSnap<TSnap>> {
    let snap: ThingSnap<TSnap>
    let code: string | null = null
    try {
      snap = await this.collectSnap()
    } catch (err) {
      code = errorCode(err)
      this.logger.debug({ code }, 'snapshot failed')
      snap = this.isOnline() && !OFFLINE_CODES.has(code)
        ? errorSnap(code, this.now())
        : OFFLINE_SNAP
    }
    // An older collection that finishes late does not replace a newer result.
    if (seq > this.lastFrom) {
      this.lastFrom = seq
      this.last = snap
      this.lastError = code
    }
    return snap
  }

  /** Reads the device and builds a successful snapshot; throws on failure. */
  protected abstract collectSnap (): Promise<TSnap>

  /** Releases connections. Safe to call more than once. */
  async close (): Promise<void> {}
}
