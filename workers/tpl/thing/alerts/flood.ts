/**
 * Alarm floods (ISA-18.2): more than `count` new alerts shown on the rack within `windowMs`
 * raise one `alarm_flood` alert of the rack (listAlerts shows it with `thingId: null`); it
 * clears once the window holds `count` or fewer again. The individual alerts stay as they are.
 */
import { randomUUID } from 'node:crypto'
import type { Alert } from '../types'
import type { AlarmPolicy } from './alarm-conf'
import type { Transition } from './alarm-machine'
import type { FloodState } from './alarm-store'

export const ALERT_FLOOD = 'alarm_flood'

/** The flood state after `added` new alerts at `now`, and the transition of its alert if any. */
export function stepFlood (
  flood: FloodState, added: number, now: number, policy: AlarmPolicy, conf: { description?: string, severity?: string } | undefined
): { flood: FloodState, transition: Transition | null } {
  const { count, windowMs } = policy.flood
  const times = flood.times.filter((t) => now - t < windowMs)
  for (let i = 0; i < added; i++) times.push(now)
  if (count === 0) return { flood: { times: [], alert: null }, transition: null }
  if (flood.alert === null && times.length > count) {
    const alert: Alert = {
      name: ALERT_FLOOD,
      code: ALERT_FLOOD,
      description: conf?.description ?? 'Alarm flood: more new alerts than an operator can handle',
      severity: conf?.severity ?? 'high',
      createdAt: now,
      uuid: randomUUID(),
      message: `more than ${count} new alerts within ${Math.round(windowMs / 60_000)} min`,
      metadata: { count: times.length, windowMs }
    }
    return {
      flood: { times, alert, count: times.length },
      transition: { ts: now, alert, transition: 'flood', by: 'system', why: `${times.length} new alerts` }
    }
  }
  if (flood.alert !== null && times.length <= count) {
    return {
      flood: { times, alert: null },
      transition: { ts: now, alert: flood.alert, transition: 'cleared', by: 'system', activeMs: now - flood.alert.createdAt }
    }
  }
  const peak = Math.max(flood.count ?? 0, times.length)
  return { flood: { times, alert: flood.alert, count: peak }, transition: null }
}
