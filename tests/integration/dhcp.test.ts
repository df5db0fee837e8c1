/**
 * DHCP address assignment (worker.md §9) against a real `@hyperswarm/rpc` DHCP stand-in on the
 * loopback testnet (tests/helpers/dhcp.ts), with the real Kehua worker class in this process and
 * a mock container at 127.0.0.1: assignment and connection, re-assignment on a MAC or subnet
 * change, release on forget, and every failure mode (no key configured, unreachable, timeout,
 * error reply, invalid reply) leaving the thing registered, offline and retried with backoff.
 * One address per live thing (a duplicate answer refused for the newcomer, a release only by the
 * holder), unusable addresses refused from the service and from callers, and an outage logged
 * in bounded lines.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { DETAIL_LINES } from '../../workers/tpl/thing/dhcp/failure-report'
import type { MockServer } from '../../mock/server'
import { cleanupAll, createBootstrap, createRpcClient, waitFor, type DHTNodeAddress, type JsonObject, type RpcClient } from '../helpers'
import { DhcpStandIn, stopDhcpStandIns } from '../helpers/dhcp'
import { MOCK_PASSWORD, MOCK_USER, RackRpc, startMock, startRackInProcess, stopMocks, type InProcessRack } from '../helpers/rack'

let bootstrap: DHTNodeAddress[]
let client: RpcClient
let mock: MockServer

const MAC = 'aa:bb:cc:00:00:01'
const SUBNET = '10.1.0.0/24'

beforeAll(async () => {
  ({ bootstrap } = await createBootstrap())
  client = createRpcClient(bootstrap)
  mock = await startMock('Kehua')
})

afterAll(async () => {
  await stopDhcpStandIns()
  await stopMocks()
  await cleanupAll()
})

/** Thing opts without an address: port and credentials of the mock. */
function optsNoAddress (): JsonObject {
  return { port: mock.port, username: MOCK_USER, password: MOCK_PASSWORD }
}

async function rackWith (dhcp: { key?: string, timeoutMs?: number, retryMaxMs?: number }, rack: string, baseThing: JsonObject = {}): Promise<{ rack: InProcessRack, rpc: RackRpc }> {
  const n0: JsonObject = { dhcpRpcPublicKey: dhcp.key ?? '' }
  if (dhcp.timeoutMs !== undefined) n0.dhcpTimeoutMs = dhcp.timeoutMs
  if (dhcp.retryMaxMs !== undefined) n0.dhcpRetryMaxMs = dhcp.retryMaxMs
  const started = await startRackInProcess({ bootstrap, rack, baseThing, files: { 'facs/miningos-net.config': { n0 } } })
  return { rack: started, rpc: new RackRpc(client, started.key) }
}

function addressOf (rack: InProcessRack, id: string): unknown {
  return rack.worker.registry.get(id).record.opts.address
}

describe('DHCP assignment', () => {
  let dhcp: DhcpStandIn
  let rack: InProcessRack
  let rpc: RackRpc

  beforeAll(async () => {
    dhcp = await new DhcpStandIn(bootstrap).start()
    dhcp.ipByMac.set(MAC, '127.0.0.1')
    ;({ rack, rpc } = await rackWith({ key: dhcp.publicKey, timeoutMs: 5000 }, 'dhcp-1'))
  })

  it('a thing with MAC and subnet and no address gets one, stores it in opts.address and connects to it', async () => {
    expect(await rpc.call('registerThing', { id: 'd1', opts: optsNoAddress(), info: { macAddress: MAC, subnet: SUBNET } })).toBe(1)
    const [call] = dhcp.setCalls()
    expect(call.req).toEqual({ mac: MAC, subnet: SUBNET, forceSetIp: false })
    expect(addressOf(rack, 'd1')).toBe('127.0.0.1')
    // the credentials are kept, the address is the assigned one, and it is used to connect
    expect(rack.worker.registry.get('d1').record.opts).toMatchObject({ port: mock.port, username: MOCK_USER, password: MOCK_PASSWORD })
    expect((await rpc.thing('d1')).address).toBe('127.0.0.1')
    const last = await rpc.waitLast('d1', (l) => l.snap?.success === true, 10_000)
    expect(last.err ?? null).toBeNull()
  })

  it('a thing with an address of its own, or without MAC/subnet, never asks', async () => {
    const before = dhcp.calls.length
    await rpc.call('registerThing', { id: 'own', opts: { address: '127.0.0.1', ...optsNoAddress() }, info: { macAddress: 'aa:bb:cc:00:00:09', subnet: SUBNET } })
    await rpc.call('registerThing', { id: 'plain', opts: optsNoAddress(), info: { subnet: SUBNET } })
    await rack.worker.collectSnaps()
    expect(dhcp.calls.length).toBe(before)
    expect(addressOf(rack, 'own')).toBe('127.0.0.1')
    expect((await rpc.thing('plain')).last?.err).toBe('ERR_THING_NOT_CONNECTED')
    // forgetting a thing whose address was not assigned releases nothing
    await rpc.call('forgetThings', { query: { id: { $in: ['own', 'plain'] } } })
    expect(dhcp.releaseCalls()).toHaveLength(0)
  })

  it('a new MAC asks again (forceSetIp) and releases the old address; so does a new subnet', async () => {
    dhcp.ipByMac.set('aa:bb:cc:00:00:02', '127.0.0.2')
    expect(await rpc.call('updateThing', { id: 'd1', info: { macAddress: 'aa:bb:cc:00:00:02' } })).toBe(1)
    const calls = dhcp.setCalls()
    expect(calls.at(-1)?.req).toEqual({ mac: 'aa:bb:cc:00:00:02', subnet: SUBNET, forceSetIp: true })
    expect(addressOf(rack, 'd1')).toBe('127.0.0.2')
    expect(dhcp.releaseCalls().map((c) => c.req)).toEqual([{ ip: '127.0.0.1' }])

    dhcp.ipByMac.set('aa:bb:cc:00:00:02', '127.0.0.3')
    await rpc.call('updateThing', { id: 'd1', info: { subnet: '10.2.0.0/24' } })
    expect(dhcp.setCalls().at(-1)?.req).toEqual({ mac: 'aa:bb:cc:00:00:02', subnet: '10.2.0.0/24', forceSetIp: true })
    expect(addressOf(rack, 'd1')).toBe('127.0.0.3')
    expect(dhcp.releaseCalls().map((c) => c.req)).toEqual([{ ip: '127.0.0.1' }, { ip: '127.0.0.2' }])
    // an update that changes neither asks nothing
    const n = dhcp.calls.length
    await rpc.call('updateThing', { id: 'd1', info: { pos: 'A1' } })
    expect(dhcp.calls.length).toBe(n)
  })

  it('forgetThings releases the address', async () => {
    await rpc.call('forgetThings', { query: { id: 'd1' } })
    expect(dhcp.releaseCalls().at(-1)?.req).toEqual({ ip: '127.0.0.3' })
    expect(await rpc.count()).toBe(0)
  })

  it('survives a restart: the assigned address is kept and not asked again', async () => {
    await rpc.call('registerThing', { id: 'kept', opts: optsNoAddress(), info: { macAddress: 'aa:bb:cc:00:00:05', subnet: SUBNET } })
    const ip = addressOf(rack, 'kept')
    expect(typeof ip).toBe('string')
    const asked = dhcp.setCalls().length
    await rack.worker.stop()
    rack = await startRackInProcess({ bootstrap, rack: 'dhcp-1', root: rack.root })
    rpc = new RackRpc(client, rack.key)
    await rack.worker.collectSnaps()
    expect(addressOf(rack, 'kept')).toBe(ip)
    expect(dhcp.setCalls().length).toBe(asked)
    // and forgetting it after the restart still releases it (the lease is stored)
    await rpc.call('forgetThings', { query: { id: 'kept' } })
    expect(dhcp.releaseCalls().at(-1)?.req).toEqual({ ip })
  })
})

describe('DHCP failures: the thing stays registered, offline, with a clear last.err, and is retried', () => {
  it('no key configured → ERR_DHCP_NOT_CONFIGURED', async () => {
    const { rack, rpc } = await rackWith({}, 'dhcp-none')
    expect(await rpc.call('registerThing', { id: 'n1', opts: optsNoAddress(), info: { macAddress: MAC, subnet: SUBNET } })).toBe(1)
    await rack.worker.collectSnaps()
    const t = await rpc.thing('n1')
    expect(t.last?.err).toBe('ERR_DHCP_NOT_CONFIGURED')
    expect(t.last?.snap?.stats?.status).toBe('offline')
    expect(t.address).toBeUndefined()
    expect(rack.worker.registry.get('n1').record.opts).toMatchObject({ port: mock.port, username: MOCK_USER })
    await rack.worker.stop()
  })

  it('unreachable (nobody serves the key) → ERR_DHCP_UNREACHABLE; once it is up, a later cycle assigns', async () => {
    const dhcp = new DhcpStandIn(bootstrap)
    const { rack, rpc } = await rackWith({ key: dhcp.publicKey, timeoutMs: 8000, retryMaxMs: 1000 }, 'dhcp-down')
    expect(await rpc.call('registerThing', { id: 'u1', opts: optsNoAddress(), info: { macAddress: MAC, subnet: SUBNET } }, 15_000)).toBe(1)
    expect((await rpc.thing('u1')).last?.err).toBe('ERR_DHCP_UNREACHABLE')
    dhcp.ipByMac.set(MAC, '127.0.0.1')
    await dhcp.start()
    await waitFor(() => addressOf(rack, 'u1') === '127.0.0.1', 20_000, 100)
    await rpc.waitLast('u1', (l) => l.snap?.success === true, 10_000)
    await rack.worker.stop()
  })

  it('a reply later than dhcpTimeoutMs → ERR_DHCP_TIMEOUT, and registerThing does not wait longer than that', async () => {
    const dhcp = await new DhcpStandIn(bootstrap).start()
    dhcp.mode = 'slow'
    const { rack, rpc } = await rackWith({ key: dhcp.publicKey, timeoutMs: 1500, retryMaxMs: 60_000 }, 'dhcp-slow', { collectSnapsItvMs: 60_000 })
    // the first request opens the channel: warm it up so the bound below is the DHCP call's
    await rpc.call('getRack')
    const t0 = Date.now()
    expect(await rpc.call('registerThing', { id: 's1', opts: optsNoAddress(), info: { macAddress: MAC, subnet: SUBNET } }, 15_000)).toBe(1)
    const took = Date.now() - t0
    expect(took).toBeGreaterThanOrEqual(1400)
    expect(took).toBeLessThan(1500 + 4000)
    expect((await rpc.thing('s1')).last?.err).toBe('ERR_DHCP_TIMEOUT')
    expect(await rpc.count()).toBe(1)
    await rack.worker.stop()
  })

  it('an error reply → ERR_DHCP_REJECTED; retried with a growing pause until the service assigns', async () => {
    const dhcp = await new DhcpStandIn(bootstrap).start()
    dhcp.mode = 'error'
    dhcp.ipByMac.set(MAC, '127.0.0.1')
    // cycles of 200 ms; the pause doubles 200, 400, 800, then stays at 1600
    const { rack, rpc } = await rackWith({ key: dhcp.publicKey, timeoutMs: 3000, retryMaxMs: 1600 }, 'dhcp-err', { collectSnapsItvMs: 200 })
    const t0 = Date.now()
    await rpc.call('registerThing', { id: 'e1', opts: optsNoAddress(), info: { macAddress: MAC, subnet: SUBNET } })
    expect((await rpc.thing('e1')).last?.err).toBe('ERR_DHCP_REJECTED')
    await dhcp.waitCalls('setIp', 5, 20_000)
    const elapsed = Date.now() - t0
    const cycles = elapsed / 200
    const times = dhcp.setCalls().map((c) => c.ts)
    const gaps = times.slice(1).map((t, i) => t - times[i])
    // far fewer attempts than cycles (backoff), and the pauses grow
    expect(times.length).toBeLessThan(cycles / 1.5)
    expect(gaps.at(-1)).toBeGreaterThan(gaps[0])
    expect((await rpc.thing('e1')).last?.err).toBe('ERR_DHCP_REJECTED')
    // nothing was lost meanwhile
    expect(rack.worker.registry.get('e1').record).toMatchObject({ info: { macAddress: MAC, subnet: SUBNET }, opts: optsNoAddress() })
    dhcp.mode = 'ok'
    await waitFor(() => addressOf(rack, 'e1') === '127.0.0.1', 10_000, 50)
    await rpc.waitLast('e1', (l) => l.snap?.success === true, 10_000)
    await rack.worker.stop()
  })

  it('a reply that is no IP address → ERR_DHCP_REPLY_INVALID', async () => {
    const dhcp = await new DhcpStandIn(bootstrap).start()
    dhcp.mode = 'invalid'
    const { rack, rpc } = await rackWith({ key: dhcp.publicKey }, 'dhcp-invalid')
    await rpc.call('registerThing', { id: 'i1', opts: optsNoAddress(), info: { macAddress: MAC, subnet: SUBNET } })
    expect((await rpc.thing('i1')).last?.err).toBe('ERR_DHCP_REPLY_INVALID')
    expect(rack.worker.registry.get('i1').record.opts.address).toBeUndefined()
    await rack.worker.stop()
  })

  it('a failed re-assignment takes the thing offline (it keeps its old address on record); a failed release is retried', async () => {
    const dhcp = await new DhcpStandIn(bootstrap).start()
    dhcp.ipByMac.set(MAC, '127.0.0.1')
    const { rack, rpc } = await rackWith({ key: dhcp.publicKey, timeoutMs: 3000, retryMaxMs: 800 }, 'dhcp-re', { collectSnapsItvMs: 200 })
    await rpc.call('registerThing', { id: 'r1', opts: optsNoAddress(), info: { macAddress: MAC, subnet: SUBNET } })
    await rpc.waitLast('r1', (l) => l.snap?.success === true, 10_000)
    dhcp.mode = 'error'
    await rpc.call('updateThing', { id: 'r1', info: { macAddress: 'aa:bb:cc:00:00:07' } })
    await rpc.waitLast('r1', (l) => l.err === 'ERR_DHCP_REJECTED' && l.snap?.success === false, 5000)
    expect(addressOf(rack, 'r1')).toBe('127.0.0.1')
    // forgotten while the service fails: the thing goes, its release is owed and made later
    await rpc.call('forgetThings', { query: { id: 'r1' } })
    expect(await rpc.count()).toBe(0)
    expect(rack.worker.dhcp.owedReleases).toEqual(['127.0.0.1'])
    dhcp.mode = 'ok'
    await waitFor(() => dhcp.releaseCalls().some((c) => c.req.ip === '127.0.0.1') && rack.worker.dhcp.owedReleases.length === 0, 10_000, 50)
    await rack.worker.stop()
  })
})

/** Addresses no container can have, each with a MAC the stand-in answers it for. */
const UNUSABLE = ['0.0.0.0', '255.255.255.255', '224.0.0.1', '169.254.10.1', '::', 'ff02::1', 'fe80::1', '::ffff:0.0.0.0']

type LogCall = [Record<string, unknown>, string]

/** The warn lines of the rack's logger whose message matches `msg`. */
function warnLines (spy: { mock: { calls: unknown[][] } }, msg: RegExp): LogCall[] {
  return (spy.mock.calls as LogCall[]).filter(([, m]) => typeof m === 'string' && msg.test(m))
}

describe('one address per live thing', () => {
  let dhcp: DhcpStandIn
  let rack: InProcessRack
  let rpc: RackRpc

  beforeAll(async () => {
    dhcp = await new DhcpStandIn(bootstrap).start()
    ;({ rack, rpc } = await rackWith({ key: dhcp.publicKey, timeoutMs: 3000, retryMaxMs: 400 }, 'dhcp-unique', { collectSnapsItvMs: 200 }))
  })

  afterAll(async () => { await rack.worker.stop() })

  it('the service answers a second MAC the address of a connected thing: the newcomer is refused (ERR_DHCP_ADDRESS_CONFLICT, logged once with both ids), the holder keeps it', async () => {
    dhcp.ipByMac.set('aa:00:00:00:00:0a', '127.0.0.1')
    dhcp.ipByMac.set('aa:00:00:00:00:0b', '127.0.0.1')
    const warn = vi.spyOn(rack.worker.logger, 'warn')
    await rpc.call('registerThing', { id: 'a', opts: optsNoAddress(), info: { macAddress: 'aa:00:00:00:00:0a', subnet: SUBNET } })
    await rpc.waitLast('a', (l) => l.snap?.success === true, 10_000)
    await rpc.call('registerThing', { id: 'b', opts: optsNoAddress(), info: { macAddress: 'aa:00:00:00:00:0b', subnet: SUBNET } })
    const b = await rpc.thing('b')
    expect(b.last?.err).toBe('ERR_DHCP_ADDRESS_CONFLICT')
    expect(b.last?.snap?.stats?.status).toBe('offline')
    expect(addressOf(rack, 'b')).toBeUndefined()
    expect(rack.worker.registry.get('b').ctrl).toBeNull()
    // asked again on later cycles, refused again, and said only once
    const asked = (): number => dhcp.setCalls().filter((c) => c.req.mac === 'aa:00:00:00:00:0b').length
    await waitFor(() => asked() >= 4, 10_000, 50)
    expect((await rpc.thing('b')).last?.err).toBe('ERR_DHCP_ADDRESS_CONFLICT')
    const said = warnLines(warn, /another thing uses/)
    expect(said).toHaveLength(1)
    expect(said[0][0]).toMatchObject({ thingId: 'b', holderThingId: 'a', ip: '127.0.0.1', code: 'ERR_DHCP_ADDRESS_CONFLICT' })
    warn.mockRestore()

    // forgetting the newcomer releases nothing: the address is the holder's, which stays connected
    await rpc.call('forgetThings', { query: { id: 'b' } })
    expect(dhcp.releaseCalls()).toHaveLength(0)
    const t = Date.now()
    await rpc.waitLast('a', (l) => l.snap?.success === true && (l.ts ?? 0) > t, 10_000)
    expect(addressOf(rack, 'a')).toBe('127.0.0.1')
    // the holder's own forget releases it
    await rpc.call('forgetThings', { query: { id: 'a' } })
    expect(dhcp.releaseCalls().map((c) => c.req)).toEqual([{ ip: '127.0.0.1' }])
  })

  it('an address another thing has as its own opts.address (in any spelling) is a conflict too', async () => {
    await rpc.call('registerThing', { id: 'own7', opts: { address: '127.0.0.7', ...optsNoAddress() } })
    dhcp.ipByMac.set('aa:00:00:00:00:0c', '127.0.0.7')
    dhcp.ipByMac.set('aa:00:00:00:00:0d', '::ffff:127.0.0.7')
    await rpc.call('registerThing', { id: 'c', opts: optsNoAddress(), info: { macAddress: 'aa:00:00:00:00:0c', subnet: SUBNET } })
    await rpc.call('registerThing', { id: 'd', opts: optsNoAddress(), info: { macAddress: 'aa:00:00:00:00:0d', subnet: SUBNET } })
    for (const id of ['c', 'd']) {
      expect((await rpc.thing(id)).last?.err, id).toBe('ERR_DHCP_ADDRESS_CONFLICT')
      expect(addressOf(rack, id)).toBeUndefined()
    }
    // once the service answers a free address, a later cycle assigns it
    dhcp.ipByMac.set('aa:00:00:00:00:0c', '127.0.0.12')
    await waitFor(() => addressOf(rack, 'c') === '127.0.0.12', 10_000, 50)
    await rpc.call('forgetThings', { query: { id: { $in: ['own7', 'c', 'd'] } } })
    expect(dhcp.releaseCalls().map((c) => c.req.ip)).not.toContain('127.0.0.7')
  })

  it('forgetting a lease holder never releases an address another live thing uses', async () => {
    dhcp.ipByMac.set('aa:00:00:00:00:0e', '127.0.0.8')
    await rpc.call('registerThing', { id: 'e', opts: optsNoAddress(), info: { macAddress: 'aa:00:00:00:00:0e', subnet: SUBNET } })
    expect(addressOf(rack, 'e')).toBe('127.0.0.8')
    // an operator gives another thing the same address by hand
    await rpc.call('registerThing', { id: 'manual8', opts: { address: '127.0.0.8', ...optsNoAddress() } })
    const warn = vi.spyOn(rack.worker.logger, 'warn')
    await rpc.call('forgetThings', { query: { id: 'e' } })
    expect(dhcp.releaseCalls().map((c) => c.req.ip)).not.toContain('127.0.0.8')
    expect(warnLines(warn, /not released/)[0]?.[0]).toMatchObject({ thingId: 'e', ip: '127.0.0.8', holderThingId: 'manual8' })
    warn.mockRestore()
    expect(addressOf(rack, 'manual8')).toBe('127.0.0.8')
    // the last one using it goes: it had no lease, so nothing is released either
    await rpc.call('forgetThings', { query: { id: 'manual8' } })
    expect(dhcp.releaseCalls().map((c) => c.req.ip)).not.toContain('127.0.0.8')
  })
})

describe('unusable addresses', () => {
  let dhcp: DhcpStandIn
  let rack: InProcessRack
  let rpc: RackRpc

  beforeAll(async () => {
    dhcp = await new DhcpStandIn(bootstrap).start()
    ;({ rack, rpc } = await rackWith({ key: dhcp.publicKey, timeoutMs: 3000, retryMaxMs: 400 }, 'dhcp-unusable', { collectSnapsItvMs: 200 }))
  })

  afterAll(async () => { await rack.worker.stop() })

  it('an answer of the service no device can have → ERR_DHCP_ADDRESS_UNUSABLE: not stored, not connected, asked again later', async () => {
    const macOf = (i: number): string => `aa:00:00:00:01:${String(i).padStart(2, '0')}`
    UNUSABLE.forEach((ip, i) => dhcp.ipByMac.set(macOf(i), ip))
    for (let i = 0; i < UNUSABLE.length; i++) {
      await rpc.call('registerThing', { id: `u${i}`, opts: optsNoAddress(), info: { macAddress: macOf(i), subnet: SUBNET } })
    }
    for (let i = 0; i < UNUSABLE.length; i++) {
      const t = await rpc.thing(`u${i}`)
      expect(t.last?.err, UNUSABLE[i]).toBe('ERR_DHCP_ADDRESS_UNUSABLE')
      expect(t.last?.snap?.stats?.status).toBe('offline')
      expect(addressOf(rack, `u${i}`), UNUSABLE[i]).toBeUndefined()
    }
    // a failed assignment, retried: a usable answer is taken
    dhcp.ipByMac.set(macOf(0), '127.0.0.1')
    await waitFor(() => addressOf(rack, 'u0') === '127.0.0.1', 10_000, 50)
    await rpc.waitLast('u0', (l) => l.snap?.success === true, 10_000)
    await rpc.call('forgetThings', { all: true })
    // nothing unusable was ever released (it was never taken)
    expect(dhcp.releaseCalls().map((c) => c.req.ip)).toEqual(['127.0.0.1'])
  })

  it('registerThing and updateThing refuse them in opts.address (ERR_THING_OPTS_INVALID); usable and scoped ones pass', async () => {
    for (const address of [...UNUSABLE, '0x0', '::FFFF:224.0.0.1', 'FE80::1']) {
      expect(await rpc.error('registerThing', { id: 'bad', opts: { address, ...optsNoAddress() } }), address).toBe('ERR_THING_OPTS_INVALID')
    }
    expect(await rpc.count()).toBe(0)
    await rpc.call('registerThing', { id: 'ok', opts: { address: '127.0.0.1', ...optsNoAddress() } })
    for (const address of UNUSABLE) {
      expect(await rpc.error('updateThing', { id: 'ok', opts: { address } }), address).toBe('ERR_THING_OPTS_INVALID')
    }
    expect(addressOf(rack, 'ok')).toBe('127.0.0.1')
    for (const address of ['fe80::1%lo', '::1', '10.0.0.21', 'bay-1.site.example']) {
      expect(await rpc.call('updateThing', { id: 'ok', opts: { address } }), address).toBe(1)
    }
    await rpc.call('forgetThings', { all: true })
  })
})

describe('a DHCP outage is logged in bounded lines', () => {
  it('100 things retried again and again: each failure is logged alone or counted in one summary line per cycle', async () => {
    const THINGS = 100
    const dhcp = await new DhcpStandIn(bootstrap).start()
    dhcp.mode = 'error'
    const { rack, rpc } = await rackWith({ key: dhcp.publicKey, timeoutMs: 3000, retryMaxMs: 400 }, 'dhcp-outage', { collectSnapsItvMs: 200 })
    const warn = vi.spyOn(rack.worker.logger, 'warn')
    const tick = vi.spyOn(rack.worker.dhcp, 'tick')
    for (let i = 0; i < THINGS; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => rpc.call('registerThing', {
        id: `o${i + j}`, opts: optsNoAddress(), info: { macAddress: `aa:00:00:00:02:${(i + j).toString(16).padStart(2, '0')}`, subnet: SUBNET }
      }, 15_000)))
    }
    // every thing failed several times
    await dhcp.waitCalls('setIp', THINGS * 5, 30_000)
    await rack.worker.stop()
    const failures = dhcp.setCalls().length
    const ticks = tick.mock.calls.length
    const alone = warnLines(warn, /^DHCP address assignment failed$/)
    const summaries = warnLines(warn, /^DHCP failures since the last report/)
    // bounded by the cycles, not by things × attempts (before: one line per failure)
    expect(summaries.length).toBeLessThanOrEqual(ticks + 1)
    expect(alone.length).toBeLessThanOrEqual(DETAIL_LINES * (summaries.length + 1))
    expect(alone.length + summaries.length).toBeLessThan(failures / 4)
    // still visible: the first failures on their own, and every other one counted in a summary
    expect(alone.length).toBeGreaterThan(0)
    expect(alone[0][0]).toMatchObject({ code: 'ERR_DHCP_REJECTED', attempt: 1 })
    const counted = summaries.reduce((n, [f]) => n + Number(f.failures), 0)
    expect(alone.length + counted).toBe(failures)
    expect(summaries.at(-1)?.[0]).toMatchObject({ byCode: { 'assign ERR_DHCP_REJECTED': expect.any(Number) as number } })
    expect(Math.max(...summaries.map(([f]) => Number(f.things)))).toBeGreaterThan(THINGS / 2)
  }, 60_000)
})
