/**
 * The RPC methods of alarm management (docs/alerts.md): listAlerts and getAlertKpis (reads,
 * heavy), acknowledgeAlerts, shelveAlerts, unshelveAlerts, resetAlerts and setAlertsOutOfService
 * (writes: refused for a read-only key, audited with the caller and `user`; shelving and
 * out of service are also write-call actions, see the rack's `writeActions`).
 */
import { z } from 'zod'
import { ReadBudget } from '../../../core/read-budget'
import { ReplyPage } from '../../../rpc/limits'
import { defineMethod, type RpcMethod } from '../../../rpc/method'
import { matcher } from '../query/select'
import { MAX_LOG_TIME_MS } from '../logs/time-log'
import type { JsonObject } from '../types'
import type { AlertBook, AlertListing } from './alert-book'
import { alarmKpis } from './alarm-kpis'
import { AlarmOps } from './alarm-ops'
import type { AlarmState } from './alarm-record'

const STATES = [
  'pending', 'active-unacknowledged', 'active-acknowledged', 'cleared-unacknowledged', 'cleared-acknowledged', 'shelved', 'out-of-service',
  'suppressed'
] as const
const MAX_LISTED = 50_000
const ts = z.number().finite().min(0).max(MAX_LOG_TIME_MS)
const user = z.string().max(256).optional()
const text = z.string().max(10_000)
const targets = {
  uuids: z.array(z.string().min(1).max(64)).min(1).max(10_000).optional(),
  query: z.record(z.string(), z.unknown()).optional(),
  user,
  actionId: z.union([z.string(), z.number()]).optional()
}
const named = (v: { uuids?: unknown, query?: unknown }): boolean => v.uuids !== undefined || v.query !== undefined
const NAMED = { message: 'uuids or query is required' }
const countResult = z.object({ count: z.number().int(), uuids: z.array(z.string()) })
const TARGET_ERRORS = ['ERR_ALERT_NOTFOUND', 'ERR_QUERY_INVALID']

export const alarmSchemas = {
  listAlerts: z.object({
    query: z.record(z.string(), z.unknown()).optional(),
    states: z.array(z.enum(STATES)).max(STATES.length).optional(),
    limit: z.number().int().min(0).max(MAX_LISTED).optional(),
    offset: z.number().int().min(0).max(MAX_LISTED).optional()
  }),
  acknowledgeAlerts: z.object({ ...targets, comment: text.optional() }).refine(named, NAMED),
  shelveAlerts: z.object({
    ...targets,
    durationMs: z.number().int().min(1).optional(),
    oneShot: z.boolean().optional(),
    reason: text.min(1)
  })
    .refine(named, NAMED).refine((v) => v.durationMs !== undefined || v.oneShot === true, { message: 'durationMs or oneShot is required' }),
  unshelveAlerts: z.object(targets).refine(named, NAMED),
  resetAlerts: z.object({ ...targets, comment: text.optional() }).refine(named, NAMED),
  setAlertsOutOfService: z.object({
    thingId: z.string().min(1).max(256).optional(),
    name: z.string().min(1).max(128).optional(),
    outOfService: z.boolean(),
    reason: text.optional(),
    user,
    actionId: z.union([z.string(), z.number()]).optional()
  }).refine((v) => v.thingId !== undefined || v.name !== undefined, { message: 'thingId or name is required' }),
  getAlertKpis: z.object({ start: ts.optional(), end: ts.optional(), thingId: z.string().min(1).max(256).optional() })
}

export class AlarmMethods {
  private readonly ops: AlarmOps

  constructor (private readonly book: AlertBook) {
    this.ops = new AlarmOps(book)
  }

  /** Every alert in every state (the rack's flood alert with `thingId: null`), filtered and paged. */
  async list (req: z.output<typeof alarmSchemas.listAlerts>): Promise<AlertListing[]> {
    const test = matcher(req.query)
    const states = req.states === undefined ? null : new Set<AlarmState>(req.states)
    const { things, marks, flood } = await this.book.current()
    const budget = new ReadBudget()
    const page = new ReplyPage<AlertListing>()
    const limit = req.limit ?? MAX_LISTED
    let skip = req.offset ?? 0
    const all: AlertListing[] = flood === null ? [] : [{ ...flood, state: 'active-unacknowledged', thingId: null }]
    for (const [id, alarms] of things) {
      await budget.tick(alarms.records.length + 1)
      all.push(...this.book.listingOf(id, alarms, marks))
    }
    for (const a of all) {
      if ((states !== null && !states.has(a.state)) || !test(a as unknown as JsonObject)) continue
      if (skip > 0) skip--
      else if (page.items.length >= limit || !page.add(a)) break
    }
    return page.items
  }

  /** Still-active alerts older than the stale bound, per thing. */
  private async staleNow (now: number): Promise<Map<string, number>> {
    const out = new Map<string, number>()
    const { things } = await this.book.current()
    for (const [id, alarms] of things) {
      const n = alarms.records.filter((r) => r.active && r.activeAt !== undefined && now - r.activeAt > this.book.policy.staleMs).length
      if (n > 0) out.set(id, n)
    }
    return out
  }

  declarations (): RpcMethod[] {
    const write = { kind: 'write' as const }
    return [
      defineMethod({
        name: 'listAlerts',
        kind: 'read',
        summary: 'Every alert with its state (pending, active-/cleared-(un)acknowledged, shelved, out-of-service, ' +
          'suppressed and its cause), filtered by `query` and `states`, paged.',
        params: alarmSchemas.listAlerts,
        result: z.array(z.record(z.string(), z.unknown())),
        errors: ['ERR_QUERY_INVALID'],
        heavy: true,
        handler: (req) => this.list(req)
      }),
      defineMethod({
        name: 'getAlertKpis',
        kind: 'read',
        summary: 'Alarm KPIs over `start`…`end` (default the last 24 h), for the rack and per thing: activations per day, ' +
          'floods, chattering, stale, top-10 bad actors, severity mix.',
        params: alarmSchemas.getAlertKpis,
        result: z.record(z.string(), z.unknown()),
        errors: [],
        heavy: true,
        handler: async (req) => {
          const now = this.book.now()
          const end = req.end ?? now
          const start = req.start ?? end - 86_400_000
          const staleNow = await this.staleNow(now)
          return await alarmKpis(this.book.rack.logs, { start, end, thingId: req.thingId }, this.book.policy.staleMs, staleNow)
        }
      }),
      defineMethod({
        ...write,
        name: 'acknowledgeAlerts',
        summary: 'Acknowledges active and latched alerts (`uuids` or `query`), with a `comment`; a pending one named by uuid is refused.',
        params: alarmSchemas.acknowledgeAlerts,
        result: countResult,
        errors: [...TARGET_ERRORS, 'ERR_ALERT_STATE_INVALID'],
        handler: (req) => this.ops.acknowledge(req)
      }),
      defineMethod({
        ...write,
        name: 'shelveAlerts',
        summary: 'Shelves alerts for `durationMs` (at most `alarms.maxShelveMs`) or `oneShot` until they clear, with a `reason`: ' +
          'they leave `last.alerts` meanwhile.',
        params: alarmSchemas.shelveAlerts,
        result: countResult,
        errors: [...TARGET_ERRORS, 'ERR_ALERT_SHELVE_TOO_LONG'],
        handler: (req) => this.ops.shelve(req)
      }),
      defineMethod({
        ...write,
        name: 'unshelveAlerts',
        summary: 'Ends the shelves of alerts.',
        params: alarmSchemas.unshelveAlerts,
        result: countResult,
        errors: TARGET_ERRORS,
        handler: (req) => this.ops.unshelve(req)
      }),
      defineMethod({
        ...write,
        name: 'resetAlerts',
        summary: 'Resets latched alerts whose condition has cleared (one named by uuid that is not is refused).',
        params: alarmSchemas.resetAlerts,
        result: countResult,
        errors: [...TARGET_ERRORS, 'ERR_ALERT_NOT_RESETTABLE'],
        handler: (req) => this.ops.reset(req)
      }),
      defineMethod({
        ...write,
        name: 'setAlertsOutOfService',
        summary: 'Puts an alert `name` (all things, or `thingId`\'s) or all of `thingId`\'s alerts out of service ' +
          '(`outOfService: true`) or back.',
        params: alarmSchemas.setAlertsOutOfService,
        result: z.object({ count: z.number().int() }),
        errors: ['ERR_THING_NOTFOUND'],
        handler: (req) => this.ops.outOfService(req)
      })
    ]
  }
}
