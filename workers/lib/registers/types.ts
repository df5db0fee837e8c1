/**
 * Types of the MicroBT register map (registers.md). Register numbers are 1-based everywhere in
 * this module; the on-wire (PDU) address is `register - 1` and is only computed by the planner.
 */

/**
 * The name of a registered vendor profile (`kehua`): the vendors are the profiles registered in
 * ./profiles/index.ts, not a list spelled here.
 */
export type ContainerVendor = string

/** Modbus unit id behind the container's TCP endpoint (1…20). */
export type UnitId = number

/** 's' = signed int16, 'u' = unsigned uint16. */
export type RegisterType = 's' | 'u'

/** Inclusive span of 1-based register numbers on one unit. */
export interface RegisterSpan {
  start: number
  end: number
}

/** Inclusive span of registers on a given unit. */
export interface RegisterRange extends RegisterSpan {
  unit: UnitId
}

/**
 * One register → one field. `field` may be a dotted path (`eth.speed`) for nested objects.
 * A numeric field is `raw / scale` (scale defaults to 1); `map` (a value map: ./value-maps.ts, or
 * the vendor profile's own) replaces the numeric value.
 */
export interface FieldDef {
  reg: number
  type: RegisterType
  field: string
  scale?: number
  map?: string
}

/**
 * A run of consecutive registers decoded as an array of `{ [key]: '<n>', [value]: raw === 1 }`
 * entries, e.g. PDU sockets 46–65 → `{ socket: '1'…'20', enabled }`.
 */
export interface ListDef {
  field: string
  start: number
  end: number
  type: RegisterType
  /** Name of the label property and the label of the first entry (labels count up from it). */
  key: 'socket' | 'index'
  firstLabel: 0 | 1
  /** Name of the boolean property (raw value 1 → true). */
  value: 'enabled' | 'status'
}

export type UnitKind = 'fcdu' | 'gtemp' | 'henv' | 'powermeter' | 'diag' | 'pdu'

/** The register table of one kind of unit (one table serves e.g. all four power meters). */
export interface UnitDef {
  kind: UnitKind
  /** Unit ids served by this table, in order (ordinal n = ids[n-1]). */
  ids: readonly UnitId[]
  /** Ranges a real controller answers (registers.md); nothing outside them is ever read. */
  readable: readonly RegisterSpan[]
  /** Registers that are unsigned; every other register of the unit is signed. */
  unsigned: readonly RegisterSpan[]
  /** Vendor-neutral fields; a vendor profile's overlay (./profiles) adds or replaces fields by register. */
  fields: readonly FieldDef[]
  lists: readonly ListDef[]
  /** Registers read for the snapshot even though no field names them (error bitfields). */
  extraRegisters: readonly RegisterSpan[]
}

/** Vendor differences: per unit kind, fields that replace the base field of the same register or are added. */
export type VendorOverlay = Partial<Record<UnitKind, readonly FieldDef[]>>

// ---- Decoded snapshot (worker.md §5) -------------------------------------------------------

export interface RawError {
  name: string
}

export type PumpRunningStatus = 'running' | 'stopped' | 'error'
export type ContainerRunStatus = 'running' | 'stopped' | 'error'
export type SwitchMode = 'auto' | 'manual'

/** A scalar a field decodes to. */
export type DecodedScalar = number | boolean | string

/**
 * Every field is optional: a register that was not read (unit skipped, request refused) leaves
 * its field absent rather than inventing a value.
 */
export type CduData = {
  protocol_version?: number
  indoor_dew_point_temperature?: number
  outdoor_ambient_temperature_sensor_fault?: boolean
  indoor_temperature_humidity_sensor_fault?: boolean
  makeup_water_pump_fault?: boolean
  power_supply_fault?: boolean
  water_immersion_fault?: boolean
  unit_inlet_temp_t2?: number
  cooling_temp_t1?: number
  unit_inlet_pressure_p2?: number
  unit_outlet_pressure_p3?: number
  circulation_pump_inlet_pressure_p1?: number
  circulation_pump_outlet_pressure_p5?: number
  circulation_pump_speed?: number
  filter_pressure_difference?: number
  /** Wonderint only. */
  unit_outlet_temp_t3?: number
  /** Kehua only. */
  cooling_system_status?: number
  circulation_pump_running_status?: PumpRunningStatus
  cycle_pump_control?: number
  system_main_control?: boolean
  circulation_pump_switch?: SwitchMode
  drain_valve_switch?: SwitchMode
  cooling_fan_switch?: SwitchMode
  makeup_water_pump_switch?: SwitchMode
  cooling_fan_control?: number
  makeup_water_pump_control?: boolean
  buzzer_alarm?: boolean
  cooling_fan_running_speed_threshold?: number
  cooling_fan_start_temperature_threshold?: number
  cooling_fan_stop_temperature_threshold?: number
}

export type PowerMeterData = {
  /** '01'…'04' */
  index: string
  status?: number
  total_active_energy?: number
  voltage_ab?: number
  voltage_bc?: number
  voltage_ca?: number
  current_a?: number
  current_b?: number
  current_c?: number
  /** kW */
  total_active_power?: number
  total_apparent_power?: number
  total_power_factor?: number
  freq?: number
}

export type SocketState = { socket: string, enabled: boolean }
export type AlarmState = { index: string, status: boolean }

export type PduData = {
  /** '1'…'12' */
  pdu: string
  status?: number
  buzzer?: number
  sockets?: SocketState[]
  frequency?: number
  voltage_ab?: number
  voltage_ca?: number
  voltage_bc?: number
  current_a?: number
  current_b?: number
  current_c?: number
  total_power?: number
  access_control_alarm?: AlarmState[]
  infrared_alarm?: AlarmState[]
  water_ingress_alarm?: AlarmState[]
  smoke_detection_alarm?: AlarmState[]
  high_wind_speed_alarm?: number
  low_wind_speed_alarm?: number
}

export type EnvData = {
  status?: number
  smoke_detector?: number
  water_ingress_detector?: number
  temperature?: number
  humidity?: number
}

export type DiagData = {
  communicate_status?: number
  software_version?: number
  pcb_version?: number
  hardware_version?: number
  year?: number
  month?: number
  day?: number
  cpu_utilization_rate?: number
  hard_drive_space_usage_rate?: number
  memory_utilization_rate?: number
  eth?: { speed?: number, upstream_traffic?: number, downstream_traffic?: number }
}

export type ContainerStats = {
  /**
   * Derived from the error registers and the pump status register; `error` (never
   * `running`/`stopped`) when any of them was not read.
   */
  status: ContainerRunStatus
  /**
   * The entries of `raw_errors`, plus `{ name: 'ERR_SNAPSHOT_INCOMPLETE' }` when the status could
   * not be derived; present only when not empty (reference shape).
   */
  errors?: RawError[]
  /**
   * Units (registers.md names, e.g. `pdu03`) of which at least one planned read failed after
   * its retries, in unit-id order; absent when every read succeeded.
   */
  incomplete?: string[]
  /** W; null unless every power meter's total_active_power was read (never a partial sum). */
  power_w: number | null
  /** °C from the gtemp sensor; null when it did not answer. */
  ambient_temp_c: number | null
  humidity_percent: number | null
  container_specific: {
    /** One entry per meter that answered. */
    power_meters: PowerMeterData[]
    /** One entry per PDU that answered. */
    pdu_data: PduData[]
    env: EnvData
    cdu: CduData
  }
}

export type ContainerSnapshot = {
  success: true
  raw_errors: RawError[]
  stats: ContainerStats
  config: { container_specific: { diag: DiagData | null } }
}
