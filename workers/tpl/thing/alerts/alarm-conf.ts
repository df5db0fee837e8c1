/**
 * Alarm management settings (docs/alerts.md "Alarm management"), vendor-neutral:
 * - per alert, in `alerts[<thing type>][<name>]` of base.thing.json and in the run-time
 *   `alertParams` setting: `onDelayMs`, `offDelayMs`, `deadband`, `latched`, `reAlarmMs`, `safety`;
 * - per rack, `alarms` of base.thing.json: the shelving bound, chattering and flood detection, the
 *   stale bound and the inhibition rules.
 * The layer above gives its defaults (AlarmDefaults); the configuration wins over them.
 */
import { z } from 'zod'
import { WrkError } from '../../../core/errors'

/** The per-alert settings of alarm management (every one optional: absent = the reference behaviour). */
export interface AlarmSettings {
  /** The condition must hold this long before the alert is active (meanwhile: pending). */
  onDelayMs?: number
  /** The condition must be gone this long before the alert clears. */
  offDelayMs?: number
  /** A threshold alert clears only once its reading is back past threshold ∓ deadband. */
  deadband?: number
  /** Stays (cleared-unacknowledged) after its condition clears, until an operator resets it. */
  latched?: boolean
  /** An acknowledged alert still active after this long is unacknowledged again (0: never). */
  reAlarmMs?: number
  /** A safety alarm: never shelved automatically (chattering), never suppressed by a flood. */
  safety?: boolean
}

export const ALARM_SETTING_KEYS = ['onDelayMs', 'offDelayMs', 'deadband', 'latched', 'reAlarmMs', 'safety'] as const

const DAY_MS = 86_400_000
const ms = z.number().int().min(0).max(30 * DAY_MS)

export const alarmSettingsSchema = z.object({
  onDelayMs: ms.optional(),
  offDelayMs: ms.optional(),
  deadband: z.number().finite().min(0).max(1e6).optional(),
  latched: z.boolean().optional(),
  reAlarmMs: ms.optional(),
  safety: z.boolean().optional()
})

/**
 * Inhibition: while an alert named `cause` holds (its condition is true), the thing's alerts
 * named in `suppress` (`*`: all others) are suppressed, each naming the cause. `sameDevice`:
 * only the alerts of the cause's `deviceTag`. Rules apply in order; a cause an earlier rule
 * suppressed suppresses nothing itself (no cycles).
 */
export const inhibitRuleSchema = z.object({
  cause: z.string().min(1).max(128),
  suppress: z.array(z.string().min(1).max(128)).min(1).max(500),
  sameDevice: z.boolean().optional()
})
export type InhibitRule = z.output<typeof inhibitRuleSchema>

export const alarmPolicySchema = z.object({
  /** Longest shelve an operator may ask for (and the bound of a one-shot shelve). */
  maxShelveMs: ms.min(1).default(8 * 3_600_000),
  chattering: z.object({
    /** active→clear transitions within windowMs that make an alert chatter. 0: off. */
    count: z.number().int().min(0).max(1000).default(3),
    windowMs: ms.min(1).default(60_000),
    /** How long a chattering alert is shelved. */
    shelveMs: ms.min(1).default(3_600_000)
  }).default({ count: 3, windowMs: 60_000, shelveMs: 3_600_000 }),
  flood: z.object({
    /** More activations than this on the rack within windowMs is a flood. 0: off. */
    count: z.number().int().min(0).max(1_000_000).default(10),
    windowMs: ms.min(1).default(600_000)
  }).default({ count: 10, windowMs: 600_000 }),
  /** An alert active longer than this is stale (KPIs). */
  staleMs: ms.min(1).default(DAY_MS),
  inhibit: z.array(inhibitRuleSchema).max(1000).default([])
})
export type AlarmPolicy = z.output<typeof alarmPolicySchema>

/** What the layer above contributes: per-alert defaults and rack defaults (its rules come before configured ones). */
export interface AlarmDefaults {
  alerts: Readonly<Record<string, AlarmSettings>>
  inhibit: readonly InhibitRule[]
}

export const NO_ALARM_DEFAULTS: AlarmDefaults = { alerts: {}, inhibit: [] }

/**
 * `alarms` of base.thing.json over the defaults; ERR_CONFIG_INVALID when it does not fit. The
 * configured `inhibit` list replaces the defaults' when given (`[]` turns inhibition off).
 */
export function parseAlarmPolicy (conf: unknown, defaults: AlarmDefaults): AlarmPolicy {
  const given = conf === undefined || conf === null ? {} : conf
  const res = alarmPolicySchema.safeParse(given)
  if (!res.success) {
    const issue = res.error.issues[0]
    throw new WrkError('ERR_CONFIG_INVALID',
      `config base.thing.json: invalid alarms.${issue?.path.join('.') ?? ''} (${issue?.message ?? 'invalid'})`)
  }
  const hasOwnRules = typeof given === 'object' && Object.hasOwn(given, 'inhibit')
  return { ...res.data, inhibit: hasOwnRules ? res.data.inhibit : [...defaults.inhibit] }
}

/** The settings of one alert: the defaults of the layer above, then what the entry configures. */
export function alarmSettingsOf (entry: Readonly<Record<string, unknown>> | undefined, defaults: AlarmSettings | undefined): AlarmSettings {
  const out: AlarmSettings = { ...defaults }
  if (!entry) return out
  for (const key of ALARM_SETTING_KEYS) {
    const v = entry[key]
    if (v !== undefined) (out as Record<string, unknown>)[key] = v
  }
  return out
}

/** Checks the alarm settings of every configured alert; ERR_CONFIG_INVALID naming the first bad one. */
export function assertAlarmSettings (conf: Readonly<Record<string, Readonly<Record<string, unknown>>>>, where: string): void {
  for (const [name, entry] of Object.entries(conf)) {
    const picked = Object.fromEntries(ALARM_SETTING_KEYS.filter((k) => entry?.[k] !== undefined).map((k) => [k, entry[k]]))
    const res = alarmSettingsSchema.safeParse(picked)
    if (!res.success) {
      throw new WrkError('ERR_CONFIG_INVALID',
        `config base.thing.json: ${where}.${name}.${String(res.error.issues[0]?.path[0] ?? '')} is invalid`)
    }
  }
}

/** The rack's policy from base.thing.json (`alarms`), every configured alert's settings checked; ERR_CONFIG_INVALID. */
export function alarmPolicyOf (thingConf: Readonly<Record<string, unknown>>, defaults: AlarmDefaults): AlarmPolicy {
  const alerts = thingConf.alerts
  if (alerts !== null && typeof alerts === 'object') {
    for (const [type, conf] of Object.entries(alerts)) {
      if (conf !== null && typeof conf === 'object') assertAlarmSettings(conf as Record<string, Record<string, unknown>>, `alerts.${type}`)
    }
  }
  return parseAlarmPolicy(thingConf.alarms, defaults)
}
