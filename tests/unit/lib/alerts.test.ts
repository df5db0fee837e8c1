import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../../helpers'
import { GENERAL_ERRORS, SYSTEM_ERRORS } from '../../../workers/lib/registers/errors'
import { ALERT_NO_SNAPSHOT, ALERT_UNKNOWN, evaluateAlerts, sameAlertSet, startedAlerts, type AlertConf, type AlertInput } from '../../../workers/tpl/thing/alerts/engine'
import type { Alert } from '../../../workers/tpl/thing/types'
import { MBT_ALERT_SPECS } from '../../../workers/lib/alerts'
import { assertAlertParams, withAlertParams } from '../../../workers/tpl/thing/alerts/alert-params'
import { thrownCode } from '../../helpers/errors'
import type { Snap } from '../../../workers/tpl/thing/types'

const CONF: AlertConf = {
  circulating_pump_fault: { description: 'Circulating pump fault', severity: 'critical' },
  fan_fault: { description: 'Fan fault', severity: 'high' },
  water_min_inlet_temp_warn: { description: 'inlet too cold', severity: 'warning', params: { temp: 10 } },
  water_max_inlet_temp_warn: { description: 'inlet too warm', severity: 'warning', params: { temp: 45 } },
  error_snap: { description: 'No snapshot could be read', severity: 'high' },
  pdu_water_ingress_alarm: { description: 'Water ingress at a PDU', severity: 'critical' }
}

type Bits = Array<{ index: string, status: boolean }>

function snap (rawErrors: string[], t2?: number, pdus: Array<{ pdu: string, water_ingress_alarm?: Bits }> = []): Snap {
  return { success: true, raw_errors: rawErrors.map((name) => ({ name })), stats: { status: 'running', container_specific: { cdu: t2 === undefined ? {} : { unit_inlet_temp_t2: t2 }, pdu_data: pdus } } } as Snap
}

const bits = (...set: number[]): Bits => Array.from({ length: 8 }, (_, i) => ({ index: String(i), status: set.includes(i) }))

function run (over: Partial<AlertInput>): Alert[] {
  return evaluateAlerts({ snap: snap([], 20), err: null, info: {}, conf: CONF, specs: MBT_ALERT_SPECS, prev: null, now: 1000, ...over })
}

describe('alert engine', () => {
  it('a raw error becomes an alert with the configured description and severity', () => {
    const [a, ...rest] = run({ snap: snap(['circulating_pump_fault'], 20) })
    expect(rest).toEqual([])
    expect(a).toMatchObject({ name: 'circulating_pump_fault', code: 'circulating_pump_fault', description: 'Circulating pump fault', severity: 'critical', createdAt: 1000 })
    expect(a.uuid).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('a raw error without configuration → unknown_error, high, naming the raw error in message', () => {
    expect(run({ snap: snap(['mystery_bit'], 20) })).toEqual([expect.objectContaining({ name: ALERT_UNKNOWN, severity: 'high', message: 'mystery_bit' })])
  })

  it('inlet temperature thresholds: below min and above max fire, equal to a limit does not', () => {
    const names = (t2: number): string[] => run({ snap: snap([], t2) }).map((a) => a.name)
    expect(names(9.99)).toEqual(['water_min_inlet_temp_warn'])
    expect(names(10)).toEqual([])
    expect(names(45)).toEqual([])
    expect(names(45.01)).toEqual(['water_max_inlet_temp_warn'])
    expect(run({ snap: snap([], 50) })[0]).toMatchObject({ severity: 'warning', description: 'inlet too warm' })
    // no reading: no threshold alert
    expect(run({ snap: snap([]) })).toEqual([])
  })

  it('a threshold not configured is skipped; one that throws becomes a medium alert naming the failure', () => {
    const { water_min_inlet_temp_warn: _min, ...withoutMin } = CONF
    expect(run({ conf: withoutMin, snap: snap([], 1) })).toEqual([])
    const broken: AlertConf = { ...CONF, water_max_inlet_temp_warn: { description: 'x', severity: 'warning', params: {} } }
    const [a] = run({ conf: broken, snap: snap([], 20) })
    expect(a).toMatchObject({ name: 'water_max_inlet_temp_warn', severity: 'medium' })
    expect(a.message).toMatch(/params\.temp/)
  })

  it('no snapshot or a failed one → error_snap with the collection error', () => {
    expect(run({ snap: null, err: 'ERR_THING_NOT_CONNECTED' })).toEqual([expect.objectContaining({ name: ALERT_NO_SNAPSHOT, severity: 'high', message: 'ERR_THING_NOT_CONNECTED' })])
    const failed = { success: false, stats: { status: 'offline' } } as Snap
    expect(run({ snap: failed, err: 'ERR_MODBUS_TIMEOUT' }).map((a) => a.name)).toEqual([ALERT_NO_SNAPSHOT])
  })

  it('an alert that persists keeps uuid and createdAt; one that clears and returns is new', () => {
    const first = run({ snap: snap(['fan_fault'], 20), now: 1000 })
    const again = run({ snap: snap(['fan_fault', 'circulating_pump_fault'], 20), prev: first, now: 2000 })
    const fan = again.find((a) => a.name === 'fan_fault')
    expect(fan?.uuid).toBe(first[0].uuid)
    expect(fan?.createdAt).toBe(1000)
    expect(startedAlerts(first, again).map((a) => a.name)).toEqual(['circulating_pump_fault'])
    const cleared = run({ snap: snap([], 20), prev: again, now: 3000 })
    expect(cleared).toEqual([])
    const back = run({ snap: snap(['fan_fault'], 20), prev: cleared, now: 4000 })
    expect(back[0].uuid).not.toBe(first[0].uuid)
    expect(back[0].createdAt).toBe(4000)
  })

  it('one raw error reported by two bits is one alert', () => {
    expect(run({ snap: snap(['fan_fault', 'fan_fault'], 20) })).toHaveLength(1)
  })

  it('sameAlertSet compares by uuid', () => {
    const a = run({ snap: snap(['fan_fault'], 20) })
    expect(sameAlertSet(a, [...a])).toBe(true)
    expect(sameAlertSet(a, [])).toBe(false)
    expect(sameAlertSet(null, [])).toBe(true)
  })
})

describe('docs/alerts.md', () => {
  it('lists every configured alert, and every error the registers can report is configured', () => {
    const conf = (JSON.parse(readFileSync(`${REPO_ROOT}/config/base.thing.json.example`, 'utf8')) as { alerts: Record<string, Record<string, unknown>> }).alerts
    const doc = readFileSync(`${REPO_ROOT}/docs/alerts.md`, 'utf8')
    for (const type of ['container-mbt-kehua', 'container-mbt-wonderint']) {
      for (const name of Object.keys(conf[type])) expect(doc, name).toContain(`| \`${name}\` |`)
      for (const name of [...SYSTEM_ERRORS, ...GENERAL_ERRORS.map((g) => g.name), ...MBT_ALERT_SPECS.map((s) => s.name), ALERT_NO_SNAPSHOT]) expect(conf[type], `${type}: ${name}`).toHaveProperty([name])
    }
  })
})

describe('per-device alerts with metadata', () => {
  it('threshold alerts name the device and carry the reading, the limit and the unit', () => {
    expect(run({ snap: snap([], 47.5) })).toEqual([expect.objectContaining({ name: 'water_max_inlet_temp_warn', deviceTag: 'cdu', metadata: { value: 47.5, threshold: 45, unit: '°C' } })])
  })

  it('a PDU alarm bit is an alert per PDU and sensor, naming both', () => {
    const alerts = run({ snap: snap([], 20, [{ pdu: '1', water_ingress_alarm: bits() }, { pdu: '3', water_ingress_alarm: bits(2, 5) }]) })
    expect(alerts.map((a) => [a.name, a.deviceTag, a.message])).toEqual([
      ['pdu_water_ingress_alarm', 'pdu-3', 'PDU 3 water ingress sensor 2'],
      ['pdu_water_ingress_alarm', 'pdu-3', 'PDU 3 water ingress sensor 5']
    ])
    expect(alerts[0]).toMatchObject({ severity: 'critical', description: 'Water ingress at a PDU', metadata: { pdu: '3', index: '2', value: true } })
    expect(alerts[0].uuid).not.toBe(alerts[1].uuid)
  })

  it('identity is name + deviceTag + message: it survives a new reading or description, not a new device', () => {
    const first = run({ snap: snap([], 47), now: 1000 })
    const warmer = run({ snap: snap([], 49), prev: first, now: 2000, conf: { ...CONF, water_max_inlet_temp_warn: { description: 'reworded', severity: 'high', params: { temp: 45 } } } })
    expect(warmer[0]).toMatchObject({ uuid: first[0].uuid, createdAt: 1000, description: 'reworded', severity: 'high', metadata: { value: 49 } })
    const a = run({ snap: snap([], 20, [{ pdu: '3', water_ingress_alarm: bits(2) }]), now: 1000 })
    const b = run({ snap: snap([], 20, [{ pdu: '4', water_ingress_alarm: bits(2) }, { pdu: '3', water_ingress_alarm: bits(2) }]), prev: a, now: 2000 })
    expect(b.find((x) => x.deviceTag === 'pdu-3')?.uuid).toBe(a[0].uuid)
    expect(startedAlerts(a, b).map((x) => x.deviceTag)).toEqual(['pdu-4'])
  })
})

describe('alertParams (run-time thresholds)', () => {
  const TYPE = 'container-mbt-kehua'

  it('override the configured params of their thing type; other alerts and types are untouched', () => {
    const conf = withAlertParams(CONF, { [TYPE]: { water_max_inlet_temp_warn: { temp: 30 } } }, TYPE)
    expect(conf.water_max_inlet_temp_warn).toEqual({ description: 'inlet too warm', severity: 'warning', params: { temp: 30 } })
    expect(conf.water_min_inlet_temp_warn).toBe(CONF.water_min_inlet_temp_warn)
    expect(run({ conf, snap: snap([], 31) }).map((a) => a.name)).toEqual(['water_max_inlet_temp_warn'])
    expect(withAlertParams(CONF, { 'container-mbt-wonderint': { water_max_inlet_temp_warn: { temp: 30 } } }, TYPE)).toBe(CONF)
  })

  it('refused with ERR_ENTRIES_INVALID: unknown type, alert, param, an alert without params, a value of another type', () => {
    const bad: unknown[] = [
      'x', [], { 'container-mbt-wonderint': {} }, { [TYPE]: { nope: { temp: 1 } } }, { [TYPE]: { water_max_inlet_temp_warn: { tmp: 1 } } },
      { [TYPE]: { fan_fault: { temp: 1 } } }, { [TYPE]: { water_max_inlet_temp_warn: { temp: '30' } } }, { [TYPE]: { water_max_inlet_temp_warn: 30 } }
    ]
    for (const value of bad) expect(thrownCode(() => assertAlertParams(value, TYPE, CONF)), JSON.stringify(value)).toBe('ERR_ENTRIES_INVALID')
    expect(() => assertAlertParams({ [TYPE]: { water_max_inlet_temp_warn: { temp: 30 } } }, TYPE, CONF)).not.toThrow()
  })
})

describe('unit_unreachable (issue 30: a partial outage)', () => {
  const conf: AlertConf = { ...CONF, unit_unreachable: { description: 'A unit did not answer', severity: 'high' } }
  const partial = (incomplete: string[]): Snap => {
    const s = snap([], 20) as Snap & { stats: Record<string, unknown> }
    return { ...s, stats: { ...s.stats, incomplete, power_w: null } } as Snap
  }
  const UNITS_2_TO_13 = ['gtemp', 'henv', 'powermeter01', 'powermeter02', 'powermeter03', 'powermeter04', 'diag', 'pdu01', 'pdu02', 'pdu03', 'pdu04', 'pdu05']

  it('one alert per unit of stats.incomplete, naming it (deviceTag, unit id), configured severity', () => {
    const alerts = run({ conf, snap: partial(UNITS_2_TO_13) })
    expect(alerts.map((a) => a.deviceTag)).toEqual(['gtemp', 'henv', 'meter-1', 'meter-2', 'meter-3', 'meter-4', 'diag', 'pdu-1', 'pdu-2', 'pdu-3', 'pdu-4', 'pdu-5'])
    expect(alerts.every((a) => a.name === 'unit_unreachable' && a.severity === 'high' && a.description === 'A unit did not answer')).toBe(true)
    expect(alerts[3]).toMatchObject({ message: 'powermeter02 (unit 5) did not answer', metadata: { unitId: 5, name: 'powermeter02' } })
    expect(alerts[11]).toMatchObject({ message: 'pdu05 (unit 13) did not answer', metadata: { unitId: 13, name: 'pdu05' } })
    expect(run({ conf, snap: partial(['fcdu', 'pdu12']) }).map((a) => [a.deviceTag, a.metadata?.unitId])).toEqual([['cdu', 1], ['pdu-12', 20]])
    // a complete snapshot raises none
    expect(run({ conf, snap: snap([], 20) })).toEqual([])
  })

  it('persists per unit while missing; a unit that comes back clears only its own alert', () => {
    const first = run({ conf, snap: partial(['powermeter02', 'pdu05']), now: 1000 })
    const next = run({ conf, snap: partial(['pdu05']), prev: first, now: 2000 })
    expect(next).toHaveLength(1)
    expect(next[0]).toMatchObject({ deviceTag: 'pdu-5', uuid: first[1].uuid, createdAt: 1000 })
  })

  it('is configured for both thing types', () => {
    const types = (JSON.parse(readFileSync(`${REPO_ROOT}/config/base.thing.json.example`, 'utf8')) as { alerts: Record<string, Record<string, { severity?: string }>> }).alerts
    for (const type of ['container-mbt-kehua', 'container-mbt-wonderint']) expect(types[type].unit_unreachable?.severity).toBe('high')
  })
})
