/**
 * One request of the pipeline (./pipeline.ts) from submit to settle: what the client submits,
 * the record the pipeline keeps for it across its attempts, its states, and the errors that
 * name it.
 */
import { ModbusError } from './errors'
import type { SampleKind } from './window'

/** One request, as validated and encoded by the client. */
export interface PipelineRequest {
  fc: number
  unit: number
  address: number
  /** FC03/FC16: register count; FC06: the (uint16) value, echoed by the reply. */
  arg: number
  /** Encoded ADU; bytes 0..1 (transaction id) are patched on every send. */
  frame: Buffer
  high: boolean
  /** Pinned connection id, 0 = any. */
  pin: number
  /**
   * Resends after a timeout, (unpinned only) after a lost connection, and (FC03 only) after a
   * transient exception reply (`exceptionResend` in ./errors.ts).
   */
  retries: number
  /** Of `retries`, at most this many after a timeout (default: all). */
  timeoutRetries?: number
  timeoutMs: number
}

/** Resolves FC03 requests with their registers, writes with `undefined`. */
export type RequestResult = number[] | undefined

export const QUEUED = 0
export const IN_FLIGHT = 1
export const DONE = 2
/** Answered 05/06/0A: waiting for its resend (neither queued nor on the wire). */
export const WAITING = 3
type PendingState = typeof QUEUED | typeof IN_FLIGHT | typeof DONE | typeof WAITING

type TimerHandler = (p: Pending) => void

/** One request, from submit to settle. Reused across retries (new transaction id each send). */
export class Pending {
  tid = 0
  state: PendingState = QUEUED
  /** How the window policy counts this attempt (fixed when sent). */
  sample: SampleKind = 'none'
  readonly timer: NodeJS.Timeout
  readonly fc: number
  readonly unit: number
  readonly address: number
  readonly arg: number
  readonly high: boolean
  readonly pin: number
  frame: Buffer
  retriesLeft: number
  /** Of `retriesLeft`, how many may follow a timeout. */
  timeoutRetriesLeft: number
  readonly timeoutMs: number
  /** Resent at least once (a success then counts in `stats.recovered`). */
  resent = false
  /** The wait of a WAITING request. */
  wait: NodeJS.Timeout | undefined = undefined
  readonly resolve: (value: RequestResult) => void
  readonly reject: (err: Error) => void

  constructor (req: PipelineRequest, resolve: (value: RequestResult) => void, reject: (err: Error) => void, onTimer: TimerHandler) {
    this.fc = req.fc
    this.unit = req.unit
    this.address = req.address
    this.arg = req.arg
    this.frame = req.frame
    this.high = req.high
    this.pin = req.pin
    this.retriesLeft = req.retries
    this.timeoutRetriesLeft = req.timeoutRetries ?? req.retries
    this.timeoutMs = req.timeoutMs
    this.resolve = resolve
    this.reject = reject
    this.timer = setTimeout(onTimer, req.timeoutMs, this)
  }
}

export function isPinned (p: Pending): boolean {
  return p.pin !== 0
}

export function notPinned (p: Pending): boolean {
  return p.pin === 0
}

export function changedError (pinned: number, live: number): ModbusError {
  return new ModbusError('ERR_MODBUS_CONNECTION_CHANGED',
    live > 0
      ? `request pinned to connection #${pinned}, live connection is #${live}`
      : `request pinned to connection #${pinned}, which is gone`)
}

export function malformedError (p: Pending, what: string): ModbusError {
  return new ModbusError('ERR_MODBUS_MALFORMED_REPLY', `malformed reply to fc ${p.fc} (unit ${p.unit}, address ${p.address}): ${what}`)
}
