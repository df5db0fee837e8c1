/**
 * What a write action would change, from a fresh read of the registers it writes: each
 * register write `(unit, register, from → to)` with its engineering meaning, and whether it
 * would change nothing (a no-op, skipped by a real run). The same plan serves a dry run's
 * preview and the run itself, so the preview is what a run writes.
 */
import type { CoolingFanThresholds, SocketCommand } from '../../tpl/container/base-container'
import {
  CDU_CONTROL, CDU_UNIT, FAN_SETPOINTS, PDU_COUNT, SOCKETS_PER_PDU, SOCKET_CONTROL, SOCKET_STATE,
  pduUnit, socketControlRegister, type UnitId
} from '../registers'
import type { RegisterWrite } from './device-writer'

/** Fresh reads of the device (1-based register numbers, raw uint16 values), before queued polls. */
export interface DeviceReader {
  read: (unit: UnitId, start: number, count: number) => Promise<number[]>
}

export interface PlannedWrite extends RegisterWrite {
  /** The value the register holds now (for a socket: its state read as the control value, 1 on / 2 off). */
  from: number
  noop: boolean
  meaning: string
  /** Set for socket writes. */
  socket?: { pdu: number, socket: number, on: boolean }
}

/** A planned write as a preview shows it. */
export interface PreviewEntry {
  unit: number
  register: number
  from: number
  to: number
  meaning: string
  noop: boolean
}

export function previewEntry (w: PlannedWrite): PreviewEntry {
  return { unit: w.unit, register: w.reg, from: w.from, to: w.value, meaning: w.meaning, noop: w.noop }
}

const onOff = (on: boolean): string => on ? 'on' : 'off'

function range (from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}

/** The sockets the commands set, in first-mentioned order, each with the last command's state. */
export function socketTargets (commands: readonly SocketCommand[]): Map<string, { pdu: number, socket: number, on: boolean }> {
  const out = new Map<string, { pdu: number, socket: number, on: boolean }>()
  for (const cmd of commands) {
    for (const pdu of cmd.pdu === 'all' ? range(1, PDU_COUNT) : [cmd.pdu]) {
      for (const socket of cmd.socket === 'all' ? range(1, SOCKETS_PER_PDU) : [cmd.socket]) {
        const key = `${pdu}:${socket}`
        out.set(key, { pdu, socket, on: cmd.enabled })
      }
    }
  }
  return out
}

/** Socket writes from a fresh read of the state registers of every PDU they touch (one read per PDU, at once). */
export async function planSockets (io: DeviceReader, commands: readonly SocketCommand[]): Promise<PlannedWrite[]> {
  const targets = [...socketTargets(commands).values()]
  const pdus = [...new Set(targets.map((t) => t.pdu))]
  const count = SOCKET_STATE.end - SOCKET_STATE.start + 1
  const states = await Promise.all(pdus.map((pdu) => io.read(pduUnit(pdu), SOCKET_STATE.start, count)))
  const byPdu = new Map(pdus.map((pdu, i) => [pdu, states[i]]))
  return targets.map(({ pdu, socket, on }): PlannedWrite => {
    const wasOn = byPdu.get(pdu)?.[socket - 1] === 1
    return {
      unit: pduUnit(pdu),
      reg: socketControlRegister(socket),
      value: on ? SOCKET_CONTROL.on : SOCKET_CONTROL.off,
      from: wasOn ? SOCKET_CONTROL.on : SOCKET_CONTROL.off,
      noop: wasOn === on,
      meaning: `PDU ${pdu} socket ${socket}: ${onOff(wasOn)} → ${onOff(on)}`,
      socket: { pdu, socket, on }
    }
  })
}

/** The main control (601), which switches the container and its cooling system. */
export async function planMainControl (io: DeviceReader, enabled: boolean, what: string): Promise<PlannedWrite[]> {
  const [raw] = await io.read(CDU_UNIT, CDU_CONTROL.systemMainControl, 1)
  const to = enabled ? CDU_CONTROL.on : CDU_CONTROL.off
  const wasOn = raw === CDU_CONTROL.on
  return [{
    unit: CDU_UNIT,
    reg: CDU_CONTROL.systemMainControl,
    value: to,
    from: raw,
    noop: raw === to,
    meaning: `${what} (main control): ${onOff(wasOn)} → ${onOff(enabled)}`
  }]
}

/** Signed register value ×1/100. */
export function scaled (raw: number): number {
  return (raw >= 0x8000 ? raw - 0x10000 : raw) / CDU_CONTROL.thresholdScale
}

/** The current fan setpoints (613–615), read in one request. */
export async function readSetpoints (io: DeviceReader): Promise<Required<CoolingFanThresholds> & { raw: number[] }> {
  const raw = await io.read(CDU_UNIT, FAN_SETPOINTS.start, FAN_SETPOINTS.end - FAN_SETPOINTS.start + 1)
  return { runningSpeed: scaled(raw[0]), startTemp: scaled(raw[1]), stopTemp: scaled(raw[2]), raw }
}

const SETPOINTS: ReadonlyArray<{ key: keyof CoolingFanThresholds, reg: number, label: string, unit: string }> = [
  { key: 'runningSpeed', reg: CDU_CONTROL.fanRunningSpeedThreshold, label: 'fan running speed threshold', unit: '' },
  { key: 'startTemp', reg: CDU_CONTROL.fanStartTemperatureThreshold, label: 'fan start temperature', unit: ' °C' },
  { key: 'stopTemp', reg: CDU_CONTROL.fanStopTemperatureThreshold, label: 'fan stop temperature', unit: ' °C' }
]

/** Setpoint writes against the values read (`readSetpoints`). */
export function planSetpoints (t: CoolingFanThresholds, current: { raw: number[] }): PlannedWrite[] {
  const out: PlannedWrite[] = []
  for (const [i, s] of SETPOINTS.entries()) {
    const v = t[s.key]
    if (v === undefined) continue
    const value = Math.round(v * CDU_CONTROL.thresholdScale) & 0xffff
    const from = current.raw[i]
    out.push({
      unit: CDU_UNIT,
      reg: s.reg,
      value,
      from,
      noop: from === value,
      meaning: `${s.label} ${scaled(from).toFixed(2)} → ${scaled(value).toFixed(2)}${s.unit}`
    })
  }
  return out
}
