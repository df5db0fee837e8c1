/** Alarm settings: base.thing.json `alarms` and per-alert settings, run-time `alertParams`, the MicroBT defaults. */
import { describe, expect, it } from 'vitest'
import { ALARM_SETTING_KEYS, NO_ALARM_DEFAULTS, alarmPolicyOf, alarmSettingsOf } from '../../../../workers/tpl/thing/alerts/alarm-conf'
import { assertAlertParams, withAlertParams } from '../../../../workers/tpl/thing/alerts/alert-params'
import { MBT_ALARM_DEFAULTS, MBT_INHIBIT_RULES } from '../../../../workers/lib/alarm-defaults'
import { SYSTEM_ERRORS, GENERAL_ERRORS } from '../../../../workers/lib/registers/errors'
import { thrownCode } from '../../../helpers/errors'
import { exampleAlertConf } from '../../../helpers/alarms'
import type { AlertConf } from '../../../../workers/tpl/thing/alerts/engine'

const CONF: AlertConf = { fan_fault: { severity: 'high' }, water_max_inlet_temp_warn: { severity: 'warning', params: { temp: 45 } } }

describe('rack policy (alarms of base.thing.json)', () => {
  it('defaults: 8 h shelve bound, chattering 3 in 60 s for 1 h, flood > 10 in 10 min, stale 24 h, the layer\'s rules', () => {
    const p = alarmPolicyOf({}, MBT_ALARM_DEFAULTS)
    expect(p).toMatchObject({ maxShelveMs: 28_800_000, chattering: { count: 3, windowMs: 60_000, shelveMs: 3_600_000 }, flood: { count: 10, windowMs: 600_000 }, staleMs: 86_400_000 })
    expect(p.inhibit).toEqual(MBT_INHIBIT_RULES)
  })

  it('configured values win; a configured inhibit list replaces the defaults ([] turns inhibition off)', () => {
    const p = alarmPolicyOf({ alarms: { maxShelveMs: 1000, flood: { count: 0 }, inhibit: [] } }, MBT_ALARM_DEFAULTS)
    expect(p).toMatchObject({ maxShelveMs: 1000, flood: { count: 0, windowMs: 600_000 }, inhibit: [] })
  })

  it('a bad value is ERR_CONFIG_INVALID naming it', () => {
    expect(thrownCode(() => alarmPolicyOf({ alarms: { maxShelveMs: -1 } }, NO_ALARM_DEFAULTS))).toBe('ERR_CONFIG_INVALID')
    expect(thrownCode(() => alarmPolicyOf({ alarms: { inhibit: [{ cause: 'x' }] } }, NO_ALARM_DEFAULTS))).toBe('ERR_CONFIG_INVALID')
    expect(thrownCode(() => alarmPolicyOf({ alerts: { t: { fan_fault: { onDelayMs: 'soon' } } } }, NO_ALARM_DEFAULTS))).toBe('ERR_CONFIG_INVALID')
    expect(thrownCode(() => alarmPolicyOf({ alerts: { t: { fan_fault: { deadband: -1 } } } }, NO_ALARM_DEFAULTS))).toBe('ERR_CONFIG_INVALID')
  })
})

describe('per-alert settings', () => {
  it('the configuration wins over the layer\'s defaults, key by key', () => {
    expect(alarmSettingsOf({ latched: false }, { latched: true, safety: true })).toEqual({ latched: false, safety: true })
    expect(alarmSettingsOf(undefined, { deadband: 1 })).toEqual({ deadband: 1 })
    expect(ALARM_SETTING_KEYS).toEqual(['onDelayMs', 'offDelayMs', 'deadband', 'latched', 'reAlarmMs', 'safety'])
  })

  it('alertParams sets alarm settings of any configured alert at run time; a bad one is ERR_ENTRIES_INVALID', () => {
    const value = { t: { fan_fault: { onDelayMs: 30_000, latched: true }, water_max_inlet_temp_warn: { temp: 50, deadband: 0.5 } } }
    assertAlertParams(value, 't', CONF)
    const conf = withAlertParams(CONF, value, 't')
    expect(conf.fan_fault).toEqual({ severity: 'high', onDelayMs: 30_000, latched: true })
    expect(conf.water_max_inlet_temp_warn).toEqual({ severity: 'warning', params: { temp: 50 }, deadband: 0.5 })
    expect(thrownCode(() => assertAlertParams({ t: { fan_fault: { onDelayMs: -5 } } }, 't', CONF))).toBe('ERR_ENTRIES_INVALID')
    expect(thrownCode(() => assertAlertParams({ t: { fan_fault: { latched: 'yes' } } }, 't', CONF))).toBe('ERR_ENTRIES_INVALID')
    expect(thrownCode(() => assertAlertParams({ t: { nope: { latched: true } } }, 't', CONF))).toBe('ERR_ENTRIES_INVALID')
    expect(thrownCode(() => assertAlertParams({ t: { fan_fault: { temp: 1 } } }, 't', CONF))).toBe('ERR_ENTRIES_INVALID')
  })
})

describe('MicroBT defaults', () => {
  it('name only configured alerts, and the raw errors they name exist', () => {
    const conf = exampleAlertConf()
    const known = new Set([...SYSTEM_ERRORS, ...GENERAL_ERRORS.map((g) => g.name), ...Object.keys(conf), '*'])
    for (const name of Object.keys(MBT_ALARM_DEFAULTS.alerts)) expect(conf[name], name).toBeDefined()
    for (const rule of MBT_INHIBIT_RULES) {
      expect(known.has(rule.cause), rule.cause).toBe(true)
      for (const s of rule.suppress) expect(known.has(s), s).toBe(true)
    }
  })

  it('safety alarms are latched, with no delays; the inlet thresholds have a deadband', () => {
    for (const name of ['pdu_smoke_alarm', 'pdu_water_ingress_alarm', 'water_immersion_alarm']) {
      expect(MBT_ALARM_DEFAULTS.alerts[name]).toEqual({ latched: true, safety: true, onDelayMs: 0, offDelayMs: 0 })
    }
    expect(MBT_ALARM_DEFAULTS.alerts.water_max_inlet_temp_warn.deadband).toBe(1)
  })
})
