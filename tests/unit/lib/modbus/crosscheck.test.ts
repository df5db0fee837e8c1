/**
 * Our Modbus TCP client against an independent implementation: modbus-serial's `ServerTCP`
 * (third-party code, kept as a dev dependency for this) serves holding registers from a vector;
 * reads of every length up to 125, pipelined, FC06 and FC16 writes and an exception reply must
 * come out as that server means them. (The other direction — modbus-serial's client against our
 * mock — is in mock-server.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ServerTCP } from 'modbus-serial'
import { ModbusTcpClient } from '../../../../workers/lib/modbus/client'

const PORT = 20_000 + Math.floor(Math.random() * 20_000)
const stored = new Map<string, number>()
const value = (unit: number, addr: number): number => stored.get(`${unit}:${addr}`) ?? ((addr * 7 + unit * 131) & 0xffff)
let server: ServerTCP
let client: ModbusTcpClient

beforeAll(async () => {
  server = new ServerTCP({
    getHoldingRegister: (addr: number, unitID: number) => {
      if (addr >= 5000) throw Object.assign(new Error('out of range'), { modbusErrorCode: 2 })
      return value(unitID, addr)
    },
    setRegister: (addr: number, v: number, unitID: number) => { stored.set(`${unitID}:${addr}`, v) }
  }, { host: '127.0.0.1', port: PORT, unitID: 255 })
  await new Promise<void>((resolve) => server.on('initialized', () => resolve()))
  client = new ModbusTcpClient({ host: '127.0.0.1', port: PORT, timeoutMs: 2000, retries: 0, maxInFlight: 4 })
})

afterAll(async () => {
  await client.close()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

describe('our client against modbus-serial ServerTCP', () => {
  it('reads of 1…125 registers, four in flight, give the server\'s values at the right addresses', async () => {
    const reads = [1, 2, 17, 64, 125].flatMap((count) => [1, 3, 20].map((unit) => ({ unit, addr: 100 + count, count })))
    const got = await Promise.all(reads.map(async (r) => await client.readHoldingRegisters(r.unit, r.addr, r.count)))
    reads.forEach((r, i) => expect(got[i], JSON.stringify(r)).toEqual(Array.from({ length: r.count }, (_, j) => value(r.unit, r.addr + j))))
  })

  it('FC06 and FC16 writes land where the server puts them', async () => {
    await client.writeRegister(2, 40, 0xbeef)
    await client.writeRegisters(2, 41, [1, 2, 3, 0xffff])
    expect([40, 41, 42, 43, 44].map((a) => stored.get(`2:${a}`))).toEqual([0xbeef, 1, 2, 3, 0xffff])
    expect(await client.readHoldingRegisters(2, 40, 5)).toEqual([0xbeef, 1, 2, 3, 0xffff])
  })

  it('an exception reply from the server is ERR_MODBUS_EXCEPTION_<code>, and the link stays usable', async () => {
    await expect(client.readHoldingRegisters(1, 4990, 20)).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_MODBUS_EXCEPTION_0[24]$/) as string })
    expect(await client.readHoldingRegisters(1, 7, 1)).toEqual([value(1, 7)])
  })
})
