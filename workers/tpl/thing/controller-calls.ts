/**
 * `queryThing` (one thing) and `applyThings` (every thing a query picks): calls of the declared
 * controller methods. A call is a write when its method is not a declared read method.
 */
import { z } from 'zod'
import { WrkError, errorCode } from '../../core/errors'
import { defineMethod, type RpcKind, type RpcMethod } from '../../rpc/method'
import { stripActionContext } from './action-context'
import { ActionJournal } from './actions/action-journal'
import { runGuarded, type RunFlags } from './actions/guarded-call'
import { isGuarded } from './actions/action-run'
import type { RackParts } from './rack-parts'
import type { RegistryMethods } from './registry/registry-methods'
import { schemas, type Req } from './schemas'
import { mapLimit, withTimeout } from '../../core/async'
import { errorSnap } from './base-thing'
import type { ThingState } from './types'

/** What a guarded write may answer besides the controller's codes. */
const ACTION_ERRORS = ['ERR_DRY_RUN_UNSUPPORTED', 'ERR_ACTION_RUNNING'] as const

function flagsOf (req: { dryRun?: boolean, background?: boolean }): RunFlags {
  return { ...(req.dryRun === true ? { dryRun: true } : {}), ...(req.background === true ? { background: true } : {}) }
}

/** The controller's argument check of a write action (MiningOS `validateWriteAction`). */
const VALIDATE = 'validateWriteAction'

/** `applyThings {verbose: true}`: what happened on each target. */
export interface ApplyReport {
  total: number
  ok: number
  failed: Array<{ id: string, code: string }>
}

export class ControllerCalls {
  /** Staged and background control actions (`getActions`); the rack opens and closes it. */
  readonly journal: ActionJournal

  constructor (private readonly rack: RackParts, private readonly things: RegistryMethods) {
    this.journal = new ActionJournal(() => this.rack.logger)
  }

  private isDeclared (method: string): boolean {
    return this.rack.hooks.readMethods().includes(method) || this.rack.hooks.writeMethods().includes(method)
  }

  /** `read` for a declared read method, else `write` (unknown methods need full access too). */
  kindOf (req: unknown): RpcKind {
    const method = req !== null && typeof req === 'object' ? (req as { method?: unknown }).method : undefined
    return typeof method === 'string' && this.rack.hooks.readMethods().includes(method) ? 'read' : 'write'
  }

  /**
   * Calls `method` on the thing's controller with `params`, without an approval trailer. A write
   * on a guarded controller goes through its `runAction` (./actions/guarded-call.ts): dry run,
   * background, journal.
   */
  private async call (state: ThingState, method: string, params: readonly unknown[], flags: RunFlags = {}): Promise<unknown> {
    if (!this.isDeclared(method)) throw new WrkError('ERR_THING_METHOD_NOTFOUND')
    const ctrl = state.ctrl
    if (!ctrl) throw new WrkError('ERR_THING_NOT_INITIALIZED')
    if (this.kindOf({ method }) === 'write' && isGuarded(ctrl)) {
      return await runGuarded(ctrl, { thingId: state.record.id, method, params, flags, journal: this.journal, logger: this.rack.logger })
    }
    if (flags.dryRun === true) throw new WrkError('ERR_DRY_RUN_UNSUPPORTED', `${method} has no dry run on this thing`)
    const fn = (ctrl as unknown as Record<string, unknown>)[method]
    if (typeof fn !== 'function') throw new WrkError('ERR_THING_METHOD_NOTFOUND')
    return await Promise.resolve(fn.apply(ctrl, stripActionContext(params)))
  }

  /**
   * A read answers within `readBudgetMs`: past it, `getSnap` answers the error envelope of a
   * snapshot that timed out (ERR_THING_READ_TIMEOUT; it never throws), other reads fail with
   * that code. The device call itself goes on and its result is not lost for the loop.
   */
  async queryThing (req: Req<'queryThing'>): Promise<unknown> {
    const call = this.call(this.rack.registry.get(req.id), req.method, req.params ?? [], flagsOf(req))
    if (this.kindOf(req) !== 'read') return await call
    try {
      return await withTimeout(call, this.rack.thingConf.readBudgetMs, 'ERR_THING_READ_TIMEOUT')
    } catch (err) {
      if (req.method !== 'getSnap' || errorCode(err) !== 'ERR_THING_READ_TIMEOUT') throw err
      call.catch(() => {})
      return errorSnap('ERR_THING_READ_TIMEOUT', Date.now())
    }
  }

  /**
   * The arguments of a write checked before anything is written: every connected target's
   * `validateWriteAction` (no device I/O) must pass, else the call answers its error and no
   * target is touched. Targets not connected are left to fail on their own.
   */
  private validateFirst (targets: readonly ThingState[], method: string, params: readonly unknown[]): void {
    if (this.kindOf({ method }) === 'read' || !this.rack.hooks.readMethods().includes(VALIDATE)) return
    for (const state of targets) {
      const ctrl = state.ctrl as unknown as Record<string, unknown> | null
      const validate = ctrl?.[VALIDATE]
      if (typeof validate !== 'function') continue
      try {
        validate.apply(ctrl, [method, ...stripActionContext(params)])
      } catch (err) {
        if (errorCode(err) === 'ERR_THING_NOT_INITIALIZED') continue
        throw err
      }
    }
  }

  /**
   * Calls the method on every thing the query picks; answers how many succeeded (the
   * reference's reply) or, with `verbose`, `{total, ok, failed: [{id, code}]}`. Invalid
   * arguments answer their validation error with nothing written; each failed target is
   * audited with its code.
   */
  async applyThings (req: Req<'applyThings'>): Promise<number | ApplyReport> {
    if (!this.isDeclared(req.method)) throw new WrkError('ERR_THING_METHOD_NOTFOUND')
    const targets = await this.things.matching(req.query, req)
    const params = req.params ?? []
    this.validateFirst(targets, req.method, params)
    const failed: Array<{ id: string, code: string }> = []
    await mapLimit(targets, this.rack.thingConf.thingQueryConcurrency, async (state) => {
      try {
        await this.call(state, req.method, params, flagsOf(req))
      } catch (err) {
        const code = errorCode(err)
        failed.push({ id: state.record.id, code })
        this.rack.logger.info({ audit: true, method: 'applyThings', action: req.method, thingId: state.record.id, outcome: code },
          'rpc write target failed')
      }
    })
    const ok = targets.length - failed.length
    return req.verbose === true ? { total: targets.length, ok, failed } : ok
  }

  /**
   * What `method` would write on thing `id` (a guarded controller's preview from a fresh read,
   * within the read budget); null for a controller without previews.
   */
  async preview (id: string, method: string, params: readonly unknown[]): Promise<unknown> {
    const ctrl = this.rack.registry.get(id).ctrl
    if (!ctrl) throw new WrkError('ERR_THING_NOT_INITIALIZED')
    if (!isGuarded(ctrl)) return null
    const args = stripActionContext(params)
    return await withTimeout(ctrl.previewAction(method, args), this.rack.thingConf.readBudgetMs, 'ERR_THING_READ_TIMEOUT')
  }

  declarations (): RpcMethod[] {
    const thingErrors = ['ERR_THING_METHOD_NOTFOUND', 'ERR_THING_NOT_INITIALIZED'] as const
    const controllerErrors = this.rack.hooks.controllerErrors()
    return [
      defineMethod({
        name: 'queryThing',
        kind: (req) => this.kindOf(req),
        summary: 'Calls a declared controller method of one thing (a write unless it is a read method). ' +
          'A write with `dryRun: true` answers its preview and writes nothing; with `background: true` it answers ' +
          '`{success, background, actionId}` at once (progress: `getActions`).',
        params: schemas.queryThing,
        fieldErrors: { id: 'ERR_THING_NOTFOUND', method: 'ERR_THING_METHOD_NOTFOUND', params: 'ERR_PARAMS_INVALID' },
        result: z.unknown().describe('what the controller method returns'),
        errors: ['ERR_THING_NOTFOUND', ...thingErrors, 'ERR_THING_READ_TIMEOUT', ...ACTION_ERRORS, ...controllerErrors],
        handler: (req) => this.queryThing(req)
      }),
      defineMethod({
        name: 'applyThings',
        kind: 'write',
        summary: 'Calls a declared controller method on every thing a query picks (arguments validated first: an invalid call ' +
          'writes nothing and answers its error); answers how many succeeded, or with `verbose` `{total, ok, failed: [{id, code}]}`. ' +
          '`dryRun`/`background` as for queryThing.',
        params: schemas.applyThings,
        fieldErrors: { method: 'ERR_METHOD_INVALID' },
        result: z.union([
          z.number().int(),
          z.object({ total: z.number().int(), ok: z.number().int(), failed: z.array(z.object({ id: z.string(), code: z.string() })) })
        ]),
        errors: ['ERR_METHOD_INVALID', 'ERR_THING_METHOD_NOTFOUND', 'ERR_QUERY_INVALID', ...ACTION_ERRORS, ...controllerErrors],
        handler: (req) => this.applyThings(req)
      }),
      ...this.journal.declarations()
    ]
  }
}
