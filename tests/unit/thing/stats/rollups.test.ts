import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StoreFacility, type Bee } from '../../../../workers/facs/store'
import { Rollups, parseRollups, type RollupConf } from '../../../../workers/tpl/thing/stats/rollups'
import { TimeLogs, type LogMeta } from '../../../../workers/tpl/thing/logs/time-log'
import { thrownCode } from '../../../helpers/errors'

let dir: string
let store: StoreFacility
let logs: TimeLogs

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mbt-rollup-'))
  store = new StoreFacility(dir)
  await store.ready()
  const db = await store.getBee('db')
  logs = new TimeLogs(store, db.sub('meta_logs') as Bee<LogMeta>, { maxLength: 10_000, keepCount: 3 })
})

afterEach(async () => {
  await store.close()
  await rm(dir, { recursive: true, force: true })
})

const H = 3_600_000
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % H) // a window start

function rollups (tags: string[]): Rollups {
  const things = [{ record: { tags } }]
  return new Rollups({ logs, registry: { all: () => things } } as never)
}

const CONF: RollupConf = parseRollups([{ srcKey: 'stat-5m', destKey: 'stat-1hr', fields: ['container_power_w_sum', 'cdu.temp'], cron: '0 1 * * * *' }])[0] as RollupConf

describe('rollups', () => {
  it('averages each field over each complete window, per stat tag (id-/code- tags skipped), with count and window', async () => {
    // window 0: power 10, 20, 30 (temp only on two); window 1: power 40; window 2 (incomplete at `now`): 99
    for (const [ts, power, temp] of [[T0, 10, 1], [T0 + 5 * 60_000, 20, undefined], [T0 + H - 1, 30, 3], [T0 + H + 60_000, 40, 5], [T0 + 2 * H, 99, 9]] as const) {
      await logs.append('stat-5m-t-container', ts, { ts, container_power_w_sum: power, ...(temp !== undefined ? { cdu: { temp } } : {}) })
    }
    await rollups(['t-container', 'id-x', 'code-y']).run(CONF, T0 + 2 * H + 1000)
    expect(await logs.read('stat-1hr-t-container', 0, { limit: 10 })).toEqual([
      { ts: T0 + H, container_power_w_sum: 40, cdu: { temp: 5 }, rollup_count: 1, rollup_window_ms: H },
      { ts: T0, container_power_w_sum: 20, cdu: { temp: 2 }, rollup_count: 3, rollup_window_ms: H }
    ])
    expect(await logs.read('stat-1hr-id-x', 0, {})).toBeNull()
  })

  it('catches up missed windows, at most maxCatchUpWindows; a later run (or a restart) writes no window twice', async () => {
    for (let i = 0; i < 10; i++) await logs.append('stat-5m-t-x', T0 + i * H, { ts: T0 + i * H, container_power_w_sum: i })
    const conf = { ...CONF, maxCatchUpWindows: 4 }
    await rollups(['t-x']).run(conf, T0 + 10 * H)
    const first = await logs.read('stat-1hr-t-x', 0, { limit: 100 }) as Array<{ ts: number }>
    expect(first.map((e) => (e.ts - T0) / H)).toEqual([9, 8, 7, 6])
    // the same instance, then a fresh one (a restart) reading where the log ends
    await rollups(['t-x']).run(conf, T0 + 10 * H + 5000)
    const again = rollups(['t-x'])
    await again.run(conf, T0 + 11 * H)
    const all = await logs.read('stat-1hr-t-x', 0, { limit: 100 }) as Array<{ ts: number }>
    expect(all.map((e) => (e.ts - T0) / H)).toEqual([9, 8, 7, 6]) // window 10 has no source entries
  })

  it('invalid configuration → ERR_CONFIG_INVALID', () => {
    const bad: unknown[] = [{}, [{ srcKey: 'thing-5m', destKey: 'stat-x', fields: ['a'] }], [{ srcKey: 'stat-5m', destKey: 'stat-5m', fields: ['a'] }], [{ srcKey: 'stat-5m', destKey: 'stat-r', fields: [] }], [{ srcKey: 'stat-5m', destKey: 'stat-r', fields: ['a'], windowMs: 10 }], [{ srcKey: 'stat-5m', destKey: 'stat-r', fields: ['$where'] }]]
    for (const value of bad) expect(thrownCode(() => parseRollups(value)), JSON.stringify(value)).toBe('ERR_CONFIG_INVALID')
    expect(parseRollups([{ srcKey: 'stat-5m', destKey: 'stat-r', fields: ['a.b'] }])[0]).toMatchObject({ windowMs: H, maxCatchUpWindows: 48 })
  })
})
