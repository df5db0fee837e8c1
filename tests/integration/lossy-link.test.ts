/**
 * The real MicroBTContainer and Modbus client against the mock container through a
 * deterministic loss proxy (bench/loss-proxy.ts): retries recover lost reads, late replies are
 * never taken for a retry's, the circuit breaker keeps a dead unit at one attempt per cycle,
 * snapshots never derive values from registers that were not read, writes are resent only to
 * the same unit and register and reported only when acknowledged, and getSnap after an
 * acknowledged write reads what was written.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { DROP, DROP_REPLY, LossProxy, PASS, seededLoss, type LossPolicy } from '../../bench/loss-proxy'
import type { MockServer, WriteRecord } from '../../mock/server'
import { DEFAULT_RETRY, MicroBTContainer } from '../../workers/lib/container'
import { ModbusTcpClient } from '../../workers/lib/modbus/client'
import type { ContainerSnapshot } from '../../workers/lib/registers'
import { expectSuccess, makeContainer, releaseAll, startMock, waitUntil } from './container-mock.helpers'

const FC_READ = 3
const FC_WRITE_SINGLE = 6
const FC_WRITE_MULTIPLE = 16
const TIMEOUT_MS = 250
/** Seed of the lossy read test (any seed works with enough retries; this one loses no request 3 times, so it passes at retry 2 as well as at the default 4). */
const SEED = 20260101

const proxies: LossProxy[] = []

afterAll(async () => {
  const open = await releaseAll()
  for (const p of proxies) await p.stop()
  expect(open.every((n) => n === 0)).toBe(true)
})

interface Rig {
  mock: MockServer
  proxy: LossProxy
  c: MicroBTContainer
  /** The container's own Modbus client (created by the container, with its options). */
  client: () => ModbusTcpClient
  /** A loss-free snapshot of the same (frozen) mock, read straight from its port. */
  reference: ContainerSnapshot
}

/** A frozen Kehua mock, a loss proxy in front of it, and a container (default retry) through the proxy. */
async function rig (policy: LossPolicy, timeout = TIMEOUT_MS): Promise<Rig> {
  const mock = await startMock('kehua', { tickMs: 0 })
  const reference = expectSuccess(await makeContainer('kehua', mock.port).getSnap())
  const proxy = new LossProxy({ targetHost: '127.0.0.1', targetPort: mock.port, policy })
  proxies.push(proxy)
  await proxy.start()
  let created: ModbusTcpClient | null = null
  const c = makeContainer('kehua', proxy.port, {
    retry: undefined, // the container's default (DEFAULT_RETRY, 4)
    timeout,
    clientFactory: (o) => { created = new ModbusTcpClient(o); return created }
  })
  const client = (): ModbusTcpClient => {
    if (created === null) throw new Error('no client yet')
    return created
  }
  return { mock, proxy, c, client, reference }
}

const writesOf = (log: readonly WriteRecord[]): string[] => log.map((w) => `unit ${w.unit} reg ${w.register} = ${w.value}`)

/** Every register of every unit of the mock, as `unit:register` → raw value. */
function registerDump (mock: MockServer): Map<string, number> {
  const out = new Map<string, number>()
  for (const [unit, image] of mock.state.registers) image.forEach((v, reg) => { if (reg > 0) out.set(`${unit}:${reg}`, v) })
  return out
}

/** Registers whose value differs between two dumps. */
function changed (before: Map<string, number>, after: Map<string, number>): string[] {
  return [...after].filter(([k, v]) => before.get(k) !== v).map(([k]) => k)
}

describe('reads on a lossy link', () => {
  it('retries recover dropped reads: every snapshot complete and equal to the loss-free one', async () => {
    const { proxy, c, client, reference } = await rig(seededLoss({ seed: SEED, drop: 0.1 }))
    for (let i = 0; i < 5; i++) {
      const snap = expectSuccess(await c.getSnap())
      expect(snap.stats).not.toHaveProperty('incomplete')
      expect(snap).toEqual(reference)
    }
    // The link really lost requests, and the client resent each of them.
    expect(proxy.stats.dropped).toBeGreaterThan(10)
    expect(client().stats.timeouts).toBe(proxy.stats.dropped)
    expect(client().stats.maxInFlight).toBe(4) // loss did not collapse the window
  })

  it("a late reply after its timeout is dropped while the retry's reply is used", async () => {
    // gtemp (unit 2): the first attempt is answered 550 ms late (timeout 400 ms), the retry 300 ms
    // late, so the stale reply arrives while the retry is on the wire.
    const { mock, proxy, c, client, reference } = await rig((f) => {
      if (f.unit !== 2 || f.functionCode !== FC_READ) return PASS
      return { kind: 'delayReply', ms: f.occurrence === 0 ? 550 : 300 }
    }, 400)
    // Once the device has answered the first attempt its temperature changes: only the retry reads 32.10 °C.
    proxy.onReply = (f) => { if (f.unit === 2 && f.occurrence === 0) mock.setRegister(2, 3, 3210) }
    const snap = expectSuccess(await c.getSnap())
    expect(reference.stats.ambient_temp_c).not.toBe(32.1)
    expect(snap.stats.ambient_temp_c).toBe(32.1)
    expect(snap.stats).not.toHaveProperty('incomplete')
    await waitUntil(() => client().stats.lateReplies === 1, 'the late reply to arrive')
    expect(client().stats.timeouts).toBe(1)
    expect(client().stats.responses).toBe(c.requestsPerSnapshot)
  })
})

describe('circuit breaker', () => {
  it('limits a dead unit to one attempt per cycle and re-arms its retries once it answers', async () => {
    let dead = true
    let attempts = 0
    const { c } = await rig((f) => {
      if (f.unit !== 12) return PASS
      attempts++
      return dead ? DROP : PASS
    })
    const cycle = async (): Promise<{ attempts: number, snap: ContainerSnapshot }> => {
      attempts = 0
      const snap = expectSuccess(await c.getSnap())
      return { attempts, snap }
    }
    // First cycle: the unit's first request gets 1 + 2 attempts (a first request on a link where no
    // resend has paid off yet: not the whole `retry`), the second is skipped.
    let r = await cycle()
    expect(r.attempts).toBe(3)
    expect(r.snap.stats.incomplete).toEqual(['pdu04'])
    expect(c.unitsOnSingleAttempt).toEqual([12])
    // Following cycles: one attempt, no retries.
    for (let i = 0; i < 2; i++) {
      r = await cycle()
      expect(r.attempts).toBe(1)
      expect(r.snap.stats.incomplete).toEqual(['pdu04'])
      expect(r.snap.stats.container_specific.pdu_data.map((p) => p.pdu)).not.toContain('4')
    }
    // It answers: both its requests are read in that cycle and the breaker closes.
    dead = false
    r = await cycle()
    expect(r.attempts).toBe(2)
    expect(r.snap.stats).not.toHaveProperty('incomplete')
    expect(c.unitsOnSingleAttempt).toEqual([])
    // Re-armed: when it fails again it gets its retries again.
    dead = true
    r = await cycle()
    expect(r.attempts).toBe(3)
  })

  it('a unit behind a gateway that answers 0B: resent like a timeout in its first cycle, then one attempt per cycle', async () => {
    const { mock, c } = await rig(() => PASS)
    expectSuccess(await c.getSnap())
    mock.setFault({ exception: { unit: 12, code: 0x0b } })
    const attempts = async (): Promise<number> => {
      const before = mock.stats.byUnit[12] ?? 0
      const snap = expectSuccess(await c.getSnap())
      expect(snap.stats.incomplete).toEqual(['pdu04'])
      return (mock.stats.byUnit[12] ?? 0) - before
    }
    expect(await attempts()).toBe(3)
    expect(c.unitsOnSingleAttempt).toEqual([12])
    for (let i = 0; i < 3; i++) expect(await attempts()).toBe(1)
    mock.setFault({ exception: null })
    expect(expectSuccess(await c.getSnap()).stats).not.toHaveProperty('incomplete')
    expect(c.unitsOnSingleAttempt).toEqual([])
  })
})

describe('honest snapshots', () => {
  it('a missing error block → status error with ERR_SNAPSHOT_INCOMPLETE, not running', async () => {
    // unit 1 registers 291–300 (address 290) never answer
    const { c, reference } = await rig((f) => (f.unit === 1 && f.functionCode === FC_READ && f.address === 290 ? DROP : PASS))
    expect(reference.stats.status).toBe('running') // what a complete read says
    const snap = expectSuccess(await c.getSnap())
    expect(snap.stats.status).toBe('error')
    expect(snap.stats.errors).toEqual([{ name: 'ERR_SNAPSHOT_INCOMPLETE' }])
    expect(snap.raw_errors).toEqual([])
    expect(snap.stats.incomplete).toEqual(['fcdu'])
    // the units that answered are there, exactly
    expect(snap.stats.container_specific.pdu_data).toEqual(reference.stats.container_specific.pdu_data)
  })

  it('a missing power meter → no power_w (never the sum of the meters that answered)', async () => {
    const { c, reference } = await rig((f) => (f.unit === 6 ? DROP : PASS))
    expect(reference.stats.power_w).toBeGreaterThan(0)
    const snap = expectSuccess(await c.getSnap())
    expect(snap.stats.power_w).toBeNull()
    expect(snap.stats.incomplete).toEqual(['powermeter03'])
    expect(snap.stats.container_specific.power_meters.map((m) => m.index)).toEqual(['01', '02', '04'])
    expect(snap.stats.container_specific.power_meters).toEqual(reference.stats.container_specific.power_meters.filter((m) => m.index !== '03'))
    expect(snap.stats.status).toBe('running') // its inputs were all read
    expect(snap.stats).not.toHaveProperty('errors')
  })
})

describe('writes on a lossy link', () => {
  it('a write whose acknowledgement was lost is resent and lands only on its unit and register, with its value', async () => {
    // the first FC06 to unit 1 register 614 (address 613) reaches the device; its ack is lost
    const { mock, proxy, c } = await rig((f) => (f.functionCode === FC_WRITE_SINGLE && f.unit === 1 && f.address === 613 && f.occurrence === 0 ? DROP_REPLY : PASS))
    expectSuccess(await c.getSnap())
    const before = registerDump(mock)
    await expect(c.setCoolingFanThreshold({ startTemp: 41.5 })).resolves.toEqual({ success: true })
    expect(proxy.stats.repliesDropped).toBe(1)
    expect(writesOf(mock.writeLog)).toEqual(['unit 1 reg 614 = 4150', 'unit 1 reg 614 = 4150'])
    expect(changed(before, registerDump(mock))).toEqual(['1:614'])
    expect(mock.getRegister(1, 614)).toBe(4150)
  })

  it('a socket write resent after a lost ack switches exactly that socket', async () => {
    // PDU 3 (unit 11), socket 5 → register 304; its first ack is lost
    const { mock, proxy, c } = await rig((f) => (f.functionCode === FC_WRITE_SINGLE && f.occurrence === 0 ? DROP_REPLY : PASS))
    expectSuccess(await c.getSnap())
    const enabled = mock.state.enabledSockets()
    await expect(c.switchSocket([['3', '5', false]])).resolves.toEqual({ success: true })
    expect(proxy.stats.repliesDropped).toBe(1)
    expect(writesOf(mock.writeLog)).toEqual(['unit 11 reg 304 = 2', 'unit 11 reg 304 = 2'])
    expect(mock.state.isSocketEnabled(3, 5)).toBe(false)
    expect(mock.state.enabledSockets()).toBe(enabled - 1)
  })

  it('a write whose request was lost is resent and lands once', async () => {
    const { mock, c } = await rig((f) => (f.functionCode === FC_WRITE_SINGLE && f.occurrence === 0 ? DROP : PASS))
    await expect(c.switchContainer(false)).resolves.toEqual({ success: true })
    expect(writesOf(mock.writeLog)).toEqual(['unit 1 reg 601 = 0'])
    expect(mock.state.systemMainControl).toBe(false)
  })

  it('is reported successful only when acknowledged: all acks lost → ERR_MODBUS_TIMEOUT after 1 + retry sends', async () => {
    const { mock, c } = await rig((f) => (f.functionCode === FC_WRITE_SINGLE ? DROP_REPLY : PASS))
    await expect(c.switchContainer(false)).rejects.toMatchObject({ code: 'ERR_MODBUS_TIMEOUT' })
    expect(writesOf(mock.writeLog)).toEqual(new Array(1 + DEFAULT_RETRY).fill('unit 1 reg 601 = 0'))
  })

  it('a lost authentication ack → a fresh challenge and response (never the same response again), then the write', async () => {
    // (each response answers its own challenge, so every one is a new frame: count them)
    let responses = 0
    const { mock, c } = await rig((f) => (f.functionCode === FC_WRITE_MULTIPLE && ++responses === 1 ? DROP_REPLY : PASS))
    await expect(c.switchContainer(false)).resolves.toEqual({ success: true })
    expect(mock.stats.authSucceeded).toBe(2)
    expect(mock.stats.authFailed).toBe(0)
    expect(writesOf(mock.writeLog)).toEqual(['unit 1 reg 601 = 0'])
  })
})

describe('read your writes', () => {
  it('getSnap after an acknowledged write shows it, also while a loop snapshot is in flight', async () => {
    // The PDUs answer slowly, so a snapshot stays in flight long after it read the CDU's 601–623.
    const { mock, proxy, c } = await rig((f) => (f.unit >= 9 ? { kind: 'delayReply', ms: 300 } : PASS), 2000)
    expectSuccess(await c.getSnap()) // connected
    let thresholdsRead = false
    proxy.onReply = (f) => { if (f.unit === 1 && f.address === 600) thresholdsRead = true }
    const loop = c.getSnap()
    await waitUntil(() => thresholdsRead, 'the loop snapshot to read the thresholds')
    await expect(c.setCoolingFanThreshold({ startTemp: 42, stopTemp: 31 })).resolves.toEqual({ success: true })
    expect(mock.getRegister(1, 614)).toBe(4200)
    const after = c.getSnap()
    expect(after).not.toBe(loop)
    const [old, fresh] = await Promise.all([loop, after])
    // the loop snapshot had read the old values before the write …
    expect(expectSuccess(old).stats.container_specific.cdu.cooling_fan_start_temperature_threshold).toBe(35)
    // … the one asked for after the ack shows the write
    expect(expectSuccess(fresh).stats.container_specific.cdu).toMatchObject({
      cooling_fan_start_temperature_threshold: 42,
      cooling_fan_stop_temperature_threshold: 31
    })
    expect(c.lastSnap).toBe(await after)
  })
})
