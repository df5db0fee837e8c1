/**
 * The real MicroBTContainer with its real Modbus TCP client against the real mock container on
 * 127.0.0.1, for both vendors: complete snapshots decoded from registers set on the mock, every
 * control reflected by the mock's registers, argument validation that writes nothing,
 * authentication, and the failure modes (offline, slow, silent unit, exceptions, dropped link).
 */
import { afterAll, describe, expect, it } from 'vitest'
import type { MockServer } from '../../mock/server'
import { CONTAINER_VENDORS, type ContainerSnapshot, type ContainerVendor, type PduData } from '../../workers/lib/registers'
import {
  TIMEOUT_MS,
  closedPort,
  expectSuccess,
  invoke,
  makeContainer,
  releaseAll,
  signed,
  sleep,
  snapshotCounters,
  startMock,
  validate,
  waitUntil,
  writeRequests
} from './container-mock.helpers'

const METERS = [4, 5, 6, 7]
const PDUS = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
/** Every unit but the CDU up to PDU 5 (a partial outage). */
const SILENT = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
const ERR_CODE = /^ERR_[A-Z0-9_]+$/
const CTX = { actionId: 'act-1', user: 'ops@example.com' }

/** `--error`: system error bits 0–15 (registers.md "Errors") + general flag 98. */
const ERROR_MODE_NAMES = [
  'low_inlet_pressure_circ_pump',
  'low_outlet_pressure_circ_pump',
  'high_outlet_pressure_circ_pump',
  'circulating_pump_fault',
  'circ_pump_inverter_fault',
  'high_pressure_diff_filter',
  'small_inlet_outlet_pressure_diff',
  'large_inlet_outlet_pressure_diff',
  'high_inlet_temp_unit',
  'high_outlet_temp_unit',
  'small_temp_dew_point_diff_inlet_unit',
  'circ_pump_inlet_pressure_sensor_fault',
  'circ_pump_outlet_pressure_sensor_fault',
  'unit_inlet_temp_sensor_fault',
  'unit_outlet_temp_sensor_fault',
  'unit_inlet_pressure_sensor_fault',
  'makeup_water_pump_fault'
]

let exitedConnectionCounts: number[] = []

afterAll(async () => {
  exitedConnectionCounts = await releaseAll()
  expect(exitedConnectionCounts.every((n) => n === 0)).toBe(true)
})

function pduOf (snap: ContainerSnapshot, pdu: string): PduData {
  const found = snap.stats.container_specific.pdu_data.find((p) => p.pdu === pdu)
  if (found === undefined) expect.fail(`PDU ${pdu} missing from the snapshot`)
  return found
}

function socketsOf (snap: ContainerSnapshot, pdu: string): boolean[] {
  return (pduOf(snap, pdu).sockets ?? []).map((s) => s.enabled)
}

describe.each(CONTAINER_VENDORS)('%s container against the mock', (vendor: ContainerVendor) => {
  const kehua = vendor === 'kehua'

  describe('snapshot', () => {
    it('is complete, in at most 42 FC03 requests, and decodes what the mock serves', async () => {
      const mock = await startMock(vendor)
      mock.setRegister(1, 201, 0xff38) // unit_inlet_temp_t2 = -2.00 °C (signed)
      mock.setRegister(1, 95, -150) // dew point -1.5
      mock.setRegister(1, 211, 3876) // Wonderint t3
      mock.setRegister(1, 212, 150) // Kehua cooling_system_status
      mock.setRegister(2, 3, 2345) // gtemp temperature
      mock.setRegister(2, 4, 567) // gtemp humidity
      mock.setRegister(3, 3, 1) // smoke
      mock.setRegister(4, 57, 40000) // meter 01 total_active_power, unsigned: 400 kW, not negative
      mock.setRegister(5, 3, 65535) // meter 02 total_active_energy, unsigned
      mock.setRegister(6, 82, 5001) // meter 03 freq
      mock.setRegister(8, 3, 105) // diag software_version
      mock.setRegister(11, 75, 23012) // PDU 3 voltage_ab
      mock.setRegister(11, 190, 3) // PDU 3 high_wind_speed_alarm
      mock.setRegister(12, 160, 1) // PDU 4 access_control_alarm[2]

      const c = makeContainer(vendor, mock.port)
      expect(c.requestsPerSnapshot).toBeLessThanOrEqual(42)
      const delta = snapshotCounters(mock)
      const snap = expectSuccess(await c.getSnap())
      const used = delta()
      expect(used.requests).toBeLessThanOrEqual(42)
      expect(used.requests).toBe(c.requestsPerSnapshot)
      expect(used.fc03).toBe(used.requests) // reads only: no authentication, no writes
      expect(used.authSucceeded + used.authFailed).toBe(0)

      const { stats } = snap
      const cs = stats.container_specific
      expect(snap.raw_errors).toEqual([])
      expect(stats.errors).toBeUndefined()
      expect(stats.status).toBe('running')

      // 4 power meters, decoded from the mock's registers
      expect(cs.power_meters.map((m) => m.index)).toEqual(['01', '02', '03', '04'])
      cs.power_meters.forEach((m, i) => {
        const unit = METERS[i]
        expect(m).toMatchObject({
          status: 1,
          voltage_ab: mock.getRegister(unit, 50) / 100,
          voltage_bc: mock.getRegister(unit, 51) / 100,
          voltage_ca: mock.getRegister(unit, 52) / 100,
          current_a: mock.getRegister(unit, 53) / 100,
          total_active_power: mock.getRegister(unit, 57) / 100,
          total_apparent_power: mock.getRegister(unit, 65) / 100,
          total_power_factor: mock.getRegister(unit, 69) / 100,
          freq: mock.getRegister(unit, 82) / 100
        })
      })
      expect(cs.power_meters[0].total_active_power).toBe(400)
      expect(cs.power_meters[1].total_active_energy).toBe(655.35)
      expect(cs.power_meters[2].freq).toBe(50.01)
      const rawPower = METERS.reduce((sum, u) => sum + mock.getRegister(u, 57), 0)
      expect(stats.power_w).toBeCloseTo(rawPower * 10, 3) // Σ kW × 1000
      expect(stats.power_w).toBeGreaterThan(400_000)

      // 12 PDUs × 20 sockets
      expect(cs.pdu_data.map((p) => p.pdu)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'])
      cs.pdu_data.forEach((p, i) => {
        const unit = PDUS[i]
        expect(p.sockets?.map((s) => s.socket)).toEqual(Array.from({ length: 20 }, (_, k) => String(k + 1)))
        expect(p.sockets?.map((s) => s.enabled)).toEqual(Array.from({ length: 20 }, (_, k) => mock.getRegister(unit, 46 + k) === 1))
        expect(p).toMatchObject({
          status: 1,
          frequency: signed(mock.getRegister(unit, 74)) / 100,
          voltage_ab: signed(mock.getRegister(unit, 75)) / 100,
          voltage_ca: signed(mock.getRegister(unit, 76)) / 100,
          voltage_bc: signed(mock.getRegister(unit, 77)) / 100,
          total_power: signed(mock.getRegister(unit, 81)) / 100
        })
        expect(p.access_control_alarm).toHaveLength(8)
        expect(p.infrared_alarm).toHaveLength(6)
        expect(p.water_ingress_alarm).toHaveLength(8)
        expect(p.smoke_detection_alarm).toHaveLength(8)
      })
      expect(pduOf(snap, '3').voltage_ab).toBe(230.12)
      expect(pduOf(snap, '3').high_wind_speed_alarm).toBe(3)
      expect(pduOf(snap, '4').access_control_alarm?.[2]).toEqual({ index: '2', status: true })
      expect(pduOf(snap, '4').access_control_alarm?.[1]).toEqual({ index: '1', status: false })

      // env: gtemp is /100 on Kehua, /10 on Wonderint
      const temperature = kehua ? 23.45 : 234.5
      const humidity = kehua ? 5.67 : 56.7
      expect(cs.env).toEqual({ status: 1, smoke_detector: 1, water_ingress_detector: 0, temperature, humidity })
      expect(stats.ambient_temp_c).toBe(temperature)
      expect(stats.humidity_percent).toBe(humidity)

      // cdu
      expect(cs.cdu).toMatchObject({
        protocol_version: 0.4,
        indoor_dew_point_temperature: -1.5,
        unit_inlet_temp_t2: -2,
        cooling_temp_t1: signed(mock.getRegister(1, 202)) / 100,
        unit_inlet_pressure_p2: signed(mock.getRegister(1, 203)) / 100,
        circulation_pump_speed: signed(mock.getRegister(1, 209)) / 100,
        makeup_water_pump_fault: false,
        system_main_control: true,
        circulation_pump_switch: 'auto',
        circulation_pump_running_status: 'running',
        buzzer_alarm: false,
        cooling_fan_running_speed_threshold: 80,
        cooling_fan_start_temperature_threshold: 35,
        cooling_fan_stop_temperature_threshold: 30
      })
      if (kehua) {
        expect(cs.cdu.cooling_system_status).toBe(1.5)
        expect('unit_outlet_temp_t3' in cs.cdu).toBe(false)
        expect(cs.cdu.cycle_pump_control).toBe(signed(mock.getRegister(1, 606))) // Kehua: 606
      } else {
        expect(cs.cdu.unit_outlet_temp_t3).toBe(38.76)
        expect('cooling_system_status' in cs.cdu).toBe(false)
        expect(cs.cdu.cycle_pump_control).toBe(signed(mock.getRegister(1, 208))) // Wonderint: 208
      }

      // diag
      expect(snap.config.container_specific.diag).toMatchObject({
        communicate_status: 1,
        software_version: 105,
        year: mock.getRegister(8, 6),
        eth: { speed: 100 }
      })
    })

    it('reports the pump status from the vendor register (Kehua 208, Wonderint 606)', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      if (kehua) {
        mock.setRegister(1, 208, 200)
        expect(expectSuccess(await c.getSnap()).stats.container_specific.cdu.circulation_pump_running_status).toBe('error')
        mock.setRegister(1, 208, 7)
      } else {
        mock.setRegister(1, 606, 0)
      }
      const snap = expectSuccess(await c.getSnap())
      expect(snap.stats.container_specific.cdu.circulation_pump_running_status).toBe('stopped')
      expect(snap.stats.status).toBe('stopped')
    })

    it('maxInFlight 1 and 4 give identical snapshots of a frozen mock', async () => {
      const mock = await startMock(vendor, { tickMs: 0 })
      const serial = makeContainer(vendor, mock.port, { maxInFlight: 1 })
      const piped = makeContainer(vendor, mock.port, { maxInFlight: 4 })
      const d1 = snapshotCounters(mock)
      const a = expectSuccess(await serial.getSnap())
      const n1 = d1().requests
      const d4 = snapshotCounters(mock)
      const b = expectSuccess(await piped.getSnap())
      expect(b).toEqual(a)
      expect(d4().requests).toBe(n1)
      expect(expectSuccess(await serial.getSnap())).toEqual(a)
    })

    it('concurrent getSnap calls share one collection', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      const delta = snapshotCounters(mock)
      const [a, b] = await Promise.all([c.getSnap(), c.getSnap()])
      expect(a).toBe(b)
      expect(delta().requests).toBe(c.requestsPerSnapshot)
    })

    it('--error mode: bit 0–15 names and makeup_water_pump_fault, status error', async () => {
      const mock = await startMock(vendor, { error: true })
      const c = makeContainer(vendor, mock.port)
      const snap = expectSuccess(await c.getSnap())
      expect(snap.raw_errors).toEqual(ERROR_MODE_NAMES.map((name) => ({ name })))
      expect(snap.stats.errors).toEqual(snap.raw_errors)
      expect(snap.stats.status).toBe('error')
      expect(snap.stats.container_specific.cdu.makeup_water_pump_fault).toBe(true)

      mock.setFault({ error: false })
      const clean = expectSuccess(await c.getSnap())
      expect(clean.raw_errors).toEqual([])
      expect(clean.stats.status).toBe('running')
    })
  })

  describe('controls', () => {
    it('switchSocket: one socket off/on → unit 8+pdu reg 309−s, state register, next snapshot', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      const delta = snapshotCounters(mock)
      await expect(c.switchSocket([['3', '7', false]])).resolves.toEqual({ success: true })
      expect(mock.getRegister(11, 302)).toBe(2) // control register: 2 = off
      expect(mock.getRegister(11, 52)).toBe(0) // state register of socket 7
      const d = delta()
      expect(d.fc06).toBe(1)
      expect(d.fc16).toBe(1) // the authentication response
      expect(d.authSucceeded).toBe(1)

      const snap = expectSuccess(await c.getSnap())
      const sockets = pduOf(snap, '3').sockets ?? []
      expect(sockets[6]).toEqual({ socket: '7', enabled: false })
      expect(sockets.filter((s) => !s.enabled)).toHaveLength(1)
      expect(socketsOf(snap, '2').every(Boolean)).toBe(true)

      await c.switchSocket([['3', '7', true]])
      expect(mock.getRegister(11, 302)).toBe(1)
      expect(mock.getRegister(11, 52)).toBe(1)
      expect(socketsOf(expectSuccess(await c.getSnap()), '3').every(Boolean)).toBe(true)
      expect(delta().authSucceeded).toBe(1) // same connection: no second authentication
    })

    it("switchSocket '-1': every socket of one PDU, or one socket of every PDU", async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      const delta = snapshotCounters(mock)
      await c.switchSocket([['5', '-1', false]])
      expect(delta().fc06).toBe(20)
      for (let s = 1; s <= 20; s++) {
        expect(mock.getRegister(13, 309 - s)).toBe(2)
        expect(mock.getRegister(13, 45 + s)).toBe(0)
        expect(mock.getRegister(12, 45 + s)).toBe(1) // PDU 4 untouched
      }
      let snap = expectSuccess(await c.getSnap())
      expect(socketsOf(snap, '5')).toEqual(Array(20).fill(false))
      expect(pduOf(snap, '5').total_power).toBe(0)
      expect(socketsOf(snap, '6').every(Boolean)).toBe(true)

      await c.switchSocket([['-1', '1', false]])
      expect(delta().fc06).toBe(20 + 12)
      for (const unit of PDUS) expect(mock.getRegister(unit, 46)).toBe(0)
      snap = expectSuccess(await c.getSnap())
      for (const p of snap.stats.container_specific.pdu_data) expect(p.sockets?.[0]).toEqual({ socket: '1', enabled: false })

      await c.switchSocket([['-1', '-1', true]])
      expect(delta().fc06).toBe(20 + 12 + 240)
      snap = expectSuccess(await c.getSnap())
      for (const p of snap.stats.container_specific.pdu_data) expect(p.sockets?.every((s) => s.enabled)).toBe(true)
    })

    it('switchContainer(false) → reg 601 = 0; switchCoolingSystem(true) → 601 = 1; snapshots follow', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      await expect(c.switchContainer(false)).resolves.toEqual({ success: true })
      expect(mock.getRegister(1, 601)).toBe(0)
      let cdu = expectSuccess(await c.getSnap()).stats.container_specific.cdu
      expect(cdu.system_main_control).toBe(false)
      expect(cdu.circulation_pump_running_status).toBe('stopped')

      await expect(c.switchCoolingSystem(true)).resolves.toEqual({ success: true })
      expect(mock.getRegister(1, 601)).toBe(1)
      const snap = expectSuccess(await c.getSnap())
      cdu = snap.stats.container_specific.cdu
      expect(cdu.system_main_control).toBe(true)
      expect(cdu.circulation_pump_running_status).toBe('running')
      expect(snap.stats.status).toBe('running')

      await c.switchCoolingSystem(false)
      expect(mock.getRegister(1, 601)).toBe(0)
      await c.switchContainer(true)
      expect(mock.getRegister(1, 601)).toBe(1)
    })

    it('setCoolingFanThreshold writes ×100 to 613/614/615 and the snapshot reflects it', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      const delta = snapshotCounters(mock)
      await expect(c.setCoolingFanThreshold({ runningSpeed: 75.5, startTemp: 38, stopTemp: 31.25 })).resolves.toEqual({ success: true })
      expect([613, 614, 615].map((r) => mock.getRegister(1, r))).toEqual([7550, 3800, 3125])
      expect(delta().fc06).toBe(3)
      expect(expectSuccess(await c.getSnap()).stats.container_specific.cdu).toMatchObject({
        cooling_fan_running_speed_threshold: 75.5,
        cooling_fan_start_temperature_threshold: 38,
        cooling_fan_stop_temperature_threshold: 31.25
      })

      // one threshold alone leaves the others; negative temperatures are two's complement
      await c.setCoolingFanThreshold({ stopTemp: -5.5 })
      expect([613, 614, 615].map((r) => signed(mock.getRegister(1, r)))).toEqual([7550, 3800, -550])
      expect(expectSuccess(await c.getSnap()).stats.container_specific.cdu.cooling_fan_stop_temperature_threshold).toBe(-5.5)
    })

    it('a trailing {actionId, user} parameter is ignored by every method', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      await expect(invoke(c, 'switchSocket', [['2', '4', false]], CTX)).resolves.toEqual({ success: true })
      expect(mock.getRegister(10, 305)).toBe(2)
      await expect(invoke(c, 'switchContainer', false, CTX)).resolves.toEqual({ success: true })
      expect(mock.getRegister(1, 601)).toBe(0)
      await expect(invoke(c, 'switchCoolingSystem', true, CTX)).resolves.toEqual({ success: true })
      expect(mock.getRegister(1, 601)).toBe(1)
      await expect(invoke(c, 'setCoolingFanThreshold', { startTemp: 40 }, CTX)).resolves.toEqual({ success: true })
      expect(mock.getRegister(1, 614)).toBe(4000)
      expect(validate(c, 'switchSocket', [['1', '1', true]], CTX)).toBe(1)
      const snap = expectSuccess(await invoke(c, 'getSnap', CTX) as Awaited<ReturnType<typeof c.getSnap>>)
      expect(pduOf(snap, '2').sockets?.[3]).toEqual({ socket: '4', enabled: false })
      await expect(invoke(c, 'getRealtimeData', CTX)).resolves.toMatchObject({ status: 'running' })
    })

    it('a write while a snapshot is in flight: the write goes between its reads, and both complete', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      expectSuccess(await c.getSnap()) // connected, every unit answered before
      // every reply 30 ms late: a snapshot takes several round trips of it
      mock.setFault({ delayMs: 30 })
      const delta = snapshotCounters(mock)
      let snapDone = false
      const pending = c.getSnap().then((snap) => { snapDone = true; return snap })
      await waitUntil(() => delta().fc03 > 0, 'the snapshot to reach the mock')
      // the snapshot is under way and not over when the write goes
      expect(snapDone).toBe(false)
      const readsBeforeWrite = delta().fc03
      expect(readsBeforeWrite).toBeLessThan(c.requestsPerSnapshot)
      let readsWhenWritten = -1
      const written = mock.writeLog.length
      const watch = setInterval(() => { if (readsWhenWritten < 0 && mock.writeLog.length > written) readsWhenWritten = delta().fc03 }, 1)
      const [snap, result] = await Promise.all([pending, c.switchSocket([['12', '20', false]])]).finally(() => clearInterval(watch))
      // the mock received the socket write after some of the snapshot's reads and before others
      expect(mock.writeLog.slice(written)).toEqual([expect.objectContaining({ unit: 20, register: 289, value: 2, fc: 6 })])
      expect(readsWhenWritten).toBeGreaterThan(0)
      const reads = delta().fc03
      expect(readsWhenWritten).toBeLessThan(reads)
      // both complete: a whole snapshot (the authentication's challenge read comes on top), the socket off
      const s = expectSuccess(snap)
      expect(s.stats.incomplete).toBeUndefined()
      expect(s.stats.container_specific.pdu_data).toHaveLength(12)
      expect(reads).toBe(c.requestsPerSnapshot + 1)
      expect(result).toEqual({ success: true })
      expect(mock.getRegister(20, 65)).toBe(0)
      mock.clearFaults()
      expect(socketsOf(expectSuccess(await c.getSnap()), '12')[19]).toBe(false)
    })
  })

  describe('invalid arguments write nothing', () => {
    const cases: Array<[string, string, unknown[]]> = [
      ['switchSocket', 'ERR_SWITCH_SOCKET_PDU_INVALID', [[['13', '1', true]]]],
      ['switchSocket', 'ERR_SWITCH_SOCKET_PDU_INVALID', [[['1', '1', true], ['13', '1', true]]]], // all or nothing
      ['switchSocket', 'ERR_SWITCH_SOCKET_PDU_INVALID', [[['0', '1', true]]]],
      ['switchSocket', 'ERR_SWITCH_SOCKET_SOCKET_INVALID', [[['1', '0', true]]]],
      ['switchSocket', 'ERR_SWITCH_SOCKET_SOCKET_INVALID', [[['1', '21', true]]]],
      ['switchSocket', 'ERR_SWITCH_SOCKET_ENABLED_INVALID', [[['1', '1', 'yes']]]],
      ['switchSocket', 'ERR_SWITCH_SOCKET_INVALID_PARAMS', [[]]],
      ['setCoolingFanThreshold', 'ERR_COOLING_FAN_THRESHOLD_INVALID', [{ runningSpeed: Number.NaN }]],
      ['setCoolingFanThreshold', 'ERR_COOLING_FAN_THRESHOLD_INVALID', [{ runningSpeed: 150 }]],
      ['setCoolingFanThreshold', 'ERR_COOLING_FAN_THRESHOLD_INVALID', [{ startTemp: 500 }]],
      ['setCoolingFanThreshold', 'ERR_COOLING_FAN_THRESHOLD_INVALID', [{ startTemp: 30, stopTemp: 35 }]],
      ['setCoolingFanThreshold', 'ERR_COOLING_FAN_THRESHOLD_INVALID', [{}]],
      ['setCoolingFanThreshold', 'ERR_COOLING_FAN_THRESHOLD_INVALID', [{ runningSpeed: '50' }]],
      ['switchContainer', 'ERR_SWITCH_CONTAINER_ENABLED_INVALID', ['true']],
      ['switchCoolingSystem', 'ERR_SWITCH_COOLING_SYSTEM_ENABLED_INVALID', [1]]
    ]

    it('each rejects with its ERR_ code and the mock sees no write (nor any other request)', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      await c.switchContainer(true) // connected and authenticated: a write would go straight out
      const delta = snapshotCounters(mock)
      const writesBefore = writeRequests(mock)
      for (const [method, code, args] of cases) {
        await expect(invoke(c, method, ...args), `${method}(${JSON.stringify(args)})`).rejects.toMatchObject({ code })
      }
      expect(writeRequests(mock)).toBe(writesBefore)
      expect(delta()).toMatchObject({ requests: 0, fc06: 0, fc16: 0, connections: 0 })
      expect(mock.getRegister(9, 308)).toBe(0) // socket 1 of PDU 1 never written (all or nothing)
    })

    it('validateWriteAction checks the same arguments without touching the device', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      const delta = snapshotCounters(mock)
      for (const [method, code, args] of cases) {
        expect(() => validate(c, method, ...args), `${method}(${JSON.stringify(args)})`).toThrow(expect.objectContaining({ code }))
      }
      expect(validate(c, 'switchSocket', [['12', '20', true], ['-1', '-1', false]])).toBe(1)
      expect(validate(c, 'switchContainer', false, CTX)).toBe(1)
      expect(validate(c, 'switchCoolingSystem', true)).toBe(1)
      expect(validate(c, 'setCoolingFanThreshold', { runningSpeed: 75.5, startTemp: 38, stopTemp: 31.25 })).toBe(1)
      expect(() => validate(c, 'resetAlarm')).toThrow(expect.objectContaining({ code: 'ERR_WRITE_ACTION_NOT_SUPPORTED' }))
      await sleep(20)
      expect(delta()).toMatchObject({ requests: 0, connections: 0 })
      expect(mock.connectionCount).toBe(0)
    })
  })

  describe('authentication', () => {
    it('right credentials authenticate once per connection; a wrong password is ERR_AUTH_FAILED and writes nothing; re-authenticates after a drop', async () => {
      const mock = await startMock(vendor, { username: 'operator', password: 'S3cret!' })
      const good = makeContainer(vendor, mock.port, { username: 'operator', password: 'S3cret!' })
      const bad = makeContainer(vendor, mock.port, { username: 'operator', password: 'wrong' })

      const delta = snapshotCounters(mock)
      await good.switchContainer(false)
      expect(mock.getRegister(1, 601)).toBe(0)
      expect(delta()).toMatchObject({ authSucceeded: 1, authFailed: 0, fc16: 1, fc06: 1 })
      await good.setCoolingFanThreshold({ runningSpeed: 60 })
      expect(delta()).toMatchObject({ authSucceeded: 1, fc16: 1, fc06: 2 })

      await expect(bad.switchContainer(true)).rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' })
      await expect(bad.switchSocket([['1', '1', false]])).rejects.toMatchObject({ code: 'ERR_AUTH_FAILED' })
      expect(mock.getRegister(1, 601)).toBe(0) // unchanged
      expect(mock.getRegister(9, 46)).toBe(1)
      expect(delta()).toMatchObject({ authSucceeded: 1, authFailed: 2, fc06: 2 }) // no write after a failed authentication
      // a rejected authentication does not break reads
      expect((await bad.getSnap()).success).toBe(true)

      // the mock drops every connection; the next write reconnects and authenticates again
      await mock.setOffline(true)
      expect(mock.connectionCount).toBe(0)
      await sleep(50)
      await mock.setOffline(false)
      await good.switchContainer(true)
      expect(mock.getRegister(1, 601)).toBe(1)
      expect(delta().authSucceeded).toBe(2)
    })
  })

  describe('failures', () => {
    it('never reachable (closed port) → offline envelope, no throw; writes fail with a code', async () => {
      const port = await closedPort()
      const c = makeContainer(vendor, port)
      const started = Date.now()
      await expect(c.getSnap()).resolves.toEqual({ success: false, stats: { status: 'offline' } })
      await expect(c.getRealtimeData()).resolves.toEqual({ status: 'offline' })
      expect(Date.now() - started).toBeLessThan(5000)
      expect(c.lastSeen).toBeNull()
      expect(c.lastErrorCode).toMatch(ERR_CODE)
      await expect(c.switchContainer(true)).rejects.toMatchObject({ code: expect.stringMatching(ERR_CODE) })
    })

    it('seen, then offline → error envelope with an ERR_ code while within offlineAfterMs, offline after', async () => {
      const mock = await startMock(vendor)
      let skew = 0 // advances the container's clock without waiting
      const c = makeContainer(vendor, mock.port, { offlineAfterMs: 1000, now: () => Date.now() + skew })
      expectSuccess(await c.getSnap())
      const seen = c.lastSeen ?? 0

      await mock.setOffline(true)
      const failed = await c.getSnap()
      expect(failed.success).toBe(false)
      if (failed.success || failed.stats.status !== 'error') return expect.fail(`expected an error envelope: ${JSON.stringify(failed)}`)
      expect(failed.stats.errors).toHaveLength(1)
      expect(failed.stats.errors[0].msg).toMatch(ERR_CODE)
      expect(failed.stats.errors[0].msg).toMatch(/^ERR_MODBUS_/)
      expect(failed.stats.errors[0].timestamp).toBeGreaterThanOrEqual(seen)
      expect(c.lastSeen).toBe(seen)

      skew += 1000
      await expect(c.getSnap()).resolves.toEqual({ success: false, stats: { status: 'offline' } })

      // back online: the same container recovers by itself
      await mock.setOffline(false)
      expectSuccess(await c.getSnap())
    })

    it('slow device (delay > timeout) → ERR_MODBUS_TIMEOUT envelope within a bounded time, then recovers', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      expectSuccess(await c.getSnap())

      mock.setFault({ delayMs: TIMEOUT_MS * 4 })
      const delta = snapshotCounters(mock)
      const started = Date.now()
      const snap = await c.getSnap()
      const elapsed = Date.now() - started
      expect(snap).toMatchObject({ success: false, stats: { status: 'error', errors: [{ msg: 'ERR_MODBUS_TIMEOUT' }] } })
      expect(c.lastErrorCode).toBe('ERR_MODBUS_TIMEOUT')
      expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 20)
      expect(elapsed).toBeLessThan(3 * TIMEOUT_MS * 2)
      // a controller that does not answer the CDU is not asked for the other 19 units
      const d = delta()
      expect(d.requests).toBeLessThanOrEqual(2)
      expect(d.byUnit(1)).toBe(d.requests)

      mock.clearFaults()
      expectSuccess(await c.getSnap())
    })

    it('silent PDU 1 (unit 9) → snapshot succeeds without it, one timeout for that unit, others complete', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      expectSuccess(await c.getSnap()) // connected
      mock.setFault({ silentUnits: [9] })
      const delta = snapshotCounters(mock)
      const started = Date.now()
      const snap = expectSuccess(await c.getSnap())
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS * 8)
      const d = delta()
      expect(d.byUnit(9)).toBe(1) // one request, one timeout; its second request is skipped
      for (const unit of PDUS.slice(1)) expect(d.byUnit(unit)).toBe(2)
      const cs = snap.stats.container_specific
      expect(cs.pdu_data.map((p) => p.pdu)).toEqual(['2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'])
      expect(cs.pdu_data.every((p) => p.sockets?.length === 20)).toBe(true)
      expect(cs.power_meters).toHaveLength(4)
      expect(snap.stats.power_w).not.toBeNull()
      expect(snap.config.container_specific.diag).not.toBeNull()

      // the link was not reset for the others, and the unit is back once it answers
      mock.clearFaults()
      const again = expectSuccess(await c.getSnap())
      expect(again.stats.container_specific.pdu_data).toHaveLength(12)
      expect(delta().connections).toBe(0)
    })

    it('exception 0x0B on power meter 02 (unit 5) → that meter missing, the others present', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      mock.setFault({ exception: { unit: 5, code: 0x0b } })
      const delta = snapshotCounters(mock)
      const snap = expectSuccess(await c.getSnap())
      expect(delta().byUnit(5)).toBe(1) // gateway exception: the unit's second request is skipped
      expect(snap.stats.container_specific.power_meters.map((m) => m.index)).toEqual(['01', '03', '04'])
      expect(snap.stats.power_w).toBeNull() // no partial total
      expect(snap.stats.container_specific.pdu_data).toHaveLength(12)

      // another exception (0x04) only loses that request: both requests of unit 6 are tried
      mock.setFault({ exception: null })
      mock.setFault({ exception: { unit: 6, code: 0x04 } })
      const d2 = snapshotCounters(mock)
      const snap2 = expectSuccess(await c.getSnap())
      expect(d2().byUnit(6)).toBe(2)
      expect(snap2.stats.container_specific.power_meters.map((m) => m.index)).toEqual(['01', '02', '04'])

      // an exception on the CDU fails the snapshot with that code
      mock.setFault({ exception: null })
      mock.setFault({ exception: { unit: 1, code: 0x0b } })
      expect(await c.getSnap()).toMatchObject({ success: false, stats: { status: 'error', errors: [{ msg: 'ERR_MODBUS_EXCEPTION_0B' }] } })
    })

    it('transient exception 04 (mock failReads) → the reads are resent and the snapshot is complete', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port, { retry: undefined }) // the default retry
      const reference = expectSuccess(await c.getSnap())
      expect(reference.stats).not.toHaveProperty('incomplete')
      // henv (unit 3, one request) and PDU 4 (unit 12, two requests) fail their next two reads
      mock.state.failReads(3, 2)
      mock.state.failReads(12, 2)
      const delta = snapshotCounters(mock)
      const snap = expectSuccess(await c.getSnap())
      expect(snap.stats).not.toHaveProperty('incomplete')
      expect(snap).toEqual(reference)
      const d = delta()
      expect(d.byUnit(3)).toBe(1 + 2)
      expect(d.byUnit(12)).toBe(2 + 2)
      expect(mock.stats.exceptionsByCode[4]).toBe(4)
      expect(c.unitsOnSingleAttempt).toEqual([])

      // more failures than attempts: the unit is incomplete (it answered: no breaker), the others are not
      mock.state.failReads(3, 100)
      const d2 = snapshotCounters(mock)
      const partial = expectSuccess(await c.getSnap())
      expect(partial.stats.incomplete).toEqual(['henv'])
      // resends paid off in the previous snapshot, so its first request had the whole budget: 1 + 4 attempts
      expect(d2().byUnit(3)).toBe(5)
      expect(c.unitsOnSingleAttempt).toEqual([])
      mock.state.failReads(3, 0)

      // without retries the same transient failure loses the unit
      const noRetry = makeContainer(vendor, mock.port, { retry: 0 })
      expectSuccess(await noRetry.getSnap())
      mock.state.failReads(3, 1)
      expect(expectSuccess(await noRetry.getSnap()).stats.incomplete).toEqual(['henv'])
    })

    it('units 2–13 silent, the CDU fine (default retry): the first collection costs 3 rounds of timeouts, the next ones 1; the status stays the CDU\'s', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port, { retry: undefined }) // the default retry (4)
      expectSuccess(await c.getSnap())
      mock.setFault({ silentUnits: SILENT })
      const names = ['gtemp', 'henv', 'powermeter01', 'powermeter02', 'powermeter03', 'powermeter04', 'diag', 'pdu01', 'pdu02', 'pdu03', 'pdu04', 'pdu05']
      // an outage, not loss: one attempt per silent unit (12 through a window of 4: 3 timeouts),
      // not 1 + 2 each (36 attempts: 9 timeouts)
      let delta = snapshotCounters(mock)
      let started = Date.now()
      const first = expectSuccess(await c.getSnap())
      const firstMs = Date.now() - started
      expect(first.stats.incomplete).toEqual(names)
      expect(first.stats.status).toBe('running')
      expect(first.stats.power_w).toBeNull()
      for (const unit of SILENT) expect(delta().byUnit(unit)).toBe(1)
      expect(firstMs).toBeLessThan(6 * TIMEOUT_MS)
      expect(c.unitsOnSingleAttempt).toEqual(SILENT)
      // breakers open: 4 of the 12 asked per collection, in turn (one round of timeouts)
      const asked = new Set<number>()
      for (let i = 0; i < 3; i++) {
        delta = snapshotCounters(mock)
        started = Date.now()
        const next = expectSuccess(await c.getSnap())
        expect(Date.now() - started).toBeLessThan(3 * TIMEOUT_MS)
        expect(next.stats.incomplete).toEqual(names)
        const probed = SILENT.filter((unit) => delta().byUnit(unit) > 0)
        expect(probed.map((unit) => delta().byUnit(unit))).toEqual([1, 1, 1, 1])
        for (const unit of probed) asked.add(unit)
      }
      expect([...asked].sort((a, b) => a - b)).toEqual(SILENT)
      // back: complete within three collections, on the same connection
      mock.clearFaults()
      for (let i = 0; i < 3 && c.unitsOnSingleAttempt.length > 0; i++) expectSuccess(await c.getSnap())
      expect(c.unitsOnSingleAttempt).toEqual([])
      expect(expectSuccess(await c.getSnap()).stats).not.toHaveProperty('incomplete')
      expect(delta().connections).toBe(0)
    })

    it('a device that floods from its first connection → error envelope ERR_MODBUS_FLOOD at once (not offline, not after timeouts); mid-run the same; recovers once it stops', async () => {
      const mock = await startMock(vendor)
      mock.setFault({ flood: 20_000 })
      const c = makeContainer(vendor, mock.port, { timeout: 2000, retry: undefined }) // production timeouts: the answer must not wait for them
      let started = Date.now()
      const first = await c.getSnap()
      expect(first).toMatchObject({ success: false, stats: { status: 'error', errors: [{ msg: 'ERR_MODBUS_FLOOD' }] } })
      expect(Date.now() - started).toBeLessThan(2000) // within the first request's timeout
      expect(c.lastErrorCode).toBe('ERR_MODBUS_FLOOD')
      // it stops: the container reconnects after its backoff and reads again
      mock.setFault({ flood: 0 })
      await waitUntil(() => { if (c.lastSnap?.success === true) return true; void c.getSnap(); return false }, 'a snapshot after the flood', 15_000)
      const good = expectSuccess(await c.getSnap())
      expect(good.stats.container_specific.pdu_data).toHaveLength(12)
      // mid-run: a healthy link starts flooding; the link is dropped within moments, the next
      // collection answers the error at once
      const drops = mock.stats.connections
      mock.setFault({ flood: 20_000 })
      await waitUntil(() => mock.connectionCount === 0 || mock.stats.connections > drops, 'the flooded link to be dropped', 5000)
      started = Date.now()
      await waitUntil(() => { if (c.lastSnap?.success === false) return true; void c.getSnap(); return false }, 'an error snapshot after the flood started', 5000)
      expect(c.lastSnap).toMatchObject({ success: false, stats: { status: 'error', errors: [{ msg: 'ERR_MODBUS_FLOOD' }] } })
      expect(Date.now() - started).toBeLessThan(2000)
      mock.setFault({ flood: 0 })
    })

    it('connection dropped mid-snapshot → that snapshot fails, the next one recovers on the same container', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port, { timeout: 2000 })
      expectSuccess(await c.getSnap())
      const delta = snapshotCounters(mock)
      mock.setFault({ delayMs: 800 })
      const pending = c.getSnap()
      await waitUntil(() => delta().requests > 0, 'the snapshot to reach the mock')
      await mock.setOffline(true)
      const failed = await pending
      expect(failed).toMatchObject({ success: false, stats: { status: 'error', errors: [{ msg: expect.stringMatching(/^ERR_MODBUS_/) }] } })

      mock.clearFaults()
      await mock.setOffline(false)
      const next = expectSuccess(await c.getSnap())
      expect(next.stats.container_specific.pdu_data).toHaveLength(12)
      expect(next.stats.container_specific.power_meters).toHaveLength(4)
      expect(delta().connections).toBe(1) // reconnected once, by itself
    })
  })

  describe('resources', () => {
    it('close() drops the connection at the mock; afterwards snapshots are offline and writes fail', async () => {
      const mock = await startMock(vendor)
      const c = makeContainer(vendor, mock.port)
      expectSuccess(await c.getSnap())
      await c.switchContainer(true)
      expect(mock.connectionCount).toBe(1)
      await c.close()
      await waitUntil(() => mock.connectionCount === 0, 'the mock to see the connection closed')
      await expect(c.getSnap()).resolves.toEqual({ success: false, stats: { status: 'offline' } })
      await expect(c.switchContainer(false)).rejects.toMatchObject({ code: 'ERR_THING_CLOSED' })
      await c.close() // idempotent
      await sleep(30)
      expect(mock.connectionCount).toBe(0)
      expect(mock.getRegister(1, 601)).toBe(1)
    })
  })
})

describe('mock servers', () => {
  it('every mock of this file can be exited with no connection left', async () => {
    const mock: MockServer = await startMock('kehua')
    const c = makeContainer('kehua', mock.port)
    expectSuccess(await c.getSnap())
    const counts = await releaseAll()
    expect(counts.length).toBeGreaterThan(0)
    expect(counts.every((n) => n === 0)).toBe(true)
    await expect(mock.start()).rejects.toMatchObject({ code: 'ERR_MOCK_EXITED' })
  })
})
