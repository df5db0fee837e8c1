import { SYSTEM_ERROR_REGISTERS } from './errors'
import type { UnitDef, UnitId, UnitKind } from './types'

/**
 * The vendor-neutral register tables, one per kind of unit (registers.md). Registers whose
 * meaning differs between vendors (unit 1: 208, 211, 212, 606; unit 2: 3, 4) are not here but
 * in the vendor profiles (./profiles).
 */

export const FCDU: UnitDef = {
  kind: 'fcdu',
  ids: [1],
  readable: [
    { start: 1, end: 4 },
    { start: 26, end: 35 },
    { start: 46, end: 65 },
    { start: 90, end: 100 },
    { start: 201, end: 212 },
    { start: 291, end: 300 },
    { start: 301, end: 304 },
    { start: 601, end: 623 }
  ],
  // error bits and the auth challenge are raw bytes
  unsigned: [{ start: 291, end: 304 }],
  fields: [
    { reg: 1, type: 's', scale: 10, field: 'protocol_version' },
    { reg: 95, type: 's', scale: 100, field: 'indoor_dew_point_temperature' },
    { reg: 96, type: 's', map: 'flag', field: 'outdoor_ambient_temperature_sensor_fault' },
    { reg: 97, type: 's', map: 'flag', field: 'indoor_temperature_humidity_sensor_fault' },
    { reg: 98, type: 's', map: 'flag', field: 'makeup_water_pump_fault' },
    { reg: 99, type: 's', map: 'flag', field: 'power_supply_fault' },
    { reg: 100, type: 's', map: 'flag', field: 'water_immersion_fault' },
    { reg: 201, type: 's', scale: 100, field: 'unit_inlet_temp_t2' },
    { reg: 202, type: 's', scale: 100, field: 'cooling_temp_t1' },
    { reg: 203, type: 's', scale: 100, field: 'unit_inlet_pressure_p2' },
    { reg: 204, type: 's', scale: 100, field: 'unit_outlet_pressure_p3' },
    { reg: 205, type: 's', scale: 100, field: 'circulation_pump_inlet_pressure_p1' },
    { reg: 206, type: 's', scale: 100, field: 'circulation_pump_outlet_pressure_p5' },
    { reg: 209, type: 's', scale: 100, field: 'circulation_pump_speed' },
    { reg: 210, type: 's', scale: 100, field: 'filter_pressure_difference' },
    { reg: 601, type: 's', map: 'flag', field: 'system_main_control' },
    { reg: 602, type: 's', map: 'autoManual', field: 'circulation_pump_switch' },
    { reg: 603, type: 's', map: 'autoManual', field: 'drain_valve_switch' },
    { reg: 604, type: 's', map: 'autoManual', field: 'cooling_fan_switch' },
    { reg: 605, type: 's', map: 'autoManual', field: 'makeup_water_pump_switch' },
    { reg: 607, type: 's', field: 'cooling_fan_control' },
    { reg: 608, type: 's', map: 'flag', field: 'makeup_water_pump_control' },
    { reg: 609, type: 's', map: 'flag', field: 'buzzer_alarm' },
    { reg: 613, type: 's', scale: 100, field: 'cooling_fan_running_speed_threshold' },
    { reg: 614, type: 's', scale: 100, field: 'cooling_fan_start_temperature_threshold' },
    { reg: 615, type: 's', scale: 100, field: 'cooling_fan_stop_temperature_threshold' }
  ],
  lists: [],
  extraRegisters: [SYSTEM_ERROR_REGISTERS]
}

export const GTEMP: UnitDef = {
  kind: 'gtemp',
  ids: [2],
  readable: [{ start: 2, end: 4 }],
  unsigned: [],
  // temperature (3) and humidity (4) scale per vendor
  fields: [
    { reg: 2, type: 's', field: 'status' }
  ],
  lists: [],
  extraRegisters: []
}

export const HENV: UnitDef = {
  kind: 'henv',
  ids: [3],
  readable: [{ start: 2, end: 16 }],
  unsigned: [],
  fields: [
    { reg: 2, type: 's', field: 'status' },
    { reg: 3, type: 's', field: 'smoke_detector' },
    { reg: 8, type: 's', field: 'water_ingress_detector' }
  ],
  lists: [],
  extraRegisters: []
}

export const POWER_METER: UnitDef = {
  kind: 'powermeter',
  ids: [4, 5, 6, 7],
  readable: [{ start: 2, end: 71 }, { start: 73, end: 84 }],
  unsigned: [{ start: 3, end: 71 }, { start: 82, end: 84 }],
  fields: [
    { reg: 2, type: 's', field: 'status' },
    { reg: 3, type: 'u', scale: 100, field: 'total_active_energy' },
    { reg: 50, type: 'u', scale: 100, field: 'voltage_ab' },
    { reg: 51, type: 'u', scale: 100, field: 'voltage_bc' },
    { reg: 52, type: 'u', scale: 100, field: 'voltage_ca' },
    { reg: 53, type: 'u', scale: 100, field: 'current_a' },
    { reg: 54, type: 'u', scale: 100, field: 'current_b' },
    { reg: 55, type: 'u', scale: 100, field: 'current_c' },
    { reg: 57, type: 'u', scale: 100, field: 'total_active_power' },
    { reg: 65, type: 'u', scale: 100, field: 'total_apparent_power' },
    { reg: 69, type: 'u', scale: 100, field: 'total_power_factor' },
    { reg: 82, type: 'u', scale: 100, field: 'freq' }
  ],
  lists: [],
  extraRegisters: []
}

export const DIAG: UnitDef = {
  kind: 'diag',
  ids: [8],
  readable: [{ start: 2, end: 14 }],
  unsigned: [],
  fields: [
    { reg: 2, type: 's', field: 'communicate_status' },
    { reg: 3, type: 's', field: 'software_version' },
    { reg: 4, type: 's', field: 'pcb_version' },
    { reg: 5, type: 's', field: 'hardware_version' },
    { reg: 6, type: 's', field: 'year' },
    { reg: 7, type: 's', field: 'month' },
    { reg: 8, type: 's', field: 'day' },
    { reg: 9, type: 's', field: 'cpu_utilization_rate' },
    { reg: 10, type: 's', field: 'hard_drive_space_usage_rate' },
    { reg: 11, type: 's', field: 'memory_utilization_rate' },
    { reg: 12, type: 's', field: 'eth.speed' },
    { reg: 13, type: 's', field: 'eth.upstream_traffic' },
    { reg: 14, type: 's', field: 'eth.downstream_traffic' }
  ],
  lists: [],
  extraRegisters: []
}

export const PDU: UnitDef = {
  kind: 'pdu',
  ids: [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
  readable: [{ start: 2, end: 192 }],
  unsigned: [{ start: 6, end: 11 }, { start: 67, end: 68 }],
  fields: [
    { reg: 2, type: 's', field: 'status' },
    { reg: 5, type: 's', field: 'buzzer' },
    { reg: 74, type: 's', scale: 100, field: 'frequency' },
    // note the order: ab, ca, bc
    { reg: 75, type: 's', scale: 100, field: 'voltage_ab' },
    { reg: 76, type: 's', scale: 100, field: 'voltage_ca' },
    { reg: 77, type: 's', scale: 100, field: 'voltage_bc' },
    { reg: 78, type: 's', scale: 100, field: 'current_a' },
    { reg: 79, type: 's', scale: 100, field: 'current_b' },
    { reg: 80, type: 's', scale: 100, field: 'current_c' },
    { reg: 81, type: 's', scale: 100, field: 'total_power' },
    { reg: 190, type: 's', field: 'high_wind_speed_alarm' },
    { reg: 191, type: 's', field: 'low_wind_speed_alarm' }
  ],
  lists: [
    { field: 'sockets', start: 46, end: 65, type: 's', key: 'socket', firstLabel: 1, value: 'enabled' },
    { field: 'access_control_alarm', start: 158, end: 165, type: 's', key: 'index', firstLabel: 0, value: 'status' },
    { field: 'infrared_alarm', start: 168, end: 173, type: 's', key: 'index', firstLabel: 0, value: 'status' },
    { field: 'water_ingress_alarm', start: 174, end: 181, type: 's', key: 'index', firstLabel: 0, value: 'status' },
    { field: 'smoke_detection_alarm', start: 182, end: 189, type: 's', key: 'index', firstLabel: 0, value: 'status' }
  ],
  extraRegisters: []
}

/** Every unit table, in unit-id order. */
export const UNITS: readonly UnitDef[] = [FCDU, GTEMP, HENV, POWER_METER, DIAG, PDU]

export const CDU_UNIT: UnitId = 1

const BY_ID = new Map<UnitId, UnitDef>(UNITS.flatMap((def) => def.ids.map((id): [UnitId, UnitDef] => [id, def])))

/** Every unit id behind one endpoint (1…20). */
export const UNIT_IDS: readonly UnitId[] = [...BY_ID.keys()].sort((a, b) => a - b)

export function unitDef (unit: UnitId): UnitDef | undefined {
  return BY_ID.get(unit)
}

export function unitDefOfKind (kind: UnitKind): UnitDef {
  const def = UNITS.find((d) => d.kind === kind)
  if (def === undefined) throw new Error(`unknown unit kind ${kind}`)
  return def
}

/** 1-based position of a unit within its kind: powermeter unit 5 → 2, pdu unit 9 → 1. */
export function unitOrdinal (unit: UnitId): number {
  const def = BY_ID.get(unit)
  return def === undefined ? 0 : def.ids.indexOf(unit) + 1
}

/** The unit's name in registers.md: `fcdu`, `gtemp`, `henv`, `powermeter01`…`04`, `diag`, `pdu01`…`12`. */
export function unitName (unit: UnitId): string {
  const def = BY_ID.get(unit)
  if (def === undefined) return `unit${unit}`
  return def.ids.length > 1 ? `${def.kind}${String(unitOrdinal(unit)).padStart(2, '0')}` : def.kind
}

/** Signedness of any register of a unit (registers not listed as unsigned are signed). */
export function registerType (unit: UnitId, reg: number): 's' | 'u' {
  const def = BY_ID.get(unit)
  if (def === undefined) return 's'
  return def.unsigned.some((r) => reg >= r.start && reg <= r.end) ? 'u' : 's'
}
