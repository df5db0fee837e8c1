/**
 * The CDU's error registers (unit 1): system error bits 291–300 (bit i: register 291 + ⌊i/16⌋,
 * mask 0x8000 >> i%16, MSB of the first byte = bit 0) and general error flags 96–100 (1 = set).
 *
 * Each register shows what was set on purpose (`--error`, `systemErrorBits`, `generalErrors`,
 * a register patch) OR the bits a power fault adds while it lasts, so clearing the power fault
 * gives back exactly the errors there were before.
 */
import { WrkError } from '../../workers/core/errors'
import { CDU } from '../registers'

const SYSTEM_ERROR_BITS = (CDU.systemErrorLast - CDU.systemErrorFirst + 1) * 16

/** General error flag 99 `power_fault` (registers.md "Errors"). */
export const POWER_FAULT_FLAG = 99
/**
 * System error bits a power fault raises: the circulation pump stops, so its outlet pressure
 * falls (1 `low_outlet_pressure_circ_pump`), it is commanded on but not running
 * (3 `circulating_pump_fault`) and the loop's inlet and outlet pressures meet
 * (6 `small_inlet_outlet_pressure_diff`).
 */
export const POWER_FAULT_SYSTEM_BITS: readonly number[] = [1, 3, 6]

/** The system error register of `bit` and its mask. */
function bitPosition (bit: number): { register: number, mask: number } {
  return { register: CDU.systemErrorFirst + Math.floor(bit / 16), mask: 0x8000 >>> (bit % 16) }
}

function isErrorRegister (register: number): boolean {
  return (register >= CDU.systemErrorFirst && register <= CDU.systemErrorLast) ||
    (register >= CDU.generalErrorFirst && register <= CDU.generalErrorLast)
}

/** Bits a power fault ORs into each error register. */
const POWER_FAULT_MASKS: ReadonlyMap<number, number> = (() => {
  const masks = new Map<number, number>([[POWER_FAULT_FLAG, 1]])
  for (const bit of POWER_FAULT_SYSTEM_BITS) {
    const { register, mask } = bitPosition(bit)
    masks.set(register, (masks.get(register) ?? 0) | mask)
  }
  return masks
})()

export class ErrorRegisters {
  /** What was set on purpose, by register (absent = 0). */
  private readonly base = new Map<number, number>()
  private fault = false

  /** `write(register, raw)` stores a unit 1 register. */
  constructor (private readonly write: (register: number, raw: number) => void) {}

  get powerFault (): boolean {
    return this.fault
  }

  /** Sets exactly these system error bits (0…159); throws ERR_MOCK_BAD_VALUE (nothing changed). */
  setSystemErrorBits (bits: readonly number[]): void {
    for (const bit of bits) {
      if (!Number.isInteger(bit) || bit < 0 || bit >= SYSTEM_ERROR_BITS) {
        throw new WrkError('ERR_MOCK_BAD_VALUE', `system error bit ${bit} outside 0…${SYSTEM_ERROR_BITS - 1}`)
      }
    }
    for (let r = CDU.systemErrorFirst; r <= CDU.systemErrorLast; r++) this.base.delete(r)
    for (const bit of bits) {
      const { register, mask } = bitPosition(bit)
      this.base.set(register, (this.base.get(register) ?? 0) | mask)
    }
    for (let r = CDU.systemErrorFirst; r <= CDU.systemErrorLast; r++) this.flush(r)
  }

  /** Sets exactly these general error registers (96…100) to 1; throws ERR_MOCK_BAD_VALUE (nothing changed). */
  setGeneralErrors (registers: readonly number[]): void {
    for (const r of registers) {
      if (!Number.isInteger(r) || r < CDU.generalErrorFirst || r > CDU.generalErrorLast) {
        throw new WrkError('ERR_MOCK_BAD_VALUE', `general error register ${r} outside ${CDU.generalErrorFirst}…${CDU.generalErrorLast}`)
      }
    }
    for (let r = CDU.generalErrorFirst; r <= CDU.generalErrorLast; r++) {
      if (registers.includes(r)) this.base.set(r, 1)
      else this.base.delete(r)
      this.flush(r)
    }
  }

  /**
   * A unit 1 register was set directly to `raw` (register patch): for an error register that
   * value is now what was set on purpose, and the power fault's bits stay on top of it.
   */
  noteSet (register: number, raw: number): void {
    if (!isErrorRegister(register)) return
    this.base.set(register, raw)
    this.flush(register)
  }

  setPowerFault (on: boolean): void {
    this.fault = on
    for (const register of POWER_FAULT_MASKS.keys()) this.flush(register)
  }

  private flush (register: number): void {
    const overlay = this.fault ? POWER_FAULT_MASKS.get(register) ?? 0 : 0
    this.write(register, (this.base.get(register) ?? 0) | overlay)
  }
}
