/**
 * Alerts over time: each thing's active alerts (kept across restarts, so identities persist),
 * the `thing-alerts` log of alerts that started, and `getHistoricalLogs` over it and over the
 * info-change history.
 */
import { z } from 'zod'
import type { Bee } from '../../../facs/store'
import { ReplyPage } from '../../../rpc/limits'
import { defineMethod, type RpcMethod } from '../../../rpc/method'
import { evaluateAlerts, sameAlertSet, startedAlerts, type AlertConf, type AlertSpec } from './engine'
import { currentInfoChanges } from '../registry/info-changes'
import { matcher } from '../query/select'
import type { RackParts } from '../rack-parts'
import { ReadBudget } from '../../../core/read-budget'
import { ALERTS_LOG, INFO_HISTORY_LOG } from '../logs/log-names'
import { MAX_LOG_TIME_MS } from '../logs/time-log'
import type { Alert, JsonObject, Snap, ThingState } from '../types'

/** Most entries one getHistoricalLogs reply may hold (a range without limit returns all up to this). */
export const MAX_HISTORY_ENTRIES = 50_000
const historySchema = z.object({
  logType: z.enum(['alerts', 'info']),
  start: z.number().finite().min(0).max(MAX_LOG_TIME_MS).optional(),
  end: z.number().finite().min(0).max(MAX_LOG_TIME_MS).optional(),
  limit: z.number().int().min(0).max(MAX_HISTORY_ENTRIES).optional(),
  offset: z.number().int().min(0).max(MAX_HISTORY_ENTRIES).optional(),
  query: z.record(z.string(), z.unknown()).optional()
})

type HistoryReq = z.output<typeof historySchema>

export interface AlertSource {
  /** `alerts[<thing type>]` of the configuration; absent → the thing type has no alerts. */
  conf: () => AlertConf | undefined
  specs: () => readonly AlertSpec[]
}

export class AlertBook {
  private active: Bee<Alert[]> | null = null

  constructor (private readonly rack: RackParts, private readonly source: AlertSource) {}

  /** The sub-database of active alerts per thing (opened by the rack at start). */
  open (active: Bee<Alert[]>): void {
    this.active = active
  }

  private get db (): Bee<Alert[]> {
    if (!this.active) throw new Error('alert book is not open')
    return this.active
  }

  /** The alerts of a collection; null for a thing type without alert configuration. */
  evaluate (state: ThingState, snap: Snap | null, err: string | null): Alert[] | null {
    const conf = this.source.conf()
    if (!conf) return null
    return evaluateAlerts({ snap, err, info: state.record.info, conf, specs: this.source.specs(), prev: state.last.alerts, now: Date.now() })
  }

  /** Logs the alerts that started and keeps the active set when it changed. */
  async record (state: ThingState, prev: readonly Alert[] | null | undefined, next: readonly Alert[] | null): Promise<void> {
    if (!next) return
    const id = state.record.id
    for (const alert of startedAlerts(prev, next)) await this.rack.logs.append(ALERTS_LOG, alert.createdAt, { ...alert, thingId: id })
    if (!sameAlertSet(prev, next)) await this.db.put(id, [...next])
  }

  /** The active alerts a thing had before a restart. */
  async restore (state: ThingState): Promise<void> {
    const entry = await this.db.get(state.record.id)
    if (entry && Array.isArray(entry.value)) state.last = { ...state.last, alerts: entry.value }
  }

  async forget (id: string): Promise<void> {
    await this.db.del(id)
  }

  /** The public identity of a thing in a history entry (minimal for a forgotten one). */
  private thingOf (id: string): JsonObject {
    if (!this.rack.registry.has(id)) return { id }
    const r = this.rack.registry.get(id).record
    return { id: r.id, code: r.code, type: r.type, tags: r.tags, info: r.info }
  }

  /** A stored history entry as the reply shows it: flattened, with its thing. */
  private historyDoc (logType: HistoryReq['logType'], entry: unknown): JsonObject {
    if (logType === 'alerts') {
      const { thingId, ...alert } = entry as Alert & { thingId: string }
      return { ...alert, thing: this.thingOf(thingId) }
    }
    const { id, changes, ...change } = entry as { ts: number, id: string, changes: JsonObject, user?: string }
    return { ...change, changes: currentInfoChanges(changes ?? {}), thing: this.thingOf(id) }
  }

  /**
   * Newest first, filtered while the log is read: only the reply page is kept, whatever the
   * history holds. The page ends at `limit`, at MAX_REPLY_BYTES (cut at a whole entry: page on
   * with offset) or at the end of the range; a read that would examine more than the read
   * budget allows answers ERR_READ_BUDGET_EXCEEDED.
   */
  async historicalLogs (req: HistoryReq): Promise<JsonObject[]> {
    const offset = req.offset ?? 0
    const key = req.logType === 'alerts' ? ALERTS_LOG : INFO_HISTORY_LOG
    // Alerts: every entry in the range when no limit is given (the platform asks so).
    const limit = Math.min(req.logType === 'alerts' ? req.limit ?? MAX_HISTORY_ENTRIES : req.limit ?? 100, MAX_HISTORY_ENTRIES)
    // checked and compiled once: refused before anything is read
    const test = matcher(req.query)
    const out = new ReplyPage<JsonObject>()
    if (limit === 0) return out.items
    const budget = new ReadBudget()
    let skipped = 0
    for await (const entry of this.rack.logs.scan(key, 0, { start: req.start, end: req.end }, true)) {
      await budget.tick()
      const doc = this.historyDoc(req.logType, entry)
      if (!test(doc)) continue
      if (skipped < offset) skipped++
      else if (!out.add(doc) || out.items.length >= limit) break
    }
    return out.items
  }

  declarations (): RpcMethod[] {
    return [
      defineMethod({
        name: 'getHistoricalLogs',
        kind: 'read',
        summary: 'Alerts that started (`alerts`, all in the range without limit) or info changes (`info`, limit 100), newest first, each with its thing.',
        params: historySchema,
        fieldErrors: { logType: 'ERR_INFO_HISTORY_LOG_TYPE_INVALID' },
        result: z.array(z.record(z.string(), z.unknown())),
        errors: ['ERR_INFO_HISTORY_LOG_TYPE_INVALID', 'ERR_QUERY_INVALID'],
        heavy: true,
        handler: (req) => this.historicalLogs(req)
      })
    ]
  }
}
