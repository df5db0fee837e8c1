/**
 * A control action as the rack runs it on a controller (vendor-neutral): its id (the approval
 * trailer's `actionId`, or one the rack makes), whether it is a dry run, and where it reports
 * progress. A controller that implements `runAction` gets every RPC write through it; one that
 * does not gets the plain method call.
 */
import type { JsonObject } from '../types'

/** What an action reports while it runs (kept by the action journal, read with `getActions`). */
export interface ActionProgress {
  /** e.g. `planning`, `switching`, `waiting`, `rolling back`, `done`. */
  phase: string
  batches: number
  batchesDone: number
  /** Writes done so far (sockets switched, setpoints written). */
  written: number
  /** Writes left out because the device already held the value. */
  skipped: number
  /** The latest guard reading, when the action reads guards. */
  guards?: JsonObject | null
  /** Sockets switched back by a rollback. */
  rolledBack?: number
}

export interface ActionRun {
  actionId: string
  user: string | null
  dryRun: boolean
  report: (progress: ActionProgress) => void
  /**
   * Records the action in the journal (`getActions`) before its first write: a controller
   * calls it for a long (staged) action; a background action is recorded already.
   */
  record: () => Promise<void>
}

/** A controller whose write actions are guarded (previews, staging, progress). */
export interface GuardedController {
  runAction: (method: string, params: readonly unknown[], run: ActionRun) => Promise<unknown>
  /** What the action would write, from a fresh read; nothing is written. */
  previewAction: (method: string, params: readonly unknown[]) => Promise<unknown>
}

export function isGuarded (ctrl: unknown): ctrl is GuardedController {
  if (ctrl === null || typeof ctrl !== 'object') return false
  const c = ctrl as Record<string, unknown>
  return typeof c.runAction === 'function' && typeof c.previewAction === 'function'
}
