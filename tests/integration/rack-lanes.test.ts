/**
 * Slow containers never starve healthy ones: with more slow containers than collection slots,
 * a healthy container's snapshot stays fresh once the slow ones have moved to the slow lane
 * (real Kehua worker class, mock containers whose every reply is delayed), and after a restart
 * from the first collection on: the slow lane is remembered in the stored snapshots.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, sleep, waitFor, type DHTNodeAddress } from '../helpers'
import { mockOpts, startMock, startRackInProcess, stopMocks, type RackWorker } from '../helpers/rack'
import type { MockServer } from '../../mock/server'
import type { ThingState } from '../../workers/tpl/thing/types'

const SLOW = 6
const RACK = 'lanes-1'
let worker: RackWorker
let root: string
let bootstrap: DHTNodeAddress[]

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  const rack = await startRackInProcess({
    bootstrap,
    rack: RACK,
    baseThing: { collectSnapsItvMs: 200, collectSnapTimeoutMs: 10_000, thingQueryConcurrency: 5, slowThingMs: 500, container: { timeout: 2000, retry: 0 } }
  })
  worker = rack.worker
  root = rack.root
  await worker.callRpc('registerThing', { id: 'healthy', opts: mockOpts(await startMock('Kehua', 30)) })
  await waitFor(() => worker.registry.get('healthy').last.snap?.success === true, 10_000, 20)
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

describe('collection lanes', () => {
  it(`${SLOW} slow containers and 5 slots: the healthy one stays fresh, also while the new ones show they are slow`, async () => {
    const slowMocks: MockServer[] = []
    for (let i = 0; i < SLOW; i++) {
      const mock = await startMock('Kehua', 10 + i)
      mock.setFault({ delayMs: 400 })
      slowMocks.push(mock)
    }
    const registered = Date.now()
    for (let i = 0; i < SLOW; i++) await worker.callRpc('registerThing', { id: `slow-${i}`, opts: mockOpts(slowMocks[i]) })
    // until every slow container has finished one (slow) collection and is in the slow lane: new
    // things take at most 3 of the 4 healthy slots, so the healthy one keeps being collected
    // (without that limit, ≈ 4.4 s stale while the first ones hold all 4)
    let classifying = 0
    const slowStates = (): ThingState[] => Array.from({ length: SLOW }, (_, i) => worker.registry.get(`slow-${i}`))
    while (!slowStates().every((s) => worker.snapshots.isSlow(s))) {
      const ts = worker.registry.get('healthy').last.ts ?? 0
      classifying = Math.max(classifying, Date.now() - Math.max(ts, registered))
      if (Date.now() - registered > 30_000) expect.fail('the slow containers were not all found slow within 30 s')
      await sleep(100)
    }
    expect(classifying).toBeLessThan(2000)
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

  it('after a restart the slow ones start in the slow lane: the healthy one is fresh from the first collections on', async () => {
    // every slow container's newest stored snapshot (storeSnapItvMs 0) carries its slow collection
    await waitFor(() => Array.from({ length: SLOW }, (_, i) => worker.registry.get(`slow-${i}`)).every((s) => s.lastStoredTs > 0), 20_000, 50)
    await worker.stop()
    const rack = await startRackInProcess({ bootstrap, rack: RACK, root })
    worker = rack.worker
    const startedAt = Date.now()
    // known slow before any collection of this run
    for (let i = 0; i < SLOW; i++) expect(worker.snapshots.isSlow(worker.registry.get(`slow-${i}`)), `slow-${i}`).toBe(true)
    expect(worker.snapshots.isSlow(worker.registry.get('healthy'))).toBe(false)
    // Staleness of the healthy one from the restart on (the restart itself counts from the
    // start, not from the restored snapshot): without the remembered lane its first collection
    // waits behind 4 slow ones in the 4 healthy slots, ≈ 4.4 s.
    let worst = 0
    const until = startedAt + 6000 // more than a slow collection
    while (Date.now() < until) {
      const ts = worker.registry.get('healthy').last.ts ?? 0
      worst = Math.max(worst, Date.now() - Math.max(ts, startedAt))
      await sleep(100)
    }
    const last = worker.registry.get('healthy').last
    expect(last.snap?.success, last.err ?? '').toBe(true)
    expect(worst).toBeLessThan(2000)
  })
})
