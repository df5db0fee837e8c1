/**
 * Stat ops (worker.md §8) as small pure functions over dotted paths. A spec maps an output
 * field to an op; `aggregate` runs a spec over the entries of one tag's things. Absent values
 * are left out, never invented: a sum or average with no numeric input is omitted.
 */
import type { JsonObject } from '../types'

export type StatOp =
  | { op: 'sum' | 'avg', src: string }
  | { op: 'cnt' }
  | { op: 'group', src: string, group: string }
  | { op: 'group_multiple_stats', srcs: ReadonlyArray<{ name: string, src: string }>, group: string }
  | { op: 'alerts_group_cnt', src: string }

export type StatSpec = Readonly<Record<string, StatOp>>

/** What a stat op reads of one thing. */
export interface StatEntry {
  last: JsonObject
  info: JsonObject
}

/** Severities always present in an `alerts_group_cnt` result (others are added when seen). */
/** Tags that name one thing (`id-`, `code-`) get no stat logs. */
const PER_THING_TAG_PREFIXES = ['id-', 'code-']

/** Whether things are aggregated under `tag` (each such tag has its stat logs). */
export function isStatTag (tag: string): boolean {
  return !PER_THING_TAG_PREFIXES.some((p) => tag.startsWith(p))
}

export const ALERT_SEVERITIES = ['critical', 'high', 'medium', 'low'] as const

/** Dotted paths split once (the paths come from stat specs: a handful). */
const SPLIT_PATHS = new Map<string, readonly string[]>()
const MAX_SPLIT_PATHS = 1024

function splitPath (path: string): readonly string[] {
  let keys = SPLIT_PATHS.get(path)
  if (keys === undefined) {
    keys = path.split('.')
    if (SPLIT_PATHS.size >= MAX_SPLIT_PATHS) SPLIT_PATHS.clear()
    SPLIT_PATHS.set(path, keys)
  }
  return keys
}

/** The value at a dotted path through own properties; undefined when any step is missing. */
export function valueAt (root: unknown, path: string): unknown {
  let cur: unknown = root
  for (const key of splitPath(path)) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return undefined
    cur = (cur as Record<string, unknown>)[key]
  }
  return cur
}

function numbers (entries: readonly StatEntry[], src: string): number[] {
  const out: number[] = []
  for (const e of entries) {
    const v = valueAt(e, src)
    if (typeof v === 'number' && Number.isFinite(v)) out.push(v)
  }
  return out
}

export function sum (entries: readonly StatEntry[], src: string): number | undefined {
  const ns = numbers(entries, src)
  return ns.length === 0 ? undefined : ns.reduce((a, b) => a + b, 0)
}

export function avg (entries: readonly StatEntry[], src: string): number | undefined {
  const ns = numbers(entries, src)
  return ns.length === 0 ? undefined : ns.reduce((a, b) => a + b, 0) / ns.length
}

export function cnt (entries: readonly StatEntry[]): number {
  return entries.length
}

function groupKey (entry: StatEntry, group: string): string | null {
  const k = valueAt(entry, group)
  return typeof k === 'string' || typeof k === 'number' ? String(k) : null
}

/** `{<group>: value}`; things without a group key or without the value are left out. */
export function group (entries: readonly StatEntry[], src: string, by: string): JsonObject {
  const out: JsonObject = {}
  for (const e of entries) {
    const k = groupKey(e, by)
    const v = valueAt(e, src)
    if (k !== null && v !== undefined && v !== null) out[k] = v
  }
  return out
}

/** `{<group>: {<name>: value, …}}` for several sources. */
export function groupMultipleStats (
  entries: readonly StatEntry[], srcs: ReadonlyArray<{ name: string, src: string }>, by: string
): JsonObject {
  const out: JsonObject = {}
  for (const e of entries) {
    const k = groupKey(e, by)
    if (k === null) continue
    const values: JsonObject = {}
    for (const s of srcs) {
      const v = valueAt(e, s.src)
      if (v !== undefined && v !== null) values[s.name] = v
    }
    out[k] = values
  }
  return out
}

/** Alerts per severity over the things' alert lists (an alert without severity counts as medium). */
export function alertsGroupCnt (entries: readonly StatEntry[], src: string): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(ALERT_SEVERITIES.map((s) => [s, 0]))
  for (const e of entries) {
    const alerts = valueAt(e, src)
    if (!Array.isArray(alerts)) continue
    for (const a of alerts) {
      const sev = a !== null && typeof a === 'object' && typeof (a as { severity?: unknown }).severity === 'string'
        ? (a as { severity: string }).severity
        : 'medium'
      out[sev] = (out[sev] ?? 0) + 1
    }
  }
  return out
}

function apply (op: StatOp, entries: readonly StatEntry[]): unknown {
  switch (op.op) {
    case 'sum': return sum(entries, op.src)
    case 'avg': return avg(entries, op.src)
    case 'cnt': return cnt(entries)
    case 'group': return group(entries, op.src, op.group)
    case 'group_multiple_stats': return groupMultipleStats(entries, op.srcs, op.group)
    case 'alerts_group_cnt': return alertsGroupCnt(entries, op.src)
  }
}

/** Every field of `spec` over `entries`; undefined results are left out. */
export function aggregate (spec: StatSpec, entries: readonly StatEntry[]): JsonObject {
  const out: JsonObject = {}
  for (const [field, op] of Object.entries(spec)) {
    const v = apply(op, entries)
    if (v !== undefined) out[field] = v
  }
  return out
}
