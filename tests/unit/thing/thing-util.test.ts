/**
 * Helpers of the snapshot loop and tailLog: bounded-concurrency map, timeouts that never
 * outlive their promise, and time-bucket grouping of log entries.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { StoppableJobs, mapLimit, withTimeout } from '../../../workers/core/async'
import { groupByRange, rangeMs } from '../../../workers/tpl/thing/logs/range-groups'
import { WrkError } from '../../../workers/core/errors'
import { isHostOrIp } from '../../../workers/tpl/thing/dhcp/address'

afterEach(() => {
  vi.useRealTimers()
})

function delay (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function rejection (p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('mapLimit', () => {
  it.each([1, 3, 7, 50])('never has more than %i calls in flight and keeps the input order', async (limit) => {
    const items = Array.from({ length: 30 }, (_, i) => i)
    let inFlight = 0
    let peak = 0
    const out = await mapLimit(items, limit, async (n) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      await delay((n * 7) % 5) // finish out of order
      inFlight--
      return n * 2
    })
    expect(out).toEqual(items.map((n) => n * 2))
    expect(peak).toBe(Math.min(limit, items.length))
    expect(inFlight).toBe(0)
  })

  it('calls fn exactly once per item', async () => {
    const seen: number[] = []
    await mapLimit([5, 6, 7, 8], 2, async (n) => { seen.push(n) })
    expect(seen.sort()).toEqual([5, 6, 7, 8])
  })

  it('handles an empty list and a limit below 1 (runs one at a time)', async () => {
    expect(await mapLimit([], 4, async (n: number) => n)).toEqual([])
    let inFlight = 0
    let peak = 0
    const out = await mapLimit([1, 2, 3], 0, async (n) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      await delay(1)
      inFlight--
      return n
    })
    expect(out).toEqual([1, 2, 3])
    expect(peak).toBe(1)
  })

  it('rejects when fn rejects', async () => {
    const err = await rejection(mapLimit([1, 2, 3], 2, async (n) => {
      if (n === 2) throw new WrkError('ERR_BOOM')
      return n
    }))
    expect(err).toBeInstanceOf(WrkError)
    expect((err as WrkError).code).toBe('ERR_BOOM')
  })
})

describe('withTimeout', () => {
  it('rejects with a WrkError carrying the code once the time is up, and clears its timer', async () => {
    vi.useFakeTimers()
    const never = new Promise<never>(() => {})
    const p = withTimeout(never, 100, 'ERR_THING_SNAP_TIMEOUT')
    const settled = rejection(p)
    await vi.advanceTimersByTimeAsync(99)
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    const err = await settled
    expect(err).toBeInstanceOf(WrkError)
    expect((err as WrkError).code).toBe('ERR_THING_SNAP_TIMEOUT')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('resolves with the value in time and leaves no timer behind', async () => {
    vi.useFakeTimers()
    const p = withTimeout(new Promise<number>((resolve) => setTimeout(() => resolve(42), 50)), 10_000, 'ERR_X')
    await vi.advanceTimersByTimeAsync(50)
    await expect(p).resolves.toBe(42)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('passes the original rejection through and clears the timer', async () => {
    vi.useFakeTimers()
    const p = withTimeout(Promise.reject(new WrkError('ERR_ORIGINAL')), 10_000, 'ERR_X')
    const err = await rejection(p)
    expect((err as WrkError).code).toBe('ERR_ORIGINAL')
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('rangeMs / groupByRange', () => {
  const MIN = 60_000
  // A 5-minute-aligned origin so bucket boundaries are predictable.
  const T0 = 1_700_000_100_000
  const entry = (offsetMs: number, power: number, extra: Record<string, unknown> = {}): Record<string, unknown> =>
    ({ ts: T0 + offsetMs, err: null, snap: { success: true, stats: { power_w: power, temp: power / 10, status: `s${power}` } }, ...extra })

  it('parses ranges and rejects bad ones with ERR_LOG_GROUP_RANGE_INVALID', () => {
    expect(rangeMs('30s')).toBe(30_000)
    expect(rangeMs('5m')).toBe(5 * MIN)
    expect(rangeMs('1h')).toBe(3_600_000)
    expect(rangeMs('1D')).toBe(86_400_000)
    expect(rangeMs('1w')).toBe(604_800_000)
    for (const bad of ['', 'm', '5', '5x', '0m', '-1m', '1.5m', '5 m']) {
      let code: string | null = null
      try {
        rangeMs(bad)
      } catch (err) {
        code = err instanceof WrkError ? err.code : null
      }
      expect(code, bad).toBe('ERR_LOG_GROUP_RANGE_INVALID')
    }
    expect(() => groupByRange([entry(0, 1)], '3q')).toThrow(WrkError)
  })

  it('sums numeric leaves per bucket, newest bucket first, with a count per bucket', () => {
    // newest first, as tailLog reads them
    const entries = [
      entry(2 * MIN + 30_000, 40),
      entry(2 * MIN + 1_000, 30),
      entry(MIN + 59_999, 20),
      entry(10_000, 7),
      entry(0, 3)
    ]
    const out = groupByRange(entries, '1m')
    expect(out.map((b) => b.ts)).toEqual([T0 + 2 * MIN, T0 + MIN, T0])
    expect(out.map((b) => b.count)).toEqual([2, 1, 2])
    const power = out.map((b) => (b.snap as { stats: { power_w: number } }).stats.power_w)
    expect(power).toEqual([70, 20, 10])
    // non-numeric leaves keep the newest entry's value
    expect(out.map((b) => (b.snap as { stats: { status: string } }).stats.status)).toEqual(['s40', 's20', 's7'])
    expect(out.map((b) => (b.snap as { success: boolean }).success)).toEqual([true, true, true])
  })

  it('averages numeric leaves with shouldCalculateAvg, over the entries that have them', () => {
    const entries = [
      entry(50_000, 40),
      { ts: T0 + 40_000, err: null, snap: { success: true, stats: { temp: 100 } } }, // no power_w
      entry(0, 10)
    ]
    const [bucket] = groupByRange(entries, '1m', true)
    expect(bucket.ts).toBe(T0)
    expect(bucket.count).toBe(3)
    const stats = (bucket.snap as { stats: { power_w: number, temp: number } }).stats
    expect(stats.power_w).toBe(25) // (40 + 10) / 2
    expect(stats.temp).toBeCloseTo((4 + 100 + 1) / 3, 10)
  })

  it('groups into wider buckets and skips entries without a numeric ts', () => {
    const entries = [entry(4 * MIN, 5), 'junk', null, { ts: 'x', snap: {} }, entry(MIN, 5), entry(0, 5)]
    const out = groupByRange(entries, '5m')
    expect(out).toHaveLength(1)
    expect(out[0].count).toBe(3)
    expect((out[0].snap as { stats: { power_w: number } }).stats.power_w).toBe(15)
    expect(groupByRange([], '1m')).toEqual([])
  })
})

describe('isHostOrIp', () => {
  it('accepts IP literals and hostnames, refuses URLs, ports, whitespace, control characters', () => {
    for (const ok of ['127.0.0.1', '10.0.0.21', '::1', 'fe80::1', 'container-1', 'bay-1.site.example', 'a.b.c.', 'x']) expect(isHostOrIp(ok), ok).toBe(true)
    for (const bad of ['', 'http://10.0.0.1', '10.0.0.1:502', ' 10.0.0.1', '10.0.0.1 ', '10.0.0.1\n', '127.0.0.1\u0000evil', 'a..b', '-a', 'a-', '999.1.1.1', '1.2.3', 'a_b', 'x'.repeat(64), `${'a.'.repeat(127)}ab`]) expect(isHostOrIp(bad), JSON.stringify(bad)).toBe(false)
  })
})

describe('StoppableJobs', () => {
  it('runs jobs until stopped; stop waits for the jobs in flight, which see `stopping`; later jobs do not start', async () => {
    const jobs = new StoppableJobs()
    const seen: string[] = []
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    const first = jobs.run(async () => { await gate; seen.push(jobs.stopping ? 'first saw stopping' : 'first') })
    let stopped = false
    const stopping = jobs.stop().then(() => { stopped = true })
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(stopped).toBe(false)
    release()
    await Promise.all([first, stopping])
    await jobs.run(async () => { seen.push('late') })
    expect(seen).toEqual(['first saw stopping'])
  })
})
