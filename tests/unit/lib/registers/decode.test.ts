import { describe, expect, it } from 'vitest'
import {
  CONTAINER_VENDORS,
  RegisterImage,
  UNITS,
  decodeGeneralErrors,
  decodeSnapshot,
  decodeSystemErrors,
  readRegister,
  registerType,
  vendorFields,
  type ContainerVendor
} from '../../../../workers/lib/registers'

/*
 * Every expectation here is written by hand from registers.md; the decoder's own output is
 * never used as the expected value.
 */

const SYSTEM_ERROR_NAMES = [
  'low_inlet_pressure_circ_pump', 'low_outlet_pressure_circ_pump', 'high_outlet_pressure_circ_pump',
  'circulating_pump_fault', 'circ_pump_inverter_fault', 'high_pressure_diff_filter',
  'small_inlet_outlet_pressure_diff', 'large_inlet_outlet_pressure_diff', 'high_inlet_temp_unit',
  'high_outlet_temp_unit', 'small_temp_dew_point_diff_inlet_unit', 'circ_pump_inlet_pressure_sensor_fault',
  'circ_pump_outlet_pressure_sensor_fault', 'unit_inlet_temp_sensor_fault', 'unit_outlet_temp_sensor_fault',
  'unit_inlet_pressure_sensor_fault', 'unit_outlet_pressure_sensor_fault', 'filter_front_pressure_sensor_fault',
  'filter_rear_pressure_sensor_fault', 'bypass_valve_fault', 'fan_fault',
  'temp_sensor_chilled_water_supply_fault', 'temp_sensor_chilled_water_supply_fault',
  'pressure_sensor_chilled_water_supply_fault', 'circ_pump_high_inlet_pressure'
]

function range (from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}

/** Unit 1 registers common to both vendors, with 208/211/212/606 set to distinctive values. */
function cduImage (img: RegisterImage, reg208: number, reg606: number): void {
  img.set(1, 1, 4)
    .set(1, 95, 0xff38) // -200 → -2.00 °C
    .set(1, 96, 0).set(1, 97, 1).set(1, 98, 0).set(1, 99, 1).set(1, 100, 0)
    .set(1, 201, 2530).set(1, 202, 1850).set(1, 203, 215).set(1, 204, 180)
    .set(1, 205, 120).set(1, 206, 310).set(1, 207, 9999).set(1, 208, reg208)
    .set(1, 209, 4500).set(1, 210, 35).set(1, 211, 2790).set(1, 212, 150)
    .set(1, 601, 1).set(1, 602, 1).set(1, 603, 0).set(1, 604, 1).set(1, 605, 2)
    .set(1, 606, reg606).set(1, 607, 55).set(1, 608, 1).set(1, 609, 0)
    .set(1, 610, 1234).set(1, 613, 8000).set(1, 614, 3500).set(1, 615, 2800).set(1, 616, 1111)
  for (let r = 291; r <= 300; r++) img.set(1, r, 0)
}

function fullImage (vendor: ContainerVendor): RegisterImage {
  const img = new RegisterImage()
  if (vendor === 'kehua') cduImage(img, 100, 7)
  else cduImage(img, 7, 1)
  img.set(2, 2, 1).set(2, 3, 2345).set(2, 4, 5678)
  img.set(3, 2, 1).set(3, 3, 0).set(3, 8, 1)
  for (let m = 1; m <= 4; m++) {
    const u = 3 + m
    img.set(u, 2, 1).set(u, 3, 40000)
      .set(u, 50, 40012).set(u, 51, 39988).set(u, 52, 40100)
      .set(u, 53, 12345).set(u, 54, 12000).set(u, 55, 12100)
      .set(u, 57, 1234 * m).set(u, 65, 1300).set(u, 69, 98).set(u, 82, 5000)
  }
  const diag = [1, 105, 2, 3, 2024, 5, 17, 23, 41, 0xffff, 1000, 250, 125]
  diag.forEach((v, i) => img.set(8, 2 + i, v))
  for (let p = 1; p <= 12; p++) {
    const u = 8 + p
    img.set(u, 2, 1).set(u, 5, p % 2)
    for (let s = 1; s <= 20; s++) img.set(u, 45 + s, s % 3 === 0 ? 1 : (s % 3 === 1 ? 0 : 2))
    img.set(u, 74, 5000).set(u, 75, 23000).set(u, 76, 23100).set(u, 77, 22900)
      .set(u, 78, 1500 + p).set(u, 79, 1600).set(u, 80, 1700).set(u, 81, 1050)
    for (let r = 158; r <= 189; r++) img.set(u, r, r % 2)
    img.set(u, 190, 3).set(u, 191, 0)
  }
  return img
}

const alarms = (first: number, last: number): Array<{ index: string, status: boolean }> => {
  const out = []
  for (let r = first; r <= last; r++) out.push({ index: String(r - first), status: r % 2 === 1 })
  return out
}

function expectedPdu (p: number): Record<string, unknown> {
  return {
    pdu: String(p),
    status: 1,
    buzzer: p % 2,
    sockets: Array.from({ length: 20 }, (_, i) => ({ socket: String(i + 1), enabled: (i + 1) % 3 === 0 })),
    frequency: 50,
    voltage_ab: 230,
    voltage_ca: 231,
    voltage_bc: 229,
    current_a: (1500 + p) / 100,
    current_b: 16,
    current_c: 17,
    total_power: 10.5,
    access_control_alarm: alarms(158, 165),
    infrared_alarm: alarms(168, 173),
    water_ingress_alarm: alarms(174, 181),
    smoke_detection_alarm: alarms(182, 189),
    high_wind_speed_alarm: 3,
    low_wind_speed_alarm: 0
  }
}

const expectedMeter = (m: number): Record<string, unknown> => ({
  index: `0${m}`,
  status: 1,
  total_active_energy: 400,
  voltage_ab: 400.12,
  voltage_bc: 399.88,
  voltage_ca: 401,
  current_a: 123.45,
  current_b: 120,
  current_c: 121,
  total_active_power: [12.34, 24.68, 37.02, 49.36][m - 1],
  total_apparent_power: 13,
  total_power_factor: 0.98,
  freq: 50
})

const commonCdu = {
  protocol_version: 0.4,
  indoor_dew_point_temperature: -2,
  outdoor_ambient_temperature_sensor_fault: false,
  indoor_temperature_humidity_sensor_fault: true,
  makeup_water_pump_fault: false,
  power_supply_fault: true,
  water_immersion_fault: false,
  unit_inlet_temp_t2: 25.3,
  cooling_temp_t1: 18.5,
  unit_inlet_pressure_p2: 2.15,
  unit_outlet_pressure_p3: 1.8,
  circulation_pump_inlet_pressure_p1: 1.2,
  circulation_pump_outlet_pressure_p5: 3.1,
  circulation_pump_speed: 45,
  filter_pressure_difference: 0.35,
  system_main_control: true,
  circulation_pump_switch: 'auto',
  drain_valve_switch: 'manual',
  cooling_fan_switch: 'auto',
  makeup_water_pump_switch: 'manual',
  cooling_fan_control: 55,
  makeup_water_pump_control: true,
  buzzer_alarm: false,
  cooling_fan_running_speed_threshold: 80,
  cooling_fan_start_temperature_threshold: 35,
  cooling_fan_stop_temperature_threshold: 28
}

const generalErrors = [{ name: 'indoor_temp_humidity_sensor_fault' }, { name: 'power_fault' }]
const diagExpected = {
  communicate_status: 1,
  software_version: 105,
  pcb_version: 2,
  hardware_version: 3,
  year: 2024,
  month: 5,
  day: 17,
  cpu_utilization_rate: 23,
  hard_drive_space_usage_rate: 41,
  memory_utilization_rate: -1,
  eth: { speed: 1000, upstream_traffic: 250, downstream_traffic: 125 }
}

describe('decodeSnapshot — every field', () => {
  it('Kehua', () => {
    const snap = decodeSnapshot(fullImage('kehua'), 'kehua')
    expect(snap).toStrictEqual({
      success: true,
      raw_errors: generalErrors,
      stats: {
        status: 'error',
        errors: generalErrors,
        power_w: 123400,
        ambient_temp_c: 23.45,
        humidity_percent: 56.78,
        container_specific: {
          power_meters: [1, 2, 3, 4].map(expectedMeter),
          pdu_data: Array.from({ length: 12 }, (_, i) => expectedPdu(i + 1)),
          env: { status: 1, smoke_detector: 0, water_ingress_detector: 1, temperature: 23.45, humidity: 56.78 },
          cdu: {
            ...commonCdu,
            circulation_pump_running_status: 'running', // 208 = 100
            cycle_pump_control: 7, // 606
            cooling_system_status: 1.5 // 212
          }
        }
      },
      config: { container_specific: { diag: diagExpected } }
    })
    expect(snap.stats.container_specific.cdu).not.toHaveProperty('unit_outlet_temp_t3')
  })

  it('Wonderint', () => {
    const snap = decodeSnapshot(fullImage('wonderint'), 'wonderint')
    expect(snap).toStrictEqual({
      success: true,
      raw_errors: generalErrors,
      stats: {
        status: 'error',
        errors: generalErrors,
        power_w: 123400,
        ambient_temp_c: 234.5,
        humidity_percent: 567.8,
        container_specific: {
          power_meters: [1, 2, 3, 4].map(expectedMeter),
          pdu_data: Array.from({ length: 12 }, (_, i) => expectedPdu(i + 1)),
          env: { status: 1, smoke_detector: 0, water_ingress_detector: 1, temperature: 234.5, humidity: 567.8 },
          cdu: {
            ...commonCdu,
            cycle_pump_control: 7, // 208
            circulation_pump_running_status: 'running', // 606 = 1
            unit_outlet_temp_t3: 27.9 // 211
          }
        }
      },
      config: { container_specific: { diag: diagExpected } }
    })
    expect(snap.stats.container_specific.cdu).not.toHaveProperty('cooling_system_status')
  })
})

describe('vendor differences', () => {
  const cdu = (vendor: ContainerVendor, r208: number, r606: number): Record<string, unknown> => {
    const img = new RegisterImage()
    cduImage(img, r208, r606)
    return decodeSnapshot(img, vendor).stats.container_specific.cdu
  }

  it('Kehua 208: 100 running, 200 error, else stopped; 606 is cycle_pump_control', () => {
    expect(cdu('kehua', 100, 1)).toMatchObject({ circulation_pump_running_status: 'running', cycle_pump_control: 1 })
    expect(cdu('kehua', 200, 0)).toMatchObject({ circulation_pump_running_status: 'error', cycle_pump_control: 0 })
    expect(cdu('kehua', 1, 1)).toMatchObject({ circulation_pump_running_status: 'stopped', cycle_pump_control: 1 })
    expect(cdu('kehua', 0, 3)).toMatchObject({ circulation_pump_running_status: 'stopped', cycle_pump_control: 3 })
  })

  it('Wonderint 606: 1 running, else stopped; 208 is cycle_pump_control', () => {
    expect(cdu('wonderint', 100, 1)).toMatchObject({ circulation_pump_running_status: 'running', cycle_pump_control: 100 })
    expect(cdu('wonderint', 200, 0)).toMatchObject({ circulation_pump_running_status: 'stopped', cycle_pump_control: 200 })
    expect(cdu('wonderint', 1, 2)).toMatchObject({ circulation_pump_running_status: 'stopped', cycle_pump_control: 1 })
  })

  it('211 (t3) only for Wonderint, 212 (cooling_system_status) only for Kehua', () => {
    expect(cdu('wonderint', 0, 0).unit_outlet_temp_t3).toBe(27.9)
    expect(cdu('wonderint', 0, 0)).not.toHaveProperty('cooling_system_status')
    expect(cdu('kehua', 0, 0).cooling_system_status).toBe(1.5)
    expect(cdu('kehua', 0, 0)).not.toHaveProperty('unit_outlet_temp_t3')
  })

  it('gtemp scales: Kehua /100, Wonderint /10 (signed)', () => {
    const img = new RegisterImage().set(1, 1, 4).set(2, 2, 0).set(2, 3, 0xfffb).set(2, 4, 655)
    expect(decodeSnapshot(img, 'kehua').stats).toMatchObject({ ambient_temp_c: -0.05, humidity_percent: 6.55 })
    expect(decodeSnapshot(img, 'wonderint').stats).toMatchObject({ ambient_temp_c: -0.5, humidity_percent: 65.5 })
  })
})

describe('signedness and scale edges', () => {
  it('signed /100 registers go negative above 0x7fff', () => {
    const img = new RegisterImage().set(1, 95, 0xff38).set(1, 201, 0x8000).set(1, 202, 0x7fff).set(1, 614, 0xfe0c)
    const cdu = decodeSnapshot(img, 'kehua').stats.container_specific.cdu
    expect(cdu.indoor_dew_point_temperature).toBe(-2)
    expect(cdu.unit_inlet_temp_t2).toBe(-327.68)
    expect(cdu.cooling_temp_t1).toBe(327.67)
    expect(cdu.cooling_fan_start_temperature_threshold).toBe(-5)
  })

  it('power meter: reg 2 signed, 3–71 unsigned, 73–81 signed, 82–84 unsigned', () => {
    const img = new RegisterImage().set(1, 1, 4)
    for (const u of [4, 5, 6, 7]) {
      img.set(u, 2, 0xffff).set(u, 3, 0xffff).set(u, 57, 50000).set(u, 69, 40000).set(u, 71, 0x8000)
        .set(u, 73, 0xffff).set(u, 81, 0x8001).set(u, 82, 0xfffe).set(u, 84, 0x8000)
    }
    const m = decodeSnapshot(img, 'wonderint').stats.container_specific.power_meters[0]
    expect(m.status).toBe(-1)
    expect(m.total_active_energy).toBe(655.35)
    expect(m.total_active_power).toBe(500)
    expect(m.total_power_factor).toBe(400)
    expect(m.freq).toBe(655.34)
    expect(decodeSnapshot(img, 'wonderint').stats.power_w).toBe(2_000_000)
    // raw registers without a field, by unit signedness
    expect(readRegister(img, 4, 71, registerType(4, 71))).toBe(0x8000)
    expect(readRegister(img, 4, 73, registerType(4, 73))).toBe(-1)
    expect(readRegister(img, 4, 81, registerType(4, 81))).toBe(-32767)
    expect(readRegister(img, 4, 84, registerType(4, 84))).toBe(0x8000)
  })

  it('PDU: regs 6–11 and 67–68 unsigned, the rest signed', () => {
    const img = new RegisterImage()
    for (const r of [5, 6, 11, 12, 66, 67, 68, 69, 81]) img.set(9, r, 0xffff)
    expect(registerType(9, 5)).toBe('s')
    expect([6, 7, 8, 9, 10, 11, 67, 68].map((r) => registerType(9, r))).toEqual(Array(8).fill('u'))
    expect([12, 66, 69, 81].map((r) => registerType(20, r))).toEqual(['s', 's', 's', 's'])
    expect(readRegister(img, 9, 6, registerType(9, 6))).toBe(65535)
    expect(readRegister(img, 9, 11, registerType(9, 11))).toBe(65535)
    expect(readRegister(img, 9, 67, registerType(9, 67))).toBe(65535)
    expect(readRegister(img, 9, 68, registerType(9, 68))).toBe(65535)
    expect(readRegister(img, 9, 5, registerType(9, 5))).toBe(-1)
    expect(readRegister(img, 9, 12, registerType(9, 12))).toBe(-1)
    expect(readRegister(img, 9, 66, registerType(9, 66))).toBe(-1)
    expect(readRegister(img, 9, 69, registerType(9, 69))).toBe(-1)
    const pdu = decodeSnapshot(img.set(1, 1, 4), 'kehua').stats.container_specific.pdu_data[0]
    expect(pdu.buzzer).toBe(-1)
    expect(pdu.total_power).toBe(-0.01)
  })

  it('every field type agrees with its unit\'s signedness table', () => {
    for (const def of UNITS) {
      for (const vendor of CONTAINER_VENDORS) {
        for (const f of vendorFields(def.kind, vendor)) {
          expect(`${def.kind}:${f.reg}:${f.type}`).toBe(`${def.kind}:${f.reg}:${registerType(def.ids[0], f.reg)}`)
        }
      }
    }
  })

  it('PDU socket state: only 1 is enabled', () => {
    const img = new RegisterImage().set(1, 1, 4)
    const raws = [1, 0, 2, 0xffff, 3, 1]
    raws.forEach((v, i) => img.set(12, 46 + i, v))
    const pdu = decodeSnapshot(img, 'kehua').stats.container_specific.pdu_data[0]
    expect(pdu.pdu).toBe('4')
    expect(pdu.sockets?.slice(0, 6)).toEqual([
      { socket: '1', enabled: true }, { socket: '2', enabled: false }, { socket: '3', enabled: false },
      { socket: '4', enabled: false }, { socket: '5', enabled: false }, { socket: '6', enabled: true }
    ])
  })
})

describe('errors', () => {
  const sysImage = (words: Record<number, number>): RegisterImage => {
    const img = new RegisterImage()
    for (let r = 291; r <= 300; r++) img.set(1, r, words[r] ?? 0)
    return img
  }

  it('each system bit i (MSB of the first byte = bit 0) names SYSTEM_ERRORS[i]', () => {
    for (let bit = 0; bit <= 24; bit++) {
      const reg = 291 + Math.floor(bit / 16)
      const img = sysImage({ [reg]: 0x8000 >>> (bit % 16) })
      expect(decodeSystemErrors(img)).toEqual([{ name: SYSTEM_ERROR_NAMES[bit] }])
    }
  })

  it('bit 0, bit 15, bits 21 + 22 (same name, both kept) and bit 24', () => {
    const img = sysImage({ 291: 0x8001, 292: 0x0400 | 0x0200 | 0x0080 })
    expect(decodeSystemErrors(img)).toEqual([
      { name: 'low_inlet_pressure_circ_pump' },
      { name: 'unit_inlet_pressure_sensor_fault' },
      { name: 'temp_sensor_chilled_water_supply_fault' },
      { name: 'temp_sensor_chilled_water_supply_fault' },
      { name: 'circ_pump_high_inlet_pressure' }
    ])
  })

  it('byte order: the high byte of 291 holds bits 0–7, its low byte bits 8–15', () => {
    expect(decodeSystemErrors(sysImage({ 291: 0x0080 }))).toEqual([{ name: 'high_inlet_temp_unit' }]) // bit 8
    expect(decodeSystemErrors(sysImage({ 291: 0x0100 }))).toEqual([{ name: 'large_inlet_outlet_pressure_diff' }]) // bit 7
  })

  it('bits beyond 24 are ignored', () => {
    expect(decodeSystemErrors(sysImage({ 292: 0x007f, 293: 0xffff, 300: 0xffff }))).toEqual([])
  })

  it('general error flags 96–100 (1 = active)', () => {
    const img = new RegisterImage().set(1, 96, 1).set(1, 97, 0).set(1, 98, 1).set(1, 99, 2).set(1, 100, 1)
    expect(decodeGeneralErrors(img)).toEqual([
      { name: 'outdoor_ambient_temp_sensor_fault' },
      { name: 'makeup_water_pump_fault' },
      { name: 'water_immersion_alarm' }
    ])
    const all = new RegisterImage().set(1, 96, 1).set(1, 97, 1).set(1, 98, 1).set(1, 99, 1).set(1, 100, 1)
    expect(decodeGeneralErrors(all).map((e) => e.name)).toEqual([
      'outdoor_ambient_temp_sensor_fault', 'indoor_temp_humidity_sensor_fault', 'makeup_water_pump_fault',
      'power_fault', 'water_immersion_alarm'
    ])
  })

  it('raw_errors = system errors then general errors; stats.errors mirrors them', () => {
    const img = sysImage({ 291: 0x4000 }).set(1, 100, 1)
    for (const reg of [96, 97, 98, 99, 208]) img.set(1, reg, 0) // every status input read
    const snap = decodeSnapshot(img, 'kehua')
    expect(snap.raw_errors).toEqual([{ name: 'low_outlet_pressure_circ_pump' }, { name: 'water_immersion_alarm' }])
    expect(snap.stats.errors).toEqual(snap.raw_errors)
    expect(snap.stats.status).toBe('error')
  })
})

describe('status derivation', () => {
  /** Every status input read (error blocks 291–300 and 96–100, pump registers 208/606 all 0), then `set`. */
  const status = (vendor: ContainerVendor, set: Record<number, number>): unknown => {
    const img = new RegisterImage()
    for (const reg of [...range(291, 300), ...range(96, 100), 208, 606]) img.set(1, reg, 0)
    for (const [reg, v] of Object.entries(set)) img.set(1, Number(reg), v)
    const snap = decodeSnapshot(img, vendor)
    return { status: snap.stats.status, hasErrors: 'errors' in snap.stats }
  }

  it('errors present → error, even with the pump running', () => {
    expect(status('kehua', { 208: 100, 291: 0x8000 })).toEqual({ status: 'error', hasErrors: true })
    expect(status('wonderint', { 606: 1, 98: 1 })).toEqual({ status: 'error', hasErrors: true })
  })

  it('no errors: pump running → running, else stopped (a pump error alone is not a container error)', () => {
    expect(status('kehua', { 208: 100, 291: 0 })).toEqual({ status: 'running', hasErrors: false })
    expect(status('kehua', { 208: 200 })).toEqual({ status: 'stopped', hasErrors: false })
    expect(status('kehua', { 208: 1, 606: 1 })).toEqual({ status: 'stopped', hasErrors: false })
    expect(status('wonderint', { 606: 1 })).toEqual({ status: 'running', hasErrors: false })
    expect(status('wonderint', { 606: 0, 208: 100 })).toEqual({ status: 'stopped', hasErrors: false })
  })
})

describe('honest status: never derived from registers that were not read', () => {
  /** Unit 1 with the pump running and no error bit or flag set, minus `missing`. */
  const snapWithout = (vendor: ContainerVendor, missing: number[]): ReturnType<typeof decodeSnapshot> => {
    const full = new RegisterImage()
    cduImage(full, vendor === 'kehua' ? 100 : 7, vendor === 'kehua' ? 7 : 1)
    full.set(1, 97, 0).set(1, 99, 0)
    const img = new RegisterImage()
    for (let r = 1; r <= 700; r++) {
      const v = full.get(1, r)
      if (v !== undefined && !missing.includes(r)) img.set(1, r, v)
    }
    return decodeSnapshot(img, vendor)
  }

  it.each(CONTAINER_VENDORS)('%s: all inputs read → running, no errors field', (vendor) => {
    const snap = snapWithout(vendor, [])
    expect(snap.stats.status).toBe('running')
    expect(snap.stats).not.toHaveProperty('errors')
  })

  it.each([
    ['system error block 291–300', range(291, 300)],
    ['system error register 292 alone', [292]],
    ['general error flags 96–100', range(96, 100)],
    ['one general error flag (99)', [99]]
  ])('%s not read → error with ERR_SNAPSHOT_INCOMPLETE, not running', (_what, missing) => {
    for (const vendor of CONTAINER_VENDORS) {
      const snap = snapWithout(vendor, missing)
      expect(snap.stats.status).toBe('error')
      expect(snap.stats.errors).toEqual([{ name: 'ERR_SNAPSHOT_INCOMPLETE' }])
      expect(snap.raw_errors).toEqual([]) // no device error is invented
    }
  })

  it('the pump status register not read (Kehua 208, Wonderint 606) → error, never stopped', () => {
    expect(snapWithout('kehua', [208]).stats).toMatchObject({ status: 'error', errors: [{ name: 'ERR_SNAPSHOT_INCOMPLETE' }] })
    expect(snapWithout('wonderint', [606]).stats).toMatchObject({ status: 'error', errors: [{ name: 'ERR_SNAPSHOT_INCOMPLETE' }] })
    // the other vendor's register is not a status input
    expect(snapWithout('kehua', [606]).stats.status).toBe('running')
    expect(snapWithout('wonderint', [208]).stats.status).toBe('running')
  })

  it('device errors that were read are kept next to ERR_SNAPSHOT_INCOMPLETE', () => {
    const img = new RegisterImage()
    cduImage(img, 100, 0)
    const partial = new RegisterImage()
    for (let r = 1; r <= 700; r++) {
      const v = img.get(1, r)
      if (v !== undefined && (r < 291 || r > 300)) partial.set(1, r, v)
    }
    const snap = decodeSnapshot(partial, 'kehua')
    expect(snap.raw_errors).toEqual(generalErrors)
    expect(snap.stats.errors).toEqual([...generalErrors, { name: 'ERR_SNAPSHOT_INCOMPLETE' }])
  })

  it('stats.incomplete names the units not fully read, in unit order; absent when none', () => {
    expect(decodeSnapshot(fullImage('kehua'), 'kehua', { incomplete: [] }).stats).not.toHaveProperty('incomplete')
    expect(decodeSnapshot(fullImage('kehua'), 'kehua', { incomplete: [20, 6, 1, 2, 3, 8, 9, 6] }).stats.incomplete)
      .toEqual(['fcdu', 'gtemp', 'henv', 'powermeter03', 'diag', 'pdu01', 'pdu12'])
  })
})

describe('missing units', () => {
  it('only unit 1 read: empty arrays, null totals and diag, empty env', () => {
    const img = new RegisterImage()
    cduImage(img, 100, 0)
    const snap = decodeSnapshot(img, 'kehua')
    expect(snap.stats).toMatchObject({
      power_w: null,
      ambient_temp_c: null,
      humidity_percent: null,
      container_specific: { power_meters: [], pdu_data: [], env: {} }
    })
    expect(snap.config.container_specific.diag).toBeNull()
  })

  it('a missing meter or PDU is left out; power_w is null unless all four meters answered', () => {
    const img = fullImage('kehua')
    const partial = new RegisterImage()
    for (const unit of [1, 2, 3, 4, 5, 7, 8, 9, 11]) {
      for (let r = 1; r <= 700; r++) {
        const v = img.get(unit, r)
        if (v !== undefined) partial.set(unit, r, v)
      }
    }
    const snap = decodeSnapshot(partial, 'kehua')
    expect(snap.stats.container_specific.power_meters.map((m) => m.index)).toEqual(['01', '02', '04'])
    expect(snap.stats.container_specific.pdu_data.map((p) => p.pdu)).toEqual(['1', '3'])
    expect(snap.stats.power_w).toBeNull()
    expect(snap.stats.ambient_temp_c).toBe(23.45)
  })

  it('env takes status/smoke/water from henv and temperature/humidity from gtemp', () => {
    const img = new RegisterImage().set(1, 1, 4).set(2, 2, 9).set(2, 3, 2000).set(2, 4, 4000)
    expect(decodeSnapshot(img, 'kehua').stats.container_specific.env).toStrictEqual({ temperature: 20, humidity: 40 })
    img.set(3, 2, 2).set(3, 3, 1).set(3, 8, 0)
    expect(decodeSnapshot(img, 'kehua').stats.container_specific.env).toStrictEqual({
      status: 2, smoke_detector: 1, water_ingress_detector: 0, temperature: 20, humidity: 40
    })
  })
})

describe('RegisterImage', () => {
  it('accepts only uint16 values', () => {
    const img = new RegisterImage()
    expect(() => img.set(1, 1, -1)).toThrow(RangeError)
    expect(() => img.set(1, 1, 0x10000)).toThrow(RangeError)
    expect(() => img.set(1, 1, 1.5)).toThrow(RangeError)
    img.setBlock(4, 10, [1, 2, 3])
    expect([img.get(4, 10), img.get(4, 12), img.get(4, 13)]).toEqual([1, 3, undefined])
    expect(img.hasUnit(4)).toBe(true)
    expect(img.hasUnit(5)).toBe(false)
  })
})
