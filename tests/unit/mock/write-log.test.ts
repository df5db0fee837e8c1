import ModbusRTU from 'modbus-serial'
import { describe, expect, it } from 'vitest'
import { WRITE_LOG_LIMIT, WriteLog } from '../../../mock/modbus/write-log'
import { CDU, PDU, socketControlRegister } from '../../../mock/registers'
import { authenticate, get, post, readRaw, startHarness } from './harness'

describe('write log', () => {
  it('records each accepted write with unit, fc, register and values; pages with since', async () => {
    const { server, client, base } = await startHarness()
    const t0 = Date.now()
    await authenticate(client)
    client.setID(11)
    await client.writeRegister(socketControlRegister(5) - 1, PDU.socketOff)
    expect(await readRaw(client, 11, PDU.socketStateFirst + 4)).toBe(0)
    client.setID(1)
    await client.writeRegisters(CDU.fanRunningSpeedThreshold - 1, [7000, 3600, 3100])

    let page = await get(`${base}/thing/m/writes`)
    expect(page.status).toBe(200)
    expect(page.json).toEqual({
      writes: [
        { seq: 1, at: expect.any(Number), unit: 11, fc: 6, register: 304, values: [2], connection: 1 },
        { seq: 2, at: expect.any(Number), unit: 1, fc: 16, register: 613, values: [7000, 3600, 3100], connection: 1 }
      ],
      nextSeq: 3
    })
    expect(page.json.writes[0].at).toBeGreaterThanOrEqual(t0)
    expect(page.json.writes[0].at).toBeLessThanOrEqual(Date.now())

    page = await get(`${base}/thing/m/writes?since=2`)
    expect(page.json.writes.map((w: { seq: number }) => w.seq)).toEqual([2])
    expect(page.json.nextSeq).toBe(3)
    page = await get(`${base}/thing/m/writes?since=3`)
    expect(page.json).toEqual({ writes: [], nextSeq: 3 })
    page = await get(`${base}/thing/m/writes?since=99`)
    expect(page.json).toEqual({ writes: [], nextSeq: 3 })

    // in process, and the per-register view
    expect(server.writes(2).writes).toEqual([expect.objectContaining({ seq: 2, register: 613 })])
    expect(server.writeLog).toEqual([
      { unit: 11, register: 304, value: 2, fc: 6, connection: 1 },
      { unit: 1, register: 613, value: 7000, fc: 16, connection: 1 },
      { unit: 1, register: 614, value: 3600, fc: 16, connection: 1 },
      { unit: 1, register: 615, value: 3100, fc: 16, connection: 1 }
    ])
  })

  it('leaves out the authentication response, refused writes and unauthenticated ones', async () => {
    const { server, client } = await startHarness()
    const other = new ModbusRTU()
    await other.connectTCP('127.0.0.1', { port: server.port })
    other.setTimeout(5000)
    try {
      other.setID(9)
      await expect(other.writeRegister(socketControlRegister(1) - 1, PDU.socketOff)).rejects.toMatchObject({ modbusCode: 4 })
    } finally {
      await new Promise<void>((resolve) => other.destroy(() => resolve()))
    }
    await authenticate(client)
    client.setID(9)
    await expect(client.writeRegister(socketControlRegister(1) - 1, 3)).rejects.toMatchObject({ modbusCode: 3 })
    client.setID(1)
    await expect(client.writeRegister(CDU.protocolVersion - 1, 1)).rejects.toMatchObject({ modbusCode: 2 })
    expect(server.writes()).toEqual({ writes: [], nextSeq: 1 })
  })

  it('reset clears the log; sequence numbers go on', async () => {
    const { server, client, base } = await startHarness()
    await authenticate(client)
    client.setID(1)
    await client.writeRegister(CDU.systemMainControl - 1, 0)
    expect(server.writes().nextSeq).toBe(2)
    expect((await post(`${base}/thing/m/reset`, {})).status).toBe(200)
    expect(server.writes()).toEqual({ writes: [], nextSeq: 2 })
    await client.writeRegister(CDU.systemMainControl - 1, 1)
    expect(server.writes(0).writes).toEqual([expect.objectContaining({ seq: 2, unit: 1, register: 601, values: [1] })])
  })

  it('refuses a bad since with 400 ERR_BAD_REQUEST; other methods and ids', async () => {
    const { server, base } = await startHarness()
    for (const q of ['since=-1', 'since=abc', 'since=1.5', 'since=', 'since=1&since=2', 'since=1e3', 'since=99999999999999999']) {
      const res = await get(`${base}/thing/m/writes?${q}`)
      expect(res.status, q).toBe(400)
      expect(res.json.error).toBe('ERR_BAD_REQUEST')
    }
    expect((await post(`${base}/thing/m/writes`, {})).status).toBe(405)
    expect((await get(`${base}/thing/nope/writes`)).status).toBe(404)
    expect(() => server.writes(-1)).toThrow(expect.objectContaining({ code: 'ERR_MOCK_BAD_VALUE' }))
    expect(() => server.writes(0.5)).toThrow(expect.objectContaining({ code: 'ERR_MOCK_BAD_VALUE' }))
  })

  it('keeps the last WRITE_LOG_LIMIT entries, oldest dropped first', () => {
    expect(WRITE_LOG_LIMIT).toBe(10_000)
    const log = new WriteLog(10)
    for (let i = 0; i < 25; i++) log.record({ unit: 9, fc: 6, register: 289, values: [i], connection: 1 })
    expect(log.length).toBe(10)
    expect(log.since().writes.map((w) => w.seq)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25])
    expect(log.since(3).writes.map((w) => w.values[0])).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24])
    expect(log.since(23).writes.map((w) => w.seq)).toEqual([23, 24, 25])
    expect(log.since(26)).toEqual({ writes: [], nextSeq: 26 })
    log.clear()
    expect(log.since()).toEqual({ writes: [], nextSeq: 26 })
    log.record({ unit: 9, fc: 6, register: 289, values: [1], connection: 1 })
    expect(log.since().writes.map((w) => w.seq)).toEqual([26])
  })
})
