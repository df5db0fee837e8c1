/**
 * The control options a write request may carry as the object after its argument
 * (`switchSocket(ops, {batchSize, batchDelayMs, maxPowerW, onBreach, staged})`,
 * `switchContainer(false, {force: true})`), checked against the `control` configuration: a
 * request may lower the batch delay only down to `minBatchDelayMs` and never raise the power
 * cap above the configured one.
 */
import { WrkError } from '../../core/errors'
import type { ControlConf } from './conf'

export interface ControlSettings {
  batchSize: number
  batchDelayMs: number
  maxPowerW: number | null
  onBreach: 'rollback' | 'stop'
  /** Stage power-downs too. */
  stagePowerDown: boolean
  force: boolean
}

const KEYS = new Set(['batchSize', 'batchDelayMs', 'maxPowerW', 'onBreach', 'staged', 'force', 'actionId', 'user'])
const CODE = 'ERR_CONTROL_OPTIONS_INVALID'

function fail (why: string): never {
  throw new WrkError(CODE, why)
}

function isPlain (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/**
 * The settings of one action: `raw` (the request's options object, or undefined) over the
 * configuration. `actionId`/`user` keys are the approval trailer's and are ignored here.
 */
export function controlSettings (raw: unknown, conf: ControlConf): ControlSettings {
  const out: ControlSettings = {
    batchSize: conf.batchSize,
    batchDelayMs: conf.batchDelayMs,
    maxPowerW: conf.maxPowerW,
    onBreach: conf.onBreach,
    stagePowerDown: conf.stagePowerDown,
    force: false
  }
  if (raw === undefined) return out
  if (!isPlain(raw)) fail('control options must be an object')
  for (const key of Object.keys(raw)) if (!KEYS.has(key)) fail(`unknown control option ${key}`)
  const int = (key: string, min: number, max: number): number | undefined => {
    const v = raw[key]
    if (v === undefined) return undefined
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`${key} must be an integer in ${min}…${max}`)
    return v
  }
  out.batchSize = int('batchSize', 1, 240) ?? out.batchSize
  out.batchDelayMs = int('batchDelayMs', conf.minBatchDelayMs, 600_000) ?? out.batchDelayMs
  const cap = raw.maxPowerW
  if (cap !== undefined) {
    if (typeof cap !== 'number' || !Number.isFinite(cap) || cap <= 0) fail('maxPowerW must be a positive number')
    if (conf.maxPowerW !== null && cap > conf.maxPowerW) fail(`maxPowerW must not be above the configured ${conf.maxPowerW} W`)
    out.maxPowerW = cap
  }
  const onBreach = raw.onBreach
  if (onBreach !== undefined) {
    if (onBreach !== 'rollback' && onBreach !== 'stop') fail('onBreach must be rollback or stop')
    out.onBreach = onBreach
  }
  for (const key of ['staged', 'force'] as const) {
    const v = raw[key]
    if (v !== undefined && typeof v !== 'boolean') fail(`${key} must be a boolean`)
  }
  if (raw.staged === true) out.stagePowerDown = true
  out.force = raw.force === true
  return out
}
