/**
 * The MicroBT alert specs (docs/alerts.md). Every `raw_errors` entry of a snapshot (the system
 * and general error registers, registers.md "Errors") is an alert of its own name; the specs
 * here add the inlet-temperature thresholds (with the reading in `metadata`), one alert per
 * PDU alarm bit that is set (`deviceTag: 'pdu-<n>'`, the PDU and sensor index in `message`) and
 * one per unit the snapshot could not read (`stats.incomplete`: `deviceTag` `meter-<n>`,
 * `pdu-<n>`, `gtemp`, `henv`, `diag`, `cdu`).
 */
import type { AlertMatch, AlertSpec } from '../tpl/thing/alerts/engine'
import { valueAt } from '../tpl/thing/stats/stats'
import type { Snap } from '../tpl/thing/types'
import type { PduData } from './registers/types'

const INLET_TEMP = 'stats.container_specific.cdu.unit_inlet_temp_t2'
const PDU_DATA = 'stats.container_specific.pdu_data'
const INCOMPLETE = 'stats.incomplete'

/** The unit inlet temperature against the configured limit; no alert when the reading is missing. */
function inletTemp (snap: Snap, params: Record<string, unknown>, fires: (t: number, limit: number) => boolean): AlertMatch[] {
  const t = valueAt(snap, INLET_TEMP)
  const limit = params.temp
  if (typeof limit !== 'number' || !Number.isFinite(limit)) throw new Error('params.temp must be a number')
  if (typeof t !== 'number' || !Number.isFinite(t) || !fires(t, limit)) return []
  return [{ deviceTag: 'cdu', metadata: { value: t, threshold: limit, unit: '°C' } }]
}

type PduAlarmList = 'water_ingress_alarm' | 'smoke_detection_alarm' | 'infrared_alarm' | 'access_control_alarm'

/** Every set bit of one alarm list of every PDU: an alert per PDU and sensor. */
function pduAlarms (snap: Snap, list: PduAlarmList, what: string): AlertMatch[] {
  const pdus = valueAt(snap, PDU_DATA)
  if (!Array.isArray(pdus)) return []
  const out: AlertMatch[] = []
  for (const pdu of pdus as PduData[]) {
    for (const bit of pdu[list] ?? []) {
      if (bit.status !== true) continue
      out.push({
        deviceTag: `pdu-${pdu.pdu}`,
        message: `PDU ${pdu.pdu} ${what} ${bit.index}`,
        metadata: { pdu: pdu.pdu, index: bit.index, value: true }
      })
    }
  }
  return out
}

/** A unit as `stats.incomplete` names it (registers.md: `fcdu`, `powermeter02`, `pdu05` …): its unit id and device tag. */
function unitOf (name: string): { unit: number, deviceTag: string } | null {
  const numbered = /^(powermeter|pdu)(\d{2})$/.exec(name)
  if (numbered !== null) {
    const n = Number(numbered[2])
    return numbered[1] === 'pdu' ? { unit: 8 + n, deviceTag: `pdu-${n}` } : { unit: 3 + n, deviceTag: `meter-${n}` }
  }
  const single: Record<string, { unit: number, deviceTag: string }> = {
    fcdu: { unit: 1, deviceTag: 'cdu' },
    gtemp: { unit: 2, deviceTag: 'gtemp' },
    henv: { unit: 3, deviceTag: 'henv' },
    diag: { unit: 8, deviceTag: 'diag' }
  }
  return Object.hasOwn(single, name) ? single[name] : null
}

/** One alert per unit the snapshot could not (fully) read, naming it; the status is left as the CDU reports it. */
function unreachableUnits (snap: Snap): AlertMatch[] {
  const names = valueAt(snap, INCOMPLETE)
  if (!Array.isArray(names)) return []
  const out: AlertMatch[] = []
  for (const name of names) {
    if (typeof name !== 'string') continue
    const u = unitOf(name)
    out.push({
      deviceTag: u?.deviceTag ?? name,
      message: u === null ? `${name} did not answer` : `${name} (unit ${u.unit}) did not answer`,
      metadata: { unitId: u?.unit ?? null, name }
    })
  }
  return out
}

export const MBT_ALERT_SPECS: readonly AlertSpec[] = [
  {
    name: 'water_min_inlet_temp_warn',
    check: (snap, params) => inletTemp(snap, params, (t, limit) => t < limit),
    hysteresis: { param: 'temp', sense: 'below' }
  },
  {
    name: 'water_max_inlet_temp_warn',
    check: (snap, params) => inletTemp(snap, params, (t, limit) => t > limit),
    hysteresis: { param: 'temp', sense: 'above' }
  },
  { name: 'pdu_water_ingress_alarm', check: (snap) => pduAlarms(snap, 'water_ingress_alarm', 'water ingress sensor') },
  { name: 'pdu_smoke_alarm', check: (snap) => pduAlarms(snap, 'smoke_detection_alarm', 'smoke detector') },
  { name: 'pdu_infrared_alarm', check: (snap) => pduAlarms(snap, 'infrared_alarm', 'infrared sensor') },
  { name: 'pdu_access_control_alarm', check: (snap) => pduAlarms(snap, 'access_control_alarm', 'access control') },
  { name: 'unit_unreachable', check: (snap) => unreachableUnits(snap) }
]
