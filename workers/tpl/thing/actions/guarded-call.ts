/**
 * A write through a guarded controller (vendor-neutral): the action id is the approval
 * trailer's `actionId` or a new one, the trailer is stripped, a dry run only previews, a
 * background action is recorded in the journal and answered at once, a long (staged) action
 * is recorded when the controller asks (`run.record()`), and every recorded action ends with
 * its outcome in the journal.
 */
import { randomUUID } from 'node:crypto'
import { errorCode } from '../../../core/errors'
import type { Logger } from '../../../core/types'
import { isActionContext, stripActionContext } from '../action-context'
import type { ActionJournal, EndStatus } from './action-journal'
import type { ActionRun, GuardedController } from './action-run'

export interface RunFlags {
  dryRun?: boolean
  background?: boolean
}

export interface GuardedCall {
  thingId: string
  method: string
  params: readonly unknown[]
  flags: RunFlags
  journal: ActionJournal
  logger: Logger
}

/** The reply of a write started in the background. */
export interface BackgroundReply {
  success: true
  background: true
  actionId: string
  status: 'running'
}

function idOf (value: unknown): string | null {
  if (typeof value === 'string' && value.length > 0 && value.length <= 256) return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  return null
}

/** How an action that threw ended: what its last progress said (`stopped`, `rolled_back`), else `failed`. */
function endOf (journal: ActionJournal, key: string): Exclude<EndStatus, 'done'> {
  const phase = journal.get(key)?.progress?.phase
  return phase === 'stopped' || phase === 'rolled_back' ? phase : 'failed'
}

export async function runGuarded (ctrl: GuardedController, c: GuardedCall): Promise<unknown> {
  const trailer = c.params[c.params.length - 1]
  const context = isActionContext(trailer) ? trailer : null
  const actionId = idOf(context?.actionId) ?? `act-${randomUUID()}`
  const user = typeof context?.user === 'string' ? context.user : null
  const key = `${c.thingId}/${actionId}`
  const args = stripActionContext(c.params)
  const dryRun = c.flags.dryRun === true
  let recorded = false
  const run: ActionRun = {
    actionId,
    user,
    dryRun,
    report: (progress) => { if (recorded) c.journal.progress(key, progress) },
    record: async () => {
      if (recorded || dryRun) return
      await c.journal.start({ key, actionId, thingId: c.thingId, method: c.method, user, background: c.flags.background === true })
      recorded = true
    }
  }
  const settle = async (p: Promise<unknown>): Promise<unknown> => {
    try {
      const result = await p
      if (recorded) await c.journal.finish(key, 'done', { result })
      return result
    } catch (err) {
      const error = { code: errorCode(err), message: err instanceof Error ? err.message : String(err) }
      if (recorded) await c.journal.finish(key, endOf(c.journal, key), { error })
      throw err
    }
  }
  if (c.flags.background === true && !dryRun) {
    await run.record()
    settle(ctrl.runAction(c.method, args, run)).catch((err: unknown) => {
      const outcome = errorCode(err)
      c.logger.info({ audit: true, actionId, thingId: c.thingId, method: c.method, outcome }, 'background control action failed')
    })
    const reply: BackgroundReply = { success: true, background: true, actionId, status: 'running' }
    return reply
  }
  return await settle(ctrl.runAction(c.method, args, run))
}
