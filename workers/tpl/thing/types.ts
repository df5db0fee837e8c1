import type { JsonObject } from '../../core/types'

export type ThingId = string
export type { JsonObject } from '../../core/types'

export interface ThingComment {
  id: string
  ts: number
  comment: string
  user: string
  pos?: string
}

/** What is persisted for a registered thing (the `things` sub-database). */
export interface ThingRecord {
  id: ThingId
  code: string
  type: string
  tags: string[]
  info: JsonObject
  opts: JsonObject
  comments: ThingComment[]
}

/** A snapshot as produced by a controller's getSnap (shape owned by the controller layer). */
export interface Snap { success: boolean, stats?: unknown }

export interface ThingLast {
  snap?: Snap | null
  alerts?: Alert[] | null
  err?: string | null
  ts?: number
}

/** A controller: what the rack needs from a connected device. Methods are reached by name. */
export interface ThingController {
  getSnap: () => Promise<Snap>
  close: () => Promise<void> | void
  /** Code of the latest failed snapshot, for controllers whose getSnap never throws. */
  readonly lastErrorCode?: string | null
}

/** A registered thing at run time. */
export interface ThingState {
  record: ThingRecord
  ctrl: ThingController | null
  last: ThingLast
  collecting: boolean
  lastStoredTs: number
  /** Set as soon as forgetThings picks the thing: nothing may connect it again. */
  forgotten: boolean
}

export type AlertSeverity = 'critical' | 'high' | 'medium' | 'warning' | 'low'

/** What a reading was compared with: `{value: 47.2, threshold: 45, unit: '°C'}`. */
export interface AlertMetadata {
  value?: unknown
  threshold?: unknown
  unit?: string
  [key: string]: unknown
}

export interface Alert {
  name: string
  code: string
  description: string
  severity: AlertSeverity | string
  createdAt: number
  uuid: string
  message?: string
  /** The device of the thing the alert is about (`pdu-3`, `meter-2`, `cdu`). */
  deviceTag?: string
  metadata?: AlertMetadata
  /** Alarm management (docs/alerts.md): the state and what the operator did. */
  state?: string
  acknowledged?: boolean
  ackedAt?: number
  ackedBy?: string
  ackComment?: string
  latched?: boolean
  pendingSince?: number
  suppressedBy?: string
  shelvedUntil?: number
  shelvedBy?: string
  shelveReason?: string
}
