/**
 * The MicroBT threshold alerts (docs/alerts.md). Every `raw_errors` entry of a snapshot (the
 * system and general error registers, registers.md "Errors") is an alert of its own name.
 */
import type { AlertSpec } from '../tpl/thing/alerts'
import { valueAt } from '../tpl/thing/stats'
import type { Snap } from '../tpl/thing/types'

const INLET_TEMP = 'stats.container_specific.cdu.unit_inlet_temp_t2'

/** The unit inlet temperature and the configured limit; null (no alert) when either is missing. */
function inletAndLimit (snap: Snap, params: Record<string, unknown>): [number, number] | null {
  const t = valueAt(snap, INLET_TEMP)
  const limit = params.temp
  if (typeof limit !== 'number' || !Number.isFinite(limit)) throw new Error('params.temp must be a number')
  return typeof t === 'number' && Number.isFinite(t) ? [t, limit] : null
}

export const MBT_ALERT_SPECS: readonly AlertSpec[] = [
  { name: 'water_min_inlet_temp_warn', check: (snap, params) => { const v = inletAndLimit(snap, params); return v !== null && v[0] < v[1] } },
  { name: 'water_max_inlet_temp_warn', check: (snap, params) => { const v = inletAndLimit(snap, params); return v !== null && v[0] > v[1] } }
]
