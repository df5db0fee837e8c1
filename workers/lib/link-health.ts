/**
 * Link health per Modbus unit of one container: what the client's pipeline reports for every
 * attempt (./modbus/types.ts `UnitObserver`) kept as counters — attempts sent, replies, timeouts,
 * resends, exception replies by code, the reply times as a histogram, the last failure and when
 * it came — plus the connection's reconnects and, read when asked, which units' breaker is open
 * (./unit-breaker.ts). The same figures answer `getLinkHealth` and feed the per-unit series of
 * the metrics endpoint (./link-metrics.ts). Kept per thing across reconnects; a few hundred
 * bytes per unit, nothing per request but the send time of the attempt in flight.
 */
import type { ModbusClientStats, UnitObserver } from './modbus/types'
import { UNIT_IDS, unitName } from './registers/units'
import type { UnitId } from './registers/types'

/** Upper bounds (seconds) of the reply-time histogram: few, so that the series stay bounded (units × buckets). */
export const REPLY_BUCKETS_S = [0.025, 0.1, 0.25, 1, 2.5] as const

export interface UnitFigures {
  unit: number
  /** Its name in registers.md (`fcdu`, `pdu05` …). */
  name: string
  /** `open`: one attempt per snapshot until it answers again. */
  breaker: 'open' | 'closed'
  requests: number
  replies: number
  timeouts: number
  retries: number
  /** Exception replies by code (two hex digits, e.g. `0B`). */
  exceptions: Record<string, number>
  /** Reply times: count, sum (s) and the cumulative count at each upper bound of REPLY_BUCKETS_S. */
  replySeconds: { count: number, sum: number, buckets: number[] }
  /** The code of its latest failed attempt (ERR_MODBUS_TIMEOUT, ERR_MODBUS_EXCEPTION_0B …), or null. */
  lastError: string | null
  lastErrorAt: number | null
  lastReplyAt: number | null
}

export interface LinkReport {
  reconnects: number
  units: UnitFigures[]
}

type Counts = Omit<UnitFigures, 'unit' | 'name' | 'breaker'>

function hex (code: number): string {
  return code.toString(16).toUpperCase().padStart(2, '0')
}

const UNIT_BY_NAME = new Map(UNIT_IDS.map((id) => [unitName(id), id]))

/**
 * Why each unit a snapshot names in `stats.incomplete` is missing: its latest failed attempt, or
 * ERR_SNAPSHOT_INCOMPLETE when none was seen (e.g. the connection dropped).
 */
export function unitErrors (incomplete: readonly string[], health: LinkHealth | undefined): Array<{ unit: string, reason: string }> {
  return incomplete.map((unit) => {
    const id = UNIT_BY_NAME.get(unit)
    return { unit, reason: (id !== undefined ? health?.lastErrorOf(id) : null) ?? 'ERR_SNAPSHOT_INCOMPLETE' }
  })
}

export class LinkHealth implements UnitObserver {
  private readonly units = new Map<number, Counts>()
  /** Send time of each request's latest attempt. */
  private readonly sentAt = new WeakMap<object, number>()
  /** Reconnects of the clients used before the current one. */
  private earlierReconnects = 0
  private client: Pick<ModbusClientStats, 'reconnects'> | null = null

  constructor (private readonly now: () => number = Date.now) {}

  /** The client whose connection this is (a new controller's client replaces the old one; reconnects add up). */
  attach (stats: Pick<ModbusClientStats, 'reconnects'>): void {
    if (this.client === stats) return
    this.earlierReconnects += this.client?.reconnects ?? 0
    this.client = stats
  }

  get reconnects (): number {
    return this.earlierReconnects + (this.client?.reconnects ?? 0)
  }

  private of (unit: number): Counts {
    let c = this.units.get(unit)
    if (c === undefined) {
      const replySeconds = { count: 0, sum: 0, buckets: REPLY_BUCKETS_S.map(() => 0) }
      const last = { lastError: null, lastErrorAt: null, lastReplyAt: null }
      c = { requests: 0, replies: 0, timeouts: 0, retries: 0, exceptions: {}, replySeconds, ...last }
      this.units.set(unit, c)
    }
    return c
  }

  sent (unit: number, request: object): void {
    this.of(unit).requests++
    this.sentAt.set(request, performance.now())
  }

  answered (unit: number, request: object, exception: number | null): void {
    const c = this.of(unit)
    c.replies++
    c.lastReplyAt = this.now()
    const sent = this.sentAt.get(request)
    if (sent !== undefined) {
      const s = Math.max(0, (performance.now() - sent) / 1000)
      c.replySeconds.count++
      c.replySeconds.sum += s
      REPLY_BUCKETS_S.forEach((le, i) => { if (s <= le) c.replySeconds.buckets[i]++ })
    }
    if (exception !== null) {
      const code = hex(exception)
      c.exceptions[code] = (c.exceptions[code] ?? 0) + 1
      c.lastError = `ERR_MODBUS_EXCEPTION_${code}`
      c.lastErrorAt = c.lastReplyAt
    }
  }

  timedOut (unit: number, request: object): void {
    const c = this.of(unit)
    c.timeouts++
    c.lastError = 'ERR_MODBUS_TIMEOUT'
    c.lastErrorAt = this.now()
    this.sentAt.delete(request)
  }

  resent (unit: number): void {
    this.of(unit).retries++
  }

  /** The latest failure of a unit (the reason it is missing from a snapshot), or null. */
  lastErrorOf (unit: number): string | null {
    return this.units.get(unit)?.lastError ?? null
  }

  /** Every unit asked so far, by unit id, with its breaker state. */
  report (openUnits: readonly UnitId[] = []): LinkReport {
    const open = new Set(openUnits)
    const units = [...this.units.entries()].sort(([a], [b]) => a - b).map(([unit, c]): UnitFigures => ({
      unit,
      name: unitName(unit),
      breaker: open.has(unit) ? 'open' : 'closed',
      ...c,
      exceptions: { ...c.exceptions },
      replySeconds: { ...c.replySeconds, buckets: [...c.replySeconds.buckets] }
    }))
    return { reconnects: this.reconnects, units }
  }
}
