import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { CDU, METER, PDU, POWER_METER_UNITS, socketControlRegister } from '../../../mock/registers'
import { createServer, type LiveSignal } from '../../../mock/server'
import { authenticate, get, post, readRaw, readScaled, startHarness } from './harness'

/** Register of each CDU signal (all /100). */
const CDU_SIGNALS: Array<[LiveSignal, number, number]> = [
  ['inletTemperature', CDU.inletTempT2, 47.5],
  ['outletTemperature', CDU.outletTempT3, 52.25],
  ['supplyPressure', CDU.inletPressureP2, 3.1],
  ['returnPressure', CDU.outletPressureP3, 0.85]
]

const meterTotalKw = async (client: Parameters<typeof readRaw>[0]): Promise<number> => {
  let kw = 0
  for (const unit of POWER_METER_UNITS) kw += (await readRaw(client, unit, METER.totalActivePower)) / 100
  return kw
}

describe('live-value overrides', () => {
  it.each(CDU_SIGNALS)('%s: held, oscillating with noise, then released to the model', async (signal, reg, value) => {
    const { client, base } = await startHarness({ type: 'Wonderint' })
    const model = await readScaled(client, 1, reg)

    let res = await post(`${base}/thing/m`, { live: { [signal]: { value } } })
    expect(res.status).toBe(200)
    expect(res.json.state.live).toEqual({ [signal]: { value, amplitude: 0, periodMs: 0, noise: 0 } })
    for (let i = 0; i < 5; i++) expect(await readScaled(client, 1, reg)).toBeCloseTo(value, 2)

    const amplitude = 0.8
    const noise = 0.1
    res = await post(`${base}/thing/m`, { live: { [signal]: { value, amplitude, periodMs: 300, noise } } })
    expect(res.status).toBe(200)
    const seen: number[] = []
    for (let i = 0; i < 25; i++) {
      seen.push(await readScaled(client, 1, reg))
      await sleep(15)
    }
    for (const v of seen) {
      expect(v).toBeGreaterThanOrEqual(value - amplitude - noise - 0.006)
      expect(v).toBeLessThanOrEqual(value + amplitude + noise + 0.006)
    }
    expect(new Set(seen).size).toBeGreaterThan(5)
    expect(Math.max(...seen) - Math.min(...seen)).toBeGreaterThan(0.4)

    res = await post(`${base}/thing/m`, { live: { [signal]: null } })
    expect(res.status).toBe(200)
    expect(res.json.state.live).toEqual({})
    expect(await readScaled(client, 1, reg)).toBeCloseTo(model, 2)
  })

  it('an amplitude alone swings around the value; noise alone varies every read', async () => {
    const { server, client } = await startHarness()
    server.setLive({ inletTemperature: { value: 40, amplitude: 2, periodMs: 200 } })
    const swing: number[] = []
    for (let i = 0; i < 20; i++) {
      swing.push(await readScaled(client, 1, CDU.inletTempT2))
      await sleep(20)
    }
    expect(Math.max(...swing)).toBeLessThanOrEqual(42.005)
    expect(Math.min(...swing)).toBeGreaterThanOrEqual(37.995)
    expect(Math.max(...swing) - Math.min(...swing)).toBeGreaterThan(1)

    server.setLive({ inletTemperature: { value: 40, noise: 0.5 } })
    const noisy: number[] = []
    for (let i = 0; i < 20; i++) noisy.push(await readScaled(client, 1, CDU.inletTempT2))
    expect(noisy.every((v) => v >= 39.495 && v <= 40.505)).toBe(true)
    expect(new Set(noisy).size).toBeGreaterThan(10)
  })

  it('noise is reproducible: the same seed and reads give the same values', async () => {
    const values = async (): Promise<number[]> => {
      const s = createServer({ type: 'Kehua', port: 0, tickMs: 0, seed: 99 })
      s.setLive({ supplyPressure: { value: 2, noise: 0.3 } })
      return Array.from({ length: 10 }, () => s.state.read(1, CDU.inletPressureP2, 1)[0] as number)
    }
    const a = await values()
    expect(a).toEqual(await values())
    expect(new Set(a).size).toBeGreaterThan(5)
  })

  it('outletTemperature shows only where the vendor decodes unit_outlet_temp_t3 (Wonderint, not Kehua)', async () => {
    const { server, client } = await startHarness({ type: 'Kehua' })
    server.setLive({ outletTemperature: { value: 45 } })
    expect(await readRaw(client, 1, CDU.outletTempT3)).toBe(0)
    const w = await startHarness({ type: 'Wonderint', id: 'w' })
    w.server.setLive({ outletTemperature: { value: 45 } })
    expect(await readScaled(w.client, 1, CDU.outletTempT3)).toBeCloseTo(45, 2)
  })

  it('extraPowerKw adds to the four meters on top of the sockets, oscillates, and is released', async () => {
    const { server, client } = await startHarness()
    const before = await meterTotalKw(client)
    server.setLive({ extraPowerKw: { value: 100 } })
    expect(await meterTotalKw(client)).toBeCloseTo(before + 100, 1)
    expect(server.state.summary().powerKw).toBeCloseTo(before + 100, 1)
    // each meter a quarter, its currents follow
    const amps = (await readRaw(client, POWER_METER_UNITS[0]!, METER.currentA)) / 100
    server.setLive({ extraPowerKw: { value: 20, amplitude: 10, periodMs: 150 } })
    const seen: number[] = []
    for (let i = 0; i < 15; i++) {
      seen.push(await meterTotalKw(client) - before)
      await sleep(20)
    }
    // four reads per sample: allow the swing between them
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(10 - 0.05)
    expect(Math.max(...seen)).toBeLessThanOrEqual(30 + 0.05)
    expect(Math.max(...seen) - Math.min(...seen)).toBeGreaterThan(3)
    server.setLive({ extraPowerKw: null })
    expect(await meterTotalKw(client)).toBeCloseTo(before, 1)
    expect((await readRaw(client, POWER_METER_UNITS[0]!, METER.currentA)) / 100).toBeLessThan(amps)
  })

  it('a socket switched on raises the meters at once by its draw (≈ 5.5 kW)', async () => {
    const { server, client } = await startHarness()
    server.state.setAllSockets(false)
    const idle = await meterTotalKw(client)
    await authenticate(client)
    client.setID(9)
    await client.writeRegister(socketControlRegister(1) - 1, PDU.socketOn)
    const one = await meterTotalKw(client)
    expect(one - idle).toBeGreaterThan(5.25)
    expect(one - idle).toBeLessThan(5.75)
    expect((await readRaw(client, 9, PDU.totalPower)) / 100).toBeCloseTo(one - idle, 1)
    client.setID(10)
    await client.writeRegister(socketControlRegister(2) - 1, PDU.socketOn)
    expect(await meterTotalKw(client) - one).toBeGreaterThan(5.25)
  })

  it('reset releases every override', async () => {
    const { server, client, base } = await startHarness()
    const model = await readScaled(client, 1, CDU.inletTempT2)
    server.setLive({ inletTemperature: { value: 60 }, extraPowerKw: { value: 5 } })
    expect((await post(`${base}/thing/m/reset`, {})).status).toBe(200)
    expect(server.state.summary().live).toEqual({})
    expect(await readScaled(client, 1, CDU.inletTempT2)).toBeCloseTo(model, 2)
  })

  it('refuses bad overrides with 400 ERR_BAD_REQUEST and changes nothing', async () => {
    const { server, client, base } = await startHarness()
    const model = await readScaled(client, 1, CDU.inletTempT2)
    const bad: unknown[] = [
      { bogus: { value: 1 } },
      { inletTemperature: { value: '40' } },
      { inletTemperature: {} },
      { inletTemperature: { value: 40, amplitude: 1 } },
      { inletTemperature: { value: 40, amplitude: 1, periodMs: 0 } },
      { inletTemperature: { value: 40, periodMs: -5 } },
      { inletTemperature: { value: 40, amplitude: -1, periodMs: 100 } },
      { inletTemperature: { value: 40, noise: -0.1 } },
      { inletTemperature: { value: 40, phase: 1 } },
      { inletTemperature: { value: 400 } },
      { extraPowerKw: { value: 3000 } },
      { supplyPressure: { value: 2 }, returnPressure: { value: 1, amplitude: 1 } },
      [],
      'hot'
    ]
    for (const live of bad) {
      const res = await post(`${base}/thing/m`, { live })
      expect(res.status, JSON.stringify(live)).toBe(400)
      expect(res.json.error).toBe('ERR_BAD_REQUEST')
    }
    const inf = await post(`${base}/thing/m`, '{"live": {"inletTemperature": {"value": 1e999}}}')
    expect(inf.status).toBe(400)
    expect(inf.json.error).toBe('ERR_BAD_REQUEST')
    expect((await get(`${base}/thing/m`)).json.state.live).toEqual({})
    expect(await readScaled(client, 1, CDU.inletTempT2)).toBeCloseTo(model, 2)

    // in process: the same rules, ERR_MOCK_BAD_VALUE, nothing applied
    expect(() => server.setLive({ inletTemperature: { value: 50 }, bogus: { value: 1 } } as never)).toThrow(expect.objectContaining({ code: 'ERR_MOCK_BAD_VALUE' }))
    expect(() => server.setLive({ inletTemperature: { value: Number.NaN } })).toThrow(/finite/)
    expect(() => server.setLive({ inletTemperature: { value: 40, amplitude: 2 } })).toThrow(/periodMs/)
    expect(server.state.summary().live).toEqual({})
    // and a refused patch leaves its other parts unapplied
    const mixed = await post(`${base}/thing/m`, { powerFault: true, live: { nope: null } })
    expect(mixed.status).toBe(400)
    expect(server.state.powerFault).toBe(false)
  })
})
