/**
 * Alert thresholds changed at run time: the `alertParams` worker setting,
 * `{<thing type>: {<alert name>: {<param>: value}}}`, overrides the configured `params` of
 * `alerts[<thing type>][<alert name>]` from the next evaluation on. Only params the
 * configuration has can be overridden, with a value of the same type. The alarm settings
 * (`onDelayMs`, `offDelayMs`, `deadband`, `latched`, `reAlarmMs`, `safety`; ./alarm-conf.ts) can
 * be given the same way for any configured alert.
 */
import { WrkError } from '../../../core/errors'
import { ALARM_SETTING_KEYS, alarmSettingsSchema } from './alarm-conf'
import type { AlertConf } from './engine'
import type { JsonObject } from '../types'

/** The worker setting that holds the overrides. */
export const ALERT_PARAMS_SETTING = 'alertParams'

export type AlertParams = Readonly<Record<string, Readonly<Record<string, JsonObject>>>>

const isAlarmSetting = (k: string): k is typeof ALARM_SETTING_KEYS[number] => (ALARM_SETTING_KEYS as readonly string[]).includes(k)

const isPlainObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v)

function refuse (why: string): never {
  throw new WrkError('ERR_ENTRIES_INVALID', `alertParams: ${why}`)
}

/** Checks a value of the setting against the rack's thing type and alert configuration. */
export function assertAlertParams (value: unknown, thingType: string, conf: AlertConf | undefined): asserts value is AlertParams {
  if (!isPlainObject(value)) refuse('must be {<thing type>: {<alert name>: {<param>: value}}}')
  for (const [type, alerts] of Object.entries(value)) {
    if (type !== thingType) refuse(`unknown thing type ${type} (this rack has ${thingType})`)
    if (!isPlainObject(alerts)) refuse(`${type} must be {<alert name>: {<param>: value}}`)
    for (const [name, params] of Object.entries(alerts)) {
      if (conf?.[name] === undefined) refuse(`${name} is not an alert of ${type}`)
      const configured = conf[name].params ?? {}
      if (!isPlainObject(params)) refuse(`${name} must be {<param>: value}`)
      for (const [param, v] of Object.entries(params)) {
        if (isAlarmSetting(param) && !Object.hasOwn(configured, param)) {
          if (!alarmSettingsSchema.shape[param].safeParse(v).success) refuse(`${name}.${param} is not a valid alarm setting`)
          continue
        }
        if (!Object.hasOwn(configured, param)) refuse(`${name} has no param ${param}`)
        const want = typeof configured[param]
        if (typeof v !== typeof configured[param] || (typeof v === 'number' && !Number.isFinite(v))) {
          refuse(`${name}.${param} must be a ${want === 'number' ? 'finite number' : want}`)
        }
      }
    }
  }
}

/** The configuration with the overrides of `thingType` applied to the params. */
export function withAlertParams (conf: AlertConf, overrides: AlertParams | null, thingType: string): AlertConf {
  const mine = overrides?.[thingType]
  if (!mine) return conf
  const out: Record<string, AlertConf[string]> = { ...conf }
  for (const [name, params] of Object.entries(mine)) {
    const entry = conf[name]
    if (!entry) continue
    const configured = entry.params ?? {}
    const settings = Object.fromEntries(Object.entries(params).filter(([k]) => isAlarmSetting(k) && !Object.hasOwn(configured, k)))
    const own = Object.fromEntries(Object.entries(params).filter(([k]) => !Object.hasOwn(settings, k)))
    const hasParams = entry.params !== undefined || Object.keys(own).length > 0
    out[name] = { ...entry, ...settings, ...(hasParams ? { params: { ...entry.params, ...own } } : {}) }
  }
  return out
}
