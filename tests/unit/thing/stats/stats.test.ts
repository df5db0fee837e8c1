import { describe, expect, it } from 'vitest'
import { aggregate, alertsGroupCnt, avg, cnt, group, groupMultipleStats, sum, valueAt, type StatEntry } from '../../../../workers/tpl/thing/stats/stats'
import { StatTicks, mergeTimeframes, thingsByTag } from '../../../../workers/tpl/thing/stats/stat-ticks'
import { MBT_STAT_SPEC } from '../../../../workers/lib/stats'
import type { ThingState } from '../../../../workers/tpl/thing/types'

function entry (container: string | undefined, snapStats: Record<string, unknown> | null, alerts: unknown[] | null = [], info: Record<string, unknown> = {}): StatEntry {
  return {
    info: { ...(container === undefined ? {} : { container }), ...info },
    last: { snap: snapStats === null ? { success: false, stats: { status: 'error', errors: [{ msg: 'ERR_MODBUS_TIMEOUT' }] } } : { success: true, stats: snapStats }, alerts }
  }
}

describe('stat ops', () => {
  const es = [
    entry('bay-1', { status: 'running', power_w: 1000, container_specific: { cdu: { unit_inlet_temp_t2: 30, cooling_temp_t1: 20 } } }, [{ severity: 'critical' }, { severity: 'medium' }], { nominalHashrateMhs: 100, nominalEfficiencyWThs: 20, nominalMinerCapacity: 200 }),
    entry('bay-2', { status: 'stopped', power_w: 500, container_specific: { cdu: { unit_inlet_temp_t2: 31 } } }, [], { nominalHashrateMhs: 300 }),
    entry('bay-3', null, [{ severity: 'high' }, {}])
  ]

  it('sum and avg over the numbers present; absent everywhere → undefined (left out)', () => {
    expect(sum(es, 'last.snap.stats.power_w')).toBe(1500)
    expect(avg(es, 'info.nominalHashrateMhs')).toBe(200)
    expect(sum(es, 'info.nope')).toBeUndefined()
    expect(avg(es, 'info.nope')).toBeUndefined()
    expect(cnt(es)).toBe(3)
  })

  it('group by info.container: values present only; group_multiple_stats per container', () => {
    expect(group(es, 'last.snap.stats.power_w', 'info.container')).toEqual({ 'bay-1': 1000, 'bay-2': 500 })
    expect(group(es, 'last.snap.stats.status', 'info.container')).toEqual({ 'bay-1': 'running', 'bay-2': 'stopped', 'bay-3': 'error' })
    expect(groupMultipleStats(es, [{ name: 't2', src: 'last.snap.stats.container_specific.cdu.unit_inlet_temp_t2' }, { name: 't1', src: 'last.snap.stats.container_specific.cdu.cooling_temp_t1' }], 'info.container'))
      .toEqual({ 'bay-1': { t2: 30, t1: 20 }, 'bay-2': { t2: 31 }, 'bay-3': {} })
    // a thing without a container is not grouped
    expect(group([entry(undefined, { power_w: 1 })], 'last.snap.stats.power_w', 'info.container')).toEqual({})
  })

  it('alerts per severity, the four usual ones always present, an alert without severity as medium', () => {
    expect(alertsGroupCnt(es, 'last.alerts')).toEqual({ critical: 1, high: 1, medium: 2, low: 0 })
    expect(alertsGroupCnt([entry('x', {}, [{ severity: 'warning' }])], 'last.alerts')).toEqual({ critical: 0, high: 0, medium: 0, low: 0, warning: 1 })
  })

  it('valueAt follows own properties only', () => {
    expect(valueAt({ a: { b: 1 } }, 'a.b')).toBe(1)
    expect(valueAt({ a: {} }, 'a.constructor')).toBeUndefined()
    expect(valueAt({ a: null }, 'a.b')).toBeUndefined()
  })

  it('the MicroBT spec over three containers, one failed: exactly the §8 entry shape', () => {
    const acc = aggregate(MBT_STAT_SPEC, es)
    expect(acc).toEqual({
      alerts_cnt: { critical: 1, high: 1, medium: 2, low: 0 },
      container_status: { 'bay-1': 'running', 'bay-2': 'stopped', 'bay-3': 'error' },
      container_power_w: { 'bay-1': 1000, 'bay-2': 500 },
      container_power_w_sum: 1500,
      container_nominal_hashrate_mhs_sum: 400,
      container_nominal_hashrate_mhs_avg: 200,
      container_nominal_efficiency_w_ths_avg: 20,
      container_nominal_miner_capacity_sum: 200,
      container_specific_stats_group: {
        'bay-1': { unit_inlet_temp_t2_group: 30, cooling_temp_t1_group: 20 },
        'bay-2': { unit_inlet_temp_t2_group: 31 },
        'bay-3': {}
      }
    })
  })
})

describe('stat ticks', () => {
  it('extra timeframes are added; one with a known name replaces its cron', () => {
    expect(mergeTimeframes([['5m', 'a'], ['1D', 'b']], [['5m', 'c'], ['2h', 'd']])).toEqual([['5m', 'c'], ['1D', 'b'], ['2h', 'd']])
  })

  it('things are grouped by tag, id- and code- tags skipped', () => {
    const t = (id: string, tags: string[]): ThingState => ({ record: { id, code: '', type: '', tags, info: {}, opts: {}, comments: [] }, ctrl: null, last: {}, collecting: false, lastStoredTs: 0, forgotten: false })
    const groups = thingsByTag([t('a', ['t-container', 'id-a', 'code-X-1', 'container-bay-1']), t('b', ['t-container', 'id-b'])])
    expect([...groups.keys()]).toEqual(['t-container', 'container-bay-1'])
    expect(groups.get('t-container')?.map((s) => s.record.id)).toEqual(['a', 'b'])
  })
})

describe('stat tick logs', () => {
  it('a tag no thing carries any more has its log closed at the next tick', async () => {
    const closed: string[] = []
    const written: string[] = []
    let things: ThingState[] = []
    const t = (id: string, tags: string[]): ThingState => ({ record: { id, code: '', type: '', tags, info: {}, opts: {}, comments: [] }, ctrl: null, last: {}, collecting: false, lastStoredTs: 0, forgotten: false })
    const rack = {
      registry: { all: () => things },
      logs: { append: async (key: string) => { written.push(key) }, put: async (key: string) => { written.push(key) }, close: async (key: string) => { closed.push(key) } }
    }
    const ticks = new StatTicks(rack as never, () => ({ n: { op: 'cnt' } }))
    things = [t('a', ['t-x', 'container-bay-1']), t('b', ['t-x', 'container-bay-2'])]
    await ticks.build('20s', new Date(1_000_500))
    expect(written.sort()).toEqual(['stat-20s-container-bay-1', 'stat-20s-container-bay-2', 'stat-20s-t-x'])
    things = [t('a', ['t-x', 'container-bay-1'])]
    await ticks.build('20s', new Date(1_300_000))
    expect(closed).toEqual(['stat-20s-container-bay-2'])
  })
})

describe('stat tick logs at scale', () => {
  const t = (id: string, tags: string[]): ThingState => ({ record: { id, code: '', type: '', tags, info: {}, opts: {}, comments: [] }, ctrl: null, last: { snap: { success: true, stats: { power_w: Number(id) } } }, collecting: false, lastStoredTs: 0, forgotten: false })

  function fakeRack (things: ThingState[]): { rack: unknown, written: Map<string, unknown[]>, closed: string[], reads: { n: number } } {
    const written = new Map<string, unknown[]>()
    const closed: string[] = []
    const reads = { n: 0 }
    const add = async (key: string, value: unknown): Promise<void> => { written.set(key, [...(written.get(key) ?? []), value]) }
    const rack = {
      registry: { all: () => { reads.n++; return things } },
      logs: { append: async (key: string, _ts: number, v: unknown) => await add(key, v), put: async (key: string, _k: string, v: unknown) => await add(key, v), close: async (key: string) => { closed.push(key) } }
    }
    return { rack, written, closed, reads }
  }

  it('timeframes ticking in the same second share one aggregation; the next second aggregates afresh', async () => {
    const things = [t('1', ['t-x']), t('2', ['t-x'])]
    const { rack, written, reads } = fakeRack(things)
    const ticks = new StatTicks(rack as never, () => ({ power_w_sum: { op: 'sum', src: 'last.snap.stats.power_w' } }))
    await Promise.all([ticks.build('rtd', new Date(60_000)), ticks.build('20s', new Date(60_000)), ticks.build('1m', new Date(60_004))])
    expect(reads.n).toBe(1)
    expect(written.get('stat-rtd-t-x')).toEqual([{ power_w_sum: 3 }])
    expect(written.get('stat-1m-t-x')).toEqual([{ ts: 60_000, power_w_sum: 3 }])
    things[0] = t('10', ['t-x'])
    await ticks.build('20s', new Date(80_000))
    expect(reads.n).toBe(2)
    expect(written.get('stat-20s-t-x')).toEqual([{ ts: 60_000, power_w_sum: 3 }, { ts: 80_000, power_w_sum: 12 }])
  })
})

describe('stat ticks on stop', () => {
  it('stop waits for a tick in flight and refuses later ticks', async () => {
    const writes: string[] = []
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    const thing: ThingState = { record: { id: 'a', code: '', type: '', tags: ['t-x'], info: {}, opts: {}, comments: [] }, ctrl: null, last: {}, collecting: false, lastStoredTs: 0, forgotten: false }
    const rack = { registry: { all: () => [thing] }, logs: { append: async (key: string) => { await gate; writes.push(key) }, put: async () => {}, close: async () => {}, release: async () => {} } }
    const ticks = new StatTicks(rack as never, () => ({ n: { op: 'cnt' } }))
    const tick = ticks.build('5m', new Date(1_000_000))
    let stopped = false
    const stopping = ticks.stop().then(() => { stopped = true })
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(stopped).toBe(false)
    release()
    await Promise.all([tick, stopping])
    expect(writes).toEqual(['stat-5m-t-x'])
    await ticks.build('5m', new Date(1_300_000))
    expect(writes).toEqual(['stat-5m-t-x'])
  })

  it('stop ends a tick of many tags after the write in flight: the rest of the tick is not written', async () => {
    const writes: string[] = []
    const things: ThingState[] = Array.from({ length: 1000 }, (_, i) => ({ record: { id: `a${i}`, code: '', type: '', tags: [`tag-${i}`], info: {}, opts: {}, comments: [] }, ctrl: null, last: {}, collecting: false, lastStoredTs: 0, forgotten: false }))
    const slowWrite = async (key: string): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 5)); writes.push(key) }
    const rack = { registry: { all: () => things }, logs: { append: slowWrite, put: async () => {}, close: async () => {}, release: async () => {} } }
    const ticks = new StatTicks(rack as never, () => ({ n: { op: 'cnt' } }))
    const tick = ticks.build('1m', new Date(60_000))
    await new Promise((resolve) => setTimeout(resolve, 30))
    const started = performance.now()
    await ticks.stop()
    expect(performance.now() - started).toBeLessThan(200)
    await tick
    // 1000 tags at 5 ms each would take 5 s: the tick stopped after a handful
    expect(writes.length).toBeGreaterThan(0)
    expect(writes.length).toBeLessThan(100)
  })
})
