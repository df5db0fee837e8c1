/**
 * Fault injection of one mock container's Modbus link: replies delayed by `delayMs` (one timer
 * per server, replies in due order), an exception code answered to every request of a unit,
 * units that never answer, and a flood of unsolicited frames on every connection.
 */
import { performance } from 'node:perf_hooks'
import { WrkError } from '../../workers/core/errors'
import { encodeReadHoldingRegistersResponse } from '../../workers/lib/modbus/frame'
import { CDU_UNIT } from '../registers'
import type { FaultPatch, FaultState } from '../types'
import type { Connection } from './connection'

const MAX_DELAY_MS = 600_000
/** Upper bound of the `flood` fault (frames per second per connection). */
export const MAX_FLOOD_FPS = 1_000_000
/** The flood is sent in bursts this far apart (ms). */
const FLOOD_TICK_MS = 10
/** A connection whose unsent output exceeds this gets no flood until it drains (a client that stopped reading). */
const FLOOD_MAX_BUFFERED = 1024 * 1024

/** A request held back by `delayMs`: handled and answered at `due` (ms, monotonic clock). */
interface DelayedReply {
  due: number
  conn: Connection
  make: () => Buffer
}

function checkUnit (unit: number, what: string): void {
  if (!Number.isInteger(unit) || unit < 0 || unit > 255) throw new WrkError('ERR_MOCK_BAD_FAULT', `${what}: unit ${unit} outside 0…255`)
}

/** Throws ERR_MOCK_BAD_FAULT unless every field of the patch is valid. */
export function validateFaultPatch (fault: FaultPatch): void {
  if (fault.delayMs !== undefined && (!Number.isInteger(fault.delayMs) || fault.delayMs < 0 || fault.delayMs > MAX_DELAY_MS)) {
    throw new WrkError('ERR_MOCK_BAD_FAULT', `delayMs must be an integer 0…${MAX_DELAY_MS}`)
  }
  if (fault.exception != null) {
    checkUnit(fault.exception.unit, 'exception')
    const code = fault.exception.code
    if (!Number.isInteger(code) || code < 0 || code > 255) throw new WrkError('ERR_MOCK_BAD_FAULT', `exception code ${code} outside 0…255`)
  }
  if (fault.dropUnit !== undefined) checkUnit(fault.dropUnit, 'dropUnit')
  for (const u of fault.silentUnits ?? []) checkUnit(u, 'silentUnits')
  if (fault.flood !== undefined && (!Number.isInteger(fault.flood) || fault.flood < 0 || fault.flood > MAX_FLOOD_FPS)) {
    throw new WrkError('ERR_MOCK_BAD_FAULT', `flood must be an integer 0…${MAX_FLOOD_FPS} (frames per second)`)
  }
}

/** What the injector needs of its server. */
export interface FaultHost {
  /** The open connections. */
  connections: () => Iterable<Connection>
  /** `n` unsolicited frames were sent on one connection. */
  unsolicited: (n: number) => void
}

export class FaultInjector {
  private delayMs = 0
  private readonly exceptions = new Map<number, number>()
  private readonly silentUnits = new Set<number>()
  /** Replies held back by `delayMs`, by due time; one timer for all of them. */
  private delayed: DelayedReply[] = []
  private delayTimer: NodeJS.Timeout | undefined
  private floodFps = 0
  private floodTimer: NodeJS.Timeout | undefined
  /** Fraction of a frame carried to the next flood tick. */
  private floodCarry = 0
  /** xorshift32 state of the flood's transaction ids. */
  private floodRng = 0x9e3779b9

  constructor (private readonly host: FaultHost) {}

  get state (): FaultState {
    return {
      delayMs: this.delayMs,
      exceptions: [...this.exceptions].map(([unit, code]) => ({ unit, code })),
      silentUnits: [...this.silentUnits].sort((a, b) => a - b),
      flood: this.floodFps
    }
  }

  /** Applies the link faults of a patch (`error` is the state's); throws ERR_MOCK_BAD_FAULT, nothing changed. */
  set (fault: FaultPatch): void {
    validateFaultPatch(fault)
    if (fault.delayMs !== undefined) this.delayMs = fault.delayMs
    if (fault.exception === null) this.exceptions.clear()
    else if (fault.exception !== undefined) {
      if (fault.exception.code === 0) this.exceptions.delete(fault.exception.unit)
      else this.exceptions.set(fault.exception.unit, fault.exception.code)
    }
    if (fault.silentUnits !== undefined) {
      this.silentUnits.clear()
      for (const u of fault.silentUnits) this.silentUnits.add(u)
    }
    if (fault.dropUnit !== undefined) this.silentUnits.add(fault.dropUnit)
    if (fault.flood !== undefined) this.setFlood(fault.flood)
  }

  clear (): void {
    this.delayMs = 0
    this.exceptions.clear()
    this.silentUnits.clear()
    this.setFlood(0)
  }

  /** The server starts: a flood set while stopped resumes. */
  resume (): void {
    if (this.floodFps > 0) this.setFlood(this.floodFps)
  }

  /** The server stops: no flood timer (the flood setting is kept). */
  pause (): void {
    if (this.floodTimer !== undefined) clearInterval(this.floodTimer)
    this.floodTimer = undefined
  }

  /** The listener closes: replies held back are dropped. */
  dropDelayed (): void {
    if (this.delayTimer !== undefined) clearTimeout(this.delayTimer)
    this.delayTimer = undefined
    this.delayed = []
  }

  isSilent (unit: number): boolean {
    return this.silentUnits.has(unit)
  }

  /** The exception code injected for `unit`, if any. */
  exceptionFor (unit: number): number | undefined {
    return this.exceptions.get(unit)
  }

  /** True when replies are delayed: hand them to `hold`. */
  get delaying (): boolean {
    return this.delayMs > 0
  }

  /** A new connection is flooded from its first byte on, not from the next tick. */
  onConnection (conn: Connection): void {
    if (this.floodFps > 0) this.floodBurst(Math.max(1, Math.floor(this.floodFps * FLOOD_TICK_MS / 1000)), [conn])
  }

  /** Queues `make()`'s reply to be computed and sent after `delayMs` (one timer per server, replies in due order). */
  hold (conn: Connection, make: () => Buffer): void {
    const entry: DelayedReply = { due: performance.now() + this.delayMs, conn, make }
    const q = this.delayed
    let i = q.length
    while (i > 0 && (q[i - 1] as DelayedReply).due > entry.due) i--
    q.splice(i, 0, entry)
    if (i === 0) this.armDelayTimer()
  }

  private armDelayTimer (): void {
    if (this.delayTimer !== undefined) clearTimeout(this.delayTimer)
    const head = this.delayed[0]
    this.delayTimer = head === undefined
      ? undefined
      : setTimeout(() => this.flushDelayed(), Math.max(0, head.due - performance.now()))
  }

  private flushDelayed (): void {
    this.delayTimer = undefined
    const now = performance.now()
    const byConn = new Map<Connection, Buffer[]>()
    let n = 0
    // 0.5 ms of slack: a timer may fire a little early
    while (n < this.delayed.length && (this.delayed[n] as DelayedReply).due <= now + 0.5) n++
    for (const entry of this.delayed.splice(0, n)) {
      if (entry.conn.socket.destroyed) continue
      const frame = entry.make()
      const list = byConn.get(entry.conn)
      if (list) list.push(frame)
      else byConn.set(entry.conn, [frame])
    }
    for (const [conn, frames] of byConn) conn.socket.write(frames.length === 1 ? frames[0] as Buffer : Buffer.concat(frames))
    this.armDelayTimer()
  }

  private setFlood (fps: number): void {
    this.floodFps = fps
    this.floodCarry = 0
    if (fps > 0 && this.floodTimer === undefined) {
      this.floodTimer = setInterval(() => this.floodTick(), FLOOD_TICK_MS)
      this.floodTimer.unref()
    } else if (fps === 0 && this.floodTimer !== undefined) {
      clearInterval(this.floodTimer)
      this.floodTimer = undefined
    }
  }

  /** One burst of unsolicited frames (FC03 replies of unit 1, random transaction ids) to every connection. */
  private floodTick (): void {
    const due = this.floodFps * FLOOD_TICK_MS / 1000 + this.floodCarry
    const n = Math.floor(due)
    this.floodCarry = due - n
    if (n === 0) return
    this.floodBurst(n, this.host.connections())
  }

  /** `n` unsolicited frames to each of `conns` (skipping the ones that stopped reading). */
  private floodBurst (n: number, conns: Iterable<Connection>): void {
    const one = encodeReadHoldingRegistersResponse(0, CDU_UNIT, [0x1234])
    let burst: Buffer | undefined
    for (const conn of conns) {
      if (conn.socket.destroyed || conn.socket.writableLength > FLOOD_MAX_BUFFERED) continue
      burst ??= this.burst(one, n)
      conn.socket.write(burst)
      this.host.unsolicited(n)
    }
  }

  private burst (one: Buffer, n: number): Buffer {
    const burst = Buffer.allocUnsafe(n * one.length)
    let x = this.floodRng
    for (let i = 0; i < n; i++) {
      one.copy(burst, i * one.length)
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      x >>>= 0
      burst.writeUInt16BE((x % 0xffff) + 1, i * one.length)
    }
    this.floodRng = x
    return burst
  }
}
