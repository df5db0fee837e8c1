/**
 * Write-call approvals (MiningOS `getWriteCalls`): which things a control action would touch
 * and how many votes it needs. Every target is validated first (`validateWriteAction`, without
 * touching a device); one invalid target fails the whole call with its error.
 *
 * The reply is bounded like a listing: `offset`/`limit` page the targets (in the order the query
 * picks them) and a page is cut at a whole call once its JSON would pass `maxReplyBytes`; a cut
 * or limited page says where the next one starts (`nextOffset`).
 *
 * Each call carries a `preview` (unless the request says `preview: false`): what the action
 * would write on that thing, from a fresh read (`{writes: [{unit, register, from, to, meaning,
 * noop}], …}`), or `{error}` when the thing could not be read within the read budget. Previews
 * start while the budget lasts; later ones answer `{error: 'ERR_THING_READ_TIMEOUT'}`.
 */
import { errorCode } from '../core/errors'
import { Facility } from './facility'

export interface WriteCall { id: string, tags: string[], preview?: unknown }

export interface WriteCallsRequest {
  query?: Record<string, unknown>
  action: string
  params?: unknown[]
  rackActionId?: string
  offset?: number
  limit?: number
  /** false: no previews (only the targets and votes). */
  preview?: boolean
}

export interface WriteCallsReply {
  reqVotes: number
  calls: WriteCall[]
  /** Present when more targets follow: the `offset` of the next page. */
  nextOffset?: number
}

/** What the facility needs of the rack. */
export interface WriteCallTargets {
  /** Things a query picks (the platform's `listThings {query, limit: 100000}`). */
  select: (query: Record<string, unknown> | undefined) => Promise<WriteCall[]>
  /** The longest prefix of `calls` a reply may hold. */
  cap: (calls: WriteCall[]) => WriteCall[]
  /** Throws the action's validation error for thing `id`. */
  validate: (id: string, action: string, params: unknown[]) => Promise<unknown>
  /** What the action would write on thing `id` (null: no preview for it); throws when the thing cannot be read. */
  preview?: (id: string, action: string, params: unknown[]) => Promise<unknown>
  /** How long previews may start for (ms). */
  previewBudgetMs?: () => number
}

/** Targets validated at once. */
const VALIDATION_CONCURRENCY = 5
/** Targets of one page when the request names no limit (the platform asks for all). */
export const DEFAULT_WRITE_CALLS_LIMIT = 100_000

export class WriteCallsFacility extends Facility {
  readonly name = 'write-calls'
  private readonly allowed = new Map<string, number>()

  constructor (private readonly targets: WriteCallTargets) {
    super()
  }

  /** `[action, required votes]` pairs; an action not listed gets no calls. */
  whitelist (actions: ReadonlyArray<readonly [string, number]>): void {
    for (const [action, votes] of actions) this.allowed.set(action, votes)
  }

  get whitelisted (): ReadonlyMap<string, number> {
    return this.allowed
  }

  async getWriteCalls (req: WriteCallsRequest): Promise<WriteCallsReply> {
    const votes = this.allowed.get(req.action)
    if (votes === undefined) return { reqVotes: 1, calls: [] }
    if (req.rackActionId !== undefined) return { reqVotes: votes, calls: [{ id: req.rackActionId, tags: [] }] }
    const all = await this.targets.select(req.query)
    const offset = req.offset ?? 0
    const things = this.targets.cap(all.slice(offset, offset + (req.limit ?? DEFAULT_WRITE_CALLS_LIMIT)))
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < things.length) {
        const thing = things[next++]
        await this.targets.validate(thing.id, req.action, req.params ?? [])
      }
    }
    await Promise.all(Array.from({ length: Math.min(VALIDATION_CONCURRENCY, things.length) }, worker))
    let calls: WriteCall[] = things.map(({ id, tags }) => ({ id, tags }))
    if (req.preview !== false && this.targets.preview) {
      await this.previews(calls, req.action, req.params ?? [], this.targets.preview)
      // previews make calls larger: cut again at a whole call
      calls = this.targets.cap(calls)
    }
    const end = offset + calls.length
    return { reqVotes: votes, calls, ...(end < all.length ? { nextOffset: end } : {}) }
  }

  /** Adds each call's preview, VALIDATION_CONCURRENCY at a time while the budget lasts. */
  private async previews (
    calls: WriteCall[], action: string, params: unknown[], preview: NonNullable<WriteCallTargets['preview']>
  ): Promise<void> {
    const deadline = Date.now() + (this.targets.previewBudgetMs?.() ?? 8000)
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < calls.length) {
        const call = calls[next++]
        if (Date.now() >= deadline) {
          call.preview = { error: 'ERR_THING_READ_TIMEOUT' }
          continue
        }
        try {
          const p = await preview(call.id, action, params)
          if (p !== null) call.preview = p
        } catch (err) {
          call.preview = { error: errorCode(err) }
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(VALIDATION_CONCURRENCY, calls.length) }, worker))
  }
}
