/**
 * The snapshot loop of the real Kehua worker (in process) against mock containers: healthy,
 * offline, slow, in maintenance and without address; stored snapshots; writes by tag that show
 * up in the mocks' registers and in the next snapshot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, createBootstrap, createRpcClient, sleep, waitFor } from '../helpers'
import {
  RackRpc,
  cduOf,
  mockOpts,
  scaled,
  socketEnabled,
  startMock,
  startRackInProcess,
  stopMocks,
  type InProcessRack,
  type ThingLastView
} from '../helpers/rack'
import type { MockServer } from '../../mock/server'

const ITV = 400
const SNAP_TIMEOUT = 1000

let rack: InProcessRack
let rpc: RackRpc

beforeAll(async () => {
  const { bootstrap } = await createBootstrap()
  rack = await startRackInProcess({
    bootstrap,
    rack: 'loop-1',
    baseThing: { collectSnapsItvMs: ITV, collectSnapTimeoutMs: SNAP_TIMEOUT, storeSnapItvMs: 0, container: { timeout: 300, retry: 0 } }
  })
  rpc = new RackRpc(createRpcClient(bootstrap), rack.key)
})

afterAll(async () => {
  await stopMocks()
  await cleanupAll()
})

const isErrCode = (v: unknown): boolean => typeof v === 'string' && /^ERR_[A-Z0-9_]+$/.test(v)

describe('snapshot loop', () => {
  let healthy: MockServer

  it('fills `last` of a healthy container and keeps refreshing it', async () => {
    healthy = await startMock('Kehua', 21)
    const t0 = Date.now()
    await rpc.call('registerThing', { id: 'healthy', opts: mockOpts(healthy), info: { container: 'bay-1', pos: 'a-1' } })
    const last = await rpc.waitLast('healthy', (l) => l.snap?.success === true)
    expect(last.err).toBeNull()
    expect(last.ts).toBeGreaterThanOrEqual(t0)
    expect(['running', 'stopped', 'error']).toContain(last.snap?.stats?.status)
    expect(last.snap?.stats?.container_specific?.pdu_data).toHaveLength(12)
    expect(last.snap?.stats?.container_specific?.power_meters).toHaveLength(4)
    expect(cduOf(last.snap).cooling_fan_running_speed_threshold).toBe(healthy.getRegister(1, 613) / 100)
    const next = await rpc.waitLast('healthy', (l) => (l.ts ?? 0) > (last.ts ?? 0), 3000)
    expect(next.snap?.success).toBe(true)
  })

  it('an offline and a slow container do not stop the loop: the healthy one gets a fresh `last.ts` every cycle', async () => {
    const offline = await startMock('Kehua', 22)
    await offline.setOffline(true) // closed port: connections refused
    const slow = await startMock('Kehua', 23)
    slow.setFault({ delayMs: 5000 }) // every reply later than the 300 ms Modbus timeout
    await rpc.call('registerThing', { id: 'offline', opts: mockOpts(offline) })
    await rpc.call('registerThing', { id: 'slow', opts: mockOpts(slow) })

    const stamps: number[] = []
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      const ts = (await rpc.thing('healthy')).last?.ts
      if (ts !== undefined && ts !== stamps[stamps.length - 1]) stamps.push(ts)
      await sleep(50)
    }
    // strictly increasing, several cycles, and no cycle longer than the snapshot timeout allows
    expect(stamps.length).toBeGreaterThanOrEqual(3)
    for (let i = 1; i < stamps.length; i++) {
      expect(stamps[i]).toBeGreaterThan(stamps[i - 1])
      expect(stamps[i] - stamps[i - 1]).toBeLessThan(ITV + SNAP_TIMEOUT + 1000)
    }
    expect((await rpc.thing('healthy')).last?.snap?.success).toBe(true)

    for (const id of ['offline', 'slow']) {
      const last = await rpc.waitLast(id, (l) => l.snap !== undefined)
      expect(last.snap?.success, id).toBe(false)
      expect(last.snap?.stats?.status, id).toBe('offline') // never seen → offline (worker.md §5)
      expect(isErrCode(last.err), `${id}: last.err = ${String(last.err)}`).toBe(true)
      expect(typeof last.ts).toBe('number')
    }
    // the slow one ran into a timeout (Modbus or the rack's collectSnapTimeoutMs), the offline one did not
    expect((await rpc.thing('slow')).last?.err).toMatch(/TIMEOUT/)
    expect((await rpc.thing('offline')).last?.err).not.toMatch(/TIMEOUT/)
    expect(slow.stats.requests).toBeGreaterThan(0)
    // both keep being retried
    const slowTs = (await rpc.thing('slow')).last?.ts ?? 0
    await rpc.waitLast('slow', (l) => (l.ts ?? 0) > slowTs, 6000)
    await rpc.call('forgetThings', { query: { id: { $in: ['offline', 'slow'] } } })
    slow.clearFaults()
  })

  it('a container whose snapshot takes up to the snapshot timeout does not hold back the others', async () => {
    const sluggish = await startMock('Kehua', 25)
    // each reply just under the Modbus timeout: the whole snapshot runs into collectSnapTimeoutMs
    sluggish.setFault({ delayMs: 250 })
    await rpc.call('registerThing', { id: 'sluggish', opts: mockOpts(sluggish) })
    await rpc.waitLast('sluggish', (l) => l.snap !== undefined, 5000)
    const stamps = new Set<number>()
    const deadline = Date.now() + 4000
    while (Date.now() < deadline) {
      const ts = (await rpc.thing('healthy')).last?.ts
      if (ts !== undefined) stamps.add(ts)
      await sleep(50)
    }
    // every ~400 ms tick refreshes the healthy container (≈ 10 in 4 s); a loop that waited for the
    // sluggish one would refresh it at most once per SNAP_TIMEOUT (≤ 4 in 4 s)
    expect(stamps.size).toBeGreaterThanOrEqual(6)
    expect((await rpc.thing('sluggish')).last?.err).toBe('ERR_THING_SNAP_TIMEOUT')
    await rpc.call('forgetThings', { query: { id: 'sluggish' } })
  })

  it('a container seen recently that goes offline → status error with errors, and last.err set; back online → success', async () => {
    const flaky = await startMock('Kehua', 24)
    await rpc.call('registerThing', { id: 'flaky', opts: mockOpts(flaky) })
    await rpc.waitLast('flaky', (l) => l.snap?.success === true)
    await flaky.setOffline(true)
    const failed = await rpc.waitLast('flaky', (l) => l.snap?.success === false, 5000)
    expect(failed.snap?.stats?.status).toBe('error')
    const errors = failed.snap?.stats?.errors ?? []
    expect(errors.length).toBeGreaterThan(0)
    expect(isErrCode(errors[0].msg)).toBe(true)
    expect(typeof errors[0].timestamp).toBe('number')
    expect(isErrCode(failed.err), `last.err = ${String(failed.err)}`).toBe(true)
    // the loop keeps going for the others meanwhile
    const hts = (await rpc.thing('healthy')).last?.ts ?? 0
    await rpc.waitLast('healthy', (l) => (l.ts ?? 0) > hts, 4000)

    await flaky.setOffline(false)
    const back = await rpc.waitLast('flaky', (l) => l.snap?.success === true, 8000)
    expect(back.err).toBeNull()
    await rpc.call('forgetThings', { query: { id: 'flaky' } })
  })

  it('info.container "maintenance" → offline snapshot without touching the device', async () => {
    const maint = await startMock('Kehua', 25)
    await rpc.call('registerThing', { id: 'maint', opts: mockOpts(maint), info: { container: 'maintenance' } })
    const first = await rpc.waitLast('maint', (l) => l.ts !== undefined)
    await rpc.waitLast('maint', (l) => (l.ts ?? 0) > (first.ts ?? 0), 3000)
    const last = (await rpc.thing('maint')).last!
    expect(last.snap).toEqual({ success: false, stats: { status: 'offline' } })
    expect(maint.stats.requests).toBe(0)
    expect(maint.stats.connections).toBe(0)

    await rpc.call('updateThing', { id: 'maint', info: { container: 'bay-2' } })
    await rpc.waitLast('maint', (l) => l.snap?.success === true)
    expect(maint.stats.requests).toBeGreaterThan(0)
    await rpc.call('forgetThings', { query: { id: 'maint' } })
  })

  it('stores every snapshot (storeSnapItvMs 0), readable newest first through tailLog', async () => {
    const entries = await waitFor(async () => {
      const e = await rpc.tail('healthy', { limit: 5 })
      return e.length === 5 ? e : null
    }, 5000)
    for (let i = 1; i < entries.length; i++) expect(entries[i].ts).toBeLessThan(entries[i - 1].ts)
    for (const e of entries) {
      expect(e.err).toBeNull()
      expect(e.snap?.success).toBe(true)
      expect(e.snap?.stats?.container_specific?.pdu_data).toHaveLength(12)
    }
    const last = (await rpc.thing('healthy')).last!
    expect(entries[0].ts).toBeLessThanOrEqual(last.ts!)
    // a time range covering the newest entries returns exactly those
    const ranged = await rpc.tail('healthy', { start: entries[2].ts, end: entries[0].ts })
    expect(ranged.map((e) => e.ts)).toEqual(entries.slice(0, 3).map((e) => e.ts))
  })

  it('a thing without address stays registered with an offline snapshot and a clear last.err', async () => {
    await rpc.call('registerThing', { id: 'no-addr', opts: { username: 'x' }, info: { pos: 'z-9' } })
    const last = await rpc.waitLast('no-addr', (l) => l.snap !== undefined)
    expect(last.snap).toEqual({ success: false, stats: { status: 'offline' } })
    expect(last.err).toBe('ERR_THING_NOT_CONNECTED')
    const again = await rpc.waitLast('no-addr', (l) => (l.ts ?? 0) > (last.ts ?? 0), 3000)
    expect(again.err).toBe('ERR_THING_NOT_CONNECTED')
    expect(await rpc.count({ id: 'no-addr' })).toBe(1)
    await rpc.call('forgetThings', { query: { id: 'no-addr' } })
  })
})

describe('writes by tag', () => {
  let a1: MockServer
  let a2: MockServer
  let b1: MockServer

  beforeAll(async () => {
    a1 = await startMock('Kehua', 31)
    a2 = await startMock('Kehua', 32)
    b1 = await startMock('Kehua', 33)
    for (const m of [a1, a2, b1]) m.state.setAllSockets(true)
    await rpc.call('registerThing', { id: 'w-a1', opts: mockOpts(a1), tags: ['grp-a'] })
    await rpc.call('registerThing', { id: 'w-a2', opts: mockOpts(a2), tags: ['grp-a'] })
    await rpc.call('registerThing', { id: 'w-b1', opts: mockOpts(b1), tags: ['grp-b'] })
    for (const id of ['w-a1', 'w-a2', 'w-b1']) await rpc.waitLast(id, (l) => l.snap?.success === true)
  })

  /** The first snapshot collected after `since` that satisfies `pred`. */
  async function nextSnap (id: string, since: number, pred: (l: ThingLastView) => boolean): Promise<ThingLastView> {
    return await rpc.waitLast(id, (l) => (l.ts ?? 0) > since && pred(l), 5000)
  }

  it('setCoolingFanThreshold on a tag writes exactly the matching containers (×100) and shows in the next snapshot', async () => {
    const b1Before = [613, 614, 615].map((r) => b1.getRegister(1, r))
    const target = { runningSpeed: 55.5, startTemp: 35.25, stopTemp: 25 }
    expect([scaled(55.5), scaled(35.25), scaled(25)]).not.toEqual(b1Before)
    expect(await rpc.call('applyThings', { method: 'setCoolingFanThreshold', params: [target], query: { tags: 'grp-a' } })).toBe(2)
    const since = Date.now() // a collection started earlier may have read before the write

    for (const m of [a1, a2]) {
      expect([613, 614, 615].map((r) => m.getRegister(1, r))).toEqual([5550, 3525, 2500])
    }
    expect([613, 614, 615].map((r) => b1.getRegister(1, r))).toEqual(b1Before)

    for (const id of ['w-a1', 'w-a2']) {
      const last = await nextSnap(id, since, (l) => l.snap?.success === true)
      const cdu = cduOf(last.snap)
      expect(cdu.cooling_fan_running_speed_threshold).toBe(55.5)
      expect(cdu.cooling_fan_start_temperature_threshold).toBe(35.25)
      expect(cdu.cooling_fan_stop_temperature_threshold).toBe(25)
    }
    const b = await nextSnap('w-b1', since, (l) => l.snap?.success === true)
    expect(cduOf(b.snap).cooling_fan_running_speed_threshold).toBe(b1Before[0] / 100)
  })

  it('switchSocket on a tag switches exactly those sockets and shows in the next snapshot', async () => {
    expect(await rpc.call('applyThings', { method: 'switchSocket', params: [[['3', '5', false], ['12', '-1', false]]], query: { tags: 'grp-b' } })).toBe(1)
    const since = Date.now()
    expect(b1.state.isSocketEnabled(3, 5)).toBe(false)
    expect(b1.state.isSocketEnabled(3, 4)).toBe(true)
    for (let s = 1; s <= 20; s++) expect(b1.state.isSocketEnabled(12, s)).toBe(false)
    expect(b1.state.enabledSockets()).toBe(240 - 21)
    expect(a1.state.enabledSockets()).toBe(240)
    expect(a2.state.enabledSockets()).toBe(240)

    const last = await nextSnap('w-b1', since, (l) => l.snap?.success === true)
    expect(socketEnabled(last.snap, 3, 5)).toBe(false)
    expect(socketEnabled(last.snap, 3, 4)).toBe(true)
    expect(socketEnabled(last.snap, 12, 1)).toBe(false)
    expect(socketEnabled(last.snap, 12, 20)).toBe(false)
    expect(socketEnabled(last.snap, 11, 20)).toBe(true)
    const other = await nextSnap('w-a1', since, (l) => l.snap?.success === true)
    expect(socketEnabled(other.snap, 3, 5)).toBe(true)

    expect(await rpc.call('applyThings', { method: 'switchSocket', params: [[['-1', '-1', true]]], query: { tags: 'grp-b' } })).toBe(1)
    const since2 = Date.now()
    expect(b1.state.enabledSockets()).toBe(240)
    const on = await nextSnap('w-b1', since2, (l) => l.snap?.success === true)
    expect(socketEnabled(on.snap, 3, 5)).toBe(true)
    expect(socketEnabled(on.snap, 12, 7)).toBe(true)
  })

  it('applyThings counts only successes (an offline match fails, the others are written); verbose names the failure', async () => {
    await b1.setOffline(true)
    expect(await rpc.call('applyThings', { method: 'setCoolingFanThreshold', params: [{ runningSpeed: 42 }], query: { tags: { $in: ['grp-a', 'grp-b'] } } })).toBe(2)
    expect(a1.getRegister(1, 613)).toBe(4200)
    expect(a2.getRegister(1, 613)).toBe(4200)
    const report = await rpc.call<{ total: number, ok: number, failed: Array<{ id: string, code: string }> }>('applyThings', { method: 'setCoolingFanThreshold', params: [{ runningSpeed: 43 }], query: { tags: { $in: ['grp-a', 'grp-b'] } }, verbose: true }, 20_000)
    expect(report.total).toBe(3)
    expect(report.ok).toBe(2)
    expect(report.failed).toEqual([{ id: 'w-b1', code: expect.stringMatching(/^ERR_/) as string }])
    await b1.setOffline(false)
  })

  it('applyThings with arguments invalid for the method answers the validation error and writes nothing', async () => {
    const before = [a1.getRegister(1, 613), a2.getRegister(1, 613)]
    expect(await rpc.error('applyThings', { method: 'setCoolingFanThreshold', params: [{ startTemp: 200 }], query: { tags: 'grp-a' } })).toBe('ERR_COOLING_FAN_THRESHOLD_INVALID')
    expect(await rpc.error('applyThings', { method: 'switchSocket', params: [[['13', '1', true]]], query: { tags: 'grp-a' } })).toBe('ERR_SWITCH_SOCKET_PDU_INVALID')
    expect([a1.getRegister(1, 613), a2.getRegister(1, 613)]).toEqual(before)
  })
})
