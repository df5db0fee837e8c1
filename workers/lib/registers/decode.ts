import { GENERAL_ERRORS, SYSTEM_ERRORS, SYSTEM_ERROR_REGISTERS } from './errors'
import { CDU_UNIT, DIAG, GTEMP, HENV, PDU, POWER_METER, FCDU, unitName, unitOrdinal } from './units'
import { valueMapOf, vendorFields } from './vendors'
import { mapDecoder } from './value-maps'
import { profileOf, type RegisterProfile, type VendorRef } from './profiles'
import type {
  CduData, ContainerRunStatus, ContainerSnapshot, DecodedScalar, DiagData, EnvData,
  FieldDef, ListDef, PduData, PowerMeterData, RawError, RegisterType, UnitDef, UnitId
} from './types'

/** Registers of a unit's image are held densely up to this number (the Modbus register space). */
const MAX_REGISTER = 0x10000
const ABSENT = -1

/**
 * Raw register values (uint16, 0…65535) as read from the device, per unit and 1-based register
 * number. Registers that were not read are simply absent. One dense Int32Array per unit (-1 =
 * not read), grown as needed: a snapshot fills a few thousand registers, and a Map per unit
 * made the image most of a snapshot's garbage.
 */
export class RegisterImage {
  /** A unit has an array only once a register of it was stored (validation comes first). */
  private readonly units = new Map<UnitId, Int32Array>()

  private regsFor (unit: UnitId, last: number): Int32Array {
    let regs = this.units.get(unit)
    if (regs === undefined || regs.length <= last) {
      const size = Math.min(MAX_REGISTER + 1, Math.max(last + 1, regs === undefined ? 0 : regs.length * 2))
      const grown = new Int32Array(size).fill(ABSENT)
      if (regs !== undefined) grown.set(regs)
      this.units.set(unit, grown)
      regs = grown
    }
    return regs
  }

  set (unit: UnitId, reg: number, raw: number): this {
    if (!Number.isInteger(raw) || raw < 0 || raw > 0xffff) throw new RangeError(`register value ${raw} is not a uint16`)
    if (!Number.isInteger(reg) || reg < 0 || reg > MAX_REGISTER) throw new RangeError(`register ${reg} is outside 0…${MAX_REGISTER}`)
    const regs = this.regsFor(unit, reg)
    regs[reg] = raw
    return this
  }

  /** Stores `values` at registers start, start+1, … */
  setBlock (unit: UnitId, start: number, values: readonly number[]): this {
    const n = values.length
    if (n === 0) return this
    for (let i = 0; i < n; i++) {
      const raw = values[i] as number
      if (!Number.isInteger(raw) || raw < 0 || raw > 0xffff) throw new RangeError(`register value ${raw} is not a uint16`)
    }
    const last = start + n - 1
    if (!Number.isInteger(start) || start < 0 || last > MAX_REGISTER) {
      throw new RangeError(`registers ${start}…${last} are outside 0…${MAX_REGISTER}`)
    }
    const regs = this.regsFor(unit, last)
    for (let i = 0; i < n; i++) regs[start + i] = values[i] as number
    return this
  }

  get (unit: UnitId, reg: number): number | undefined {
    const v = this.units.get(unit)?.[reg]
    return v === undefined || v === ABSENT ? undefined : v
  }

  hasUnit (unit: UnitId): boolean {
    return this.units.has(unit)
  }
}

export function toInt16 (raw: number): number {
  return raw >= 0x8000 ? raw - 0x10000 : raw
}

/** The register as a number of the given signedness, or undefined when it was not read. */
export function readRegister (image: RegisterImage, unit: UnitId, reg: number, type: RegisterType): number | undefined {
  const raw = image.get(unit, reg)
  if (raw === undefined) return undefined
  return type === 's' ? toInt16(raw) : raw
}

/** A field's value: `raw / scale`, or what its value map gives; undefined when the register was not read. */
function decodeField (image: RegisterImage, unit: UnitId, field: CompiledField): DecodedScalar | undefined {
  const def = field.def
  const value = readRegister(image, unit, def.reg, def.type)
  if (value === undefined) return undefined
  if (field.map !== null) return field.map(value)
  return def.scale === undefined ? value : value / def.scale
}

type DecodedList = Array<Record<string, string | boolean>>
type DecodedObject = { [key: string]: DecodedScalar | DecodedObject | DecodedList }

function setPath (target: DecodedObject, keys: readonly string[], value: DecodedScalar): void {
  let obj = target
  const last = keys.length - 1
  for (let i = 0; i < last; i++) {
    const key = keys[i] as string
    const next = obj[key]
    if (typeof next === 'object' && !Array.isArray(next)) {
      obj = next
    } else {
      const created: DecodedObject = {}
      obj[key] = created
      obj = created
    }
  }
  obj[keys[last] as string] = value
}

/** A field with its dotted path split once and its value map's decoder made once. */
interface CompiledField { def: FieldDef, keys: readonly string[], map: ((raw: number) => DecodedScalar) | null }
/** A list with its labels made once, and a maker of its entries (object literals of one shape, not computed keys). */
interface CompiledList {
  def: ListDef
  labels: readonly string[]
  entry: (label: string, on: boolean) => Record<string, string | boolean>
  /** Lists already made, by their pattern (one character per register: '-' not read, '0', '1'). */
  interned: Map<string, DecodedList>
}

function entryMaker (def: ListDef): CompiledList['entry'] {
  if (def.key === 'socket' && def.value === 'enabled') return (socket, enabled) => ({ socket, enabled })
  if (def.key === 'index' && def.value === 'status') return (index, status) => ({ index, status })
  return (label, on) => ({ [def.key]: label, [def.value]: on })
}
interface CompiledUnit { fields: readonly CompiledField[], lists: readonly CompiledList[] }

const compiled = new Map<UnitDef, WeakMap<RegisterProfile, CompiledUnit>>()

/** The fields and lists of a unit table for a vendor, prepared once (field paths split, list labels made). */
function compileUnit (def: UnitDef, vendor: RegisterProfile): CompiledUnit {
  let byVendor = compiled.get(def)
  if (byVendor === undefined) compiled.set(def, byVendor = new WeakMap())
  let c = byVendor.get(vendor)
  if (c === undefined) {
    c = {
      fields: vendorFields(def.kind, vendor).map((f) => ({
        def: f,
        keys: f.field.split('.'),
        map: f.map === undefined ? null : mapDecoder(valueMapOf(vendor, f.map))
      })),
      lists: def.lists.map((l) => ({
        def: l,
        labels: Array.from({ length: l.end - l.start + 1 }, (_, i) => String(l.firstLabel + i)),
        entry: entryMaker(l),
        interned: new Map()
      }))
    }
    byVendor.set(vendor, c)
  }
  return c
}

/** Distinct lists kept per list definition (cleared when full: a bound, not an LRU). */
const MAX_INTERNED_LISTS = 1024

/**
 * A list as shared, frozen arrays: the same entries (which registers were read, which were 1)
 * give the same array, so the socket and alarm lists of every PDU of every container — most of
 * a snapshot's objects, and nearly always one of a few patterns — exist once in memory instead
 * of once per snapshot. Snapshots are values: nothing mutates them.
 */
function decodeList (image: RegisterImage, unit: UnitId, list: CompiledList): DecodedList | undefined {
  const def = list.def
  let key = ''
  let present = 0
  for (let reg = def.start; reg <= def.end; reg++) {
    const value = readRegister(image, unit, reg, def.type)
    key += value === undefined ? '-' : value === 1 ? '1' : '0'
    if (value !== undefined) present++
  }
  if (present === 0) return undefined
  const hit = list.interned.get(key)
  if (hit !== undefined) return hit
  const out: DecodedList = []
  for (let i = 0; i < key.length; i++) {
    const c = key[i]
    if (c !== '-') out.push(Object.freeze(list.entry(list.labels[i] as string, c === '1')))
  }
  Object.freeze(out)
  if (list.interned.size >= MAX_INTERNED_LISTS) list.interned.clear()
  list.interned.set(key, out)
  return out
}

/**
 * Decodes every field and list of one unit into `into` (a new object by default); fields whose
 * register was not read are left out.
 */
export function decodeUnit (image: RegisterImage, unit: UnitId, def: UnitDef, vendor: VendorRef, into: DecodedObject = {}): DecodedObject {
  const out = into
  const c = compileUnit(def, profileOf(vendor))
  for (const field of c.fields) {
    const value = decodeField(image, unit, field)
    if (value !== undefined) setPath(out, field.keys, value)
  }
  for (const list of c.lists) {
    const entries = decodeList(image, unit, list)
    if (entries !== undefined) out[list.def.field] = entries
  }
  return out
}

/** System error bits 0…24 of unit 1 regs 291–300 (MSB of the first byte = bit 0). */
export function decodeSystemErrors (image: RegisterImage): RawError[] {
  const errors: RawError[] = []
  SYSTEM_ERRORS.forEach((name, bit) => {
    const raw = image.get(CDU_UNIT, SYSTEM_ERROR_REGISTERS.start + Math.floor(bit / 16))
    if (raw !== undefined && (raw & (0x8000 >> (bit % 16))) !== 0) errors.push({ name })
  })
  return errors
}

/** General error flags, unit 1 regs 96–100 (1 = active). */
export function decodeGeneralErrors (image: RegisterImage): RawError[] {
  return GENERAL_ERRORS
    .filter(({ reg }) => readRegister(image, CDU_UNIT, reg, 's') === 1)
    .map(({ name }) => ({ name }))
}

export function deriveStatus (errors: readonly RawError[], cdu: CduData): ContainerRunStatus {
  if (errors.length > 0) return 'error'
  if (cdu.circulation_pump_running_status === 'running') return 'running'
  return 'stopped'
}

/** In `stats.errors` when the status could not be derived because its inputs were not read. */
export const ERR_SNAPSHOT_INCOMPLETE = 'ERR_SNAPSHOT_INCOMPLETE'

const statusInputCache = new WeakMap<RegisterProfile, readonly number[]>()

/** Unit 1 registers the status is derived from: named system error bits, general error flags, the vendor's pump status. */
function statusInputs (vendor: RegisterProfile): readonly number[] {
  const hit = statusInputCache.get(vendor)
  if (hit !== undefined) return hit
  const regs = new Set<number>()
  for (let bit = 0; bit < SYSTEM_ERRORS.length; bit++) regs.add(SYSTEM_ERROR_REGISTERS.start + Math.floor(bit / 16))
  for (const { reg } of GENERAL_ERRORS) regs.add(reg)
  for (const f of vendorFields(FCDU.kind, vendor)) if (f.field === 'circulation_pump_running_status') regs.add(f.reg)
  const inputs = [...regs]
  statusInputCache.set(vendor, inputs)
  return inputs
}

export interface DecodeOptions {
  /** Units of which a planned read failed (reported as `stats.incomplete`). */
  incomplete?: readonly UnitId[]
}

function presentUnits (image: RegisterImage, def: UnitDef): UnitId[] {
  return def.ids.filter((id) => image.hasUnit(id))
}

/**
 * The snapshot of worker.md §5 from a register image. Nothing is derived from registers that
 * were not read: missing power meters / PDUs are left out of their arrays, missing sensors
 * leave their fields out, derived totals become null rather than partial, and a status whose
 * inputs are missing is `error` with ERR_SNAPSHOT_INCOMPLETE. `opts.incomplete` names the
 * units that were not fully read.
 */
export function decodeSnapshot (image: RegisterImage, vendorRef: VendorRef, opts: DecodeOptions = {}): ContainerSnapshot {
  const vendor = profileOf(vendorRef)
  const unit1 = FCDU.ids[0]
  const cdu = decodeUnit(image, unit1, FCDU, vendor) as CduData

  // the label first, then the fields (as `{index, ...fields}` would, without the copy)
  const powerMeters = presentUnits(image, POWER_METER).map((id) =>
    decodeUnit(image, id, POWER_METER, vendor, { index: String(unitOrdinal(id)).padStart(2, '0') }) as PowerMeterData)
  const pdus = presentUnits(image, PDU).map((id) =>
    decodeUnit(image, id, PDU, vendor, { pdu: String(unitOrdinal(id)) }) as PduData)

  const henv = decodeUnit(image, HENV.ids[0], HENV, vendor) as EnvData
  const gtemp = decodeUnit(image, GTEMP.ids[0], GTEMP, vendor) as EnvData
  const env: EnvData = {}
  if (henv.status !== undefined) env.status = henv.status
  if (henv.smoke_detector !== undefined) env.smoke_detector = henv.smoke_detector
  if (henv.water_ingress_detector !== undefined) env.water_ingress_detector = henv.water_ingress_detector
  if (gtemp.temperature !== undefined) env.temperature = gtemp.temperature
  if (gtemp.humidity !== undefined) env.humidity = gtemp.humidity

  const diagUnit = DIAG.ids[0]
  const diag = image.hasUnit(diagUnit) ? decodeUnit(image, diagUnit, DIAG, vendor) as DiagData : null

  const rawErrors = [...decodeSystemErrors(image), ...decodeGeneralErrors(image)]

  let powerW: number | null = null
  const meterPowers = powerMeters.map((m) => m.total_active_power)
  if (meterPowers.length === POWER_METER.ids.length && meterPowers.every((p) => p !== undefined)) {
    const kw = meterPowers.reduce<number>((sum, p) => sum + (p ?? 0), 0)
    // kW with two decimals → whole watts; rounding removes binary floating-point noise
    powerW = Math.round(kw * 1000 * 1000) / 1000
  }

  const statusKnown = statusInputs(vendor).every((reg) => image.get(CDU_UNIT, reg) !== undefined)
  const errors: RawError[] = rawErrors.map((e) => ({ ...e }))
  if (!statusKnown) errors.push({ name: ERR_SNAPSHOT_INCOMPLETE })
  const incomplete = [...new Set(opts.incomplete ?? [])].sort((a, b) => a - b).map(unitName)

  const stats: ContainerSnapshot['stats'] = {
    status: statusKnown ? deriveStatus(rawErrors, cdu) : 'error',
    ...(errors.length > 0 ? { errors } : {}),
    ...(incomplete.length > 0 ? { incomplete } : {}),
    power_w: powerW,
    ambient_temp_c: gtemp.temperature ?? null,
    humidity_percent: gtemp.humidity ?? null,
    container_specific: { power_meters: powerMeters, pdu_data: pdus, env, cdu }
  }

  return {
    success: true,
    raw_errors: rawErrors,
    stats,
    config: { container_specific: { diag } }
  }
}
