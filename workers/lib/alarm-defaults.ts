/**
 * The MicroBT defaults of alarm management (docs/alerts.md "MicroBT defaults"); base.thing.json
 * overrides them (`alerts[<type>][<name>]` per alert, `alarms.inhibit` for the rules).
 * - Safety alarms — smoke, water ingress at a PDU, water immersion (leakage) — are latched and
 *   have no delays: they stay on the dashboard until an operator resets them, are never shelved
 *   automatically and never hidden by a `*` rule.
 * - The inlet temperature thresholds have a 1 °C deadband: a reading hovering at the limit
 *   raises one alert, which clears once the reading is 1 °C back inside.
 * - Inhibition: no snapshot hides the container's other alerts (their conditions are unknown);
 *   a unit the link gave up on hides that unit's alerts; a power fault hides the pump, pressure,
 *   flow and temperature alerts it causes; a pump inverter fault hides the pump fault and the
 *   hydraulic alerts; a sensor fault hides the alerts read from that sensor; of several sensor
 *   faults at once the first in SENSOR_FAULTS is shown (first-out) and names the others' cause.
 */
import type { AlarmDefaults, AlarmSettings, InhibitRule } from '../tpl/thing/alerts/alarm-conf'

const SAFETY: AlarmSettings = { latched: true, safety: true, onDelayMs: 0, offDelayMs: 0 }

/** What a stopped circulation brings: pressures, flow and the water temperatures. */
const HYDRAULIC = [
  'low_inlet_pressure_circ_pump', 'low_outlet_pressure_circ_pump', 'high_outlet_pressure_circ_pump', 'circ_pump_high_inlet_pressure',
  'small_inlet_outlet_pressure_diff', 'large_inlet_outlet_pressure_diff', 'high_pressure_diff_filter',
  'high_inlet_temp_unit', 'high_outlet_temp_unit', 'water_max_inlet_temp_warn'
]

/** Sensor faults in first-out order: the cooling loop's own sensors first. */
const SENSOR_FAULTS = [
  'unit_inlet_temp_sensor_fault', 'unit_outlet_temp_sensor_fault',
  'circ_pump_inlet_pressure_sensor_fault', 'circ_pump_outlet_pressure_sensor_fault',
  'unit_inlet_pressure_sensor_fault', 'unit_outlet_pressure_sensor_fault',
  'filter_front_pressure_sensor_fault', 'filter_rear_pressure_sensor_fault',
  'temp_sensor_chilled_water_supply_fault', 'pressure_sensor_chilled_water_supply_fault', 'outdoor_ambient_temp_sensor_fault',
  'indoor_temp_humidity_sensor_fault'
]

/** The readings each sensor fault makes meaningless. */
const SENSOR_READINGS: Readonly<Record<string, readonly string[]>> = {
  unit_inlet_temp_sensor_fault: [
    'high_inlet_temp_unit', 'small_temp_dew_point_diff_inlet_unit', 'water_min_inlet_temp_warn', 'water_max_inlet_temp_warn'
  ],
  unit_outlet_temp_sensor_fault: ['high_outlet_temp_unit'],
  circ_pump_inlet_pressure_sensor_fault: ['low_inlet_pressure_circ_pump', 'circ_pump_high_inlet_pressure'],
  circ_pump_outlet_pressure_sensor_fault: ['low_outlet_pressure_circ_pump', 'high_outlet_pressure_circ_pump'],
  unit_inlet_pressure_sensor_fault: ['small_inlet_outlet_pressure_diff', 'large_inlet_outlet_pressure_diff'],
  unit_outlet_pressure_sensor_fault: ['small_inlet_outlet_pressure_diff', 'large_inlet_outlet_pressure_diff'],
  filter_front_pressure_sensor_fault: ['high_pressure_diff_filter'],
  filter_rear_pressure_sensor_fault: ['high_pressure_diff_filter']
}

/** First-out: each member suppresses the members after it (a suppressed member suppresses nothing). */
function firstOut (group: readonly string[]): InhibitRule[] {
  return group.slice(0, -1).map((cause, i) => ({ cause, suppress: group.slice(i + 1) }))
}

export const MBT_INHIBIT_RULES: readonly InhibitRule[] = [
  { cause: 'error_snap', suppress: ['*'] },
  { cause: 'unit_unreachable', suppress: ['*'], sameDevice: true },
  {
    cause: 'power_fault',
    suppress: [
      'circ_pump_inverter_fault', 'circulating_pump_fault', 'makeup_water_pump_fault', 'fan_fault', 'bypass_valve_fault', ...HYDRAULIC
    ]
  },
  { cause: 'circ_pump_inverter_fault', suppress: ['circulating_pump_fault', ...HYDRAULIC] },
  { cause: 'circulating_pump_fault', suppress: HYDRAULIC },
  // before the first-out group: a sensor fault hides its readings even when another shows
  ...Object.entries(SENSOR_READINGS).map(([cause, readings]) => ({ cause, suppress: [...readings] })),
  ...firstOut(SENSOR_FAULTS)
]

export const MBT_ALARM_DEFAULTS: AlarmDefaults = {
  alerts: {
    pdu_smoke_alarm: SAFETY,
    pdu_water_ingress_alarm: SAFETY,
    water_immersion_alarm: SAFETY,
    water_min_inlet_temp_warn: { deadband: 1 },
    water_max_inlet_temp_warn: { deadband: 1 }
  },
  inhibit: MBT_INHIBIT_RULES
}
