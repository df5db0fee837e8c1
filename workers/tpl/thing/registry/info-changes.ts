/**
 * The `changes` of an info-history entry, in the reference's shape (the app backend's work-order
 * audit reads `changes[path].newValue`): keyed by dotted path within `info` (`pos`, `site.col`),
 * nested objects compared key by key, two arrays as `{additions, deletions}` (only when either is
 * non-empty), anything else that differs as `{oldValue, newValue}` (an added key has no
 * `oldValue`, a removed one no `newValue`).
 */
import type { JsonObject } from '../../../core/types'

/** Keys whose change is no news (`updatedAt` changes with every update). */
const IGNORED = new Set(['updatedAt'])

const isPlainObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v)

/** Items compared as JSON (two equal objects in two arrays are the same item). */
function arrayChange (prev: unknown[], next: unknown[]): JsonObject | null {
  const prevKeys = new Set(prev.map((v) => JSON.stringify(v)))
  const nextKeys = new Set(next.map((v) => JSON.stringify(v)))
  const additions = next.filter((v) => !prevKeys.has(JSON.stringify(v)))
  const deletions = prev.filter((v) => !nextKeys.has(JSON.stringify(v)))
  return additions.length > 0 || deletions.length > 0 ? { additions, deletions } : null
}

function valueChange (prev: unknown, next: unknown): JsonObject {
  return { ...(prev !== undefined ? { oldValue: prev } : {}), ...(next !== undefined ? { newValue: next } : {}) }
}

function compare (prev: JsonObject | undefined, next: JsonObject | undefined, path: string, out: JsonObject): void {
  const keys = new Set([...Object.keys(prev ?? {}), ...Object.keys(next ?? {})])
  for (const key of keys) {
    if (path === '' && IGNORED.has(key)) continue
    const at = path === '' ? key : `${path}.${key}`
    const a = prev?.[key]
    const b = next?.[key]
    if (isPlainObject(a) && isPlainObject(b)) {
      compare(a, b, at, out)
    } else if (Array.isArray(a) && Array.isArray(b)) {
      const change = arrayChange(a, b)
      if (change) out[at] = change
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      out[at] = valueChange(a, b)
    }
  }
}

/** What changed from `prev` to `next` (two `info` objects); `{}` when nothing did. */
export function infoChanges (prev: JsonObject, next: JsonObject): JsonObject {
  const out: JsonObject = {}
  compare(prev, next, '', out)
  return out
}

/** An entry written before this shape: `{<top-level key>: {old, new}}`. */
function isOldChange (v: unknown): v is { old?: unknown, new?: unknown } {
  if (!isPlainObject(v)) return false
  const keys = Object.keys(v)
  return keys.length > 0 && keys.every((k) => k === 'old' || k === 'new')
}

/** `changes` of a stored entry in the current shape (entries of older versions are converted). */
export function currentInfoChanges (changes: JsonObject): JsonObject {
  const entries = Object.entries(changes)
  if (entries.length === 0 || !entries.every(([, v]) => isOldChange(v))) return changes
  const out: JsonObject = {}
  for (const [key, v] of entries) {
    const { old: a, new: b } = v as { old?: unknown, new?: unknown }
    compare({ [key]: a } as JsonObject, { [key]: b } as JsonObject, '', out)
  }
  return out
}
