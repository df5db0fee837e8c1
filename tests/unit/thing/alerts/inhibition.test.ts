/** Inhibition rules: order, no cycles, `*` and safety alarms, sameDevice, transitions of active alerts only. */
import { describe, expect, it } from 'vitest'
import { applyInhibition } from '../../../../workers/tpl/thing/alerts/inhibition'
import type { AlarmRecord } from '../../../../workers/tpl/thing/alerts/alarm-record'
import type { AlarmSettings, InhibitRule } from '../../../../workers/tpl/thing/alerts/alarm-conf'

function rec (name: string, opts: { deviceTag?: string, cond?: boolean, active?: boolean } = {}): AlarmRecord {
  const alert = { name, code: name, description: name, severity: 'high', createdAt: 0, uuid: `u-${name}-${opts.deviceTag ?? ''}`, ...(opts.deviceTag !== undefined ? { deviceTag: opts.deviceTag } : {}) }
  return { key: `${name}/${opts.deviceTag ?? ''}`, alert, cond: opts.cond ?? true, condSince: 0, active: opts.active ?? true }
}

const SAFE: Record<string, AlarmSettings> = { smoke: { safety: true } }
const settings = (name: string): AlarmSettings => SAFE[name] ?? {}
const causes = (records: AlarmRecord[]): Record<string, string | undefined> => Object.fromEntries(records.map((r) => [r.key, r.suppressedBy]))

describe('applyInhibition', () => {
  it('two rules naming each other hide only the later cause (rule order decides)', () => {
    const records = [rec('a'), rec('b')]
    const rules: InhibitRule[] = [{ cause: 'a', suppress: ['b'] }, { cause: 'b', suppress: ['a'] }]
    applyInhibition(records, rules, settings, 1)
    expect(causes(records)).toEqual({ 'a/': undefined, 'b/': 'a' })
  })

  it('a `*` rule hides everything but safety alarms and alerts of its own name; a named rule hides a safety alarm', () => {
    const records = [rec('error_snap'), rec('fan'), rec('smoke'), rec('error_snap', { deviceTag: 'x' })]
    applyInhibition(records, [{ cause: 'error_snap', suppress: ['*'] }], settings, 1)
    expect(causes(records)).toEqual({ 'error_snap/': undefined, 'fan/': 'error_snap', 'smoke/': undefined, 'error_snap/x': undefined })
    applyInhibition(records, [{ cause: 'fan', suppress: ['smoke'] }], settings, 2)
    expect(causes(records)['smoke/']).toBe('fan')
  })

  it('sameDevice: only the cause\'s device; the cause names its device', () => {
    const records = [rec('unit_unreachable', { deviceTag: 'pdu-1' }), rec('pdu_alarm', { deviceTag: 'pdu-1' }), rec('pdu_alarm', { deviceTag: 'pdu-2' }), rec('fan')]
    applyInhibition(records, [{ cause: 'unit_unreachable', suppress: ['*'], sameDevice: true }], settings, 1)
    expect(causes(records)).toEqual({ 'unit_unreachable/pdu-1': undefined, 'pdu_alarm/pdu-1': 'unit_unreachable@pdu-1', 'pdu_alarm/pdu-2': undefined, 'fan/': undefined })
  })

  it('a cause whose condition is gone hides nothing; transitions are reported for active alerts only', () => {
    const records = [rec('power'), rec('pump'), rec('pressure', { active: false })]
    const rules = [{ cause: 'power', suppress: ['pump', 'pressure'] }]
    expect(applyInhibition(records, rules, settings, 1).map((t) => `${t.alert.name}:${t.transition}`)).toEqual(['pump:suppressed'])
    expect(records[2].suppressedBy).toBe('power')
    records[0].cond = false
    const back = applyInhibition(records, rules, settings, 2)
    expect(back.map((t) => `${t.alert.name}:${t.transition}:${t.why ?? ''}`)).toEqual(['pump:unsuppressed:power cleared'])
    expect(causes(records)).toEqual({ 'power/': undefined, 'pump/': undefined, 'pressure/': undefined })
  })
})
