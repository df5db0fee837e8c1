/**
 * kill -9 of a real worker process in the middle of a staged power-up: after the restart the
 * action is `interrupted` with the progress it had stored (never done), nothing more is written,
 * and the next snapshot shows what the device holds. Needs `npm run build`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  cleanupAll, createBootstrap, createRpcClient, makeRoot, spawnWorker, waitFor, type DHTNodeAddress, type WorkerStatus
} from '../helpers'
import { FAST_THING_CONF, RackRpc, WTYPE, mockOpts, socketEnabled, startMock, stopMocks } from '../helpers/rack'
import type { MockServer } from '../../mock/server'

let bootstrap: DHTNodeAddress[]
let mock: MockServer

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  mock = await startMock('Kehua', 27)
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

const connect = (status: WorkerStatus): RackRpc => new RackRpc(createRpcClient(bootstrap), status.rpcPublicKey)

interface ActionView { status: string, progress: { batchesDone: number, written: number } | null }

describe('kill -9 mid-action', () => {
  it('the staged power-up is interrupted after the restart; the snapshot shows the device', async () => {
    const control = { batchDelayMs: 3000, minBatchDelayMs: 100 }
    const root = await makeRoot({ bootstrap, baseThing: { ...FAST_THING_CONF, collectSnapsItvMs: 300, control } })
    let worker = spawnWorker({ wtype: WTYPE.kehua, rack: 'ctl-k9', root })
    let rpc = connect(await worker.waitForStatus())
    await rpc.call('registerThing', { id: 'k1', opts: mockOpts(mock) })
    await rpc.call('queryThing', { id: 'k1', method: 'switchSocket', params: [[['-1', '-1', false]]] })
    const reply = await rpc.call<{ actionId: string }>('queryThing', {
      id: 'k1',
      method: 'switchSocket',
      params: [[['1', '-1', true], ['2', '-1', true], ['3', '-1', true]], { actionId: 'k9-1', user: 'ann' }],
      background: true
    })
    expect(reply.actionId).toBe('k9-1')
    // the first batch is on, the worker waits 3 s before the second
    await waitFor(async () => (await rpc.call<ActionView[]>('getActions', { actionId: 'k9-1' }))[0].progress?.batchesDone === 1, 5000, 20)
    const exit = await worker.kill9()
    expect(exit.signal).toBe('SIGKILL')
    await rpc.client.close()
    const onAtKill = mock.state.enabledSockets()
    expect(onAtKill).toBe(20)

    worker = spawnWorker({ wtype: WTYPE.kehua, rack: 'ctl-k9', root })
    rpc = connect(await worker.waitForStatus())
    const [rec] = await rpc.call<ActionView[]>('getActions', { actionId: 'k9-1' })
    expect(rec).toMatchObject({ status: 'interrupted', progress: { batchesDone: 1, written: 20 } })
    const restartedAt = Date.now()
    const last = await rpc.waitLast('k1', (l) => (l.ts ?? 0) > restartedAt)
    expect(socketEnabled(last.snap, 1, 20)).toBe(true)
    expect(socketEnabled(last.snap, 2, 1)).toBe(false)
    // nothing more was written after the kill
    await new Promise((resolve) => setTimeout(resolve, 3500))
    expect(mock.state.enabledSockets()).toBe(onAtKill)
    await worker.stop('SIGTERM')
  }, 60_000)
})
