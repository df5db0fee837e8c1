import type { RegisterSpan } from './types'

/**
 * System error bitfield: unit 1, registers 291–300 = 20 bytes, read as one bit string with the
 * most significant bit of the first byte first. Bit i set → error SYSTEM_ERRORS[i].
 * Bits 21 and 22 share a name in the reference; both bits are kept (each yields an entry).
 */
export const SYSTEM_ERROR_REGISTERS: RegisterSpan = { start: 291, end: 300 }

export const SYSTEM_ERRORS: readonly string[] = [
  'low_inlet_pressure_circ_pump', // 0
  'low_outlet_pressure_circ_pump',
  'high_outlet_pressure_circ_pump',
  'circulating_pump_fault',
  'circ_pump_inverter_fault',
  'high_pressure_diff_filter', // 5
  'small_inlet_outlet_pressure_diff',
  'large_inlet_outlet_pressure_diff',
  'high_inlet_temp_unit',
  'high_outlet_temp_unit',
  'small_temp_dew_point_diff_inlet_unit', // 10
  'circ_pump_inlet_pressure_sensor_fault',
  'circ_pump_outlet_pressure_sensor_fault',
  'unit_inlet_temp_sensor_fault',
  'unit_outlet_temp_sensor_fault',
  'unit_inlet_pressure_sensor_fault', // 15
  'unit_outlet_pressure_sensor_fault',
  'filter_front_pressure_sensor_fault',
  'filter_rear_pressure_sensor_fault',
  'bypass_valve_fault',
  'fan_fault', // 20
  'temp_sensor_chilled_water_supply_fault',
  'temp_sensor_chilled_water_supply_fault',
  'pressure_sensor_chilled_water_supply_fault',
  'circ_pump_high_inlet_pressure' // 24
]

/** General errors: unit 1, one flag per register (1 = active). */
export const GENERAL_ERRORS: ReadonlyArray<{ reg: number, name: string }> = [
  { reg: 96, name: 'outdoor_ambient_temp_sensor_fault' },
  { reg: 97, name: 'indoor_temp_humidity_sensor_fault' },
  { reg: 98, name: 'makeup_water_pump_fault' },
  { reg: 99, name: 'power_fault' },
  { reg: 100, name: 'water_immersion_alarm' }
]
