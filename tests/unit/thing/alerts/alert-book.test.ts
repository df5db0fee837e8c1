/**
 * The AlertBook over a real store with the MicroBT defaults: inhibition of the `--error`
 * cascade, operator actions and their refusals, persistence across a reopen, the journal.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { AlarmBench, ERROR_CASCADE, exampleAlertConf, mbtSnap } from '../../../helpers/alarms'
import { AlarmOps } from '../../../../workers/tpl/thing/alerts/alarm-ops'
import { AlarmMethods } from '../../../../workers/tpl/thing/alerts/alarm-methods'
import { AlertHistory } from '../../../../workers/tpl/thing/alerts/alert-history'
import type { RackParts } from '../../../../workers/tpl/thing/rack-parts'
import { rejectionCode } from '../../../helpers/errors'
import type { Alert } from '../../../../workers/tpl/thing/types'

let bench: AlarmBench
let ops: AlarmOps
let methods: AlarmMethods

beforeEach(async () => {
  bench = await AlarmBench.create()
  ops = new AlarmOps(bench.book)
  methods = new AlarmMethods(bench.book)
  await bench.thing('c1')
})

afterEach(async () => {
  await bench.close()
  await bench.remove()
})

const names = (alerts: readonly Alert[] | null | undefined): string[] => (alerts ?? []).map((a) => a.name).sort()
const shown = (id = 'c1'): Alert[] => bench.registry.get(id).last.alerts ?? []

describe('inhibition with the MicroBT defaults', () => {
  it('the --error cascade shows its root causes only; the rest is suppressed, naming the cause', async () => {
    const alerts = await bench.collect('c1', mbtSnap(ERROR_CASCADE))
    expect(names(alerts)).toEqual(['circ_pump_inverter_fault', 'makeup_water_pump_fault', 'unit_inlet_temp_sensor_fault'])
    const listed = await methods.list({})
    expect(listed).toHaveLength(ERROR_CASCADE.length)
    const suppressed = listed.filter((a) => a.state === 'suppressed')
    expect(suppressed).toHaveLength(ERROR_CASCADE.length - 3)
    expect(suppressed.find((a) => a.name === 'circulating_pump_fault')?.suppressedBy).toBe('circ_pump_inverter_fault')
    expect(suppressed.find((a) => a.name === 'high_outlet_temp_unit')?.suppressedBy).toBe('circ_pump_inverter_fault')
    expect(suppressed.find((a) => a.name === 'unit_outlet_temp_sensor_fault')?.suppressedBy).toBe('unit_inlet_temp_sensor_fault')
  })

  it('a power fault suppresses the pump and pressure alerts it causes; they show once it clears', async () => {
    await bench.collect('c1', mbtSnap(['power_fault', 'circulating_pump_fault', 'low_inlet_pressure_circ_pump', 'fan_fault']))
    expect(names(shown())).toEqual(['power_fault'])
    expect((await methods.list({ states: ['suppressed'] })).map((a) => a.suppressedBy)).toEqual(['power_fault', 'power_fault', 'power_fault'])
    await bench.collect('c1', mbtSnap(['circulating_pump_fault', 'low_inlet_pressure_circ_pump']))
    // the pump fault is a cause of its own: the pressure alert stays suppressed, by it now
    expect(names(shown())).toEqual(['circulating_pump_fault'])
    expect((await methods.list({ states: ['suppressed'] }))[0]).toMatchObject({ name: 'low_inlet_pressure_circ_pump', suppressedBy: 'circulating_pump_fault' })
  })

  it('an unreachable unit suppresses that unit\'s alerts only', async () => {
    await bench.collect('c1', mbtSnap(['fan_fault'], 50, false, ['fcdu']))
    expect(names(shown())).toEqual(['fan_fault', 'unit_unreachable'])
    expect((await methods.list({ states: ['suppressed'] }))[0]).toMatchObject({ name: 'water_max_inlet_temp_warn', suppressedBy: 'unit_unreachable@cdu' })
  })

  it('no snapshot: error_snap only, the other alerts suppressed (kept, not cleared) — a latched safety alarm stays shown', async () => {
    await bench.collect('c1', mbtSnap(['fan_fault'], 30, true))
    const before = shown().find((a) => a.name === 'fan_fault')?.uuid
    await bench.collect('c1', null)
    expect(names(shown())).toEqual(['error_snap', 'pdu_smoke_alarm'])
    await bench.collect('c1', mbtSnap(['fan_fault'], 30, false))
    expect(shown().find((a) => a.name === 'fan_fault')?.uuid).toBe(before)
    expect(shown().find((a) => a.name === 'pdu_smoke_alarm')?.state).toBe('cleared-unacknowledged')
  })
})

describe('operator actions', () => {
  it('acknowledge by uuid: the alert stays shown, acknowledged, with who and the comment; unknown uuid changes nothing', async () => {
    await bench.collect('c1', mbtSnap(['fan_fault', 'bypass_valve_fault']))
    const [fan, bypass] = [shown().find((a) => a.name === 'fan_fault') as Alert, shown().find((a) => a.name === 'bypass_valve_fault') as Alert]
    expect(await rejectionCode(ops.acknowledge({ uuids: [fan.uuid, 'nope'], user: 'ann' }))).toBe('ERR_ALERT_NOTFOUND')
    expect(shown().every((a) => a.acknowledged === false)).toBe(true)
    expect(await ops.acknowledge({ uuids: [fan.uuid], user: 'ann', comment: 'on it' })).toEqual({ count: 1, uuids: [fan.uuid] })
    expect(shown().find((a) => a.uuid === fan.uuid)).toMatchObject({ state: 'active-acknowledged', acknowledged: true, ackedBy: 'ann', ackComment: 'on it' })
    expect(shown().find((a) => a.uuid === bypass.uuid)?.state).toBe('active-unacknowledged')
    // by query; an acknowledged one is not counted again
    expect((await ops.acknowledge({ query: { severity: 'high' }, user: 'bob' })).uuids).toEqual([bypass.uuid])
    await bench.collect('c1', mbtSnap(['fan_fault', 'bypass_valve_fault']))
    expect(shown().every((a) => a.state === 'active-acknowledged')).toBe(true)
    expect(await rejectionCode(ops.acknowledge({ query: { $bad: 1 } }))).toBe('ERR_QUERY_INVALID')
  })

  it('a pending alert cannot be acknowledged by uuid', async () => {
    bench.conf.fan_fault = { ...bench.conf.fan_fault, onDelayMs: 60_000 }
    await bench.collect('c1', mbtSnap(['fan_fault']))
    const [pending] = await methods.list({ states: ['pending'] })
    expect(pending).toMatchObject({ name: 'fan_fault', state: 'pending' })
    expect(names(shown())).toEqual([])
    expect(await rejectionCode(ops.acknowledge({ uuids: [pending.uuid] }))).toBe('ERR_ALERT_STATE_INVALID')
  })

  it('shelve (bounded by maxShelveMs) hides an alert from last.alerts until unshelved', async () => {
    await bench.collect('c1', mbtSnap(['fan_fault']))
    const uuid = shown()[0].uuid
    expect(await rejectionCode(ops.shelve({ uuids: [uuid], durationMs: bench.policy.maxShelveMs + 1, reason: 'x' }))).toBe('ERR_ALERT_SHELVE_TOO_LONG')
    expect(names(shown())).toEqual(['fan_fault'])
    expect((await ops.shelve({ uuids: [uuid], durationMs: 3_600_000, reason: 'fan swap', user: 'ann' })).count).toBe(1)
    expect(shown()).toEqual([])
    await bench.collect('c1', mbtSnap(['fan_fault']))
    expect(shown()).toEqual([])
    expect((await methods.list({}))[0]).toMatchObject({ uuid, state: 'shelved', shelvedBy: 'ann', shelveReason: 'fan swap' })
    expect((await ops.unshelve({ uuids: [uuid], user: 'ann' })).count).toBe(1)
    expect(shown()[0]).toMatchObject({ uuid, state: 'active-unacknowledged' })
  })

  it('reset ends a latched alert whose condition cleared; one still active or not latched is refused', async () => {
    await bench.collect('c1', mbtSnap(['fan_fault'], 30, true))
    const smoke = shown().find((a) => a.name === 'pdu_smoke_alarm') as Alert
    const fan = shown().find((a) => a.name === 'fan_fault') as Alert
    expect(await rejectionCode(ops.reset({ uuids: [smoke.uuid] }))).toBe('ERR_ALERT_NOT_RESETTABLE')
    await bench.collect('c1', mbtSnap(['fan_fault'], 30, false))
    expect(await rejectionCode(ops.reset({ uuids: [smoke.uuid, fan.uuid] }))).toBe('ERR_ALERT_NOT_RESETTABLE')
    expect(names(shown())).toEqual(['fan_fault', 'pdu_smoke_alarm'])
    expect(await ops.reset({ uuids: [smoke.uuid], user: 'ann', comment: 'detector cleaned' })).toEqual({ count: 1, uuids: [smoke.uuid] })
    expect(names(shown())).toEqual(['fan_fault'])
  })

  it('out of service: an alert name on every thing, or all of a thing\'s alerts, and back', async () => {
    await bench.thing('c2')
    await bench.collect('c1', mbtSnap(['fan_fault', 'bypass_valve_fault']))
    await bench.collect('c2', mbtSnap(['fan_fault']))
    expect(await ops.outOfService({ name: 'fan_fault', outOfService: true, reason: 'fans replaced', user: 'ann' })).toEqual({ count: 2 })
    expect(names(shown('c1'))).toEqual(['bypass_valve_fault'])
    expect(names(shown('c2'))).toEqual([])
    expect(await ops.outOfService({ thingId: 'c1', outOfService: true })).toEqual({ count: 1 })
    expect(names(shown('c1'))).toEqual([])
    expect(await rejectionCode(ops.outOfService({ thingId: 'nope', outOfService: true }))).toBe('ERR_THING_NOTFOUND')
    await ops.outOfService({ name: 'fan_fault', outOfService: false })
    await ops.outOfService({ thingId: 'c1', outOfService: false })
    expect(names(shown('c1'))).toEqual(['bypass_valve_fault', 'fan_fault'])
    expect(names(shown('c2'))).toEqual(['fan_fault'])
  })
})

describe('forget', () => {
  it('a forgotten thing\'s alarms and the marks naming it go, from memory and the store', async () => {
    await bench.thing('c2')
    await bench.collect('c2', mbtSnap(['fan_fault']))
    await ops.outOfService({ thingId: 'c2', outOfService: true })
    await ops.outOfService({ name: 'fan_fault', outOfService: true })
    await bench.book.forget('c2')
    expect(bench.book.marks.map((m) => m.name)).toEqual(['fan_fault'])
    expect(await methods.list({})).toEqual([])
    await bench.close()
    await bench.open()
    expect(bench.book.marks).toHaveLength(1)
    expect(bench.book.thingIds()).not.toContain('c2')
  })
})

describe('persistence', () => {
  it('a pending delay, an acknowledgement, a shelve, a latch and an out-of-service mark survive a reopen of the store', async () => {
    bench.conf.power_fault = { ...bench.conf.power_fault, onDelayMs: 3_600_000 }
    await bench.thing('c2')
    await bench.collect('c1', mbtSnap(['power_fault', 'outdoor_ambient_temp_sensor_fault'], 30, true))
    await bench.collect('c2', mbtSnap(['fan_fault', 'bypass_valve_fault']))
    const sensor = shown().find((a) => a.name === 'outdoor_ambient_temp_sensor_fault') as Alert
    await ops.acknowledge({ uuids: [sensor.uuid], user: 'ann' })
    await ops.shelve({ uuids: [shown('c2')[0].uuid], durationMs: 3_600_000, reason: 'r' })
    await ops.outOfService({ name: 'bypass_valve_fault', outOfService: true })
    await bench.collect('c1', mbtSnap(['power_fault', 'outdoor_ambient_temp_sensor_fault'], 30, false))
    const before = await methods.list({})
    expect(before.map((a) => `${a.thingId}:${a.name}:${a.state}`).sort()).toEqual([
      'c1:outdoor_ambient_temp_sensor_fault:active-acknowledged', 'c1:pdu_smoke_alarm:cleared-unacknowledged', 'c1:power_fault:pending',
      'c2:bypass_valve_fault:out-of-service', 'c2:fan_fault:shelved'
    ])
    const pendingSince = before.find((a) => a.name === 'power_fault')?.pendingSince as number
    await bench.close()
    await bench.open()
    methods = new AlarmMethods(bench.book)
    expect(await methods.list({})).toEqual(before)
    expect(names(shown())).toEqual(['outdoor_ambient_temp_sensor_fault', 'pdu_smoke_alarm'])
    expect(shown().find((a) => a.name === 'pdu_smoke_alarm')?.state).toBe('cleared-unacknowledged')
    // the on-delay counts from when the condition started, not from the reopen
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(pendingSince + 3_600_000 - 1)
      await bench.collect('c1', mbtSnap(['power_fault'], 30, false))
      expect(names(shown())).not.toContain('power_fault')
      vi.setSystemTime(pendingSince + 3_600_000)
      await bench.collect('c1', mbtSnap(['power_fault'], 30, false))
      expect(names(shown())).toContain('power_fault')
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('journal', () => {
  it('every transition is in the history with who and why; the default reply keeps only alerts that started; log lines warn on active', async () => {
    await bench.collect('c1', mbtSnap(['fan_fault']))
    const uuid = shown()[0].uuid
    await ops.acknowledge({ uuids: [uuid], user: 'ann', comment: 'seen' })
    await bench.collect('c1', mbtSnap([]))
    const history = new AlertHistory(bench.book.rack as RackParts)
    const plain = await history.historicalLogs({ logType: 'alerts' })
    expect(plain.map((e) => [e.name, e.uuid])).toEqual([['fan_fault', uuid]])
    const all = await history.historicalLogs({ logType: 'alerts', transitions: true })
    expect(all.filter((e) => e.transition !== undefined).map((e) => `${String(e.transition)}:${String(e.by)}`).reverse()).toEqual(['active:system', 'acknowledged:ann', 'cleared:system'])
    expect(all.find((e) => e.transition === 'acknowledged')).toMatchObject({ why: 'seen', thing: { id: 'c1' }, severity: 'high' })
    expect(bench.lines.map((l) => `${l.level}:${l.msg}`)).toEqual(['warn:alert active', 'info:alert acknowledged', 'info:alert cleared'])
    expect(bench.lines[0].obj).toMatchObject({ thingId: 'c1', name: 'fan_fault', severity: 'high', uuid })
  })

  it('more than 10 new alerts within 10 min raise one alarm_flood of the rack', async () => {
    for (let i = 0; i < 6; i++) {
      await bench.thing(`f${i}`)
      await bench.collect(`f${i}`, mbtSnap(['fan_fault', 'bypass_valve_fault']))
    }
    const flood = (await methods.list({})).filter((a) => a.name === 'alarm_flood')
    expect(flood).toHaveLength(1)
    expect(flood[0]).toMatchObject({ thingId: null, severity: 'high' })
    expect(bench.lines.filter((l) => l.msg === 'alert flood')).toHaveLength(1)
  })
})

describe('configuration', () => {
  it('the example configuration has an entry for the alerts alarm management raises', () => {
    const conf = exampleAlertConf()
    expect(conf.chattering?.severity).toBeDefined()
    expect(conf.alarm_flood?.severity).toBeDefined()
  })
})
