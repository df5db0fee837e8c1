/**
 * What alarm management writes down: every transition is an entry of the `thing-alerts` log
 * (`{ts, transition, by, why?, activeMs?, thingId, uuid, name, severity, deviceTag?}`, told
 * apart from the entries of alerts that started by `transition`) and a line of the worker's
 * log — warn for an alert that becomes active (or active again), info for the rest.
 */
import type { Logger } from '../../../core/types'
import type { TimeLogs } from '../logs/time-log'
import { ALERTS_LOG } from '../logs/log-names'
import type { Alert, JsonObject } from '../types'
import type { Transition } from './alarm-machine'

const LOUD = new Set(['active', 'returned', 're-alarmed', 'flood'])

/** The log entry of a transition (`thingId` null: the rack's own, e.g. a flood). */
export function transitionEntry (thingId: string | null, t: Transition): JsonObject {
  const a = t.alert
  return {
    ts: t.ts,
    transition: t.transition,
    by: t.by,
    ...(t.why !== undefined ? { why: t.why } : {}),
    ...(t.activeMs !== undefined ? { activeMs: t.activeMs } : {}),
    thingId,
    uuid: a.uuid,
    name: a.name,
    severity: a.severity,
    ...(a.deviceTag !== undefined ? { deviceTag: a.deviceTag } : {}),
    ...(a.message !== undefined ? { message: a.message } : {})
  }
}

export class AlarmJournal {
  /** The newest time an entry was appended at. */
  private lastTs = 0
  /** The appends in flight, in call order. */
  private tail: Promise<void> = Promise.resolve()

  constructor (private readonly logs: () => TimeLogs, private readonly logger: () => Logger) {}

  /**
   * Appends at `ts`, or just after the newest entry when that is later, in call order: the log
   * keeps entries of one millisecond apart only when they come in time order, and things are
   * collected (and acted on) concurrently, each at its own time. Call order is event order
   * (a collection's entries are handed over in one call before an operator's later ones).
   */
  private async append (ts: number, entry: unknown): Promise<void> {
    this.lastTs = Math.max(ts, this.lastTs)
    const at = this.lastTs
    const write = this.tail.then(async () => {
      try {
        await this.logs().append(ALERTS_LOG, at, entry)
      } catch (err) {
        // one slow or failed write (ERR_STORE_TIMEOUT: it may still land) must not drop the entries after it
        this.logger().warn({ err, ts: at }, 'alert history entry not written')
      }
    })
    this.tail = write
    await write
  }

  /** A collection's or an action's entries, queued in one go: alerts first shown, then the transitions. */
  async record (thingId: string, started: readonly Alert[], transitions: readonly Transition[]): Promise<void> {
    await Promise.all([...started.map(async (alert) => await this.started(thingId, alert)), this.transitions(thingId, transitions)])
  }

  /** An alert first shown: the entry getHistoricalLogs answers by default. */
  async started (thingId: string, alert: Alert): Promise<void> {
    await this.append(alert.createdAt, { ...alert, thingId })
  }

  async transitions (thingId: string | null, list: readonly Transition[]): Promise<void> {
    const writes: Array<Promise<void>> = []
    for (const t of list) {
      const entry = transitionEntry(thingId, t)
      const line = {
        thingId,
        name: t.alert.name,
        severity: t.alert.severity,
        uuid: t.alert.uuid,
        deviceTag: t.alert.deviceTag,
        transition: t.transition,
        by: t.by,
        why: t.why
      }
      if (LOUD.has(t.transition)) this.logger().warn(line, `alert ${t.transition}`)
      else this.logger().info(line, `alert ${t.transition}`)
      writes.push(this.append(t.ts, entry))
    }
    await Promise.all(writes)
  }
}
