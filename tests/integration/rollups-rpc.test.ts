/**
 * Rollups over RPC (issue 25 item 5): a stat log rolled up into fixed windows appears in
 * `tailLog` with its averages, `rollup_count` and `rollup_window_ms`.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient, waitFor } from '../helpers'
import { RackRpc, mockOpts, startMock, startRackInProcess, stopMocks } from '../helpers/rack'

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

interface RollupEntry { ts: number, container_power_w_sum?: number, rollup_count: number, rollup_window_ms: number }

describe('rollupLogs', () => {
  it('rolls the 1 s stat log up into 2 s windows, readable with tailLog', async () => {
    const { bootstrap } = await createBootstrap()
    const mock = await startMock('Kehua', 51)
    const rack = await startRackInProcess({
      bootstrap,
      rack: 'rollup-1',
      baseThing: {
        scheduleAddlStatConfigTfs: [['1s', '* * * * * *']],
        rollupLogs: [{ srcKey: 'stat-1s', destKey: 'stat-2sroll', fields: ['container_power_w_sum', 'alerts_cnt.critical'], windowMs: 2000, cron: '* * * * * *' }]
      }
    })
    const rpc = new RackRpc(createRpcClient(bootstrap), rack.key)
    await rpc.call('registerThing', { id: 'ru', opts: mockOpts(mock), info: { container: 'bay-ru' } })
    await rpc.waitLast('ru', (l) => l.snap?.success === true)
    const rolled = await waitFor(async () => {
      const entries = await rpc.call<RollupEntry[]>('tailLog', { key: 'stat-2sroll', tag: 't-container', limit: 5 })
      return entries.find((e) => typeof e.container_power_w_sum === 'number') ?? null
    }, 15_000, 200)
    expect(rolled.rollup_window_ms).toBe(2000)
    expect(rolled.ts % 2000).toBe(0)
    expect(rolled.rollup_count).toBeGreaterThanOrEqual(1)
    expect(rolled.rollup_count).toBeLessThanOrEqual(2)
    // the average of the source entries of that window
    const src = await rpc.call<Array<{ ts: number, container_power_w_sum?: number }>>('tailLog', { key: 'stat-1s', tag: 't-container', start: rolled.ts, end: rolled.ts + 1999 })
    const powers = src.map((e) => e.container_power_w_sum).filter((v): v is number => typeof v === 'number')
    expect(rolled.container_power_w_sum).toBeCloseTo(powers.reduce((a, b) => a + b, 0) / powers.length, 6)
    await rack.worker.stop()
  })
})
