import { GENERAL_ERRORS, SYSTEM_ERRORS, SYSTEM_ERROR_REGISTERS } from './errors'
import { CDU_UNIT, DIAG, GTEMP, HENV, PDU, POWER_METER, FCDU, unitName, unitOrdinal } from './units'
import { vendorFields } from './vendors'
import type {
  CduData, ContainerRunStatus, ContainerSnapshot, ContainerVendor, DecodedScalar, DiagData, EnvData,
  FieldDef, ListDef, PduData, PowerMeterData, RawError, RegisterType, UnitDef, UnitId, ValueMapName
} from './types'

/**
 * Raw register values (uint16, 0…65535) as read from the device, per unit and 1-based register
 * number. Registers that were not read are simply absent.
 */
export class RegisterImage {
  private readonly units = new Map<UnitId, Map<number, number>>()

  set (unit: UnitId, reg: number, raw: number): this {
    if (!Number.isInteger(raw) || raw < 0 || raw > 0xffff) throw new RangeError(`register value ${raw} is not a uint16`)
    let regs = this.units.get(unit)
    if (regs === undefined) {
      regs = new Map()
      this.units.set(unit, regs)
    }
    regs.set(reg, raw)
    return this
  }

  /** Stores `values` at registers start, start+1, … */
  setBlock (unit: UnitId, start: number, values: readonly number[]): this {
    values.forEach((raw, i) => this.set(unit, start + i, raw))
    return this
  }

  get (unit: UnitId, reg: number): number | undefined {
    return this.units.get(unit)?.get(reg)
  }

  hasUnit (unit: UnitId): boolean {
    return (this.units.get(unit)?.size ?? 0) > 0
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

const VALUE_MAPS: Readonly<Record<ValueMapName, (value: number) => DecodedScalar>> = {
  flag: (v) => v === 1,
  autoManual: (v) => (v === 1 ? 'auto' : 'manual'),
  kehuaPumpStatus: (v) => (v === 100 ? 'running' : v === 200 ? 'error' : 'stopped'),
  wonderintPumpStatus: (v) => (v === 1 ? 'running' : 'stopped')
}

export function decodeField (image: RegisterImage, unit: UnitId, def: FieldDef): DecodedScalar | undefined {
  const value = readRegister(image, unit, def.reg, def.type)
  if (value === undefined) return undefined
  if (def.map !== undefined) return VALUE_MAPS[def.map](value)
  return def.scale === undefined ? value : value / def.scale
}

type DecodedList = Array<Record<string, string | boolean>>
type DecodedObject = { [key: string]: DecodedScalar | DecodedObject | DecodedList }

function setPath (target: DecodedObject, path: string, value: DecodedScalar): void {
  const keys = path.split('.')
  let obj = target
  for (const key of keys.slice(0, -1)) {
    const next = obj[key]
    if (typeof next === 'object' && !Array.isArray(next)) {
      obj = next
    } else {
      const created: DecodedObject = {}
      obj[key] = created
      obj = created
    }
  }
  obj[keys[keys.length - 1]] = value
}

function decodeList (image: RegisterImage, unit: UnitId, def: ListDef): DecodedList | undefined {
  const out: DecodedList = []
  for (let reg = def.start; reg <= def.end; reg++) {
    const value = readRegister(image, unit, reg, def.type)
    if (value === undefined) continue
    out.push({ [def.key]: String(def.firstLabel + reg - def.start), [def.value]: value === 1 })
  }
  return out.length === 0 ? undefined : out
}

/** Decodes every field and list of one unit; fields whose register was not read are left out. */
export function decodeUnit (image: RegisterImage, unit: UnitId, def: UnitDef, vendor: ContainerVendor): DecodedObject {
  const out: DecodedObject = {}
  for (const field of vendorFields(def.kind, vendor)) {
    const value = decodeField(image, unit, field)
    if (value !== undefined) setPath(out, field.field, value)
  }
  for (const list of def.lists) {
    const entries = decodeList(image, unit, list)
    if (entries !== undefined) out[list.field] = entries
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

/** Unit 1 registers the status is derived from: named system error bits, general error flags, the vendor's pump status. */
function statusInputs (vendor: ContainerVendor): number[] {
  const regs = new Set<number>()
  for (let bit = 0; bit < SYSTEM_ERRORS.length; bit++) regs.add(SYSTEM_ERROR_REGISTERS.start + Math.floor(bit / 16))
  for (const { reg } of GENERAL_ERRORS) regs.add(reg)
  for (const f of vendorFields(FCDU.kind, vendor)) if (f.field === 'circulation_pump_running_status') regs.add(f.reg)
  return [...regs]
}

const STATUS_INPUTS: Readonly<Record<ContainerVendor, readonly number[]>> = {
  kehua: statusInputs('kehua'),
  wonderint: statusInputs('wonderint')
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
export function decodeSnapshot (image: RegisterImage, vendor: ContainerVendor, opts: DecodeOptions = {}): ContainerSnapshot {
  const unit1 = FCDU.ids[0]
  const cdu = decodeUnit(image, unit1, FCDU, vendor) as CduData

  const powerMeters = presentUnits(image, POWER_METER).map((id): PowerMeterData => ({
    index: String(unitOrdinal(id)).padStart(2, '0'),
    ...decodeUnit(image, id, POWER_METER, vendor)
  }))
  const pdus = presentUnits(image, PDU).map((id): PduData => ({
    pdu: String(unitOrdinal(id)),
    ...decodeUnit(image, id, PDU, vendor)
  }))

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

  const statusKnown = STATUS_INPUTS[vendor].every((reg) => image.get(CDU_UNIT, reg) !== undefined)
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
