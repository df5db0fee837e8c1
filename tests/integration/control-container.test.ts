/**
 * Guarded control of a MicroBTContainer against the in-process mock (issue 27): previews equal
 * what a run then writes (the mock's write log), no-ops decided on a fresh read even when the
 * snapshot is stale, staged power-ups under guards that trip (power, inlet temperature,
 * pressure) and roll back, setpoint safety and the forced switch-off.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MockServer } from '../../mock/server'
import { CONTROL_CONF_DEFAULTS, type ControlConf } from '../../workers/lib/control/conf'
import type { MicroBTContainer } from '../../workers/lib/container'
import type { ActionProgress, ActionRun } from '../../workers/tpl/thing/actions/action-run'
import { rejectionCode } from '../helpers/errors'
import { silentLogger } from '../../workers/core/types'
import { expectSuccess, makeContainer, releaseAll, startMock } from './container-mock.helpers'

afterEach(async () => { await releaseAll() })

interface Recorded { run: ActionRun, progress: ActionProgress[], recorded: () => number }

function runOf (opts: { dryRun?: boolean } = {}): Recorded {
  const progress: ActionProgress[] = []
  let recorded = 0
  const run: ActionRun = {
    actionId: 'act-test',
    user: 'ops',
    dryRun: opts.dryRun === true,
    report: (p) => { progress.push(p) },
    record: async () => { recorded++ }
  }
  return { run, progress, recorded: () => recorded }
}

const conf = (patch: Partial<ControlConf>): () => ControlConf =>
  () => ({ ...CONTROL_CONF_DEFAULTS, batchDelayMs: 0, minBatchDelayMs: 0, ...patch })

const writesOf = (mock: MockServer, from = 0): string[] => mock.writeLog.slice(from).map((w) => `${w.unit}:${w.register}=${w.value}`)

/** The audit lines a container logged. */
type Audit = Array<Record<string, unknown>>

interface Rig { mock: MockServer, c: MicroBTContainer, audit: Audit }

async function rig (patch: Partial<ControlConf> = {}, inletMaxC: number | null = null): Promise<Rig> {
  const mock = await startMock('kehua')
  const audit: Audit = []
  const info = (o: object | string): void => { if (typeof o === 'object' && 'audit' in o) audit.push(o as Record<string, unknown>) }
  const logger = { ...silentLogger, info }
  const c = makeContainer('kehua', mock.port, { control: conf(patch), inletMaxC: () => inletMaxC, logger })
  return { mock, c, audit }
}

/** Switches every socket off through the raw path (no guards) and clears the write log. */
async function allOff (mock: MockServer, c: MicroBTContainer): Promise<void> {
  await c.switchSocket([['-1', '-1', false]])
  expect(mock.state.enabledSockets()).toBe(0)
  mock.resetStats()
}

describe('preview (dry run)', () => {
  it('lists every register write from a fresh read with its meaning, no-ops included, and writes nothing', async () => {
    const { mock, c } = await rig()
    await c.switchSocket([['3', '7', false]])
    mock.resetStats()
    const { run } = runOf({ dryRun: true })
    const reply = await c.runAction('switchSocket', [[['3', '7', true], ['3', '8', true]]], run)
    expect(reply).toMatchObject({ success: true, dryRun: true, actionId: 'act-test' })
    expect(reply.preview).toMatchObject({
      method: 'switchSocket',
      changes: 1,
      noops: 1,
      batches: 1,
      writes: [
        { unit: 11, register: 302, from: 2, to: 1, meaning: 'PDU 3 socket 7: off → on', noop: false },
        { unit: 11, register: 301, from: 1, to: 1, meaning: 'PDU 3 socket 8: on → on', noop: true }
      ]
    })
    expect(mock.writeLog).toEqual([])
    expect(mock.state.isSocketEnabled(3, 7)).toBe(false)
  })

  it('the preview is exactly what the run then writes (checked at the mock\'s write log)', async () => {
    const { mock, c } = await rig({ batchSize: 7 })
    await c.switchSocket([['2', '-1', false], ['5', '3', false]])
    mock.resetStats()
    const params = [[['2', '-1', true], ['5', '3', true], ['5', '4', false], ['6', '1', true]]]
    type Preview = { preview: { writes: Array<{ unit: number, register: number, to: number, noop: boolean }> } }
    const { preview } = await c.runAction('switchSocket', params, runOf({ dryRun: true }).run) as Preview
    expect(mock.writeLog).toEqual([])
    const planned = preview.writes.filter((w) => !w.noop).map((w) => `${w.unit}:${w.register}=${w.to}`)
    await c.runAction('switchSocket', params, runOf().run)
    // power-downs first, then the power-ups in order
    const off = planned.filter((w) => w.endsWith('=2'))
    const on = planned.filter((w) => w.endsWith('=1'))
    expect(writesOf(mock)).toEqual([...off, ...on])
    expect(on).toHaveLength(21)
    expect(off).toEqual(['13:305=2'])
  })

  it('setpoints: `fan start temperature 25.00 → 27.50 °C`, equal values are no-ops', async () => {
    const { mock, c } = await rig()
    await c.setCoolingFanThreshold({ startTemp: 25, stopTemp: 20 })
    mock.resetStats()
    const reply = await c.runAction('setCoolingFanThreshold', [{ startTemp: 27.5, stopTemp: 20 }], runOf({ dryRun: true }).run)
    expect((reply.preview as { writes: unknown[] }).writes).toEqual([
      { unit: 1, register: 614, from: 2500, to: 2750, meaning: 'fan start temperature 25.00 → 27.50 °C', noop: false },
      { unit: 1, register: 615, from: 2000, to: 2000, meaning: 'fan stop temperature 20.00 → 20.00 °C', noop: true }
    ])
    const reply2 = await c.runAction('setCoolingFanThreshold', [{ startTemp: 27.5, stopTemp: 20 }], runOf().run)
    expect(reply2).toEqual({ success: true, written: 1, skipped: 1 })
    expect(writesOf(mock)).toEqual(['1:614=2750'])
  })
})

describe('no-op removal', () => {
  it('decides on a fresh read, not on the stale snapshot: a socket switched behind its back is not written again', async () => {
    const { mock, c } = await rig()
    const snap = expectSuccess(await c.getSnap())
    expect(snap.stats.container_specific.pdu_data[0].sockets?.[0]).toEqual({ socket: '1', enabled: true })
    // switched off outside the worker: the snapshot still says on
    mock.state.setSocket(1, 1, false)
    mock.state.setSocket(1, 2, false)
    mock.resetStats()
    const reply = await c.runAction('switchSocket', [[['1', '1', false], ['1', '2', false], ['1', '3', false]]], runOf().run)
    expect(reply).toEqual({ success: true, written: 1, skipped: 2 })
    expect(writesOf(mock)).toEqual(['9:306=2'])
  })

  it('a request that changes nothing writes nothing (not even the authentication)', async () => {
    const { mock, c } = await rig()
    const reply = await c.runAction('switchContainer', [true], runOf().run)
    expect(reply).toEqual({ success: true, written: 0, skipped: 1 })
    expect(mock.writeLog).toEqual([])
    expect(mock.stats.authSucceeded).toBe(0)
  })
})

describe('staged power-up', () => {
  it('240 sockets in 12 batches of one PDU, guards read before each batch and after the last', async () => {
    const { mock, c } = await rig({ maxPowerW: 2_000_000 })
    await allOff(mock, c)
    const { run, progress, recorded } = runOf()
    const reply = await c.runAction('switchSocket', [[['-1', '-1', true]]], run)
    expect(reply).toMatchObject({ success: true, actionId: 'act-test', written: 240, skipped: 0, batches: 12, batchesDone: 12 })
    expect(recorded()).toBe(1)
    expect(mock.state.enabledSockets()).toBe(240)
    expect(mock.writeLog).toHaveLength(240)
    // PDU by PDU: batch k is unit 8 + k
    expect(new Set(mock.writeLog.slice(0, 20).map((w) => w.unit))).toEqual(new Set([9]))
    expect(new Set(mock.writeLog.slice(220).map((w) => w.unit))).toEqual(new Set([20]))
    expect(progress.at(-1)).toMatchObject({ phase: 'done', batches: 12, batchesDone: 12, written: 240 })
    expect((reply.guards as { powerW: number }).powerW).toBeGreaterThan(0)
  })

  it('power above the cap mid-way → stopped and rolled back: every socket it switched on is off again', async () => {
    const { mock, c, audit } = await rig()
    await allOff(mock, c)
    const base = expectSuccess(await c.getSnap()).stats.power_w as number
    // the cap lies between 3 and 4 PDUs of draw
    await c.switchSocket([['1', '-1', true]])
    const onePdu = (expectSuccess(await c.getSnap()).stats.power_w as number) - base
    await c.switchSocket([['1', '-1', false]])
    mock.resetStats()
    const cap = Math.round(base + 3.5 * onePdu)
    const { run, progress } = runOf()
    const err = await c.runAction('switchSocket', [[['-1', '-1', true]], { maxPowerW: cap }], run).catch((e: unknown) => e)
    expect((err as { code: string }).code).toBe('ERR_CONTROL_GUARD_TRIPPED')
    expect((err as Error).message).toMatch(/above the cap .* after 4 of 12 batches: 80 sockets switched on were switched off again/)
    expect(mock.state.enabledSockets()).toBe(0)
    const ons = mock.writeLog.filter((w) => w.value === 1)
    const offs = mock.writeLog.filter((w) => w.value === 2)
    expect(ons).toHaveLength(80)
    expect(offs.map((w) => `${w.unit}:${w.register}`)).toEqual(ons.map((w) => `${w.unit}:${w.register}`))
    expect(progress.at(-1)).toMatchObject({ phase: 'rolled_back', batchesDone: 4, rolledBack: 80 })
    // every batch, guard reading and the rollback audited with the action id and user
    const events = audit.filter((a) => a.actionId === 'act-test' && a.user === 'ops').map((a) => a.event)
    expect(events).toEqual(['guards', 'batch', 'guards', 'batch', 'guards', 'batch', 'guards', 'batch', 'guards', 'rollback', 'stopped'])
    const tripping = audit.find((a) => a.event === 'guards' && Array.isArray(a.breaches) && a.breaches.length > 0)
    expect(tripping?.reading).toMatchObject({ powerW: expect.any(Number) })
    expect(JSON.stringify(audit)).not.toContain('admin')
  })

  it('onBreach stop: stops without rollback', async () => {
    const { mock, c } = await rig({ onBreach: 'stop', maxPowerW: 1_000_000 })
    await allOff(mock, c)
    await mock.apply({ live: { extraPowerKw: { value: 2000 } } })
    const { run, progress } = runOf()
    await expect(rejectionCode(c.runAction('switchSocket', [[['-1', '-1', true]]], run))).resolves.toBe('ERR_CONTROL_GUARD_TRIPPED')
    // tripped before the first batch: nothing was switched
    expect(mock.writeLog).toEqual([])
    expect(progress.at(-1)).toMatchObject({ phase: 'stopped', batchesDone: 0 })
  })

  it('the inlet temperature guard (the alert threshold in effect) trips mid-way and rolls back', async () => {
    const { mock, c } = await rig({}, 45)
    await allOff(mock, c)
    let batches = 0
    const { run } = runOf()
    const report = run.report
    run.report = (p) => {
      report(p)
      if (p.phase === 'switching' && p.batchesDone > batches) {
        batches = p.batchesDone
        if (batches === 2) void mock.apply({ live: { inletTemperature: { value: 47.5 } } })
      }
    }
    const err = await c.runAction('switchSocket', [[['-1', '-1', true]]], run).catch((e: unknown) => e) as Error
    expect(err.message).toMatch(/inlet temperature 47.5 °C above 45 °C after 2 of 12 batches/)
    expect(mock.state.enabledSockets()).toBe(0)
  })

  it('the pressure guard trips on the supply (P2) and the return (P3) pressure', async () => {
    const cases = [
      ['supplyPressure', 0.5, /supply pressure 0.5 bar below 1 bar/],
      ['returnPressure', 6.5, /return pressure 6.5 bar above 6 bar/]
    ] as const
    for (const [signal, value, re] of cases) {
      const { mock, c } = await rig({ pressureBar: { min: 1, max: 6 } })
      await allOff(mock, c)
      await c.switchSocket([['1', '1', true]])
      await mock.apply({ live: { [signal]: { value } } })
      const err = await c.runAction('switchSocket', [[['1', '-1', true]]], runOf().run).catch((e: unknown) => e) as Error
      expect(err.message).toMatch(re)
      // tripped before its only batch: the socket on before stays on (not switched by this action)
      expect(mock.state.enabledSockets()).toBe(1)
    }
  })

  it('a guard that cannot be read stops the action like a breach', async () => {
    const { mock, c } = await rig()
    await allOff(mock, c)
    mock.setFault({ silentUnits: [6] })
    const err = await c.runAction('switchSocket', [[['1', '1', true]]], runOf().run).catch((e: unknown) => e) as Error
    expect(err.message).toMatch(/guards unreadable \(ERR_MODBUS_TIMEOUT\)/)
    expect(mock.writeLog).toEqual([])
  })

  it('power-downs are one write, not staged, unless asked', async () => {
    const { mock, c } = await rig({ batchDelayMs: 200, minBatchDelayMs: 100 })
    let t = Date.now()
    expect(await c.runAction('switchSocket', [[['1', '-1', false], ['2', '-1', false]]], runOf().run)).toEqual({ success: true })
    expect(Date.now() - t).toBeLessThan(2000)
    expect(mock.state.enabledSockets()).toBe(200)
    t = Date.now()
    const params = [[['3', '-1', false], ['4', '-1', false]], { staged: true, batchDelayMs: 100 }]
    const staged = await c.runAction('switchSocket', params, runOf().run)
    expect(staged).toMatchObject({ batches: 2, written: 40 })
    expect(Date.now() - t).toBeGreaterThanOrEqual(95)
  })
})

describe('setpoint safety and forced switch-off', () => {
  it('vendor ranges (0 where configured), start ≥ stop against the device\'s values, max change per action', async () => {
    const { mock, c } = await rig({
      setpoints: { kehua: { runningSpeed: { min: 0, max: 90 }, temperature: { min: 0, max: 50 } } },
      maxSetpointChange: { runningSpeed: null, temperature: 5 }
    })
    await c.setCoolingFanThreshold({ runningSpeed: 50, startTemp: 30, stopTemp: 25 })
    mock.resetStats()
    const code = (p: unknown): Promise<string> => rejectionCode(c.runAction('setCoolingFanThreshold', [p], runOf().run))
    expect(await code({ runningSpeed: 95 })).toBe('ERR_COOLING_FAN_THRESHOLD_INVALID')
    expect(await code({ startTemp: 51 })).toBe('ERR_COOLING_FAN_THRESHOLD_INVALID')
    // only the stop temperature given: above the device's start temperature
    expect(await code({ stopTemp: 31 })).toBe('ERR_COOLING_FAN_THRESHOLD_INVALID')
    expect(await code({ startTemp: 36 })).toBe('ERR_SETPOINT_CHANGE_TOO_LARGE')
    expect(mock.writeLog).toEqual([])
    expect(await c.runAction('setCoolingFanThreshold', [{ runningSpeed: 0, startTemp: 35 }], runOf().run)).toEqual({ success: true })
    expect(writesOf(mock)).toEqual(['1:613=0', '1:614=3500'])
    // validateWriteAction knows the ranges (no device read)
    expect(() => c.validateWriteAction('setCoolingFanThreshold', { runningSpeed: 91 })).toThrow(/0…90/)
  })

  it('switchContainer false under load needs force: true', async () => {
    const { mock, c } = await rig({ forceSwitchOffAboveW: 10_000 })
    mock.resetStats()
    await expect(rejectionCode(c.runAction('switchContainer', [false], runOf().run))).resolves.toBe('ERR_CONTROL_FORCE_REQUIRED')
    expect(mock.writeLog).toEqual([])
    expect(await c.runAction('switchContainer', [false, { force: true }], runOf().run)).toEqual({ success: true })
    expect(writesOf(mock)).toEqual(['1:601=0'])
  })

  it('invalid control options: ERR_CONTROL_OPTIONS_INVALID, nothing read or written', async () => {
    const { mock, c } = await rig({ maxPowerW: 500_000, batchDelayMs: 5000, minBatchDelayMs: 1000 })
    mock.resetStats()
    const invalid = [{ batchDelayMs: 999 }, { maxPowerW: 500_001 }, { batchSize: 0 }, { onBreach: 'ignore' }, { nope: 1 }, { force: 'yes' }]
    for (const opts of invalid) {
      const code = await rejectionCode(c.runAction('switchSocket', [[['1', '1', true]], opts], runOf().run))
      expect(code).toBe('ERR_CONTROL_OPTIONS_INVALID')
      expect(() => c.validateWriteAction('switchSocket', [['1', '1', true]], opts)).toThrow()
    }
    expect(mock.stats.requests).toBe(0)
    // an approval trailer after the options is fine
    expect(c.validateWriteAction('switchSocket', [['1', '1', true]], { batchDelayMs: 1000, actionId: 'a', user: 'u' })).toBe(1)
  })
})
