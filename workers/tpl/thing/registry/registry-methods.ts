/**
 * The registry's RPC methods: register, update, forget, list and count things, the next free
 * code, the rack's identity. Each is declared once, with its schema and error codes.
 */
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { assertStorable } from '../../../facs/store'
import { WrkError, errorCode } from '../../../core/errors'
import { capReply } from '../../../rpc/limits'
import { defineMethod, type RpcMethod } from '../../../rpc/method'
import type { ThingControllers } from '../controllers'
import { assertSafeFields, matcher, select as selectDocs } from '../query/select'
import type { RackParts } from '../rack-parts'
import { infoChanges } from './info-changes'
import { ListCache } from './list-cache'
import { ReadBudget } from '../../../core/read-budget'
import { schemas, type Req } from '../schemas'
import { INFO_HISTORY_LOG, thingLogKey } from '../logs/log-names'
import type { JsonObject, ThingRecord, ThingState } from '../types'

const STORE_ERRORS = ['ERR_VALUE_TOO_LARGE', 'ERR_STORE_TIMEOUT', 'ERR_STORE_WRITE_FAILED'] as const

/** The info-history entry of an update, or null when no info field changed. */
function infoChange (prev: ThingRecord, next: ThingRecord, ts: number, user?: string): JsonObject | null {
  const changes = infoChanges(prev.info, next.info)
  if (Object.keys(changes).length === 0) return null
  return { ts, id: next.id, changes, ...(user ? { user } : {}) }
}

/** JSON text with object keys sorted: equal for equal values whatever their key order. */
function canonical (v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => x !== null && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : x)
}

const sameJson = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b)

export interface SelectRequest {
  query?: JsonObject
  sort?: Record<string, number>
  offset?: number
  limit?: number
  fields?: JsonObject
}

export class RegistryMethods {
  private readonly listCache = new ListCache<JsonObject[]>()
  /** The rack type's secret opt keys (constant). */
  private secretKeys: ReadonlySet<string> | null = null

  constructor (private readonly rack: RackParts, private readonly controllers: ThingControllers) {}

  /** The document queries run on: the public view plus `last` and the non-secret opts. */
  thingDoc (state: ThingState): JsonObject & { id: string } {
    const r = state.record
    const secret = this.secretKeys ??= new Set(this.rack.hooks.secretOptKeys())
    const safeOpts: JsonObject = {}
    for (const [k, v] of Object.entries(r.opts)) if (!secret.has(k)) safeOpts[k] = v
    return {
      id: r.id,
      code: r.code,
      type: r.type,
      tags: r.tags,
      info: r.info,
      rack: this.rack.rackId,
      comments: r.comments,
      ...this.rack.hooks.selectThingInfo(r),
      opts: safeOpts,
      last: state.last
    }
  }

  /**
   * The documents of the things a query picks, the query compiled once and tested thing by thing
   * within a read budget (the loop is served every few ms; ERR_READ_BUDGET_EXCEEDED past its time).
   */
  private async matchDocs (states: readonly ThingState[], query: JsonObject | undefined, budget: ReadBudget): Promise<JsonObject[]> {
    const docs = states.map((s) => this.thingDoc(s))
    if (!query || Object.keys(query).length === 0) return docs
    const test = matcher(query)
    const out: JsonObject[] = []
    for (const doc of docs) {
      await budget.tick()
      if (test(doc)) out.push(doc)
    }
    return out
  }

  /** Things matching a query, sorted, paged, then projected (only the page is projected). */
  async select (req: SelectRequest, states: readonly ThingState[] = this.rack.registry.all()): Promise<JsonObject[]> {
    if (req.fields !== undefined && Object.keys(req.fields).length > 0) assertSafeFields(req.fields)
    const matched = await this.matchDocs(states, req.query, new ReadBudget({ maxEntries: Infinity }))
    return selectDocs(matched, { ...req, query: undefined })
  }

  /** The things a query picks (each by its registry state). */
  async matching (query: JsonObject | undefined, req: Omit<SelectRequest, 'query' | 'fields'> = {}): Promise<ThingState[]> {
    return (await this.select({ ...req, query })).map((d) => this.rack.registry.get(d.id))
  }

  private checkOpts (opts: JsonObject): void {
    try {
      this.rack.hooks.validateThingOpts(opts)
    } catch (err) {
      throw new WrkError(errorCode(err, 'ERR_THING_OPTS_INVALID'), 'invalid thing opts')
    }
  }

  async registerThing (req: Req<'registerThing'>): Promise<1> {
    this.checkOpts(req.opts)
    const state = await this.rack.registry.register(req)
    // a thing with a MAC and subnet but no address gets one first (one DHCP attempt at most)
    if (!(await this.rack.dhcp.onThingWritten(state))) await this.controllers.connect(state)
    return 1
  }

  async updateThing (req: Req<'updateThing'>): Promise<1> {
    await this.rack.thingLock.run(req.id, () => this.updateLocked(req))
    // a new MAC or subnet (or a removed address) asks the DHCP service again
    if (this.rack.registry.has(req.id)) await this.rack.dhcp.onThingWritten(this.rack.registry.get(req.id))
    return 1
  }

  private async updateLocked (req: Req<'updateThing'>): Promise<1> {
    const { registry } = this.rack
    const state = registry.get(req.id)
    if (req.code !== undefined) registry.assertCodeFree(req.code, req.id)
    const prev = state.record
    const opts = req.opts === undefined ? prev.opts : req.forceOverwrite ? req.opts : { ...prev.opts, ...req.opts }
    if (req.opts !== undefined) this.checkOpts(opts)
    const now = Date.now()
    let info = prev.info
    if (req.info !== undefined) {
      info = req.forceOverwrite
        ? { ...req.info }
        : { ...prev.info, ...req.info, ...(req.actionId !== undefined ? { lastActionId: req.actionId } : {}) }
    }
    info = { ...info, createdAt: prev.info.createdAt ?? now, updatedAt: now }
    const code = req.code ?? prev.code
    const extraTags = req.forceOverwrite && req.tags ? req.tags : [...prev.tags, ...(req.tags ?? [])]
    const comments = req.comment && req.user
      ? [...prev.comments, { id: randomUUID(), ts: now, comment: req.comment, user: req.user }]
      : prev.comments
    const next: ThingRecord = { ...prev, code, opts, info, comments, tags: registry.buildTags({ id: prev.id, code, info }, extraTags) }
    const change = req.info !== undefined ? infoChange(prev, next, now, req.user) : null
    // Both writes are checked before either is made (sizes here, code and tag limits in save).
    // The history entry goes first: if the record write then fails, the record is unchanged
    // and only the log knows of the attempt.
    if (change) assertStorable(change, 'the info-history entry')
    assertStorable(next, 'thing record')
    await registry.save(next, change ? { beforeWrite: async () => { await this.rack.logs.append(INFO_HISTORY_LOG, now, change) } } : {})
    // the live connection is kept unless what it was made with changed (address, port, credentials…)
    if (req.opts !== undefined && !sameJson(prev.opts, opts)) await this.controllers.connect(state)
    return 1
  }

  /** `{all: true}` forgets every thing; an absent or empty query forgets none (never all by accident). */
  async forgetThings (req: Req<'forgetThings'>): Promise<1> {
    const { registry, thingLock, logs, hooks } = this.rack
    const targets = req.all
      ? registry.all()
      : req.query && Object.keys(req.query).length > 0 ? await this.matching(req.query) : []
    for (const state of targets) state.forgotten = true
    const results = await Promise.allSettled(targets.map((state) => thingLock.run(state.record.id, async () => {
      await this.controllers.disconnect(state)
      await hooks.forgetThingHook(state)
      await registry.remove(state.record.id)
      // Its history stays on disk; what it held open is released, its active alerts dropped.
      await logs.close(thingLogKey(state.record.id))
      await this.rack.alerts.forget(state.record.id)
    })))
    const failed = results.find((r) => r.status === 'rejected')
    if (failed) throw failed.reason
    return 1
  }

  async listThings (req: Req<'listThings'>): Promise<JsonObject[]> {
    // the same request while no thing changed gets the page computed before (./list-cache.ts)
    const states = this.rack.registry.all()
    const key = JSON.stringify(req)
    const kept = this.listCache.get(key, states, this.rack.rackId)
    if (kept !== undefined) return [...kept]
    const docs = await this.select({ ...req, limit: req.limit ?? 100 }, states)
    // a page over MAX_REPLY_BYTES is cut at a whole thing: page on with offset
    const items = docs.map(({ opts: _opts, last, ...item }) => ({ ...item, rack: this.rack.rackId, ...(req.status ? { last } : {}) }))
    const page = capReply(items)
    this.listCache.set(key, states, this.rack.rackId, page)
    return [...page]
  }

  async getThingsCount (req: Req<'getThingsCount'>): Promise<number> {
    return (await this.matchDocs(this.rack.registry.all(), req.query, new ReadBudget({ maxEntries: Infinity }))).length
  }

  declarations (rpcPublicKey: () => string): RpcMethod[] {
    return [
      defineMethod({
        name: 'getRack',
        kind: 'read',
        summary: 'The rack id and its RPC public key.',
        result: z.object({ id: z.string(), rpcPubKey: z.string() }),
        errors: [],
        handler: () => ({ id: this.rack.rackId, rpcPubKey: rpcPublicKey() })
      }),
      defineMethod({
        name: 'registerThing',
        kind: 'write',
        summary: 'Registers a thing (id and code assigned when absent), connects it.',
        params: schemas.registerThing,
        fieldErrors: {
          opts: 'ERR_THING_OPTS_INVALID',
          code: 'ERR_THING_CODE_INVALID',
          tags: 'ERR_THING_TAGS_INVALID',
          info: 'ERR_THING_INFO_INVALID',
          id: 'ERR_THING_ID_INVALID'
        },
        result: z.literal(1),
        errors: [
          'ERR_THING_OPTS_INVALID', 'ERR_THING_CODE_INVALID', 'ERR_THING_TAGS_INVALID', 'ERR_THING_INFO_INVALID', 'ERR_THING_ID_INVALID',
          'ERR_THING_WITH_ID_ALREADY_EXISTS', 'ERR_THING_WITH_CODE_ALREADY_EXISTS', 'ERR_THING_LIMIT', 'ERR_STAT_TAGS_LIMIT',
          ...STORE_ERRORS
        ],
        handler: (req) => this.registerThing(req)
      }),
      defineMethod({
        name: 'updateThing',
        kind: 'write',
        summary: 'Merges (or with forceOverwrite replaces) opts, info and tags; records info changes; reconnects on new opts.',
        params: schemas.updateThing,
        fieldErrors: {
          id: 'ERR_THING_NOTFOUND',
          opts: 'ERR_THING_OPTS_INVALID',
          code: 'ERR_THING_CODE_INVALID',
          tags: 'ERR_THING_TAGS_INVALID',
          info: 'ERR_THING_INFO_INVALID'
        },
        result: z.literal(1),
        errors: [
          'ERR_THING_NOTFOUND', 'ERR_THING_OPTS_INVALID', 'ERR_THING_CODE_INVALID', 'ERR_THING_TAGS_INVALID', 'ERR_THING_INFO_INVALID',
          'ERR_THING_WITH_CODE_ALREADY_EXISTS', 'ERR_STAT_TAGS_LIMIT', ...STORE_ERRORS
        ],
        handler: (req) => this.updateThing(req)
      }),
      defineMethod({
        name: 'forgetThings',
        kind: 'write',
        summary: 'Deletes the things a query picks (`all: true`: every thing; no query: none).',
        params: schemas.forgetThings,
        result: z.literal(1),
        errors: ['ERR_QUERY_INVALID', 'ERR_STORE_TIMEOUT', 'ERR_STORE_WRITE_FAILED'],
        handler: (req) => this.forgetThings(req)
      }),
      defineMethod({
        name: 'listThings',
        kind: 'read',
        summary: 'Things matching a query, sorted, paged (limit 100 by default), then projected; `status` adds `last`.',
        params: schemas.listThings,
        result: z.array(z.record(z.string(), z.unknown())),
        errors: ['ERR_QUERY_INVALID', 'ERR_FIELDS_INVALID'],
        heavy: true,
        handler: (req) => this.listThings(req)
      }),
      defineMethod({
        name: 'getThingsCount',
        kind: 'read',
        summary: 'How many things match a query.',
        params: schemas.getThingsCount,
        result: z.number().int(),
        errors: ['ERR_QUERY_INVALID'],
        heavy: true,
        handler: (req) => this.getThingsCount(req)
      }),
      defineMethod({
        name: 'getThingConf',
        kind: 'read',
        summary: 'The next free thing code (`requestType: "nextAvailableCode"`).',
        params: schemas.getThingConf,
        fieldErrors: { requestType: 'ERR_INVALID_REQUEST_TYPE' },
        result: z.string(),
        errors: ['ERR_INVALID_REQUEST_TYPE'],
        handler: () => this.rack.registry.nextCode()
      })
    ]
  }
}
