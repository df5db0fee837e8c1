/**
 * The alarm journal writes every entry it is given: one that fails (a store write past its
 * timeout) is logged and the entries after it are still written — the history keeps the
 * transitions of a collection whose first write was slow.
 */
import { describe, expect, it } from 'vitest'
import { WrkError } from '../../../../workers/core/errors'
import type { Logger } from '../../../../workers/core/types'
import { AlarmJournal } from '../../../../workers/tpl/thing/alerts/alarm-journal'
import type { TimeLogs } from '../../../../workers/tpl/thing/logs/time-log'
import type { Alert } from '../../../../workers/tpl/thing/types'

const alert: Alert = { name: 'makeup_water_pump_fault', code: 'makeup_water_pump_fault', description: 'd', severity: 'high', createdAt: 1000, uuid: 'u-1' }

function rig (failFirst: number): { journal: AlarmJournal, written: Array<{ ts: number, entry: Record<string, unknown> }>, warned: unknown[] } {
  const written: Array<{ ts: number, entry: Record<string, unknown> }> = []
  const warned: unknown[] = []
  let calls = 0
  const logs = {
    append: async (_key: string, ts: number, entry: Record<string, unknown>) => {
      if (calls++ < failFirst) throw new WrkError('ERR_STORE_TIMEOUT')
      written.push({ ts, entry })
    }
  } as unknown as TimeLogs
  const logger = { warn: (obj: unknown) => { warned.push(obj) }, info: () => {}, debug: () => {}, error: () => {} } as unknown as Logger
  return { journal: new AlarmJournal(() => logs, () => logger), written, warned }
}

describe('AlarmJournal', () => {
  it('a failed write is logged and the entries after it are still written, in time order', async () => {
    const { journal, written, warned } = rig(1)
    await journal.started('e1', alert)
    await journal.transitions('e1', [
      { ts: 1000, alert, transition: 'active', by: 'system' },
      { ts: 900, alert, transition: 'acknowledged', by: 'ann' }
    ])
    expect(written.map((w) => w.entry.transition)).toEqual(['active', 'acknowledged'])
    // an entry older than the newest written goes just after it
    expect(written.map((w) => w.ts)).toEqual([1000, 1000])
    // the failed write (with its code), then the active transition's log line
    expect(warned).toHaveLength(2)
    expect(warned[0]).toMatchObject({ err: { code: 'ERR_STORE_TIMEOUT' }, ts: 1000 })
    expect(warned[1]).toMatchObject({ thingId: 'e1', transition: 'active', uuid: 'u-1' })
  })

  it('writes every entry when the store answers', async () => {
    const { journal, written } = rig(0)
    await journal.started('e1', alert)
    await journal.transitions('e1', [{ ts: 1200, alert, transition: 'active', by: 'system' }])
    expect(written.map((w) => [w.ts, w.entry.uuid, w.entry.transition ?? null])).toEqual([[1000, 'u-1', null], [1200, 'u-1', 'active']])
  })

  it('entries are written in call order even when an earlier write is slow (a collection, then an operator)', async () => {
    const order: string[] = []
    let slow = true
    const logs = {
      append: async (_key: string, ts: number, entry: Record<string, unknown>) => {
        if (slow) {
          slow = false
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        order.push(`${String(entry.transition ?? 'started')}@${ts}`)
      }
    } as unknown as TimeLogs
    const logger = { warn: () => {}, info: () => {}, debug: () => {}, error: () => {} } as unknown as Logger
    const journal = new AlarmJournal(() => logs, () => logger)
    const collection = journal.record('e1', [alert], [{ ts: 1000, alert, transition: 'active', by: 'system' }])
    const operator = journal.transitions('e1', [{ ts: 2000, alert, transition: 'acknowledged', by: 'ann' }])
    await Promise.all([collection, operator])
    expect(order).toEqual(['started@1000', 'active@1000', 'acknowledged@2000'])
  })
})
