/**
 * The operator's actions on alerts (docs/alerts.md "Operator methods"): acknowledge, shelve,
 * unshelve, reset a latched alert, out of service and back. The targets are named by uuid (an
 * unknown one → ERR_ALERT_NOTFOUND) or picked by a query over listAlerts' fields; everything is
 * checked before anything changes, so a refusal changes nothing. Each change is a transition in
 * the history, by the caller's `user`.
 */
import { WrkError } from '../../../core/errors'
import { matcher } from '../query/select'
import type { JsonObject } from '../types'
import type { AlertBook } from './alert-book'
import type { Transition, TransitionKind } from './alarm-machine'
import type { AlarmRecord, ThingAlarms } from './alarm-record'
import type { OosMark } from './alarm-store'

export interface Targets { uuids?: string[], query?: JsonObject, user?: string }

interface Target { thingId: string, rec: AlarmRecord }

const who = (req: { user?: string }): string => req.user ?? 'unknown'

export class AlarmOps {
  constructor (private readonly book: AlertBook) {}

  /** The records the request names; ERR_ALERT_NOTFOUND for a uuid no thing has. */
  private targets (req: Targets): Target[] {
    const out: Target[] = []
    if (req.uuids !== undefined) {
      const wanted = new Set(req.uuids)
      for (const thingId of this.book.thingIds()) {
        for (const rec of this.book.alarmsOf(thingId).records) if (wanted.delete(rec.alert.uuid)) out.push({ thingId, rec })
      }
      if (wanted.size > 0) throw new WrkError('ERR_ALERT_NOTFOUND', `no alert ${[...wanted].slice(0, 5).join(', ')}`)
    }
    if (req.query !== undefined) {
      const test = matcher(req.query)
      for (const thingId of this.book.thingIds()) {
        const alarms = this.book.alarmsOf(thingId)
        const listed = this.book.listingOf(thingId, alarms)
        alarms.records.forEach((rec, i) => {
          if (test(listed[i] as unknown as JsonObject) && !out.some((t) => t.rec === rec)) out.push({ thingId, rec })
        })
      }
    }
    return out
  }

  /** Applies `change` to each target's record (a copy), commits, publishes and stores each thing. */
  private async apply (
    targets: Target[], change: (alarms: ThingAlarms, rec: AlarmRecord) => TransitionKind | null, by: string, why?: string
  ): Promise<{ count: number, uuids: string[] }> {
    const now = this.book.now()
    const byThing = new Map<string, Target[]>()
    for (const t of targets) byThing.set(t.thingId, [...(byThing.get(t.thingId) ?? []), t])
    const uuids: string[] = []
    for (const [thingId, list] of byThing) {
      const before = this.book.alarmsOf(thingId)
      const alarms: ThingAlarms = { records: before.records.map((r) => ({ ...r })), shelves: { ...before.shelves }, clears: before.clears }
      const transitions: Transition[] = []
      for (const t of list) {
        const rec = alarms.records.find((r) => r.key === t.rec.key)
        if (!rec) continue
        const kind = change(alarms, rec)
        if (kind === null) continue
        uuids.push(rec.alert.uuid)
        transitions.push({ ts: now, alert: rec.alert, transition: kind, by, ...(why !== undefined ? { why } : {}) })
      }
      if (transitions.length === 0) continue
      this.book.commit(thingId, alarms, transitions)
      this.book.publish(thingId)
      await this.book.flush(thingId)
    }
    return { count: uuids.length, uuids }
  }

  /** Acknowledges active and latched alerts (others named by uuid → ERR_ALERT_STATE_INVALID). */
  async acknowledge (req: Targets & { comment?: string }): Promise<{ count: number, uuids: string[] }> {
    const targets = this.targets(req)
    const pending = req.uuids === undefined ? [] : targets.filter((t) => !t.rec.active && req.uuids?.includes(t.rec.alert.uuid))
    if (pending.length > 0) {
      throw new WrkError('ERR_ALERT_STATE_INVALID', `alert ${pending[0].rec.alert.uuid} is pending: nothing to acknowledge yet`)
    }
    const at = this.book.now()
    return await this.apply(targets, (_a, rec) => {
      if (!rec.active || rec.ack !== undefined) return null
      rec.ack = { at, by: who(req), ...(req.comment !== undefined ? { comment: req.comment } : {}) }
      return 'acknowledged'
    }, who(req), req.comment)
  }

  /** Shelves for `durationMs` (at most `maxShelveMs`), or one-shot until the alert clears (bounded by `maxShelveMs`). */
  async shelve (req: Targets & { durationMs?: number, oneShot?: boolean, reason: string }): Promise<{ count: number, uuids: string[] }> {
    const max = this.book.policy.maxShelveMs
    if (req.durationMs !== undefined && req.durationMs > max) {
      throw new WrkError('ERR_ALERT_SHELVE_TOO_LONG', `at most ${max} ms (alarms.maxShelveMs)`)
    }
    const targets = this.targets(req)
    const at = this.book.now()
    const until = at + (req.durationMs ?? max)
    return await this.apply(targets, (alarms, rec) => {
      alarms.shelves[rec.key] = { until, oneShot: req.oneShot === true, at, by: who(req), reason: req.reason }
      return 'shelved'
    }, who(req), req.reason)
  }

  async unshelve (req: Targets): Promise<{ count: number, uuids: string[] }> {
    return await this.apply(this.targets(req), (alarms, rec) => {
      if (alarms.shelves[rec.key] === undefined) return null
      delete alarms.shelves[rec.key]
      return 'unshelved'
    }, who(req))
  }

  /** Resets latched alerts whose condition has cleared (one named by uuid that is not → ERR_ALERT_NOT_RESETTABLE). */
  async reset (req: Targets & { comment?: string }): Promise<{ count: number, uuids: string[] }> {
    const targets = this.targets(req)
    const named = req.uuids === undefined ? [] : targets.filter((t) => req.uuids?.includes(t.rec.alert.uuid) && t.rec.latchedClear !== true)
    if (named.length > 0) {
      throw new WrkError('ERR_ALERT_NOT_RESETTABLE', `alert ${named[0].rec.alert.uuid} is not a latched alert whose condition cleared`)
    }
    return await this.apply(targets, (alarms, rec) => {
      if (rec.latchedClear !== true) return null
      alarms.records = alarms.records.filter((r) => r !== rec)
      return 'reset'
    }, who(req), req.comment)
  }

  /** Puts an alert name (every thing, or `thingId`'s) or all of a thing's alerts out of service, or back. */
  async outOfService (
    req: { thingId?: string, name?: string, outOfService: boolean, reason?: string, user?: string }
  ): Promise<{ count: number }> {
    if (req.thingId !== undefined && !this.book.rack.registry.has(req.thingId)) {
      throw new WrkError('ERR_THING_NOTFOUND', `no thing ${req.thingId}`)
    }
    const same = (m: OosMark): boolean => m.thingId === req.thingId && m.name === req.name
    const marks = this.book.marks.filter((m) => !same(m))
    if (req.outOfService) {
      marks.push({
        ...(req.thingId !== undefined ? { thingId: req.thingId } : {}),
        ...(req.name !== undefined ? { name: req.name } : {}),
        at: this.book.now(),
        by: who(req),
        ...(req.reason !== undefined ? { reason: req.reason } : {})
      })
    }
    const changed = marks.length !== this.book.marks.length || req.outOfService
    if (!changed) return { count: 0 }
    const now = this.book.now()
    const affected = this.book.thingIds().filter((id) => req.thingId === undefined || id === req.thingId)
    const transitions = new Map<string, Transition[]>()
    let count = 0
    for (const id of affected) {
      const alarms = this.book.alarmsOf(id)
      const list: Transition[] = []
      for (const rec of alarms.records) {
        if (req.name !== undefined && rec.alert.name !== req.name) continue
        const wasOut = this.book.stateOf(id, alarms, rec) === 'out-of-service'
        const isOut = this.book.stateOf(id, alarms, rec, marks) === 'out-of-service'
        if (wasOut === isOut) continue
        list.push({
          ts: now,
          alert: rec.alert,
          transition: isOut ? 'out-of-service' : 'in-service',
          by: who(req),
          ...(req.reason !== undefined ? { why: req.reason } : {})
        })
        count++
      }
      transitions.set(id, list)
    }
    await this.book.setMarks(marks, affected.filter((id) => (transitions.get(id)?.length ?? 0) > 0), transitions)
    return { count }
  }
}
