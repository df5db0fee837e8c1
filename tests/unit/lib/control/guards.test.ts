/** Guard readings (meters, inlet temperature, circulation pressures) and their limits. */
import { describe, expect, it } from 'vitest'
import { checkGuards, readGuards, type GuardReading } from '../../../../workers/lib/control/guards'

const reading: GuardReading = { powerW: 350_000, inletTempC: 40, supplyBar: 2.5, returnBar: 1.5, at: 0 }
const none = { maxPowerW: null, inletMaxC: null, pressureBar: { min: null, max: null } }

describe('checkGuards', () => {
  it('no limits → nothing breached; each limit is checked on its own', () => {
    expect(checkGuards(reading, none)).toEqual([])
    expect(checkGuards(reading, { ...none, maxPowerW: 350_000 })).toEqual([])
    expect(checkGuards(reading, { ...none, maxPowerW: 349_999 }).map((b) => b.message)).toEqual(['power 350000 W above the cap 349999 W'])
    expect(checkGuards(reading, { ...none, inletMaxC: 39.5 }).map((b) => b.guard)).toEqual(['inletTemperature'])
    const pressure = (min: number | null, max: number | null): string[] =>
      checkGuards(reading, { ...none, pressureBar: { min, max } }).map((b) => b.message)
    expect(pressure(2, null)).toEqual(['return pressure 1.5 bar below 2 bar'])
    expect(pressure(null, 2)).toEqual(['supply pressure 2.5 bar above 2 bar'])
  })
})

describe('readGuards', () => {
  it('sums the four meters (kW × 100 → W) and reads T2, P2, P3 signed ×100, in five reads at once', async () => {
    const reads: string[] = []
    const io = {
      read: async (unit: number, start: number, count: number): Promise<number[]> => {
        reads.push(`${unit}:${start}+${count}`)
        if (unit === 1) return [4512, 0, 0xffff - 49, 150] // 45.12 °C, T1, −0.5 bar, 1.5 bar
        return [unit * 1000] // meter n: unit × 10 kW
      }
    }
    const r = await readGuards(io, () => 7)
    expect(reads.sort()).toEqual(['1:201+4', '4:57+1', '5:57+1', '6:57+1', '7:57+1'])
    expect(r).toEqual({ powerW: (4 + 5 + 6 + 7) * 10_000, inletTempC: 45.12, supplyBar: -0.5, returnBar: 1.5, at: 7 })
  })
})
