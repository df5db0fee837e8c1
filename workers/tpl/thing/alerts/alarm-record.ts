/**
 * What alarm management keeps of one thing's alerts (persisted per thing, docs/alerts.md): a
 * record per alert whose condition holds or that is still active, the shelves (per alert
 * identity, so a timed shelve outlives the occurrence it was asked for) and the recent clears
 * that chattering is judged on. The states an alert shows are derived from these.
 */
import type { Alert } from '../types'

export interface Ack { at: number, by: string, comment?: string }

export interface Shelf {
  /** Until when; a one-shot shelve also ends when the alert clears. */
  until: number
  oneShot: boolean
  at: number
  by: string
  reason: string
  /** Shelved by chattering detection (not by an operator). */
  auto?: boolean
}

export interface AlarmRecord {
  /** alertKey of the alert: name, device, message. */
  key: string
  /** The alert's wire fields (reading, description and severity of the latest evaluation). */
  alert: Alert
  /** Whether the condition held at the latest evaluation (unknown without a snapshot: kept). */
  cond: boolean
  /** When `cond` last changed: the start of the on-delay (true) or the off-delay (false). */
  condSince: number
  /** Past the on-delay and not cleared (a latched one until reset). */
  active: boolean
  activeAt?: number
  /** Latched, its condition gone: waits for a reset. */
  latchedClear?: boolean
  ack?: Ack
  /** The cause that suppresses it now (`power_fault`, `unit_unreachable@pdu-3`). */
  suppressedBy?: string
  /** Its start is in the `thing-alerts` log (logged once, when first shown). */
  announced?: boolean
}

export interface ThingAlarms {
  records: AlarmRecord[]
  shelves: Record<string, Shelf>
  /** Recent active→clear times per alert key (chattering). */
  clears: Record<string, number[]>
}

export const emptyThingAlarms = (): ThingAlarms => ({ records: [], shelves: {}, clears: {} })

export type AlarmState = 'pending' | 'active-unacknowledged' | 'active-acknowledged' | 'cleared-unacknowledged' | 'cleared-acknowledged' |
'shelved' | 'out-of-service' | 'suppressed'

/** States shown in `last.alerts` (the others are read with listAlerts). */
export const SHOWN_STATES: ReadonlySet<AlarmState> = new Set([
  'active-unacknowledged', 'active-acknowledged', 'cleared-unacknowledged', 'cleared-acknowledged'
])

/** The state of a record, given its shelf and whether it is out of service. */
export function stateOf (rec: AlarmRecord, shelf: Shelf | undefined, outOfService: boolean): AlarmState {
  if (outOfService) return 'out-of-service'
  if (shelf !== undefined) return 'shelved'
  if (rec.suppressedBy !== undefined) return 'suppressed'
  if (!rec.active) return 'pending'
  if (rec.latchedClear === true) return rec.ack ? 'cleared-acknowledged' : 'cleared-unacknowledged'
  return rec.ack ? 'active-acknowledged' : 'active-unacknowledged'
}

/** The alert as `last.alerts` and listAlerts show it: its wire fields and its state. */
export function alertView (rec: AlarmRecord, state: AlarmState, shelf: Shelf | undefined): Alert {
  return {
    ...rec.alert,
    state,
    acknowledged: rec.ack !== undefined,
    ...(rec.ack
      ? { ackedAt: rec.ack.at, ackedBy: rec.ack.by, ...(rec.ack.comment !== undefined ? { ackComment: rec.ack.comment } : {}) }
      : {}),
    ...(rec.latchedClear === true ? { latched: true } : {}),
    ...(state === 'pending' ? { pendingSince: rec.condSince } : {}),
    ...(rec.suppressedBy !== undefined ? { suppressedBy: rec.suppressedBy } : {}),
    ...(shelf ? { shelvedUntil: shelf.until, shelvedBy: shelf.by, shelveReason: shelf.reason } : {})
  }
}

/** Records of an older store (only the active alerts were kept): each active, unacknowledged. */
export function fromActiveAlerts (alerts: readonly Alert[], key: (a: Alert) => string): ThingAlarms {
  const records = alerts.map((a) => ({
    key: key(a), alert: { ...a }, cond: true, condSince: a.createdAt, active: true, activeAt: a.createdAt, announced: true
  }))
  return { records, shelves: {}, clears: {} }
}
