/**
 * Alarm KPIs over a time range (ISA-18.2 audit figures, docs/alerts.md "KPIs"), read from the
 * transitions of the `thing-alerts` log within a ReadBudget: activations per day (rack and per
 * thing), floods, chattering alerts, stale alerts (active longer than `alarms.staleMs`: cleared
 * after that long in the range, or still active now), the ten most frequent alerts ("bad
 * actors") and the mix of severities.
 */
import { ReadBudget } from '../../../core/read-budget'
import { ALERTS_LOG } from '../logs/log-names'
import type { TimeLogs } from '../logs/time-log'

const DAY_MS = 86_400_000
export const BAD_ACTORS = 10

interface Entry {
  ts: number
  transition?: string
  by?: string
  why?: string
  activeMs?: number
  thingId: string | null
  name: string
  severity: string
}

export interface KpiRequest { start: number, end: number, thingId?: string }

interface ThingKpis { activations: number, perDay: number, chattering: number, stale: number }

export interface AlarmKpis {
  start: number
  end: number
  days: number
  activations: number
  perDay: number
  floods: number
  chattering: number
  stale: number
  badActors: Array<{ thingId: string | null, name: string, count: number }>
  priorityMix: Record<string, { count: number, share: number }>
  things: Record<string, ThingKpis>
}

/** `now`'s still-active alerts that have been active longer than the stale bound, per thing. */
export type StaleNow = ReadonlyMap<string, number>

export async function alarmKpis (logs: TimeLogs, req: KpiRequest, staleMs: number, staleNow: StaleNow): Promise<AlarmKpis> {
  const days = Math.max(req.end - req.start, 1) / DAY_MS
  const budget = new ReadBudget()
  const things: Record<string, ThingKpis> = {}
  const thing = (id: string): ThingKpis => (things[id] ??= { activations: 0, perDay: 0, chattering: 0, stale: 0 })
  const actors = new Map<string, { thingId: string | null, name: string, count: number }>()
  const mix: Record<string, { count: number, share: number }> = {}
  let activations = 0
  let floods = 0
  let chattering = 0
  let stale = 0
  for await (const raw of logs.scan(ALERTS_LOG, 0, { start: req.start, end: req.end }, true)) {
    await budget.tick()
    const e = raw as Entry
    if (typeof e.transition !== 'string') continue
    if (req.thingId !== undefined && e.thingId !== req.thingId) continue
    if (e.transition === 'flood') floods++
    if (e.thingId === null) continue
    if (e.transition === 'active') {
      activations++
      thing(e.thingId).activations++
      const key = `${e.thingId}\u0000${e.name}`
      const a = actors.get(key) ?? { thingId: e.thingId, name: e.name, count: 0 }
      a.count++
      actors.set(key, a)
      mix[e.severity] = { count: (mix[e.severity]?.count ?? 0) + 1, share: 0 }
    } else if (e.transition === 'shelved' && e.by === 'system') {
      chattering++
      thing(e.thingId).chattering++
    } else if ((e.transition === 'cleared' || e.transition === 'cleared-latched') && (e.activeMs ?? 0) > staleMs) {
      stale++
      thing(e.thingId).stale++
    }
  }
  for (const [id, n] of staleNow) {
    if (req.thingId !== undefined && id !== req.thingId) continue
    stale += n
    thing(id).stale += n
  }
  for (const k of Object.values(things)) k.perDay = k.activations / days
  for (const m of Object.values(mix)) m.share = m.count / activations
  const badActors = [...actors.values()].sort((a, b) => b.count - a.count || a.name.localeCompare(b.name)).slice(0, BAD_ACTORS)
  return {
    start: req.start,
    end: req.end,
    days,
    activations,
    perDay: activations / days,
    floods,
    chattering,
    stale,
    badActors,
    priorityMix: mix,
    things
  }
}
