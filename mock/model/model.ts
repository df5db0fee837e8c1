/**
 * The physical model behind the mock's live registers: bounded random walks (temperatures,
 * pressures, voltages, socket draw …) that `MockState.tick()` advances. Created from the seeded
 * generator in a fixed order, so one seed always gives the same container.
 */
import { POWER_METER_UNITS, PDU_UNITS, SOCKETS_PER_PDU } from '../registers'

/** Mean draw of one enabled socket (kW); each socket drifts within ±0.2 kW of it. */
export const SOCKET_POWER_KW = 5.5

/** A bounded random walk: each step moves at most `step`, reflecting at the bounds. */
export class Drift {
  value: number

  constructor (readonly min: number, readonly max: number, readonly step: number, start: number) {
    this.value = start
  }

  walk (rng: () => number, scale: number): void {
    let v = this.value + (rng() * 2 - 1) * this.step * scale
    if (v > this.max) v = 2 * this.max - v
    if (v < this.min) v = 2 * this.min - v
    this.value = Math.min(this.max, Math.max(this.min, v))
  }
}

export interface PhaseModel {
  voltage: [Drift, Drift, Drift]
  freq: Drift
  pf: Drift
}

export interface MeterModel extends PhaseModel {
  /** Cooling auxiliaries (pumps, fans) on this meter, kW. */
  aux: Drift
  energyKwh: number
}

export interface PduModel extends PhaseModel {
  /** Draw of each socket when enabled, kW. */
  sockets: Drift[]
}

export interface Model {
  cdu: {
    dewPoint: Drift
    t2: Drift
    t1: Drift
    t3: Drift
    p1: Drift
    p2: Drift
    p3: Drift
    p5: Drift
    filterDiff: Drift
    pumpSpeed: Drift
  }
  env: { temperature: Drift, humidity: Drift }
  meters: MeterModel[]
  pdus: PduModel[]
  diag: { cpu: Drift, memory: Drift, up: Drift, down: Drift }
}

function phases (rng: () => number, vMin: number, vMax: number): PhaseModel {
  const v = (): Drift => new Drift(vMin, vMax, 0.3, vMin + (vMax - vMin) * rng())
  return {
    voltage: [v(), v(), v()],
    freq: new Drift(49.95, 50.05, 0.01, 49.98 + 0.04 * rng()),
    pf: new Drift(0.96, 0.99, 0.002, 0.97 + 0.01 * rng())
  }
}

function drift (rng: () => number, min: number, max: number, step: number): Drift {
  return new Drift(min, max, step, min + (max - min) * (0.3 + 0.4 * rng()))
}

/** A fresh model; draws from `rng` in a fixed order. */
export function createModel (rng: () => number): Model {
  return {
    cdu: {
      dewPoint: drift(rng, -5, 15, 0.05),
      t2: drift(rng, 30, 36, 0.05),
      t1: drift(rng, 26, 32, 0.05),
      t3: drift(rng, 36, 42, 0.05),
      p1: drift(rng, 1.5, 1.8, 0.005),
      p2: drift(rng, 2.3, 2.7, 0.005),
      p3: drift(rng, 1.7, 2.0, 0.005),
      p5: drift(rng, 2.8, 3.2, 0.005),
      filterDiff: drift(rng, 0.2, 0.4, 0.002),
      pumpSpeed: drift(rng, 44, 46, 0.05)
    },
    env: { temperature: drift(rng, 30, 40, 0.05), humidity: drift(rng, 40, 60, 0.1) },
    meters: POWER_METER_UNITS.map(() => ({
      ...phases(rng, 395, 405),
      aux: drift(rng, 2, 3, 0.02),
      energyKwh: Math.floor(rng() * 500)
    })),
    // PDU registers are int16 /100 (max 327.67), so the PDUs report ~230 V phase voltages.
    pdus: PDU_UNITS.map(() => ({
      ...phases(rng, 228, 232),
      sockets: Array.from({ length: SOCKETS_PER_PDU }, () => drift(rng, SOCKET_POWER_KW - 0.2, SOCKET_POWER_KW + 0.2, 0.01))
    })),
    diag: {
      cpu: drift(rng, 10, 40, 1),
      memory: drift(rng, 40, 60, 0.5),
      up: drift(rng, 100, 1000, 10),
      down: drift(rng, 100, 1000, 10)
    }
  }
}

/** Advances every walk of the model by one step of `scale` (1 = one second). */
export function walkModel (m: Model, rng: () => number, scale: number): void {
  const walkAll = (o: Record<string, Drift>): void => { for (const d of Object.values(o)) d.walk(rng, scale) }
  walkAll(m.cdu)
  walkAll(m.env)
  walkAll(m.diag)
  for (const p of [...m.meters, ...m.pdus]) {
    for (const v of p.voltage) v.walk(rng, scale)
    p.freq.walk(rng, scale)
    p.pf.walk(rng, scale)
  }
  for (const meter of m.meters) meter.aux.walk(rng, scale)
  for (const p of m.pdus) for (const s of p.sockets) s.walk(rng, scale)
}
