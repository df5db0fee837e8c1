/**
 * Slow containers never starve healthy ones: with more slow containers than collection slots,
 * a healthy container's snapshot stays fresh once the slow ones have moved to the slow lane
 * (real Kehua worker class, mock containers whose every reply is delayed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, sleep, waitFor } from '../helpers'
import { mockOpts, startMock, startRackInProcess, stopMocks, type RackWorker } from '../helpers/rack'

const SLOW = 6
let worker: RackWorker

beforeAll(async () => {
  const { bootstrap } = await createBootstrap()
  const rack = await startRackInProcess({
    bootstrap,
    rack: 'lanes-1',
    baseThing: { collectSnapsItvMs: 200, collectSnapTimeoutMs: 10_000, thingQueryConcurrency: 5, slowThingMs: 500, container: { timeout: 2000, retry: 0 } }
  })
  worker = rack.worker
  for (let i = 0; i < SLOW; i++) {
    const mock = await startMock('Kehua', 10 + i)
    mock.setFault({ delayMs: 400 })
    await worker.callRpc('registerThing', { id: `slow-${i}`, opts: mockOpts(mock) })
  }
  await worker.callRpc('registerThing', { id: 'healthy', opts: mockOpts(await startMock('Kehua', 30)) })
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

describe('collection lanes', () => {
  it(`${SLOW} slow containers and 5 slots: the healthy one stays fresh`, async () => {
    // every slow container has finished one (slow) collection: they are in the slow lane now
    await waitFor(() => Array.from({ length: SLOW }, (_, i) => worker.registry.get(`slow-${i}`)).every((s) => worker.snapshots.isSlow(s)), 20_000, 100)
    await waitFor(() => (worker.registry.get('healthy').last.ts ?? 0) > Date.now() - 1000, 10_000, 50)
    let worst = 0
    for (let i = 0; i < 30; i++) {
      const last = worker.registry.get('healthy').last
      expect(last.snap?.success, last.err ?? '').toBe(true)
      worst = Math.max(worst, Date.now() - (last.ts ?? 0))
      await sleep(100)
    }
    // a slow collection takes ≈ 4.4 s; with the slots held by slow containers the healthy one would be that stale
    expect(worst).toBeLessThan(1500)
    expect(worker.snapshots.isSlow(worker.registry.get('healthy'))).toBe(false)
  })
})
