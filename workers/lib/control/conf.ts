/**
 * The `control` section of base.thing.json: how guarded control actions run (docs/control.md
 * in docs/rpc.md "Guarded control"). Every key has a default; the defaults that would refuse a
 * write the worker accepted before (a power cap, the force threshold of a switch-off, the
 * maximum setpoint change) are off until configured.
 */
import { z } from 'zod'
import { WrkError } from '../../core/errors'
import { DEFAULT_THRESHOLD_LIMITS } from '../../tpl/container/base-container'
import { CONTAINER_VENDORS, PDU_COUNT, SOCKETS_PER_PDU } from '../registers'
import type { ContainerVendor } from '../registers/types'

const range = z.object({ min: z.number().finite(), max: z.number().finite() }).strict()
  .refine((r) => r.min <= r.max, { message: 'min must not be above max' })

const rangesSchema = z.object({ runningSpeed: range.optional(), temperature: range.optional() }).strict()

/** A key per vendor this package ships (the profile registry), each optional; no other key. */
const vendorSetpointsSchema = z.object(Object.fromEntries(CONTAINER_VENDORS.map((vendor) => [vendor, rangesSchema.optional()]))).strict()

const nullableLimit = z.number().finite().nullable()

export const CONTROL_CONF_SCHEMA = z.object({
  /** Sockets switched on per batch (one PDU). */
  batchSize: z.number().int().min(1).max(PDU_COUNT * SOCKETS_PER_PDU).default(SOCKETS_PER_PDU),
  /** Pause after a batch before the guards are read and the next batch goes (ms). */
  batchDelayMs: z.number().int().min(0).max(600_000).default(2000),
  /** The lowest `batchDelayMs` a request may ask for. */
  minBatchDelayMs: z.number().int().min(0).max(600_000).default(1000),
  /** Cap of the meters' total active power during a power-up (W); null: no power guard unless a request sets one. */
  maxPowerW: z.number().positive().nullable().default(null),
  /** A breached guard rolls back the sockets the action switched on, or only stops. */
  onBreach: z.enum(['rollback', 'stop']).default('rollback'),
  /** Stage power-downs too (default: only when a request asks with `staged: true`). */
  stagePowerDown: z.boolean().default(false),
  /** Limits of the circulation pressures P2 (supply) and P3 (return) in bar; null: no limit. */
  pressureBar: z.object({ min: nullableLimit.default(null), max: nullableLimit.default(null) }).strict().default({ min: null, max: null }),
  /** `switchContainer false` while the meters read more than this (W) needs `force: true`; null: never. */
  forceSwitchOffAboveW: z.number().min(0).nullable().default(null),
  /** Cooling-fan setpoint ranges per vendor (0 is allowed where the range includes it). */
  setpoints: vendorSetpointsSchema.default({}),
  /** Largest change of a setpoint in one action, against the value read from the device; null: none. */
  maxSetpointChange: z.object({ runningSpeed: nullableLimit.default(null), temperature: nullableLimit.default(null) }).strict()
    .default({ runningSpeed: null, temperature: null })
}).strict().refine((c) => c.minBatchDelayMs <= c.batchDelayMs, { message: 'minBatchDelayMs must not be above batchDelayMs' })

export type ControlConf = z.infer<typeof CONTROL_CONF_SCHEMA>

export interface SetpointRange { min: number, max: number }
export interface SetpointRanges { runningSpeed: SetpointRange, temperature: SetpointRange }

/** Setpoint ranges when the configuration names none for the vendor: the template's argument limits (0 included). */
export const DEFAULT_SETPOINT_RANGES: SetpointRanges = {
  runningSpeed: { ...DEFAULT_THRESHOLD_LIMITS.runningSpeed },
  temperature: { ...DEFAULT_THRESHOLD_LIMITS.temperature }
}

export const CONTROL_CONF_DEFAULTS: ControlConf = CONTROL_CONF_SCHEMA.parse({})

/** The keys of the section (the configuration's unknown-key warning). */
export const CONTROL_CONF_KEYS: Record<string, true> = Object.fromEntries(Object.keys(CONTROL_CONF_DEFAULTS).map((k) => [k, true as const]))

/** Parses `control` of base.thing.json; ERR_CONFIG_INVALID names the first wrong key. */
export function parseControlConf (raw: unknown): ControlConf {
  const parsed = CONTROL_CONF_SCHEMA.safeParse(raw ?? {})
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = `control.${issue?.path.join('.') ?? ''}`
    throw new WrkError('ERR_CONFIG_INVALID', `config base.thing.json: invalid ${where} (${issue?.message ?? ''})`)
  }
  return parsed.data
}

/** The setpoint ranges of a vendor. */
export function setpointRanges (conf: ControlConf, vendor: ContainerVendor): SetpointRanges {
  return { ...DEFAULT_SETPOINT_RANGES, ...conf.setpoints[vendor] }
}
