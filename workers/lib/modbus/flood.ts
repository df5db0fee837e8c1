/**
 * Flood detection of one connection: what a device sends beyond what it was asked for.
 *
 * Every attempt sent can earn at most one reply. Replies that answer a request, and late
 * replies to attempts that timed out (each remembered transaction id at most once, ./pipeline.ts),
 * are bounded by the requests sent. Everything else — frames that match no request and no
 * remembered timeout (unsolicited), and bytes the framing drops as junk — is judged against a
 * budget per one-second window:
 *
 *   unsolicited frames + junk bytes / 260  >  minFrames + perRequest × (attempts sent in this
 *                                             window and the previous one)
 *
 * The defaults (32 + 4 per attempt) leave room for a device that answers every request with a
 * wrong transaction id, or twice (1 per attempt), and for a few stray frames; a device sending
 * thousands of unsolicited frames per second crosses it within milliseconds. The check runs per
 * frame, so the parse of a chunk stops as soon as it is crossed (the connection is dropped and
 * the rest of the chunk discarded).
 */
import { MAX_ADU_LENGTH } from './frame'

export interface FloodSettings {
  /** Length of a window (ms). */
  windowMs: number
  /** Unsolicited frames allowed per window whatever was sent. */
  minFrames: number
  /** Unsolicited frames allowed per attempt sent in the window or the one before. */
  perRequest: number
}

export const DEFAULT_FLOOD_SETTINGS: FloodSettings = { windowMs: 1000, minFrames: 32, perRequest: 4 }

/** What was seen in the window in which the budget was crossed (for the log line). */
export interface FloodReport {
  unsolicitedFrames: number
  junkBytes: number
  attemptsSent: number
  windowMs: number
}

export class FloodGuard {
  private readonly settings: FloodSettings
  private windowStart = 0
  private sent = 0
  private prevSent = 0
  private frames = 0
  private junk = 0

  constructor (settings: FloodSettings = DEFAULT_FLOOD_SETTINGS) {
    this.settings = settings
  }

  /** A new connection: nothing seen yet. */
  reset (now: number): void {
    this.windowStart = now
    this.sent = 0
    this.prevSent = 0
    this.frames = 0
    this.junk = 0
  }

  /** An attempt was sent. */
  sentOne (now: number): void {
    this.roll(now)
    this.sent++
  }

  /** A frame matched no request and no remembered timeout; true when the budget is crossed. */
  unsolicited (now: number): boolean {
    this.roll(now)
    this.frames++
    return this.over()
  }

  /** `bytes` were dropped by the framing as junk; true when the budget is crossed. */
  junkBytes (bytes: number, now: number): boolean {
    if (bytes <= 0) return false
    this.roll(now)
    this.junk += bytes
    return this.over()
  }

  report (): FloodReport {
    return {
      unsolicitedFrames: this.frames, junkBytes: this.junk, attemptsSent: this.sent + this.prevSent, windowMs: this.settings.windowMs
    }
  }

  private over (): boolean {
    const { minFrames, perRequest } = this.settings
    return this.frames + this.junk / MAX_ADU_LENGTH > minFrames + perRequest * (this.sent + this.prevSent)
  }

  private roll (now: number): void {
    const elapsed = now - this.windowStart
    if (elapsed < this.settings.windowMs) return
    // the previous window counts only when it is the one just before
    this.prevSent = elapsed < 2 * this.settings.windowMs ? this.sent : 0
    this.sent = 0
    this.frames = 0
    this.junk = 0
    this.windowStart = now
  }
}
