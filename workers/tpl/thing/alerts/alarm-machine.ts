/**
 * One evaluation of a thing's alarms (pure; the AlertBook persists and logs what it returns):
 * the conditions of the collection against the records, then the timers — on-delay (pending →
 * active), off-delay (active → cleared), latching (→ cleared-unacknowledged until a reset),
 * re-alarm (acknowledged → unacknowledged), shelve expiry — and chattering detection (an alert
 * that clears `count` times within `windowMs` is shelved for `shelveMs` and a `chattering` alert
 * names it; never a safety alarm). Times are the evaluation's `now`, so a restart (deadlines are
 * stored as the times they count from) and fake time behave alike.
 */
import { randomUUID } from 'node:crypto'
import type { Alert } from '../types'
import type { AlarmPolicy, AlarmSettings } from './alarm-conf'
import { type AlarmRecord, type Shelf, type ThingAlarms } from './alarm-record'
import { ALERT_NO_SNAPSHOT, alertKey } from './engine'

export const ALERT_CHATTERING = 'chattering'

export type TransitionKind = 'pending' | 'active' | 'returned' | 'cleared' | 'cleared-latched' | 're-alarmed' | 'acknowledged' | 'reset' |
'shelved' | 'unshelved' | 'suppressed' | 'unsuppressed' | 'out-of-service' | 'in-service' | 'flood'

/** A change of an alert's state: who (`system` or the operator's `user`) and why. */
export interface Transition {
  ts: number
  alert: Alert
  transition: TransitionKind
  by: string
  why?: string
  /** How long it had been active (cleared, reset). */
  activeMs?: number
}

export interface StepInput {
  conds: readonly Alert[]
  /** Whether the collection gave a snapshot: without one only `error_snap` is known, the other conditions are kept. */
  snapOk: boolean
  now: number
  settings: (name: string) => AlarmSettings
  policy: AlarmPolicy
  /** Description and severity of the `chattering` alert. */
  chattering: { description: string, severity: string }
}

export interface StepResult {
  alarms: ThingAlarms
  transitions: Transition[]
  /** Alerts that became active (flood detection counts them). */
  activated: Alert[]
}

export const SYSTEM = 'system'

function chatterAlert (key: string, shelf: Shelf, prev: AlarmRecord | undefined, input: StepInput): Alert {
  const [name, deviceTag] = key.split('\u0000')
  const what = `${name}${deviceTag ? ` (${deviceTag})` : ''}`
  return {
    name: ALERT_CHATTERING,
    code: ALERT_CHATTERING,
    description: input.chattering.description,
    severity: input.chattering.severity,
    createdAt: prev?.alert.createdAt ?? input.now,
    uuid: prev?.alert.uuid ?? randomUUID(),
    message: `${what} is chattering`,
    ...(deviceTag ? { deviceTag } : {}),
    metadata: { alert: name, shelvedUntil: shelf.until }
  }
}

class Step {
  readonly out: Transition[] = []
  readonly activated: Alert[] = []
  readonly records = new Map<string, AlarmRecord>()
  readonly shelves: Record<string, Shelf>
  readonly clears: Record<string, number[]>

  constructor (alarms: ThingAlarms, private readonly input: StepInput) {
    for (const r of alarms.records) this.records.set(r.key, { ...r })
    this.shelves = { ...alarms.shelves }
    this.clears = { ...alarms.clears }
  }

  note (rec: AlarmRecord | Alert, transition: TransitionKind, why?: string, activeMs?: number): void {
    const alert = 'key' in rec ? rec.alert : rec
    this.out.push({
      ts: this.input.now,
      alert,
      transition,
      by: SYSTEM,
      ...(why !== undefined ? { why } : {}),
      ...(activeMs !== undefined ? { activeMs } : {})
    })
  }

  expireShelves (): void {
    for (const [key, shelf] of Object.entries(this.shelves)) {
      if (shelf.until > this.input.now) continue
      delete this.shelves[key]
      const rec = this.records.get(key)
      if (rec) this.note(rec, 'unshelved', 'shelve expired')
    }
  }

  /** The `chattering` alerts of the auto shelves still in force. */
  chatterConds (): Alert[] {
    const out: Alert[] = []
    for (const [key, shelf] of Object.entries(this.shelves)) {
      if (shelf.auto !== true) continue
      const probe = chatterAlert(key, shelf, undefined, this.input)
      out.push(chatterAlert(key, shelf, this.records.get(alertKey(probe)), this.input))
    }
    return out
  }

  applyConds (conds: readonly Alert[]): Set<string> {
    const { now } = this.input
    const seen = new Set<string>()
    for (const c of conds) {
      const key = alertKey(c)
      seen.add(key)
      const rec = this.records.get(key)
      if (!rec) {
        const fresh: AlarmRecord = { key, alert: { ...c }, cond: true, condSince: now, active: false }
        this.records.set(key, fresh)
        if ((this.input.settings(c.name).onDelayMs ?? 0) > 0) this.note(fresh, 'pending')
        continue
      }
      rec.alert = { ...c, uuid: rec.alert.uuid, createdAt: rec.alert.createdAt }
      if (rec.cond) continue
      rec.cond = true
      rec.condSince = now
      if (rec.latchedClear === true) {
        rec.latchedClear = false
        this.note(rec, 'returned', 'the condition of a latched alert came back')
      }
    }
    for (const rec of this.records.values()) {
      if (seen.has(rec.key) || !rec.cond) continue
      // without a snapshot nothing is known of the other conditions: they are kept
      if (!this.input.snapOk && rec.alert.name !== ALERT_NO_SNAPSHOT && rec.alert.name !== ALERT_CHATTERING) continue
      rec.cond = false
      rec.condSince = now
    }
    return seen
  }

  timers (rec: AlarmRecord): void {
    const { now } = this.input
    const s = this.input.settings(rec.alert.name)
    if (rec.cond && !rec.active) {
      if (now - rec.condSince < (s.onDelayMs ?? 0)) return
      rec.active = true
      rec.activeAt = now
      rec.alert = { ...rec.alert, createdAt: now }
      delete rec.ack
      this.activated.push(rec.alert)
      this.note(rec, 'active')
      return
    }
    if (!rec.cond && !rec.active) {
      this.records.delete(rec.key)
      this.note(rec, 'cleared', 'condition gone before its on-delay')
      return
    }
    if (!rec.cond && rec.latchedClear !== true && now - rec.condSince >= (s.offDelayMs ?? 0)) {
      const activeMs = now - (rec.activeAt ?? rec.condSince)
      if (s.latched === true) {
        rec.latchedClear = true
        this.note(rec, 'cleared-latched', 'condition cleared; latched until reset', activeMs)
      } else {
        this.clear(rec, activeMs, s)
      }
      return
    }
    const reAlarmMs = s.reAlarmMs ?? 0
    if (rec.cond && rec.ack !== undefined && reAlarmMs > 0 && now - rec.ack.at >= reAlarmMs) {
      delete rec.ack
      this.note(rec, 're-alarmed', `still active ${reAlarmMs} ms after its acknowledgement`)
    }
  }

  clear (rec: AlarmRecord, activeMs: number, s: AlarmSettings): void {
    const { now, policy } = this.input
    this.records.delete(rec.key)
    this.note(rec, 'cleared', undefined, activeMs)
    const shelf = this.shelves[rec.key]
    if (shelf?.oneShot === true) {
      delete this.shelves[rec.key]
      this.note(rec, 'unshelved', 'cleared (one-shot shelve)')
    }
    const { count, windowMs, shelveMs } = policy.chattering
    if (count === 0 || s.safety === true || rec.alert.name === ALERT_CHATTERING) return
    const recent = [...(this.clears[rec.key] ?? []).filter((t) => now - t < windowMs), now]
    this.clears[rec.key] = recent
    if (recent.length < count || this.shelves[rec.key] !== undefined) return
    const auto: Shelf = {
      until: now + shelveMs,
      oneShot: false,
      at: now,
      by: SYSTEM,
      reason: `chattering: cleared ${recent.length} times within ${windowMs} ms`,
      auto: true
    }
    this.shelves[rec.key] = auto
    delete this.clears[rec.key]
    this.note(rec, 'shelved', auto.reason)
  }

  pruneClears (): void {
    const { now, policy } = this.input
    for (const [key, times] of Object.entries(this.clears)) {
      const recent = times.filter((t) => now - t < policy.chattering.windowMs)
      if (recent.length === 0) delete this.clears[key]
      else this.clears[key] = recent
    }
  }
}

/** One evaluation: the new alarms of the thing and what changed. */
export function stepAlarms (alarms: ThingAlarms, input: StepInput): StepResult {
  const step = new Step(alarms, input)
  step.expireShelves()
  step.applyConds([...input.conds, ...step.chatterConds()])
  for (const rec of [...step.records.values()]) step.timers(rec)
  // a chattering alert raised by this evaluation is active at once
  const fresh = step.chatterConds().filter((c) => !step.records.has(alertKey(c)))
  if (fresh.length > 0) {
    step.applyConds([...input.conds, ...step.chatterConds()])
    for (const c of fresh) {
      const rec = step.records.get(alertKey(c))
      if (rec) step.timers(rec)
    }
  }
  step.pruneClears()
  return {
    alarms: { records: [...step.records.values()], shelves: step.shelves, clears: step.clears },
    transitions: step.out,
    activated: step.activated
  }
}
