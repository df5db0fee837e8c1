/**
 * The write log of one mock container: every accepted Modbus write request (FC06, FC16), one
 * entry per request, in a ring of the last WRITE_LOG_LIMIT. Sequence numbers start at 1 and are
 * never reused, also across `clear()` (control API reset), so a reader that pages with
 * `since = nextSeq` never sees an entry twice nor misses one that is still kept.
 * Authentication responses (unit 1 regs 305–320) are not control writes and are not logged
 * (nor is anything of the digest); refused writes are not logged.
 */
import { WrkError } from '../../workers/core/errors'
import type { LoggedWrite, WriteRecord, WritesPage } from '../types'

/** Entries kept (oldest dropped first). */
export const WRITE_LOG_LIMIT = 10_000

export class WriteLog {
  private readonly ring: Array<LoggedWrite | undefined>
  /** Index of the oldest entry in `ring`. */
  private head = 0
  private size = 0
  private seq = 1

  constructor (readonly limit = WRITE_LOG_LIMIT) {
    this.ring = new Array<LoggedWrite | undefined>(limit)
  }

  /** The sequence number the next write gets. */
  get nextSeq (): number {
    return this.seq
  }

  get length (): number {
    return this.size
  }

  record (entry: Omit<LoggedWrite, 'seq' | 'at'>): LoggedWrite {
    const logged: LoggedWrite = { seq: this.seq++, at: Date.now(), ...entry }
    if (this.size < this.limit) {
      this.ring[(this.head + this.size) % this.limit] = logged
      this.size++
    } else {
      this.ring[this.head] = logged
      this.head = (this.head + 1) % this.limit
    }
    return logged
  }

  /**
   * Entries with `seq >= since`, oldest first, and the `nextSeq` to ask with next time. Throws
   * ERR_MOCK_BAD_VALUE unless `since` is an integer >= 0.
   */
  since (since = 0): WritesPage {
    if (!Number.isSafeInteger(since) || since < 0) throw new WrkError('ERR_MOCK_BAD_VALUE', `since must be an integer >= 0, got ${since}`)
    const firstSeq = this.seq - this.size
    const skip = Math.min(this.size, Math.max(0, since - firstSeq))
    const writes: LoggedWrite[] = []
    for (let i = skip; i < this.size; i++) writes.push(this.ring[(this.head + i) % this.limit] as LoggedWrite)
    return { writes, nextSeq: this.seq }
  }

  /** Every register set, oldest first: the entries flattened to one record per register. */
  registers (): WriteRecord[] {
    return this.since(0).writes.flatMap((w) =>
      w.values.map((value, i) => ({ unit: w.unit, register: w.register + i, value, fc: w.fc, connection: w.connection })))
  }

  /** Drops every entry; sequence numbers go on. */
  clear (): void {
    this.ring.fill(undefined)
    this.head = 0
    this.size = 0
  }
}
