/**
 * The trailer the platform appends to the params of an approved action (worker.md §12):
 * `{actionId, user}`. The rack strips it where it dispatches to a controller, so no controller
 * method ever sees it.
 */
export interface ActionContext {
  actionId?: unknown
  user?: unknown
}

/** A plain object whose keys are only `actionId` and/or `user` (at least one). */
export function isActionContext (value: unknown): value is ActionContext {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return false
  const keys = Object.keys(value)
  return keys.length > 0 && keys.every((k) => k === 'actionId' || k === 'user')
}

/** `params` without ONE trailing `{actionId, user}` object. */
export function stripActionContext (params: readonly unknown[]): unknown[] {
  const last = params[params.length - 1]
  return params.length > 0 && isActionContext(last) ? params.slice(0, -1) : [...params]
}
