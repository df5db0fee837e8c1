/**
 * What one read request may cost, whoever calls it (a read-only key included): the entries it
 * examines and the time it runs. A scan calls `tick()` per entry; the budget hands the event
 * loop back every few milliseconds (so `ping` and device I/O go on during a long read) and
 * stops the read with ERR_READ_BUDGET_EXCEEDED once either bound is passed. Memory is bounded
 * by the scans themselves: they keep only the page they answer (see capReply).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { WrkError } from './errors'

/** Entries one read may examine (log entries, or things a query is tested against). */
export const MAX_SCAN_ENTRIES = 50_000
/** Time one read may run, queueing excluded (the orchestrator drops a rack after 10 s). */
export const READ_BUDGET_MS = 5000
/** Longest stretch a read runs before it lets the event loop serve others. */
export const READ_SLICE_MS = 10

export interface ReadBudgetLimits {
  maxEntries?: number
  maxMs?: number
  sliceMs?: number
}

export class ReadBudget {
  private readonly started = performance.now()
  private sliceStart = this.started
  private scanned = 0
  private readonly maxEntries: number
  private readonly maxMs: number
  private readonly sliceMs: number

  constructor (limits: ReadBudgetLimits = {}) {
    this.maxEntries = limits.maxEntries ?? MAX_SCAN_ENTRIES
    this.maxMs = limits.maxMs ?? READ_BUDGET_MS
    this.sliceMs = limits.sliceMs ?? READ_SLICE_MS
  }

  /** Entries examined so far. */
  get entries (): number {
    return this.scanned
  }

  /** Counts `n` entries examined; yields when the slice is used up; throws past a bound. */
  async tick (n = 1): Promise<void> {
    this.scanned += n
    if (this.scanned > this.maxEntries) {
      throw new WrkError(
        'ERR_READ_BUDGET_EXCEEDED',
        `the read would examine more than ${this.maxEntries} entries: narrow start/end or the query`
      )
    }
    const now = performance.now()
    if (now - this.started > this.maxMs) {
      throw new WrkError('ERR_READ_BUDGET_EXCEEDED', `the read ran longer than ${this.maxMs} ms: narrow start/end or the query`)
    }
    if (now - this.sliceStart >= this.sliceMs) {
      await yieldToLoop()
      this.sliceStart = performance.now()
    }
  }
}
