/**
 * Live-value overrides (control API `{live: {<signal>: spec | null}}`): a signal held at a
 * value, or oscillating around it, instead of following the drifting model.
 *
 *   value + amplitude · sin(2π · t / periodMs) + uniform noise in [−noise, +noise]
 *
 * `t` is the time since the override was set; the noise comes from a generator seeded from the
 * mock's seed (mock/rng.ts), so a run is reproducible for the same sequence of evaluations. A
 * signal is evaluated whenever the live registers are recomputed: every tick, every accepted
 * write and — while an override oscillates or is noisy — every read of a unit it shows on.
 */
import { performance } from 'node:perf_hooks'
import { WrkError } from '../../workers/core/errors'
import { CDU_UNIT, POWER_METER_UNITS } from '../registers'
import { createRng } from '../rng'

/** One override: `value` held, or oscillating with `amplitude` over `periodMs`, plus `noise`. */
export interface LiveSpec {
  value: number
  amplitude?: number
  /** Required (> 0) when `amplitude` is not 0. */
  periodMs?: number
  noise?: number
}

/**
 * The signals that can be overridden and what they drive:
 * - `inletTemperature`: unit 1 reg 201 `unit_inlet_temp_t2` (°C, the worker's inlet-temperature alerts);
 * - `outletTemperature`: unit 1 reg 211 `unit_outlet_temp_t3` (°C; decoded for Wonderint only);
 * - `supplyPressure`: unit 1 reg 203 `unit_inlet_pressure_p2` (bar, the liquid going to the miners);
 * - `returnPressure`: unit 1 reg 204 `unit_outlet_pressure_p3` (bar, the liquid coming back);
 * - `extraPowerKw`: kW added to the four power meters' `total_active_power` (a quarter each, with
 *   their currents and apparent power), on top of what the enabled sockets draw.
 */
export const LIVE_SIGNALS = ['inletTemperature', 'outletTemperature', 'supplyPressure', 'returnPressure', 'extraPowerKw'] as const
export type LiveSignal = typeof LIVE_SIGNALS[number]

/** Body of `{live: …}`: a spec sets a signal's override, `null` releases it to the model. */
export type LivePatch = Partial<Record<LiveSignal, LiveSpec | null>>

/** Largest |value| ± (amplitude + noise) a signal's register can show (int16 /100 for CDU values; 4 uint16 /100 meters). */
const LIMIT: Readonly<Record<LiveSignal, number>> = {
  inletTemperature: 327.67,
  outletTemperature: 327.67,
  supplyPressure: 327.67,
  returnPressure: 327.67,
  extraPowerKw: 4 * 655.35
}

/** Units whose registers show each signal. */
const UNITS_OF: Readonly<Record<LiveSignal, readonly number[]>> = {
  inletTemperature: [CDU_UNIT],
  outletTemperature: [CDU_UNIT],
  supplyPressure: [CDU_UNIT],
  returnPressure: [CDU_UNIT],
  extraPowerKw: POWER_METER_UNITS
}

function bad (message: string): WrkError {
  return new WrkError('ERR_MOCK_BAD_VALUE', `live override: ${message}`)
}

export function isLiveSignal (name: string): name is LiveSignal {
  return (LIVE_SIGNALS as readonly string[]).includes(name)
}

function checkSpec (signal: LiveSignal, spec: LiveSpec): void {
  if (typeof spec !== 'object' || spec === null) throw bad(`${signal}: expected {value, amplitude?, periodMs?, noise?} or null`)
  const extra = Object.keys(spec).filter((k) => !['value', 'amplitude', 'periodMs', 'noise'].includes(k))
  if (extra.length > 0) throw bad(`${signal}: unknown field ${extra.join(', ')}`)
  const finite = (name: string, v: unknown, min?: number): void => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${signal}.${name} must be a finite number`)
    if (min !== undefined && v < min) throw bad(`${signal}.${name} must be >= ${min}`)
  }
  finite('value', spec.value)
  if (spec.amplitude !== undefined) finite('amplitude', spec.amplitude, 0)
  if (spec.noise !== undefined) finite('noise', spec.noise, 0)
  if (spec.periodMs !== undefined) {
    finite('periodMs', spec.periodMs)
    if (spec.periodMs <= 0) throw bad(`${signal}.periodMs must be > 0`)
  }
  if ((spec.amplitude ?? 0) > 0 && spec.periodMs === undefined) throw bad(`${signal}.periodMs is required with an amplitude`)
  const reach = Math.abs(spec.value) + (spec.amplitude ?? 0) + (spec.noise ?? 0)
  if (reach > LIMIT[signal]) {
    throw bad(`${signal}: |value| + amplitude + noise = ${reach} exceeds ${LIMIT[signal]}, what its registers can show`)
  }
}

/** Throws ERR_MOCK_BAD_VALUE unless every entry names a signal and holds a valid spec or null. */
export function validateLivePatch (patch: LivePatch): void {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw bad('expected an object of signals')
  for (const [name, spec] of Object.entries(patch)) {
    if (!isLiveSignal(name)) throw bad(`unknown signal ${JSON.stringify(name)} (one of ${LIVE_SIGNALS.join(', ')})`)
    if (spec !== null) checkSpec(name, spec)
  }
}

interface Override {
  spec: Required<LiveSpec>
  since: number
}

/** The overrides of one mock container. */
export class LiveOverrides {
  private readonly overrides = new Map<LiveSignal, Override>()
  private rng: () => number

  constructor (private readonly seed: number, private readonly now: () => number = () => performance.now()) {
    this.rng = createRng(seed ^ 0x51ed270b)
  }

  /** Validates the whole patch, then sets and releases signals. Throws ERR_MOCK_BAD_VALUE. */
  apply (patch: LivePatch): void {
    validateLivePatch(patch)
    const now = this.now()
    for (const [name, spec] of Object.entries(patch) as Array<[LiveSignal, LiveSpec | null]>) {
      if (spec === null) this.overrides.delete(name)
      else {
        this.overrides.set(name, {
          spec: { value: spec.value, amplitude: spec.amplitude ?? 0, periodMs: spec.periodMs ?? 0, noise: spec.noise ?? 0 },
          since: now
        })
      }
    }
  }

  /** Releases every signal and restarts the noise generator. */
  clear (): void {
    this.overrides.clear()
    this.rng = createRng(this.seed ^ 0x51ed270b)
  }

  /** The signal's value now (one noise draw), or undefined when the model drives it. */
  value (signal: LiveSignal): number | undefined {
    const o = this.overrides.get(signal)
    if (o === undefined) return undefined
    const { value, amplitude, periodMs, noise } = o.spec
    let v = value
    if (amplitude > 0) v += amplitude * Math.sin((2 * Math.PI * (this.now() - o.since)) / periodMs)
    if (noise > 0) v += (this.rng() * 2 - 1) * noise
    return v
  }

  /** True when a read of `unit` must re-evaluate an override (one oscillates or is noisy there). */
  changesOnRead (unit: number): boolean {
    for (const [signal, o] of this.overrides) {
      if ((o.spec.amplitude > 0 || o.spec.noise > 0) && UNITS_OF[signal].includes(unit)) return true
    }
    return false
  }

  /** The active overrides (for the control API's details). */
  specs (): LivePatch {
    const out: LivePatch = {}
    for (const [signal, o] of this.overrides) out[signal] = { ...o.spec }
    return out
  }
}
