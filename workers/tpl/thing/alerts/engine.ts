/**
 * The alert engine (worker.md §7), vendor-neutral: a snapshot's `raw_errors` and the specs of
 * the layers above become alerts with the configured description and severity. A spec may match
 * several devices of a thing, each its own alert (`deviceTag`, e.g. `pdu-3`), with its reading
 * in `metadata`. An alert that persists (same name, deviceTag and message) keeps its `uuid` and
 * `createdAt`, whatever its description or reading do; one that clears and returns is new.
 */
import { randomUUID } from 'node:crypto'
import type { Alert, AlertMetadata, JsonObject, Snap } from '../types'
import type { AlarmSettings } from './alarm-conf'

/** `alerts[<thing type>][<name>]` of base.thing.json (with the alarm settings of ./alarm-conf.ts). */
export interface AlertConfEntry extends AlarmSettings {
  description?: string
  severity?: string
  params?: JsonObject
}
export type AlertConf = Readonly<Record<string, AlertConfEntry>>

/** One alert a spec raises; what it leaves out comes from the configuration. */
export interface AlertMatch {
  message?: string
  severity?: string
  description?: string
  deviceTag?: string
  metadata?: AlertMetadata
}

/**
 * A check of a snapshot: `true` raises one alert, a list raises one per match (an empty list or
 * `false`: none). Skipped when its name is not configured.
 */
export interface AlertSpec {
  name: string
  check: (snap: Snap, params: JsonObject, info: JsonObject) => boolean | readonly AlertMatch[]
  /**
   * A threshold check: `params[param]` is its limit and it fires `above` or `below` it. An active
   * alert of it with a `deadband` holds until the check no longer fires at the limit moved back
   * by the deadband (limit − deadband for `above`, + for `below`).
   */
  hysteresis?: { param: string, sense: 'above' | 'below' }
}

/** One entry of a snapshot's `raw_errors`. */
interface RawError { name: string, code?: string, message?: string, timestamp?: number }

export const ALERT_NO_SNAPSHOT = 'error_snap'
export const ALERT_UNKNOWN = 'unknown_error'

function rawErrorsOf (snap: Snap): RawError[] {
  const raw = (snap as { raw_errors?: unknown }).raw_errors
  if (!Array.isArray(raw)) return []
  return raw.filter((e): e is RawError => e !== null && typeof e === 'object' && typeof (e as RawError).name === 'string')
}

function make (name: string, description: string, severity: string, now: number, message?: string, match: AlertMatch = {}): Alert {
  // the uuid is given once the alert is known to be new (evaluateAlerts): a persisting one keeps its own
  return {
    name,
    code: name,
    description: match.description ?? description,
    severity: match.severity ?? severity,
    createdAt: now,
    uuid: '',
    ...(message !== undefined ? { message } : {}),
    ...(match.deviceTag !== undefined ? { deviceTag: match.deviceTag } : {}),
    ...(match.metadata !== undefined ? { metadata: match.metadata } : {})
  }
}

/** Same alert as before: same name, device and message. */
function sameAlert (a: Alert, b: Alert): boolean {
  return a.name === b.name && a.deviceTag === b.deviceTag && a.message === b.message
}

/** The identity of an alert within its thing: name, device and message. */
export function alertKey (a: Pick<Alert, 'name' | 'deviceTag' | 'message'>): string {
  return `${a.name}\u0000${a.deviceTag ?? ''}\u0000${a.message ?? ''}`
}

function matchesOf (found: boolean | readonly AlertMatch[]): readonly AlertMatch[] {
  return found === true ? [{}] : found === false ? [] : found
}

/** The matches of a threshold spec that still hold within the deadband (active ones only, by key). */
function heldMatches (spec: AlertSpec, snap: Snap, params: JsonObject, info: JsonObject, deadband: number): AlertMatch[] {
  const h = spec.hysteresis
  const limit = h === undefined ? undefined : params[h.param]
  if (h === undefined || typeof limit !== 'number' || !(deadband > 0)) return []
  const moved = { ...params, [h.param]: h.sense === 'above' ? limit - deadband : limit + deadband }
  // the reading is compared with the moved limit; the alert still names the configured one
  return matchesOf(spec.check(snap, moved, info))
    .map((m) => m.metadata?.threshold === undefined ? m : { ...m, metadata: { ...m.metadata, threshold: limit } })
}

export interface AlertInput {
  snap: Snap | null
  /** `last.err` of the collection (describes a missing snapshot). */
  err: string | null
  info: JsonObject
  conf: AlertConf
  specs: readonly AlertSpec[]
  /** The thing's previous alerts, whose identities persist. */
  prev: readonly Alert[] | null | undefined
  now: number
  /** Keys (alertKey) of the active alerts: a threshold alert among them holds within its deadband. */
  holding?: ReadonlySet<string>
  /** The deadband of an alert (its configuration over the layer's defaults); absent: the configured `deadband`. */
  deadbandOf?: (name: string) => number
}

/** The alerts of one collection, identities carried over from `prev`. */
export function evaluateAlerts (input: AlertInput): Alert[] {
  const { snap, conf, now } = input
  const out: Alert[] = []
  if (!snap || !snap.success) {
    const c = conf[ALERT_NO_SNAPSHOT]
    out.push(make(ALERT_NO_SNAPSHOT, c?.description ?? 'No snapshot', c?.severity ?? 'medium', now, input.err ?? undefined))
  } else {
    for (const e of rawErrorsOf(snap)) {
      const c = conf[e.name]
      if (c) out.push(make(e.name, c.description ?? e.name, c.severity ?? 'high', now, e.message))
      else {
        const u = conf[ALERT_UNKNOWN]
        out.push(make(ALERT_UNKNOWN, u?.description ?? ALERT_UNKNOWN, u?.severity ?? 'high', now,
          e.message === undefined ? e.name : `${e.name}: ${e.message}`))
      }
    }
    for (const spec of input.specs) {
      const c = conf[spec.name]
      if (!c) continue
      try {
        const matches = matchesOf(spec.check(snap, c.params ?? {}, input.info))
        for (const m of matches) out.push(make(spec.name, c.description ?? spec.name, c.severity ?? 'medium', now, m.message, m))
        if (input.holding !== undefined && input.holding.size > 0) {
          for (const m of heldMatches(spec, snap, c.params ?? {}, input.info, input.deadbandOf?.(spec.name) ?? c.deadband ?? 0)) {
            const held = make(spec.name, c.description ?? spec.name, c.severity ?? 'medium', now, m.message, m)
            if (input.holding.has(alertKey(held))) out.push(held)
          }
        }
      } catch (err) {
        out.push(make(spec.name, `alert check ${spec.name} failed`, 'medium', now, (err as Error).message))
      }
    }
  }
  const unique = out.filter((a, i) => out.findIndex((b) => sameAlert(a, b)) === i)
  for (const alert of unique) {
    const before = input.prev?.find((p) => sameAlert(p, alert))
    if (before) {
      alert.uuid = before.uuid
      alert.createdAt = before.createdAt
    } else {
      alert.uuid = randomUUID()
    }
  }
  return unique
}

/** Alerts of `next` that were not in `prev` (by uuid): the ones that started. */
export function startedAlerts (prev: readonly Alert[] | null | undefined, next: readonly Alert[]): Alert[] {
  const known = new Set((prev ?? []).map((a) => a.uuid))
  return next.filter((a) => !known.has(a.uuid))
}

/** Whether two alert lists hold the same alerts (by uuid). */
export function sameAlertSet (a: readonly Alert[] | null | undefined, b: readonly Alert[] | null | undefined): boolean {
  const ua = (a ?? []).map((x) => x.uuid).sort()
  const ub = (b ?? []).map((x) => x.uuid).sort()
  return ua.length === ub.length && ua.every((u, i) => u === ub[i])
}
