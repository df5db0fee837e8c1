/** The alarm state machine with explicit times: delays, deadband, latching, re-alarm, shelves, chattering, no-snapshot. */
import { describe, expect, it } from 'vitest'
import { alarmPolicyOf, NO_ALARM_DEFAULTS, type AlarmSettings } from '../../../../workers/tpl/thing/alerts/alarm-conf'
import { stepAlarms, type StepResult } from '../../../../workers/tpl/thing/alerts/alarm-machine'
import { emptyThingAlarms, stateOf, type ThingAlarms } from '../../../../workers/tpl/thing/alerts/alarm-record'
import { evaluateAlerts, type AlertConf } from '../../../../workers/tpl/thing/alerts/engine'
import { MBT_ALERT_SPECS } from '../../../../workers/lib/alerts'
import type { Snap } from '../../../../workers/tpl/thing/types'

const POLICY = alarmPolicyOf({}, NO_ALARM_DEFAULTS)

const CONF: AlertConf = {
  fan_fault: { description: 'Fan fault', severity: 'high' },
  power_fault: { description: 'Power', severity: 'critical', onDelayMs: 10_000, offDelayMs: 20_000 },
  pdu_smoke_alarm: { description: 'Smoke', severity: 'critical', latched: true, safety: true },
  water_max_inlet_temp_warn: { description: 'warm', severity: 'warning', params: { temp: 45 }, deadband: 1 },
  bypass_valve_fault: { description: 'Bypass', severity: 'high', reAlarmMs: 60_000 },
  error_snap: { description: 'No snapshot', severity: 'high' }
}

function snap (raw: string[], t2 = 20, smoke = false): Snap {
  const pdu = { pdu: '1', smoke_detection_alarm: [{ index: '0', status: smoke }] }
  return { success: true, raw_errors: raw.map((name) => ({ name })), stats: { container_specific: { cdu: { unit_inlet_temp_t2: t2 }, pdu_data: [pdu] } } } as unknown as Snap
}

/** A thing over time: each `at` evaluates one collection. */
class Thing {
  alarms: ThingAlarms = emptyThingAlarms()
  last!: StepResult

  constructor (private readonly conf: AlertConf = CONF, private readonly policy = POLICY) {}

  at (now: number, s: Snap | null): StepResult {
    const holding = new Set(this.alarms.records.filter((r) => r.active && r.latchedClear !== true).map((r) => r.key))
    const conds = evaluateAlerts({ snap: s, err: s === null ? 'ERR_THING_OFFLINE' : null, info: {}, conf: this.conf, specs: MBT_ALERT_SPECS, prev: this.alarms.records.map((r) => r.alert), now, holding })
    const settings = (name: string): AlarmSettings => this.conf[name] ?? {}
    this.last = stepAlarms(this.alarms, { conds, snapOk: s !== null, now, settings, policy: this.policy, chattering: { description: 'chatter', severity: 'low' } })
    this.alarms = this.last.alarms
    return this.last
  }

  states (): Record<string, string> {
    return Object.fromEntries(this.alarms.records.map((r) => [r.alert.name, stateOf(r, this.alarms.shelves[r.key], false)]))
  }

  kinds (): string[] {
    return this.last.transitions.map((t) => `${t.alert.name}:${t.transition}`)
  }
}

describe('on-delay and off-delay', () => {
  it('is pending until the condition held onDelayMs, then active; clears only after offDelayMs clear', () => {
    const t = new Thing()
    t.at(0, snap(['power_fault']))
    expect(t.states()).toEqual({ power_fault: 'pending' })
    expect(t.kinds()).toEqual(['power_fault:pending'])
    t.at(9_999, snap(['power_fault']))
    expect(t.states()).toEqual({ power_fault: 'pending' })
    t.at(10_000, snap(['power_fault']))
    expect(t.states()).toEqual({ power_fault: 'active-unacknowledged' })
    expect(t.last.activated.map((a) => a.name)).toEqual(['power_fault'])
    const uuid = t.alarms.records[0].alert.uuid
    expect(t.alarms.records[0].alert.createdAt).toBe(10_000)
    t.at(11_000, snap([]))
    t.at(30_999, snap([]))
    expect(t.states()).toEqual({ power_fault: 'active-unacknowledged' })
    // back within the off-delay: the same alert, never cleared
    t.at(31_000, snap(['power_fault']))
    expect(t.alarms.records[0].alert.uuid).toBe(uuid)
    t.at(32_000, snap([]))
    t.at(52_000, snap([]))
    expect(t.states()).toEqual({})
    expect(t.kinds()).toEqual(['power_fault:cleared'])
    expect(t.last.transitions[0].activeMs).toBe(42_000)
  })

  it('a condition gone before its on-delay never becomes active', () => {
    const t = new Thing()
    t.at(0, snap(['power_fault']))
    t.at(5_000, snap([]))
    expect(t.states()).toEqual({})
    expect(t.last.activated).toEqual([])
  })

  it('without delays an alert is active on the collection that sees it and gone on the first that does not', () => {
    const t = new Thing()
    t.at(0, snap(['fan_fault']))
    expect(t.states()).toEqual({ fan_fault: 'active-unacknowledged' })
    t.at(1, snap([]))
    expect(t.states()).toEqual({})
  })
})

describe('deadband', () => {
  it('a reading hovering at the limit raises one alert; it clears once past limit − deadband', () => {
    const t = new Thing()
    let activations = 0
    for (let i = 0; i < 30; i++) activations += t.at(i * 60_000, snap([], 45 + (i % 2 === 0 ? 0.3 : -0.3))).activated.length
    expect(activations).toBe(1)
    expect(t.alarms.records[0].alert.metadata).toMatchObject({ threshold: 45, unit: '°C' })
    t.at(31 * 60_000, snap([], 44.1))
    expect(t.states()).toEqual({ water_max_inlet_temp_warn: 'active-unacknowledged' })
    t.at(32 * 60_000, snap([], 43.9))
    expect(t.states()).toEqual({})
  })

  it('without a deadband the same readings raise an alert on every crossing', () => {
    const t = new Thing({ ...CONF, water_max_inlet_temp_warn: { severity: 'warning', params: { temp: 45 } } })
    let activations = 0
    for (let i = 0; i < 30; i++) activations += t.at(i * 60_000, snap([], 45 + (i % 2 === 0 ? 0.3 : -0.3))).activated.length
    expect(activations).toBe(15)
  })
})

describe('latching and re-alarm', () => {
  it('a latched alert whose condition clears stays, cleared-unacknowledged; its condition back makes it active again', () => {
    const t = new Thing()
    t.at(0, snap([], 20, true))
    expect(t.states()).toEqual({ pdu_smoke_alarm: 'active-unacknowledged' })
    t.at(1000, snap([], 20, false))
    expect(t.states()).toEqual({ pdu_smoke_alarm: 'cleared-unacknowledged' })
    expect(t.kinds()).toEqual(['pdu_smoke_alarm:cleared-latched'])
    t.at(2000, snap([], 20, true))
    expect(t.states()).toEqual({ pdu_smoke_alarm: 'active-unacknowledged' })
    expect(t.kinds()).toEqual(['pdu_smoke_alarm:returned'])
  })

  it('an acknowledged alert still active after reAlarmMs is unacknowledged again', () => {
    const t = new Thing()
    t.at(0, snap(['bypass_valve_fault']))
    t.alarms.records[0].ack = { at: 1000, by: 'op' }
    t.at(60_999, snap(['bypass_valve_fault']))
    expect(t.states()).toEqual({ bypass_valve_fault: 'active-acknowledged' })
    t.at(61_000, snap(['bypass_valve_fault']))
    expect(t.states()).toEqual({ bypass_valve_fault: 'active-unacknowledged' })
    expect(t.kinds()).toEqual(['bypass_valve_fault:re-alarmed'])
  })
})

describe('shelves and chattering', () => {
  it('a timed shelve ends at its time; a one-shot one when the alert clears', () => {
    const t = new Thing()
    t.at(0, snap(['fan_fault']))
    const key = t.alarms.records[0].key
    t.alarms.shelves[key] = { until: 5000, oneShot: false, at: 0, by: 'op', reason: 'known' }
    t.at(4999, snap(['fan_fault']))
    expect(t.states()).toEqual({ fan_fault: 'shelved' })
    t.at(5000, snap(['fan_fault']))
    expect(t.states()).toEqual({ fan_fault: 'active-unacknowledged' })
    expect(t.kinds()).toEqual(['fan_fault:unshelved'])
    t.alarms.shelves[key] = { until: 99_000, oneShot: true, at: 0, by: 'op', reason: 'once' }
    t.at(6000, snap([]))
    expect(t.alarms.shelves).toEqual({})
    expect(t.kinds()).toEqual(['fan_fault:cleared', 'fan_fault:unshelved'])
  })

  it('an alert clearing 3 times within 60 s is shelved for the configured time and a chattering alert names it', () => {
    const t = new Thing()
    for (let i = 0; i < 5; i++) t.at(i * 10_000, snap(i % 2 === 0 ? ['fan_fault'] : []))
    expect(t.alarms.shelves).toEqual({})
    t.at(50_000, snap([]))
    const shelf = Object.values(t.alarms.shelves)[0]
    expect(shelf).toMatchObject({ auto: true, by: 'system', until: 50_000 + 3_600_000 })
    expect(t.states()).toEqual({ chattering: 'active-unacknowledged' })
    expect(t.alarms.records[0].alert).toMatchObject({ name: 'chattering', message: 'fan_fault is chattering', severity: 'low' })
    // while shelved the chattering alert stays, whatever the fan does
    t.at(60_000, snap(['fan_fault']))
    expect(t.states()).toEqual({ chattering: 'active-unacknowledged', fan_fault: 'shelved' })
    t.at(50_000 + 3_600_000, snap(['fan_fault']))
    t.at(50_001 + 3_600_000, snap(['fan_fault']))
    expect(t.states()).toEqual({ fan_fault: 'active-unacknowledged' })
  })

  it('a safety alarm is never shelved for chattering', () => {
    const t = new Thing({ ...CONF, pdu_smoke_alarm: { severity: 'critical', safety: true } })
    for (let i = 0; i < 10; i++) t.at(i * 5000, snap([], 20, i % 2 === 0))
    expect(t.alarms.shelves).toEqual({})
    expect(t.states()).toEqual({})
  })

  it('chattering detection is off with count 0', () => {
    const t = new Thing(CONF, alarmPolicyOf({ alarms: { chattering: { count: 0 } } }, NO_ALARM_DEFAULTS))
    for (let i = 0; i < 10; i++) t.at(i * 5000, snap(i % 2 === 0 ? ['fan_fault'] : []))
    expect(t.alarms.shelves).toEqual({})
  })
})

describe('no snapshot', () => {
  it('keeps the other conditions as they were (unknown is not clear) and raises error_snap', () => {
    const t = new Thing()
    t.at(0, snap(['fan_fault'], 20, true))
    t.at(1000, null)
    expect(t.states()).toEqual({ fan_fault: 'active-unacknowledged', pdu_smoke_alarm: 'active-unacknowledged', error_snap: 'active-unacknowledged' })
    t.at(2000, snap([]))
    expect(t.states()).toEqual({ pdu_smoke_alarm: 'cleared-unacknowledged' })
  })
})
