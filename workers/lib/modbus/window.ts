/**
 * The in-flight window of the request pipeline and the policy that shrinks and restores it.
 *
 * Loss is not a pipelining failure: on a lossy link requests time out whatever the window, so
 * timeouts alone never shrink it. Only requests to units that answered their previous request
 * are judged: a unit that is absent times out whatever the window, and says nothing about
 * pipelining. The window goes to 1
 * - for good after a reply that matches no request (transaction-id mismatch, wrong unit or
 *   function code): the device breaks under pipelining;
 * - on trial, when most pipelined requests time out: a sample of `trialSize` requests is then
 *   sent one at a time. If they time out about as often, it was loss and the window comes back
 *   at once; if far fewer time out (at most half the pipelined rate), the device drops
 *   pipelined requests and the window stays at 1 for `restoreAfterReplies` replies (doubled
 *   each time this repeats), then pipelining is tried again.
 */

export interface WindowSettings {
  /** The configured window (requests in flight at once). */
  maxInFlight: number
  /** Replies at window 1 after which a window suspended by the trial is tried again (doubles on every repeat). */
  restoreAfterReplies: number
  /** Pipelined requests (sent while others were in flight) judged together. */
  sampleSize: number
  /** Share of timed-out pipelined requests in a full sample that starts a trial. */
  trialRatio: number
  /** Requests sent alone during a trial. */
  trialSize: number
}

export const DEFAULT_WINDOW_SETTINGS: Omit<WindowSettings, 'maxInFlight'> = {
  restoreAfterReplies: 1000,
  sampleSize: 20,
  trialRatio: 0.6,
  trialSize: 10
}

/** How a request's outcome is counted, fixed when it is sent. */
export type SampleKind = 'pipelined' | 'trial' | 'none'

export type WindowReason = 'tid_mismatch' | 'unit_fc_mismatch' | 'pipelined_timeouts'

/** A change of the window size the pipeline should log (and pump after growth). */
export type WindowChange =
  | { kind: 'suspended', reason: 'pipelined_timeouts', pipelinedTimeoutRate: number, trialTimeoutRate: number, restoreAfterReplies: number }
  | { kind: 'disabled', reason: Exclude<WindowReason, 'pipelined_timeouts'> }
  | { kind: 'trial', pipelinedTimeoutRate: number }
  | { kind: 'restored', after: 'trial' | 'replies' }
  | null

type Phase = 'normal' | 'trial' | 'suspended' | 'disabled'

export class InFlightWindow {
  private readonly settings: WindowSettings
  private phase: Phase = 'normal'
  /** Outcomes (true = timed out) of the latest pipelined requests, oldest first. */
  private sample: boolean[] = []
  private sampleTimeouts = 0
  private trialOutcomes = 0
  private trialTimeouts = 0
  private pipelinedRate = 0
  private restoreAfter: number
  private repliesToRestore = 0

  constructor (settings: WindowSettings) {
    this.settings = settings
    this.restoreAfter = settings.restoreAfterReplies
  }

  /** Requests allowed in flight now. */
  get size (): number {
    return this.phase === 'normal' ? this.settings.maxInFlight : 1
  }

  /**
   * Classifies a request about to be sent while `inFlight` others are on the wire, to a unit
   * that did (`unitAnswering`) or did not answer its previous request.
   */
  classify (inFlight: number, unitAnswering: boolean): SampleKind {
    if (!unitAnswering) return 'none'
    if (this.phase === 'normal') return inFlight > 0 ? 'pipelined' : 'none'
    if (this.phase === 'trial') return inFlight === 0 ? 'trial' : 'none'
    return 'none'
  }

  /** A reply matched a request sent as `kind`. */
  answered (kind: SampleKind): WindowChange {
    if (this.phase === 'suspended' && --this.repliesToRestore <= 0) {
      this.phase = 'normal'
      this.restoreAfter *= 2
      return { kind: 'restored', after: 'replies' }
    }
    return this.record(kind, false)
  }

  /** A request sent as `kind` timed out. */
  timedOut (kind: SampleKind): WindowChange {
    return this.record(kind, true)
  }

  /** A reply matched no request: pipelining is off for good. */
  mismatch (reason: Exclude<WindowReason, 'pipelined_timeouts'>): WindowChange {
    const quiet = this.phase === 'disabled' || this.settings.maxInFlight === 1
    this.phase = 'disabled'
    return quiet ? null : { kind: 'disabled', reason }
  }

  private record (kind: SampleKind, timedOut: boolean): WindowChange {
    if (kind === 'pipelined' && this.phase === 'normal') return this.recordPipelined(timedOut)
    if (kind === 'trial' && this.phase === 'trial') return this.recordTrial(timedOut)
    return null
  }

  private recordPipelined (timedOut: boolean): WindowChange {
    const { sampleSize, trialRatio } = this.settings
    this.sample.push(timedOut)
    if (timedOut) this.sampleTimeouts++
    if (this.sample.length > sampleSize && this.sample.shift() === true) this.sampleTimeouts--
    if (this.sample.length < sampleSize || this.sampleTimeouts < trialRatio * sampleSize) return null
    this.pipelinedRate = this.sampleTimeouts / sampleSize
    this.clearSample()
    this.phase = 'trial'
    this.trialOutcomes = 0
    this.trialTimeouts = 0
    return { kind: 'trial', pipelinedTimeoutRate: this.pipelinedRate }
  }

  private recordTrial (timedOut: boolean): WindowChange {
    this.trialOutcomes++
    if (timedOut) this.trialTimeouts++
    if (this.trialOutcomes < this.settings.trialSize) return null
    const trialRate = this.trialTimeouts / this.trialOutcomes
    if (trialRate > this.pipelinedRate / 2) {
      this.phase = 'normal'
      return { kind: 'restored', after: 'trial' }
    }
    this.phase = 'suspended'
    this.repliesToRestore = this.restoreAfter
    return {
      kind: 'suspended',
      reason: 'pipelined_timeouts',
      pipelinedTimeoutRate: this.pipelinedRate,
      trialTimeoutRate: trialRate,
      restoreAfterReplies: this.restoreAfter
    }
  }

  private clearSample (): void {
    this.sample = []
    this.sampleTimeouts = 0
  }
}
