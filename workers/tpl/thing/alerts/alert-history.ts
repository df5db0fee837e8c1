/**
 * `getHistoricalLogs`: the `thing-alerts` log (alerts that started; with `transitions: true`
 * also every transition of alarm management) and the info-change history, newest first, each
 * entry with its thing.
 */
import { z } from 'zod'
import { ReplyPage } from '../../../rpc/limits'
import { defineMethod, type RpcMethod } from '../../../rpc/method'
import { currentInfoChanges } from '../registry/info-changes'
import { matcher } from '../query/select'
import type { RackParts } from '../rack-parts'
import { ReadBudget } from '../../../core/read-budget'
import { ALERTS_LOG, INFO_HISTORY_LOG } from '../logs/log-names'
import { MAX_LOG_TIME_MS } from '../logs/time-log'
import type { Alert, JsonObject } from '../types'

/** Most entries one getHistoricalLogs reply may hold (a range without limit returns all up to this). */
export const MAX_HISTORY_ENTRIES = 50_000
const historySchema = z.object({
  logType: z.enum(['alerts', 'info']),
  start: z.number().finite().min(0).max(MAX_LOG_TIME_MS).optional(),
  end: z.number().finite().min(0).max(MAX_LOG_TIME_MS).optional(),
  limit: z.number().int().min(0).max(MAX_HISTORY_ENTRIES).optional(),
  offset: z.number().int().min(0).max(MAX_HISTORY_ENTRIES).optional(),
  query: z.record(z.string(), z.unknown()).optional(),
  /** `alerts`: the transitions of alarm management too (`{transition, by, why, …}` entries). */
  transitions: z.boolean().optional()
})

type HistoryReq = z.output<typeof historySchema>

/** Whether a `thing-alerts` entry is a transition (not an alert that started). */
export const isTransition = (entry: unknown): boolean => entry !== null && typeof entry === 'object' && 'transition' in entry

export class AlertHistory {
  constructor (private readonly rack: RackParts) {}

  /** The public identity of a thing in a history entry (minimal for a forgotten one). */
  private thingOf (id: string | null): JsonObject | null {
    if (id === null) return null
    if (!this.rack.registry.has(id)) return { id }
    const r = this.rack.registry.get(id).record
    return { id: r.id, code: r.code, type: r.type, tags: r.tags, info: r.info }
  }

  /** A stored history entry as the reply shows it: flattened, with its thing. */
  private historyDoc (logType: HistoryReq['logType'], entry: unknown): JsonObject {
    if (logType === 'alerts') {
      const { thingId, ...alert } = entry as Alert & { thingId: string | null }
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
      if (req.logType === 'alerts' && req.transitions !== true && isTransition(entry)) continue
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
        summary: 'Alerts that started (`alerts`, all in the range without limit; `transitions: true` adds every alarm transition) ' +
          'or info changes (`info`, limit 100), newest first, each with its thing.',
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
