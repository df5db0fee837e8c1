/**
 * The request pipeline of the Modbus client: pending requests in two priority queues, the
 * in-flight window (its policy is in ./window.ts), transaction ids, per-request timers and
 * retries, and the matching of reply frames to the requests they answer. It sends through a
 * `Link` (the connection) and never touches a socket. The request record is in ./pending.ts,
 * the log lines of window changes in ./window-log.ts.
 */
import createDebug from 'debug'
import { ModbusError, ModbusExceptionError, closedError, exceptionResend } from './errors'
import type { FrameVerdict } from './connection'
import { EXCEPTION_FLAG, FC_READ_HOLDING_REGISTERS, checkWriteReplyData, decodeReadHoldingRegistersData } from './frame'
import {
  DONE,
  IN_FLIGHT,
  Pending,
  QUEUED,
  WAITING,
  changedError,
  isPinned,
  malformedError,
  notPinned,
  type PipelineRequest,
  type RequestResult
} from './pending'
import type { ModbusLogger, ModbusTcpClientStats, UnitObserver } from './types'
import { InFlightWindow, type WindowChange, type WindowSettings } from './window'
import { logWindowChange } from './window-log'

export type { PipelineRequest, RequestResult } from './pending'

const debug = createDebug('mbt:modbus')

/** How many timed-out transaction ids are remembered (and not reused) to recognise late replies. */
const MAX_REMEMBERED_TIMEOUTS = 256

/** What the pipeline needs of the connection under it (implemented by ModbusConnection). */
export interface Link {
  readonly host: string
  readonly port: number
  readonly connected: boolean
  readonly closed: boolean
  /** Id of the live connection. */
  readonly id: number
  /** While not connected: the error new requests fail with at once instead of waiting (e.g. ERR_MODBUS_FLOOD), or null. */
  readonly refusal?: ModbusError | null
  ensureConnecting: () => void
  write: (frame: Buffer) => void
  /** Reports a request timeout; true when the link was replaced as half-open (nothing may be sent now). */
  timedOut: () => boolean
}

export interface PipelineSettings {
  /** The window and when it shrinks (./window.ts). */
  window: WindowSettings
  /** Transaction id of the first request sent (1..65535). */
  firstTransactionId: number
  /** Wait before a read answered 05, 06 or 0A is resent (ms; at most the request's timeout). */
  busyRetryDelayMs: number
  logger: ModbusLogger
  unitObserver?: UnitObserver | undefined
}

/**
 * - A request queued behind the window on a live connection keeps waiting (the requests ahead
 *   of it are bounded by their own timeouts); one that sees no connection within its timeout
 *   rejects with ERR_MODBUS_NOT_CONNECTED. Each attempt on the wire has the full timeout.
 * - High priority first, FIFO within a priority; a retry goes back to the front of its queue,
 *   with a new transaction id: a late reply to an earlier attempt is dropped, never taken for
 *   the retry's.
 * - A read answered with a transient exception (04, 05, 06, 0A, 0B: `exceptionResend` in
 *   ./errors.ts) is resent within the same `retries` as its timeouts: at once for 04 and 0B,
 *   after `busyRetryDelayMs` (at most its timeout) for 05, 06 and 0A; on its last attempt the
 *   exception is the result. A write answered with an exception is never resent.
 * - `stats.requests` counts frames sent (retries included), `stats.responses` replies matched
 *   to a request (exceptions included), `stats.timeouts` attempts that timed out,
 *   `stats.retries` resends, `stats.recovered` requests that succeeded after a resend.
 */
export class RequestPipeline {
  private readonly stats: ModbusTcpClientStats
  private readonly link: Link
  private readonly logger: ModbusLogger
  private readonly busyRetryDelayMs: number
  private readonly windowSettings: WindowSettings
  private window: InFlightWindow
  private readonly inflight = new Map<number, Pending>()
  /** Requests waiting out a busy delay before their resend. */
  private readonly waiting = new Set<Pending>()
  private highQ: Pending[] = []
  private normalQ: Pending[] = []
  private lastTid: number
  /** Transaction ids of requests that timed out, oldest first: their replies may still come. */
  private readonly timedOutTids = new Set<number>()
  /** Per unit id: whether its latest settled attempt was answered (window policy input). */
  private readonly unitAnswering = new Map<number, boolean>()
  private readonly observer: UnitObserver | undefined

  constructor (settings: PipelineSettings, stats: ModbusTcpClientStats, link: Link) {
    this.stats = stats
    this.link = link
    this.logger = settings.logger
    this.busyRetryDelayMs = settings.busyRetryDelayMs
    this.windowSettings = settings.window
    this.window = new InFlightWindow(settings.window)
    this.lastTid = settings.firstTransactionId - 1
    this.observer = settings.unitObserver
  }

  submit (req: PipelineRequest): Promise<RequestResult> {
    const link = this.link
    if (link.closed) return Promise.reject(closedError())
    if (!link.connected && link.refusal != null) return Promise.reject(link.refusal)
    const live = link.connected ? link.id : -1
    if (req.pin !== 0 && (!link.connected || req.pin !== live)) return Promise.reject(changedError(req.pin, live))
    const queue = req.high ? this.highQ : this.normalQ
    const promise = new Promise<RequestResult>((resolve, reject) => queue.push(new Pending(req, resolve, reject, this.onTimer)))
    if (link.connected) this.pump()
    else link.ensureConnecting()
    return promise
  }

  /** Sends queued requests while the window allows. */
  pump (): void {
    if (!this.link.connected) return
    while (this.inflight.size < this.window.size) {
      const p = this.highQ.length > 0 ? this.highQ.shift() : this.normalQ.shift()
      if (p === undefined) return
      if (p.pin !== 0 && p.pin !== this.link.id) {
        this.fail(p, changedError(p.pin, this.link.id))
        continue
      }
      const tid = this.nextTid()
      p.tid = tid
      p.frame.writeUInt16BE(tid, 0)
      p.state = IN_FLIGHT
      p.sample = this.window.classify(this.inflight.size, this.unitAnswering.get(p.unit) === true)
      p.timer.refresh()
      this.inflight.set(tid, p)
      this.stats.requests++
      this.observer?.sent(p.unit, p)
      this.link.write(p.frame)
    }
  }

  /** A new connection is up: replies of the old one can no longer arrive. */
  connectionUp (): void {
    this.timedOutTids.clear()
    this.pump()
  }

  /** Settles the request a frame answers; returns whether there was one. */
  match (tid: number, unit: number, fc: number, data: Buffer): boolean {
    return this.matchFrame(tid, unit, fc, data) === 'answer'
  }

  /**
   * Settles the request a frame answers (`answer`); a reply to a remembered timed-out attempt
   * is `late` (each at most once), anything else `unsolicited` (the connection's flood budget).
   */
  matchFrame (tid: number, unit: number, fc: number, data: Buffer): FrameVerdict {
    const p = this.inflight.get(tid)
    if (p === undefined) {
      if (this.timedOutTids.delete(tid)) {
        // The reply of a request that already timed out: counted and dropped, no penalty.
        this.stats.lateReplies++
        debug('dropped late reply tid=%d unit=%d fc=%d', tid, unit, fc)
        return 'late'
      }
      this.unmatchedReply('tid_mismatch', tid, unit, fc)
      return 'unsolicited'
    }
    if (unit !== p.unit || (fc & ~EXCEPTION_FLAG) !== p.fc) {
      this.unmatchedReply('unit_fc_mismatch', tid, unit, fc)
      return 'unsolicited'
    }
    this.inflight.delete(tid)
    this.stats.responses++
    this.observer?.answered(p.unit, p, (fc & EXCEPTION_FLAG) !== 0 && data.length === 1 ? data[0] : null)
    this.unitAnswering.set(p.unit, true)
    this.windowChanged(this.window.answered(p.sample))
    if ((fc & EXCEPTION_FLAG) !== 0) {
      if (data.length !== 1) {
        this.fail(p, malformedError(p, 'exception reply length'))
      } else {
        this.stats.exceptions++
        const resend = p.fc === FC_READ_HOLDING_REGISTERS && p.retriesLeft > 0 ? exceptionResend(data[0]) : null
        if (resend === null) this.fail(p, new ModbusExceptionError(p.fc, data[0]))
        else this.resendAfterException(p, data[0], resend === 'later' ? Math.min(this.busyRetryDelayMs, p.timeoutMs) : 0)
      }
    } else if (p.fc === FC_READ_HOLDING_REGISTERS) {
      const regs = decodeReadHoldingRegistersData(data, p.arg)
      if (regs === null) this.fail(p, malformedError(p, `byte count (expected ${2 * p.arg})`))
      else this.succeed(p, regs)
    } else if (checkWriteReplyData(data, p.address, p.arg)) {
      this.succeed(p, undefined)
    } else {
      this.fail(p, malformedError(p, 'write echo'))
    }
    return 'answer'
  }

  /** Rejects every queued request (a connect attempt failed). */
  failQueued (err: Error): void {
    const high = this.highQ
    const normal = this.normalQ
    this.highQ = []
    this.normalQ = []
    for (const p of high) this.fail(p, err)
    for (const p of normal) this.fail(p, err)
  }

  /** Rejects every request, in flight, waiting or queued (the client closes). */
  failAll (err: Error): void {
    for (const p of this.inflight.values()) this.fail(p, err)
    this.inflight.clear()
    for (const p of this.waiting) this.fail(p, err)
    this.waiting.clear()
    this.failQueued(err)
  }

  /**
   * The device flooded the connection, which is gone: every request fails with `err`, none is
   * resent. The flood's frames matched nothing, which says nothing about pipelining: the window
   * starts over from the configured size.
   */
  flooded (err: ModbusError): void {
    this.failAll(err)
    this.window = new InFlightWindow(this.windowSettings)
    this.stats.maxInFlight = this.window.size
  }

  /** The connection dropped: reads with retries left go back to the front, the rest fail. */
  connectionLost (reason: string): void {
    const { host, port, id } = this.link
    this.logger.warn({ host, port, connectionId: id, err: reason, inFlight: this.inflight.size }, 'modbus: connection lost')
    const retry: Pending[] = []
    let closedErr: ModbusError | null = null
    for (const p of this.inflight.values()) {
      if (p.retriesLeft > 0 && p.pin === 0) {
        this.spendRetry(p)
        retry.push(p)
      } else {
        closedErr ??= new ModbusError('ERR_MODBUS_CONNECTION_CLOSED',
          `connection #${id} to ${host}:${port} closed with the request in flight`)
        this.fail(p, closedErr)
      }
    }
    this.inflight.clear()
    for (let i = retry.length - 1; i >= 0; i--) {
      this.requeueFront(retry[i])
      retry[i].timer.refresh()
    }
    // Requests pinned to the dead connection can never be sent.
    for (const p of this.waiting) {
      if (!isPinned(p)) continue
      this.waiting.delete(p)
      this.fail(p, changedError(id, -1))
    }
    if (this.highQ.some(isPinned) || this.normalQ.some(isPinned)) {
      const changed = changedError(id, -1)
      const pinned = this.highQ.filter(isPinned).concat(this.normalQ.filter(isPinned))
      this.highQ = this.highQ.filter(notPinned)
      this.normalQ = this.normalQ.filter(notPinned)
      for (const p of pinned) this.fail(p, changed)
    }
  }

  private nextTid (): number {
    let t = this.lastTid
    do {
      t = t >= 0xffff ? 1 : t + 1
    } while (this.inflight.has(t) || this.timedOutTids.has(t))
    this.lastTid = t
    return t
  }

  private unmatchedReply (reason: 'tid_mismatch' | 'unit_fc_mismatch', tid: number, unit: number, fc: number): void {
    this.stats.lateReplies++
    debug('dropped unmatched reply tid=%d unit=%d fc=%d (%s)', tid, unit, fc, reason)
    this.windowChanged(this.window.mismatch(reason))
  }

  /** Publishes a window change: stats, one log line, and more sends when it grew. */
  private windowChanged (change: WindowChange): void {
    if (change === null) return
    this.stats.maxInFlight = this.window.size
    const { host, port } = this.link
    logWindowChange(this.logger, change, { host, port, maxInFlight: this.window.size })
    if (change.kind === 'restored') this.pump()
  }

  private readonly onTimer = (p: Pending): void => {
    if (p.state === WAITING) {
      // the wait is at most the timeout; the next attempt gets a full one
      p.timer.refresh()
      return
    }
    if (p.state === QUEUED) {
      // Waiting behind the window on a live link: the requests ahead are bounded by their own timeouts.
      if (this.link.connected) {
        p.timer.refresh()
        return
      }
      this.removeQueued(p)
      this.fail(p, new ModbusError('ERR_MODBUS_NOT_CONNECTED',
        `no connection to ${this.link.host}:${this.link.port} within the request timeout`))
      return
    }
    if (p.state !== IN_FLIGHT) return
    this.inflight.delete(p.tid)
    this.timedOutTids.add(p.tid)
    if (this.timedOutTids.size > MAX_REMEMBERED_TIMEOUTS) this.timedOutTids.delete(this.timedOutTids.values().next().value as number)
    this.stats.timeouts++
    this.observer?.timedOut(p.unit, p)
    debug('timeout tid=%d unit=%d fc=%d', p.tid, p.unit, p.fc)
    this.unitAnswering.set(p.unit, false)
    const change = this.window.timedOut(p.sample)
    if (p.retriesLeft > 0 && p.timeoutRetriesLeft > 0) {
      p.timeoutRetriesLeft--
      this.spendRetry(p)
      this.requeueFront(p)
      p.timer.refresh()
    } else {
      this.fail(p, new ModbusError('ERR_MODBUS_TIMEOUT', `modbus request timed out (unit ${p.unit}, fc ${p.fc}, address ${p.address})`))
    }
    const replaced = this.link.timedOut()
    this.windowChanged(change)
    if (!replaced) this.pump()
  }

  private spendRetry (p: Pending): void {
    p.retriesLeft--
    p.resent = true
    this.stats.retries++
    this.observer?.resent(p.unit)
  }

  /** A read answered with a transient exception: resent at once, or after `delayMs`. */
  private resendAfterException (p: Pending, exceptionCode: number, delayMs: number): void {
    this.spendRetry(p)
    debug('exception %d tid=%d unit=%d fc=%d: resend in %d ms (%d retries left)',
      exceptionCode, p.tid, p.unit, p.fc, delayMs, p.retriesLeft)
    if (delayMs <= 0) {
      this.requeueFront(p)
      this.pump()
      return
    }
    p.state = WAITING
    this.waiting.add(p)
    p.wait = setTimeout(() => {
      p.wait = undefined
      if (!this.waiting.delete(p)) return
      const link = this.link
      if (p.pin !== 0 && (!link.connected || p.pin !== link.id)) {
        this.fail(p, changedError(p.pin, link.connected ? link.id : -1))
        return
      }
      this.requeueFront(p)
      p.timer.refresh()
      if (link.connected) this.pump()
      else link.ensureConnecting()
    }, delayMs)
  }

  private requeueFront (p: Pending): void {
    p.state = QUEUED
    // The old buffer may still sit in the socket's write queue: never patch it in place.
    p.frame = Buffer.from(p.frame)
    if (p.high) this.highQ.unshift(p)
    else this.normalQ.unshift(p)
  }

  private removeQueued (p: Pending): void {
    const q = p.high ? this.highQ : this.normalQ
    const i = q.indexOf(p)
    if (i >= 0) q.splice(i, 1)
  }

  private succeed (p: Pending, value: RequestResult): void {
    clearTimeout(p.timer)
    p.state = DONE
    if (p.resent) this.stats.recovered++
    p.resolve(value)
  }

  private fail (p: Pending, err: Error): void {
    clearTimeout(p.timer)
    if (p.wait !== undefined) {
      clearTimeout(p.wait)
      p.wait = undefined
    }
    p.state = DONE
    p.reject(err)
  }
}
