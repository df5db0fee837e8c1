import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'
import ModbusRTU from 'modbus-serial'
import { afterEach, describe, expect, it } from 'vitest'
import { MbapStreamParser, encodeReadHoldingRegistersRequest } from '../../../workers/lib/modbus/frame'
import { waitFor } from '../../helpers/wait'
import {
  CDU, GTEMP, METER, PDU, PDU_UNITS, POWER_METER_UNITS, READABLE_RANGES, isReadable, isWritable,
  mergeRanges, socketControlRegister, socketStateRegister, toInt16
} from '../../../mock/registers'
import {
  MODBUS_EXCEPTION, createControlServer, createServer, main, type CreateServerOptions,
  type MockControlServer, type MockServer
} from '../../../mock/server'

// ------------------------------------------------------------------ helpers

const cleanups: Array<() => Promise<void> | void> = []

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

async function startMock (opts: Partial<CreateServerOptions> = {}): Promise<MockServer> {
  const server = createServer({ type: 'Kehua', port: 0, tickMs: 0, seed: 42, ...opts })
  cleanups.push(() => server.stop())
  await server.start()
  return server
}

async function connect (port: number, timeoutMs = 2000): Promise<ModbusRTU> {
  const client = new ModbusRTU()
  await client.connectTCP('127.0.0.1', { port })
  client.setTimeout(timeoutMs)
  cleanups.push(() => new Promise<void>((resolve) => client.destroy(() => resolve())))
  return client
}

/** Reads `count` registers from 1-based register `reg` of `unit`. */
async function read (client: ModbusRTU, unit: number, reg: number, count = 1): Promise<number[]> {
  client.setID(unit)
  const res = await client.readHoldingRegisters(reg - 1, count)
  return res.data
}

async function write (client: ModbusRTU, unit: number, reg: number, value: number): Promise<void> {
  client.setID(unit)
  await client.writeRegister(reg - 1, value)
}

async function writeMany (client: ModbusRTU, unit: number, reg: number, values: number[]): Promise<void> {
  client.setID(unit)
  await client.writeRegisters(reg - 1, values)
}

async function expectException (p: Promise<unknown>, code: number): Promise<void> {
  await expect(p).rejects.toMatchObject({ modbusCode: code })
}

function authResponse (challenge: Buffer, username = 'admin', password = 'admin'): number[] {
  const md5 = (s: string): Buffer => createHash('md5').update(s).digest()
  const digest = createHash('sha256').update(Buffer.concat([challenge, md5(username), md5(password)])).digest()
  return Array.from({ length: 16 }, (_, i) => digest.readUInt16BE(i * 2))
}

async function readChallenge (client: ModbusRTU): Promise<Buffer> {
  client.setID(1)
  const res = await client.readHoldingRegisters(CDU.challengeFirst - 1, 4)
  return Buffer.from(res.buffer)
}

async function authenticate (client: ModbusRTU, username = 'admin', password = 'admin'): Promise<void> {
  const challenge = await readChallenge(client)
  await writeMany(client, 1, CDU.authResponseFirst, authResponse(challenge, username, password))
}

const pduPower = async (c: ModbusRTU, unit: number): Promise<number> => toInt16((await read(c, unit, PDU.totalPower))[0]!) / 100
const meterPower = async (c: ModbusRTU, unit: number): Promise<number> => (await read(c, unit, METER.totalActivePower))[0]! / 100

// ------------------------------------------------------------------ register map

describe('register map', () => {
  it('lists exactly the readable ranges of registers.md', () => {
    expect(READABLE_RANGES.get(1)).toEqual([[1, 4], [26, 35], [46, 65], [90, 100], [201, 212], [291, 300], [301, 304], [601, 623]])
    expect(READABLE_RANGES.get(2)).toEqual([[2, 4]])
    expect(READABLE_RANGES.get(3)).toEqual([[2, 16]])
    for (const u of [4, 5, 6, 7]) expect(READABLE_RANGES.get(u)).toEqual([[2, 71], [73, 84]])
    expect(READABLE_RANGES.get(8)).toEqual([[2, 14]])
    for (let u = 9; u <= 20; u++) expect(READABLE_RANGES.get(u)).toEqual([[2, 192]])
    expect(READABLE_RANGES.has(21)).toBe(false)
  })

  it('treats touching ranges as one block but never reaches an unlisted register', () => {
    expect(mergeRanges([[301, 304], [291, 300], [1, 4]])).toEqual([[1, 4], [291, 304]])
    expect(isReadable(1, 291, 14)).toBe(true)
    expect(isReadable(1, 291, 15)).toBe(false)
    expect(isReadable(4, 70, 2)).toBe(true)
    expect(isReadable(4, 71, 2)).toBe(false)
    expect(isReadable(1, 5, 1)).toBe(false)
  })

  it('lists the writable registers', () => {
    expect(isWritable(1, 305, 16)).toBe(true)
    expect(isWritable(1, 601)).toBe(true)
    expect(isWritable(1, 602)).toBe(false)
    expect(isWritable(1, 613, 3)).toBe(true)
    expect(isWritable(1, 613, 4)).toBe(false)
    expect(isWritable(9, 289, 20)).toBe(true)
    expect(isWritable(9, 288)).toBe(false)
    expect(isWritable(4, 57)).toBe(false)
    expect(socketControlRegister(1)).toBe(308)
    expect(socketControlRegister(20)).toBe(289)
    expect(socketStateRegister(1)).toBe(46)
    expect(socketStateRegister(20)).toBe(65)
  })
})

// ------------------------------------------------------------------ reads

describe('mock server reads', () => {
  it('answers every listed range of every unit and exception 02 just outside', async () => {
    const server = await startMock()
    const c = await connect(server.port)
    for (const [unit, ranges] of READABLE_RANGES) {
      for (const [first, last] of ranges) {
        for (let r = first; r <= last; r += 125) {
          const count = Math.min(125, last - r + 1)
          expect(await read(c, unit, r, count)).toHaveLength(count)
        }
      }
      for (const [first, last] of mergeRanges(ranges)) {
        await expectException(read(c, unit, last - 1, 2 + 1), MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS)
        if (first > 1) await expectException(read(c, unit, first - 1, 2), MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS)
      }
    }
    // Merged touching ranges, an unlisted gap register, the auth response block.
    expect(await read(c, 1, 291, 14)).toHaveLength(14)
    await expectException(read(c, 4, 72), MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS)
    await expectException(read(c, 4, 2, 83), MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS)
    await expectException(read(c, 1, 305), MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS)
    await expectException(read(c, 9, 289), MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS)
  })

  it('answers 0B for unknown units and 01 for unsupported function codes', async () => {
    const server = await startMock()
    const c = await connect(server.port)
    await expectException(read(c, 21, 2), MODBUS_EXCEPTION.GATEWAY_TARGET_FAILED)
    await expectException(read(c, 99, 2, 3), MODBUS_EXCEPTION.GATEWAY_TARGET_FAILED)
    c.setID(1)
    await expectException(c.readInputRegisters(0, 2), MODBUS_EXCEPTION.ILLEGAL_FUNCTION)
    await expectException(c.readCoils(0, 4), MODBUS_EXCEPTION.ILLEGAL_FUNCTION)
    // The connection still works afterwards.
    expect(await read(c, 1, 1)).toEqual([4])
  })

  it('serves plausible values', async () => {
    const server = await startMock({ type: 'Kehua' })
    const c = await connect(server.port)
    expect(await read(c, 1, 1)).toEqual([4])
    const [t2, t1, p2, p3, p1, p5] = (await read(c, 1, 201, 6)).map((v) => toInt16(v) / 100)
    expect(t2).toBeGreaterThanOrEqual(30)
    expect(t2).toBeLessThanOrEqual(36)
    expect(t1).toBeGreaterThanOrEqual(26)
    expect(t1).toBeLessThanOrEqual(32)
    for (const p of [p2, p3, p1, p5]) {
      expect(p).toBeGreaterThanOrEqual(1.5)
      expect(p).toBeLessThanOrEqual(3.2)
    }
    for (const unit of POWER_METER_UNITS) {
      const regs = await read(c, unit, 2, 70)
      const at = (reg: number): number => regs[reg - 2]!
      expect(at(METER.status)).toBe(1)
      for (const reg of [METER.voltageAb, METER.voltageBc, METER.voltageCa]) {
        expect(at(reg) / 100).toBeGreaterThan(390)
        expect(at(reg) / 100).toBeLessThan(410)
      }
      expect(at(METER.currentA)).toBeGreaterThan(0)
      expect(at(METER.totalActivePower) / 100).toBeGreaterThan(3 * 20 * 5.2)
      expect(at(METER.totalPowerFactor) / 100).toBeGreaterThan(0.9)
      expect((await read(c, unit, METER.freq))[0]! / 100).toBeCloseTo(50, 0)
    }
    for (const unit of PDU_UNITS) {
      const sockets = await read(c, unit, PDU.socketStateFirst, 20)
      expect(sockets).toEqual(new Array(20).fill(1))
      const [freq, vab] = await read(c, unit, PDU.frequency, 2)
      expect(freq! / 100).toBeCloseTo(50, 0)
      expect(toInt16(vab!)).toBeGreaterThan(0)
      expect(await pduPower(c, unit)).toBeGreaterThan(20 * 5.2)
      expect(await pduPower(c, unit)).toBeLessThan(20 * 5.8)
    }
    expect(server.state.summary().enabledSockets).toBe(240)
  })

  it('serves the vendor-specific registers of each vendor', async () => {
    const kehua = await startMock({ type: 'kehua' })
    const wonderint = await startMock({ type: 'WONDERINT' })
    expect(kehua.type).toBe('Kehua')
    expect(wonderint.type).toBe('Wonderint')
    const k = await connect(kehua.port)
    const w = await connect(wonderint.port)

    // gtemp: Kehua /100, Wonderint /10.
    const [ks, kt, kh] = await read(k, 2, GTEMP.status, 3)
    const [ws, wt, wh] = await read(w, 2, GTEMP.status, 3)
    expect([ks, ws]).toEqual([1, 1])
    expect(kt! / 100).toBeGreaterThanOrEqual(30)
    expect(kt! / 100).toBeLessThanOrEqual(40)
    expect(wt! / 10).toBeGreaterThanOrEqual(30)
    expect(wt! / 10).toBeLessThanOrEqual(40)
    expect(kh! / 100).toBeGreaterThanOrEqual(40)
    expect(wh! / 10).toBeLessThanOrEqual(60)

    // 208: Kehua pump running status 100; Wonderint cycle_pump_control.
    const kCdu = await read(k, 1, 201, 12)
    const wCdu = await read(w, 1, 201, 12)
    expect(kCdu[CDU.reg208 - 201]).toBe(100)
    expect(wCdu[CDU.reg208 - 201]).toBe(1)
    // 211: Wonderint unit_outlet_temp_t3; absent (0) on Kehua.
    expect(kCdu[CDU.outletTempT3 - 201]).toBe(0)
    expect(wCdu[CDU.outletTempT3 - 201]! / 100).toBeGreaterThanOrEqual(36)
    expect(wCdu[CDU.outletTempT3 - 201]! / 100).toBeLessThanOrEqual(42)
    // 212: Kehua cooling_system_status; absent (0) on Wonderint.
    expect(kCdu[CDU.coolingSystemStatus - 201]).toBe(100)
    expect(wCdu[CDU.coolingSystemStatus - 201]).toBe(0)
    // 606: Kehua cycle_pump_control, Wonderint pump running (1).
    expect((await read(k, 1, CDU.reg606))[0]).toBe(1)
    expect((await read(w, 1, CDU.reg606))[0]).toBe(1)

    // Switching the container off stops the pump in each vendor's own register.
    await authenticate(k)
    await authenticate(w)
    await write(k, 1, CDU.systemMainControl, 0)
    await write(w, 1, CDU.systemMainControl, 0)
    expect((await read(k, 1, CDU.reg208))[0]).toBe(0)
    expect((await read(w, 1, CDU.reg606))[0]).toBe(0)
  })

  it('serves the per-connection challenge at 301–304 and encodes negative values as two\'s complement', async () => {
    const server = await startMock()
    const a = await connect(server.port)
    const b = await connect(server.port)
    const ca = await readChallenge(a)
    expect(await readChallenge(a)).toEqual(ca)
    expect(await readChallenge(b)).not.toEqual(ca)

    server.setRegister(1, CDU.dewPoint, -250)
    expect(server.getRegister(1, CDU.dewPoint)).toBe(0xff06)
    expect((await read(a, 1, CDU.dewPoint))[0]).toBe(0xff06)
    // Pinned: drift leaves it alone.
    server.state.tick(1000)
    expect(toInt16((await read(a, 1, CDU.dewPoint))[0]!)).toBe(-250)
  })

  it('drifts slowly and stays plausible', async () => {
    const server = await startMock({ type: 'Wonderint' })
    const before = server.getRegister(1, CDU.inletTempT2)
    const seen = new Set<number>()
    for (let i = 0; i < 600; i++) {
      server.state.tick(1000)
      const t2 = toInt16(server.getRegister(1, CDU.inletTempT2)) / 100
      expect(t2).toBeGreaterThanOrEqual(30)
      expect(t2).toBeLessThanOrEqual(36)
      const temp = server.getRegister(2, GTEMP.temperature) / 10
      expect(temp).toBeGreaterThanOrEqual(30)
      expect(temp).toBeLessThanOrEqual(40)
      const dew = toInt16(server.getRegister(1, CDU.dewPoint)) / 100
      expect(dew).toBeGreaterThanOrEqual(-5)
      expect(dew).toBeLessThanOrEqual(15)
      for (const unit of PDU_UNITS) {
        const kw = toInt16(server.getRegister(unit, PDU.totalPower)) / 100
        expect(kw).toBeGreaterThan(20 * 5.2)
        expect(kw).toBeLessThan(20 * 5.8)
      }
      seen.add(server.getRegister(1, CDU.inletTempT2))
    }
    expect(seen.size).toBeGreaterThan(10)
    expect(server.getRegister(1, CDU.inletTempT2)).not.toBe(before)
    // The energy counter accrues.
    expect(server.getRegister(4, METER.totalActiveEnergy)).not.toBe(createServer({ type: 'Wonderint', seed: 42, tickMs: 0 }).getRegister(4, METER.totalActiveEnergy))
  })

  it('is deterministic for a seed and reset() restores the initial state', async () => {
    const a = createServer({ type: 'Kehua', seed: 7, tickMs: 0 })
    const b = createServer({ type: 'Kehua', seed: 7, tickMs: 0 })
    expect(a.state.read(1, 201, 12)).toEqual(b.state.read(1, 201, 12))
    const initial = a.state.read(9, 74, 8)
    a.state.tick(5000)
    a.setRegister(9, PDU.totalPower, 1)
    a.state.setSocket(1, 1, false)
    a.setFault({ delayMs: 10, silentUnits: [3], flood: 100 })
    a.reset()
    expect(a.state.read(9, 74, 8)).toEqual(initial)
    expect(a.state.isSocketEnabled(1, 1)).toBe(true)
    expect(a.faults).toEqual({ delayMs: 0, exceptions: [], silentUnits: [], flood: 0 })
  })
})

// ------------------------------------------------------------------ errors

describe('--error', () => {
  it('sets system error bits 0–15 (reg 291 = 0xFFFF) and general error flag 98 only', async () => {
    const server = await startMock({ error: true })
    const c = await connect(server.port)
    expect(await read(c, 1, CDU.systemErrorFirst, 10)).toEqual([0xffff, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    expect(await read(c, 1, 96, 5)).toEqual([0, 0, 1, 0, 0])
    // The dew point (95) is not overlapped by the error flags.
    expect(toInt16((await read(c, 1, 95))[0]!)).toBeGreaterThanOrEqual(-500)
    expect(server.info().error).toBe(true)
  })

  it('has no error bits without --error, and error can be toggled at runtime', async () => {
    const server = await startMock()
    const c = await connect(server.port)
    expect(await read(c, 1, CDU.systemErrorFirst, 10)).toEqual(new Array(10).fill(0))
    expect(await read(c, 1, 96, 5)).toEqual([0, 0, 0, 0, 0])
    server.setFault({ error: true })
    expect((await read(c, 1, 291, 2))).toEqual([0xffff, 0])
    expect((await read(c, 1, 98))[0]).toBe(1)
    server.state.patch({ systemErrorBits: [0, 17, 24], generalErrors: [100] })
    expect(await read(c, 1, 291, 3)).toEqual([0x8000, 0x4080, 0])
    expect(await read(c, 1, 96, 5)).toEqual([0, 0, 0, 0, 1])
  })
})

// ------------------------------------------------------------------ writes and authentication

describe('writes and authentication', () => {
  it('rejects writes before authentication with exception 04', async () => {
    const server = await startMock()
    const c = await connect(server.port)
    await expectException(write(c, 1, CDU.systemMainControl, 0), MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE)
    await expectException(write(c, 9, socketControlRegister(1), PDU.socketOff), MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE)
    await expectException(writeMany(c, 1, CDU.fanRunningSpeedThreshold, [1, 2, 3]), MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE)
    expect((await read(c, 1, CDU.systemMainControl))[0]).toBe(1)
    expect((await read(c, 9, socketStateRegister(1)))[0]).toBe(1)
  })

  it('rejects a wrong authentication response with exception 04 and stays unauthenticated', async () => {
    const server = await startMock({ username: 'operator', password: 's3cret' })
    const c = await connect(server.port)
    const challenge = await readChallenge(c)
    await expectException(writeMany(c, 1, CDU.authResponseFirst, authResponse(challenge, 'operator', 'wrong')),
      MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE)
    await expectException(write(c, 1, CDU.systemMainControl, 0), MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE)
    // Default credentials are not accepted either.
    await expectException(authenticate(c), MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE)
    // The auth block only takes exactly FC16 on 305–320.
    await expectException(write(c, 1, CDU.authResponseFirst, 1), MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE)
    await expectException(writeMany(c, 1, CDU.authResponseFirst, authResponse(challenge).slice(0, 8)), MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE)
    await authenticate(c, 'operator', 's3cret')
    await write(c, 1, CDU.systemMainControl, 0)
    expect(server.stats.authFailed).toBe(2)
    expect(server.stats.authSucceeded).toBe(1)
  })

  it('issues a fresh challenge after a successful authentication', async () => {
    const server = await startMock()
    const c = await connect(server.port)
    const first = await readChallenge(c)
    await writeMany(c, 1, CDU.authResponseFirst, authResponse(first))
    const second = await readChallenge(c)
    expect(second).not.toEqual(first)
    // Replaying the old response fails now, and de-authenticates the connection.
    await expectException(writeMany(c, 1, CDU.authResponseFirst, authResponse(first)), MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE)
    await expectException(write(c, 1, CDU.systemMainControl, 0), MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE)
    await authenticate(c)
    await write(c, 1, CDU.systemMainControl, 0)
  })

  it('switches sockets and the power follows', async () => {
    const server = await startMock()
    const c = await connect(server.port)
    await authenticate(c)
    const pdu = 9
    const pduBefore = await pduPower(c, pdu)
    const meterBefore = await meterPower(c, 4)

    await write(c, pdu, socketControlRegister(3), PDU.socketOff)
    expect((await read(c, pdu, socketStateRegister(3)))[0]).toBe(0)
    expect((await read(c, pdu, socketStateRegister(2)))[0]).toBe(1)
    const pduOne = await pduPower(c, pdu)
    expect(pduBefore - pduOne).toBeGreaterThan(5.2)
    expect(pduBefore - pduOne).toBeLessThan(5.8)
    expect(meterBefore - (await meterPower(c, 4))).toBeCloseTo(pduBefore - pduOne, 1)
    // Other meters are not affected.
    expect(await meterPower(c, 5)).toBeGreaterThan(3 * 20 * 5.2)

    for (let s = 1; s <= 20; s++) await write(c, pdu, socketControlRegister(s), PDU.socketOff)
    expect(await read(c, pdu, PDU.socketStateFirst, 20)).toEqual(new Array(20).fill(0))
    expect(await pduPower(c, pdu)).toBe(0)
    expect((await read(c, pdu, PDU.currentA))[0]).toBe(0)
    expect(meterBefore - (await meterPower(c, 4))).toBeCloseTo(pduBefore, 1)
    expect(server.state.summary().enabledSockets).toBe(220)

    await write(c, pdu, socketControlRegister(20), PDU.socketOn)
    expect((await read(c, pdu, socketStateRegister(20)))[0]).toBe(1)
    expect(await pduPower(c, pdu)).toBeGreaterThan(5.2)

    await expectException(write(c, pdu, socketControlRegister(1), 3), MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE)
    await expectException(write(c, pdu, socketControlRegister(1), 0), MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE)
    await expectException(write(c, pdu, socketStateRegister(1), 1), MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS)
  })

  it('reflects system_main_control (601) and the fan thresholds (613–615)', async () => {
    const server = await startMock({ type: 'Wonderint' })
    const c = await connect(server.port)
    await authenticate(c)
    await write(c, 1, CDU.systemMainControl, 0)
    expect((await read(c, 1, CDU.systemMainControl))[0]).toBe(0)
    expect((await read(c, 1, CDU.pumpSpeed))[0]).toBe(0)
    await write(c, 1, CDU.systemMainControl, 1)
    expect((await read(c, 1, CDU.systemMainControl))[0]).toBe(1)
    expect((await read(c, 1, CDU.pumpSpeed))[0]).toBeGreaterThan(0)
    await expectException(write(c, 1, CDU.systemMainControl, 2), MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE)

    await write(c, 1, CDU.fanRunningSpeedThreshold, 7550)
    await write(c, 1, CDU.fanStartTempThreshold, 3725)
    await write(c, 1, CDU.fanStopTempThreshold, 3100)
    expect(await read(c, 1, 613, 3)).toEqual([7550, 3725, 3100])
    await writeMany(c, 1, 613, [6000, 3600, 0xfff6])
    expect(await read(c, 1, 613, 3)).toEqual([6000, 3600, 0xfff6])
    // Reads survive drift.
    server.state.tick(1000)
    expect(await read(c, 1, 613, 3)).toEqual([6000, 3600, 0xfff6])
    // Not writable, even when authenticated.
    await expectException(write(c, 1, CDU.circulationPumpSwitch, 0), MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS)
    await expectException(writeMany(c, 1, 613, [1, 2, 3, 4]), MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS)
    await expectException(write(c, 4, METER.totalActivePower, 0), MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS)
    expect(await read(c, 1, 613, 3)).toEqual([6000, 3600, 0xfff6])
  })

  it('keeps authentication per TCP connection', async () => {
    const server = await startMock()
    const a = await connect(server.port)
    const b = await connect(server.port)
    await authenticate(a)
    await expectException(write(b, 1, CDU.fanStartTempThreshold, 3300), MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE)
    await write(a, 1, CDU.fanStartTempThreshold, 3400)
    // Interleaved requests on both connections keep their own context.
    const results = await Promise.allSettled([
      write(b, 9, socketControlRegister(1), PDU.socketOff),
      write(a, 10, socketControlRegister(1), PDU.socketOff),
      write(b, 11, socketControlRegister(1), PDU.socketOff)
    ])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected'])
    expect((await read(b, 1, CDU.fanStartTempThreshold))[0]).toBe(3400)
    expect((await read(b, 10, socketStateRegister(1)))[0]).toBe(0)
    expect((await read(b, 9, socketStateRegister(1)))[0]).toBe(1)
    // A new connection starts unauthenticated.
    const c = await connect(server.port)
    await expectException(write(c, 1, CDU.fanStartTempThreshold, 3300), MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE)
  })

  it('counts requests per function code', async () => {
    const server = await startMock()
    const c = await connect(server.port)
    await read(c, 1, 1, 4)
    await read(c, 9, 2, 100)
    await authenticate(c)
    await write(c, 1, CDU.systemMainControl, 1)
    await expectException(read(c, 1, 5), MODBUS_EXCEPTION.ILLEGAL_DATA_ADDRESS)
    expect(server.stats.byFunctionCode).toEqual({ 3: 4, 6: 1, 16: 1 })
    expect(server.stats.requests).toBe(6)
    expect(server.stats.byUnit).toEqual({ 1: 5, 9: 1 })
    expect(server.stats.exceptions).toBe(1)
    expect(server.stats.exceptionsByCode).toEqual({ 2: 1 })
    expect(server.stats.connections).toBe(1)
  })
})

describe('write log', () => {
  it('records every register an accepted write set (unit, register, value, fc, connection), nothing else; reset() clears it', async () => {
    const server = await startMock()
    const a = await connect(server.port)
    await expectException(write(a, 1, CDU.systemMainControl, 0), MODBUS_EXCEPTION.SERVER_DEVICE_FAILURE) // before auth
    await authenticate(a)
    await write(a, 1, CDU.systemMainControl, 0)
    await writeMany(a, 1, 613, [6000, 3600, 0xfff6])
    await expectException(write(a, 9, socketControlRegister(2), 5), MODBUS_EXCEPTION.ILLEGAL_DATA_VALUE)
    const b = await connect(server.port)
    await authenticate(b)
    await write(b, 9, socketControlRegister(2), PDU.socketOff)
    expect(server.writeLog).toEqual([
      { unit: 1, register: 601, value: 0, fc: 6, connection: 1 },
      { unit: 1, register: 613, value: 6000, fc: 16, connection: 1 },
      { unit: 1, register: 614, value: 3600, fc: 16, connection: 1 },
      { unit: 1, register: 615, value: 0xfff6, fc: 16, connection: 1 },
      { unit: 9, register: socketControlRegister(2), value: PDU.socketOff, fc: 6, connection: 2 }
    ])
    server.reset()
    expect(server.writeLog).toEqual([])
  })
})

// ------------------------------------------------------------------ fault injection

describe('fault injection', () => {
  it('delays every reply by delayMs', async () => {
    const server = await startMock()
    const c = await connect(server.port)
    server.setFault({ delayMs: 300 })
    const t0 = Date.now()
    await read(c, 1, 1)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280)
    server.setFault({ delayMs: 0 })
    const t1 = Date.now()
    await read(c, 1, 1)
    expect(Date.now() - t1).toBeLessThan(200)
  })

  it('never answers silent units (client timeout) while other units answer', async () => {
    const server = await startMock()
    const c = await connect(server.port, 300)
    server.setFault({ silentUnits: [2] })
    await expect(read(c, 2, 2, 3)).rejects.toMatchObject({ errno: 'ETIMEDOUT' })
    expect(await read(c, 1, 1)).toEqual([4])
    server.setFault({ dropUnit: 9 })
    expect(server.faults.silentUnits).toEqual([2, 9])
    await expect(read(c, 9, 2)).rejects.toMatchObject({ errno: 'ETIMEDOUT' })
    expect(server.stats.unanswered).toBe(2)
    server.setFault({ silentUnits: [] })
    expect((await read(c, 2, 2))[0]).toBe(1)
  })

  it('answers the injected exception code for a unit', async () => {
    const server = await startMock()
    const c = await connect(server.port)
    server.setFault({ exception: { unit: 3, code: 0x06 } })
    await expectException(read(c, 3, 2), 0x06)
    expect(await read(c, 2, 2)).toEqual([1])
    server.setFault({ exception: { unit: 3, code: 0 } })
    expect(await read(c, 3, 2)).toEqual([1])
    server.setFault({ exception: { unit: 1, code: 0x0a } })
    await expectException(read(c, 1, 1), 0x0a)
    server.clearFaults()
    expect(await read(c, 1, 1)).toEqual([4])
    expect(() => server.setFault({ exception: { unit: 1, code: 256 } })).toThrow(/exception code/)
    expect(() => server.setFault({ delayMs: -1 })).toThrow(/delayMs/)
  })

  it('flood: unsolicited FC03 replies of unit 1 (random transaction ids) on every connection, requests still answered; 0 stops it', async () => {
    const server = await startMock()
    server.setFault({ flood: 5000 }) // before the connection: it is flooded from the start
    expect(server.faults.flood).toBe(5000)
    const frames: Array<{ tid: number, unit: number, fc: number }> = []
    const parser = new MbapStreamParser((tid, unit, fc) => { frames.push({ tid, unit, fc }) })
    const sock = net.connect(server.port, '127.0.0.1')
    cleanups.push(() => { sock.destroy() })
    sock.on('data', (chunk: Buffer) => parser.push(chunk))
    await waitFor(() => frames.length >= 200, 5000, 5)
    expect(frames.every((f) => f.unit === 1 && f.fc === 3 && f.tid >= 1)).toBe(true)
    expect(new Set(frames.map((f) => f.tid)).size).toBeGreaterThan(150)
    // the flood's ids are 1…65535: the reply with id 0 is the answer to this request
    sock.write(encodeReadHoldingRegistersRequest(0, 1, 0, 1))
    await waitFor(() => frames.some((f) => f.tid === 0), 5000, 5)
    expect(server.stats.unsolicited).toBeGreaterThanOrEqual(200)

    server.setFault({ flood: 0 })
    const sent = server.stats.unsolicited
    // what was sent before arrives before the answer to a request sent now (one TCP stream) …
    const answers = (): number => frames.filter((f) => f.tid === 0).length
    sock.write(encodeReadHoldingRegistersRequest(0, 1, 0, 1))
    await waitFor(() => answers() === 2, 5000, 5)
    // … and an answer held back 60 ms spans several flood ticks (10 ms): nothing else comes
    server.setFault({ delayMs: 60 })
    const before = frames.length
    sock.write(encodeReadHoldingRegistersRequest(0, 1, 0, 1))
    await waitFor(() => frames.length > before, 5000, 5)
    expect(frames.slice(before)).toEqual([{ tid: 0, unit: 1, fc: 3 }])
    expect(server.stats.unsolicited).toBe(sent)
    expect(() => server.setFault({ flood: -1 })).toThrow(/flood/)
    expect(() => server.setFault({ flood: 1.5 })).toThrow(/flood/)
  })

  it('failReads: the next `count` reads of a unit answer exception 04, then it answers again; reset() clears', async () => {
    const server = await startMock()
    const c = await connect(server.port)
    server.state.patch({ failReads: [{ unit: 3, count: 2 }] })
    expect(server.state.readFailuresLeft(3)).toBe(2)
    await expectException(read(c, 3, 2), 0x04)
    expect(await read(c, 2, 2)).toEqual([1]) // other units are not affected
    await expectException(read(c, 3, 2), 0x04)
    expect(await read(c, 3, 2)).toEqual([1])
    expect(server.stats.exceptionsByCode).toEqual({ 4: 2 })
    server.state.failReads(3, 5)
    server.state.failReads(3, 0) // 0 clears
    expect(await read(c, 3, 2)).toEqual([1])
    server.state.failReads(9, 1)
    server.reset()
    expect(server.state.readFailuresLeft(9)).toBe(0)
    expect(() => server.state.patch({ failReads: [{ unit: 21, count: 1 }] })).toThrow(/no unit 21/)
    expect(() => server.state.patch({ failReads: [{ unit: 3, count: -1 }] })).toThrow(/count/)
  })

  it('goes offline (connections dropped and refused) and comes back on the same port', async () => {
    const server = await startMock()
    const port = server.port
    const c = await connect(server.port)
    expect(await read(c, 1, 1)).toEqual([4])
    const closed = new Promise<void>((resolve) => c.on('close', () => resolve()))
    await server.setOffline(true)
    expect(server.offline).toBe(true)
    await closed
    await expect(connect(port)).rejects.toBeDefined()
    await server.setOffline(false)
    expect(server.offline).toBe(false)
    expect(server.port).toBe(port)
    const d = await connect(port)
    expect(await read(d, 1, 1)).toEqual([4])
  })

  it('stop() closes everything and exit() is final', async () => {
    const server = await startMock({ tickMs: 50 })
    const c = await connect(server.port)
    await read(c, 1, 1)
    await server.stop()
    expect(server.connectionCount).toBe(0)
    await expect(connect(server.port)).rejects.toBeDefined()
    await server.start()
    const d = await connect(server.port)
    expect(await read(d, 1, 1)).toEqual([4])
    await server.exit()
    await expect(server.start()).rejects.toMatchObject({ code: 'ERR_MOCK_EXITED' })
  })

  it('rejects an invalid type', () => {
    expect(() => createServer({ type: 'Bitmain' })).toThrow(expect.objectContaining({ code: 'ERR_MOCK_INVALID_TYPE' }))
  })
})

// ------------------------------------------------------------------ control API

describe('control HTTP API', () => {
  async function startControl (servers: MockServer[]): Promise<{ control: MockControlServer, base: string }> {
    const control = createControlServer(servers, { port: 0 })
    cleanups.push(() => control.stop())
    const { port } = await control.start()
    return { control, base: `http://127.0.0.1:${port}` }
  }

  const post = async (url: string, body: unknown): Promise<Response> =>
    await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })

  it('lists things, switches them offline/online, patches, resets and rejects bad input', async () => {
    const a = await startMock({ id: 'a', type: 'Kehua' })
    const b = await startMock({ id: 'b', type: 'Wonderint', error: true })
    const { base } = await startControl([a, b])

    const list = await (await fetch(`${base}/things`)).json()
    expect(list).toEqual([
      { id: 'a', type: 'Kehua', host: '127.0.0.1', port: a.port, offline: false, error: false },
      { id: 'b', type: 'Wonderint', host: '127.0.0.1', port: b.port, offline: false, error: true }
    ])

    let res = await post(`${base}/thing/a`, { offline: true })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ id: 'a', offline: true })
    await expect(connect(a.port)).rejects.toBeDefined()
    res = await post(`${base}/thing/a`, { offline: false })
    expect((await res.json()) as unknown).toMatchObject({ offline: false })
    const c = await connect(a.port)
    expect(await read(c, 1, 1)).toEqual([4])

    res = await post(`${base}/thing/a`, {
      registers: [{ unit: 1, register: 95, value: -300 }],
      state: { sockets: [{ pdu: 1, socket: 1, enabled: false }] },
      delayMs: 0,
      exception: { unit: 3, code: 4 }
    })
    expect(res.status).toBe(200)
    expect(toInt16((await read(c, 1, 95))[0]!)).toBe(-300)
    expect((await read(c, 9, 46))[0]).toBe(0)
    await expectException(read(c, 3, 2), 4)

    res = await post(`${base}/thing/a`, { exception: null, state: { failReads: [{ unit: 4, count: 1 }] } })
    expect(res.status).toBe(200)
    await expectException(read(c, 4, 2), 4)
    expect(await read(c, 4, 2)).toEqual([1])
    res = await post(`${base}/thing/a`, { state: { failReads: [{ unit: 99, count: 1 }] } })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ error: 'ERR_MOCK_BAD_FAULT' })
    res = await post(`${base}/thing/a`, { exception: { unit: 3, code: 4 } })
    expect(res.status).toBe(200)

    res = await post(`${base}/thing/a/reset`, {})
    expect(res.status).toBe(200)
    expect((await read(c, 9, 46))[0]).toBe(1)
    expect(toInt16((await read(c, 1, 95))[0]!)).not.toBe(-300)
    expect(await read(c, 3, 2)).toEqual([1])

    res = await post(`${base}/thing/b`, { error: false })
    expect(await res.json()).toMatchObject({ error: false })

    res = await post(`${base}/thing/a`, '{not json')
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: 'ERR_BAD_JSON' })

    res = await post(`${base}/thing/a`, { bogus: 1 })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ error: 'ERR_BAD_REQUEST' })

    res = await post(`${base}/thing/a`, { registers: [{ unit: 1, register: 9999, value: 1 }] })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ error: 'ERR_MOCK_BAD_REGISTER' })

    res = await post(`${base}/thing/nope`, { offline: true })
    expect(res.status).toBe(404)
    res = await post(`${base}/thing/nope/reset`, {})
    expect(res.status).toBe(404)
    res = await fetch(`${base}/elsewhere`)
    expect(res.status).toBe(404)

    const detail = await (await fetch(`${base}/thing/a`)).json()
    expect(detail).toMatchObject({ id: 'a', state: { type: 'Kehua', enabledSockets: 240 }, faults: { delayMs: 0 } })
  })
})

// ------------------------------------------------------------------ CLI

describe('CLI main()', () => {
  it('starts a server for --type (case-insensitive) and logs one line without the password', async () => {
    const lines: string[] = []
    const cli = await main(['--type', 'wonderint', '-p', '0', '--password', 'hunter2'], { log: (l) => lines.push(l) })
    cleanups.push(() => cli.stop())
    expect(cli.servers).toHaveLength(1)
    const [server] = cli.servers
    expect(server!.type).toBe('Wonderint')
    expect(server!.port).toBeGreaterThan(0)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(`127.0.0.1:${server!.port}`)
    expect(lines.join('\n')).not.toContain('hunter2')
    const c = await connect(server!.port)
    expect((await read(c, 2, 3))[0]! / 10).toBeGreaterThanOrEqual(30)
    await authenticate(c, 'admin', 'hunter2')
    await cli.stop()
    expect(server!.offline).toBe(true)
  })

  it('rejects an invalid or missing --type and unknown flags', async () => {
    await expect(main(['--type', 'bitmain', '-p', '0'], { log: () => {} })).rejects.toMatchObject({ code: 'ERR_MOCK_INVALID_TYPE' })
    await expect(main(['-p', '0'], { log: () => {} })).rejects.toMatchObject({ code: 'ERR_MOCK_INVALID_TYPE' })
    await expect(main(['--type', 'kehua', '--nope'], { log: () => {} })).rejects.toThrow()
  })

  it('starts one server per --bulk entry and the control API', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mock-bulk-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'bulk.json')
    writeFileSync(file, JSON.stringify([
      { type: 'Kehua', port: 0, host: '127.0.0.1', error: true },
      { type: 'wonderint', port: 0 }
    ]))
    const lines: string[] = []
    const cli = await main(['--bulk', file, '--mockControlPort', '0'], { log: (l) => lines.push(l) })
    cleanups.push(() => cli.stop())
    expect(cli.servers.map((s) => [s.id, s.type, s.state.error])).toEqual([['0', 'Kehua', true], ['1', 'Wonderint', false]])
    expect(lines).toHaveLength(3)
    const things = await (await fetch(`http://127.0.0.1:${cli.control!.port}/things`)).json()
    expect(things).toHaveLength(2)

    writeFileSync(file, JSON.stringify([{ type: 'Kehua' }, { type: 'Avalon' }]))
    await expect(main(['--bulk', file], { log: () => {} })).rejects.toMatchObject({ code: 'ERR_MOCK_INVALID_TYPE' })
    writeFileSync(file, '[{"port": 1}]')
    await expect(main(['--bulk', file], { log: () => {} })).rejects.toMatchObject({ code: 'ERR_MOCK_BAD_BULK' })
  })
})
