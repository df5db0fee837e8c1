/**
 * The journal of control actions (vendor-neutral): every staged or background action is
 * recorded before its first write, its progress as it goes, and its outcome. A record left
 * `running` by a worker that stopped or died is `interrupted` from the next start on (never
 * reported done; the device state is what the next snapshot reads). Read with `getActions`.
 */
import { z } from 'zod'
import type { Bee } from '../../../facs/store'
import { WrkError } from '../../../core/errors'
import { defineMethod, type RpcMethod } from '../../../rpc/method'
import type { Logger } from '../../../core/types'
import type { ActionProgress } from './action-run'

export type ActionStatus = 'running' | 'done' | 'failed' | 'stopped' | 'rolled_back' | 'interrupted'
/** How an action that ran to its end ended. */
export type EndStatus = Exclude<ActionStatus, 'running' | 'interrupted'>

export interface ActionRecord {
  /** `<thingId>/<actionId>`: one approved action applied to several things has a record per thing. */
  key: string
  actionId: string
  thingId: string
  method: string
  user: string | null
  background: boolean
  status: ActionStatus
  startedAt: number
  updatedAt: number
  progress: ActionProgress | null
  /** The reply of an action that ended (done, stopped). */
  result?: unknown
  error?: { code: string, message: string }
}

/** Records kept; the oldest ended ones are dropped beyond it. */
export const MAX_ACTION_RECORDS = 1000

const request = z.object({
  actionId: z.string().min(1).max(256).optional(),
  thingId: z.string().min(1).max(256).optional(),
  status: z.enum(['running', 'done', 'failed', 'stopped', 'rolled_back', 'interrupted']).optional(),
  limit: z.number().int().min(1).max(MAX_ACTION_RECORDS).optional()
})

export class ActionJournal {
  private db: Bee<ActionRecord> | null = null
  private readonly records = new Map<string, ActionRecord>()
  private chain: Promise<void> = Promise.resolve()
  private closed = false

  constructor (private readonly log: () => Logger) {}

  private get logger (): Logger {
    return this.log()
  }

  /** Loads the journal; what a previous run left `running` becomes `interrupted`. */
  async open (store: Bee<unknown>): Promise<void> {
    const db = store as Bee<ActionRecord>
    this.db = db
    this.closed = false
    const batch = db.batch()
    for await (const { key, value } of db.createReadStream()) {
      if (value.status === 'running') {
        value.status = 'interrupted'
        value.updatedAt = Date.now()
        await batch.put(key, value)
        const { actionId, thingId, method } = value
        this.logger.warn({ audit: true, actionId, thingId, method }, 'control action interrupted by a restart')
      }
      this.records.set(key, value)
    }
    await batch.flush()
  }

  get (key: string): ActionRecord | undefined {
    return this.records.get(key)
  }

  /** Records a new running action (stored before the action writes anything); one still running under the same key is refused. */
  async start (rec: Omit<ActionRecord, 'status' | 'startedAt' | 'updatedAt' | 'progress'>): Promise<void> {
    if (this.closed) throw new WrkError('ERR_THING_CLOSED', 'the worker is stopping')
    if (this.records.get(rec.key)?.status === 'running') {
      throw new WrkError('ERR_ACTION_RUNNING', `action ${rec.actionId} is running on ${rec.thingId}`)
    }
    const now = Date.now()
    const full: ActionRecord = { ...rec, status: 'running', startedAt: now, updatedAt: now, progress: null }
    this.records.set(rec.key, full)
    this.prune()
    await this.persist(full)
  }

  progress (key: string, progress: ActionProgress): void {
    const rec = this.records.get(key)
    if (!rec || rec.status !== 'running' || this.closed) return
    rec.progress = progress
    rec.updatedAt = Date.now()
    this.persist(rec).catch(() => {})
  }

  /** Ends a running record; never throws (the caller answers the action's own outcome). */
  async finish (key: string, status: EndStatus, out: { result?: unknown, error?: { code: string, message: string } }): Promise<void> {
    const rec = this.records.get(key)
    if (!rec || rec.status !== 'running' || this.closed) return
    Object.assign(rec, { status, updatedAt: Date.now() }, out)
    // a failed store write is logged (persist); the action's own outcome stands
    await this.persist(rec).catch(() => {})
  }

  /** A stopping worker: actions still running end `interrupted`; later reports are ignored. */
  async close (): Promise<void> {
    if (this.closed) return
    for (const rec of this.records.values()) {
      if (rec.status !== 'running') continue
      rec.status = 'interrupted'
      rec.updatedAt = Date.now()
      this.persist(rec).catch(() => {})
    }
    this.closed = true
    await this.chain
  }

  list (filter: z.infer<typeof request>): ActionRecord[] {
    const out = [...this.records.values()]
      .filter((r) => (filter.actionId === undefined || r.actionId === filter.actionId) &&
        (filter.thingId === undefined || r.thingId === filter.thingId) && (filter.status === undefined || r.status === filter.status))
      .sort((a, b) => b.startedAt - a.startedAt)
      .slice(0, filter.limit ?? 50)
    if (filter.actionId !== undefined && out.length === 0) throw new WrkError('ERR_ACTION_NOTFOUND', `no action ${filter.actionId}`)
    return out
  }

  /** Writes one record after the ones queued before it. */
  private async persist (rec: ActionRecord): Promise<void> {
    const db = this.db
    if (db === null) return
    const copy = structuredClone(rec)
    const next = this.chain.then(() => db.put(copy.key, copy))
    this.chain = next.catch((err: unknown) => { this.logger.warn({ err, actionId: rec.actionId }, 'control action journal write failed') })
    await next
  }

  /** Drops the oldest ended records beyond MAX_ACTION_RECORDS. */
  private prune (): void {
    if (this.records.size <= MAX_ACTION_RECORDS) return
    const ended = [...this.records.values()].filter((r) => r.status !== 'running').sort((a, b) => a.startedAt - b.startedAt)
    for (const rec of ended.slice(0, this.records.size - MAX_ACTION_RECORDS)) {
      this.records.delete(rec.key)
      const db = this.db
      if (db !== null) this.chain = this.chain.then(() => db.del(rec.key)).catch(() => {})
    }
  }

  declarations (): RpcMethod[] {
    return [defineMethod({
      name: 'getActions',
      kind: 'read',
      summary: 'Staged and background control actions, newest first: status (`running`, `done`, `failed`, `stopped`, ' +
        '`rolled_back`, `interrupted`), progress (batches, writes, last guard reading) and outcome.',
      params: request,
      result: z.array(z.record(z.string(), z.unknown())),
      errors: ['ERR_ACTION_NOTFOUND'],
      handler: (req) => this.list(req) as unknown as Array<Record<string, unknown>>
    })]
  }
}
