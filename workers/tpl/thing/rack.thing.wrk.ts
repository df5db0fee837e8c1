import { randomUUID } from 'node:crypto'
import createDebug from 'debug'
import { TetherWrkBase } from '../tether-wrk-base'
import type { WorkerContext } from '../wrk-base'
import { WrkError, errorCode } from '../errors'
import { assertStorable, type Bee } from '../../facs/store'
import { ThingRegistry } from './registry'
import { TimeLogs, type LogMeta } from './time-log'
import { match, project, naturalSort, page, type Doc } from './query'
import { parseReq, type Req } from './schemas'
import { KeyedLock, Limiter, mapLimit, withTimeout, groupByRange } from './util'
import type { JsonMap, Snap, ThingComment, ThingRecord, ThingState } from './types'

export interface ThingConf {
  collectSnapsItvMs: number
  collectSnapTimeoutMs: number
  storeSnapItvMs: number
  thingQueryConcurrency: number
  logRotateMaxLength: number
  logKeepCount: number
  storeTimeoutMs: number
  [key: string]: unknown
}

export const THING_CONF_DEFAULTS: ThingConf = {
  collectSnapsItvMs: 60_000,
  collectSnapTimeoutMs: 120_000,
  storeSnapItvMs: 300_000,
  thingQueryConcurrency: 25,
  logRotateMaxLength: 10_000,
  logKeepCount: 3,
  storeTimeoutMs: 10_000
}

/** Option keys that are credentials: stored, used to connect, never returned or queried. */
const SECRET_OPTS = new Set(['username', 'password'])

const debug = createDebug('mbt:rack')

/** Logs tailLog may read: the thing snapshot logs and the stat logs. */
const TAIL_LOG_KEY = /^(thing-5m|stat-[A-Za-z0-9]+)$/
/** Upper bound of entries in one tailLog reply (a snapshot entry is tens of kB). */
export const MAX_TAIL_ENTRIES = 10_000

/** The snapshot log of one thing. */
export function thingLogKey (id: string): string {
  return `thing-5m-${id}`
}

export const OFFLINE_SNAP: Snap = { success: false, stats: { status: 'offline' } }

/** The log of info changes (getHistoricalLogs `info`). */
const INFO_HISTORY_LOG = 'thing-history-log'

/** The info-history entry of an update, or null when no info field changed. */
function infoChange (prev: ThingRecord, next: ThingRecord, ts: number, user?: string): JsonMap | null {
  const changes: JsonMap = {}
  for (const key of new Set([...Object.keys(prev.info), ...Object.keys(next.info)])) {
    if (key === 'updatedAt') continue
    if (JSON.stringify(prev.info[key]) !== JSON.stringify(next.info[key])) changes[key] = { old: prev.info[key], new: next.info[key] }
  }
  if (Object.keys(changes).length === 0) return null
  return { ts, id: next.id, changes, ...(user ? { user } : {}) }
}

/** Index of the comment addressed by `id` (or `ts`); only its author may change it. */
function findComment (comments: ThingComment[], req: { id?: string, ts?: number, user: string }): number {
  const idx = comments.findIndex((c) => req.id !== undefined ? c.id === req.id : c.ts === req.ts)
  if ((req.id === undefined && req.ts === undefined) || idx < 0) throw new WrkError('ERR_THING_COMMENT_NOTFOUND')
  if (comments[idx].user !== req.user) throw new WrkError('ERR_COMMENT_ACCESS_DENIED')
  return idx
}

/** The code of a failure envelope: its first error's code, else ERR_THING_OFFLINE. */
function failureCode (snap: Snap): string {
  const errors = (snap.stats as { errors?: Array<{ msg?: unknown }> } | undefined)?.errors
  const msg = Array.isArray(errors) ? errors[0]?.msg : undefined
  return typeof msg === 'string' && msg.startsWith('ERR_') ? msg : 'ERR_THING_OFFLINE'
}

/**
 * Third layer: a rack of things. Registry, RPC dispatch of the thing methods, the snapshot
 * loop and the time logs. Knows nothing of the device type: subclasses say how to connect
 * (`connectThing`) and which controller methods are declared.
 */
export class WrkThingRack extends TetherWrkBase {
  thingConf: ThingConf = { ...THING_CONF_DEFAULTS }
  registry!: ThingRegistry
  logs!: TimeLogs
  private db!: Bee
  private settings!: Bee<unknown>
  private readonly inflight = new Set<Promise<void>>()
  /** Writes to one thing (update, comments, forget) run one at a time. */
  private readonly thingLock = new KeyedLock()
  private closing = false
  private collectLimiter = new Limiter(THING_CONF_DEFAULTS.thingQueryConcurrency)

  constructor (ctx: WorkerContext) {
    super(ctx)
    this.registerRpc('getRack', 'read', () => this.getRack())
    this.registerRpc('registerThing', 'write', (r) => this.registerThing(parseReq('registerThing', r)))
    this.registerRpc('updateThing', 'write', (r) => this.updateThing(parseReq('updateThing', r)))
    this.registerRpc('forgetThings', 'write', (r) => this.forgetThings(parseReq('forgetThings', r)))
    this.registerRpc('listThings', 'read', (r) => this.listThings(parseReq('listThings', r)))
    this.registerRpc('getThingsCount', 'read', (r) => this.getThingsCount(parseReq('getThingsCount', r)))
    this.registerRpc('queryThing', (r) => this.queryThingKind(r), (r) => this.queryThing(parseReq('queryThing', r)))
    this.registerRpc('applyThings', 'write', (r) => this.applyThings(parseReq('applyThings', r)))
    this.registerRpc('saveThingComment', 'write', (r) => this.saveThingComment(parseReq('saveThingComment', r)))
    this.registerRpc('editThingComment', 'write', (r) => this.editThingComment(parseReq('editThingComment', r)))
    this.registerRpc('deleteThingComment', 'write', (r) => this.deleteThingComment(parseReq('deleteThingComment', r)))
    this.registerRpc('tailLog', 'read', (r) => this.tailLog(parseReq('tailLog', r)))
    this.registerRpc('getWrkSettings', 'read', () => this.getWrkSettings())
    this.registerRpc('saveWrkSettings', 'write', (r) => this.saveWrkSettings(parseReq('saveWrkSettings', r)))
    this.registerRpc('getWrkConf', 'read', (r) => this.getWrkConf(parseReq('getWrkConf', r)))
    this.registerRpc('getThingConf', 'read', (r) => this.getThingConf(parseReq('getThingConf', r)))
    this.registerRpc('getWrkExtData', 'read', (r) => this.getWrkExtData(r))
    this.registerRpc('rackReboot', 'write', () => this.rackReboot())
  }

  // ---- extension points for the layers above --------------------------------------------

  /** Thing type, e.g. `container-mbt-kehua`. */
  getThingType (): string {
    return 'thing'
  }

  /** Tags every thing of this worker carries (besides the `t-<type>` ones). */
  getThingTags (): string[] {
    return []
  }

  /** Extra public fields of a listed thing, derived from its record. */
  selectThingInfo (_record: ThingRecord): JsonMap {
    return {}
  }

  /** Controller methods callable through queryThing/applyThings. */
  readMethods (): readonly string[] {
    return ['getSnap']
  }

  writeMethods (): readonly string[] {
    return []
  }

  /** Checks `opts` of a register/update request; throws ERR_THING_OPTS_INVALID. */
  validateThingOpts (_opts: JsonMap): void {}

  /** Creates `state.ctrl` from the record; leaves it null when the thing cannot be connected. */
  async connectThing (_state: ThingState): Promise<void> {}

  async collectThingSnap (state: ThingState): Promise<Snap> {
    if (!state.ctrl) throw new WrkError('ERR_THING_NOT_INITIALIZED')
    return await state.ctrl.getSnap()
  }

  /** Alerts of a snapshot; the alerts layer overrides this. */
  evaluateAlerts (_state: ThingState, _snap: Snap | null): unknown[] | null {
    return null
  }

  protected async getWrkExtData (_req: unknown): Promise<unknown> {
    return {}
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  get rackId (): string {
    return `${this.getThingType()}-${this.ctx.rack}`
  }

  protected override init (): void {
    super.init()
    const conf = this.loadConf('base.thing', true)
    this.thingConf = { ...THING_CONF_DEFAULTS, ...conf } as ThingConf
    for (const key of Object.keys(THING_CONF_DEFAULTS)) {
      const v = this.thingConf[key]
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new WrkError('ERR_CONFIG_INVALID', `config base.thing.json: ${key} must be a non-negative number`)
    }
  }

  protected override async onStart (): Promise<void> {
    this.db = await this.store.getBee('db')
    this.settings = this.db.sub('settings')
    this.logs = new TimeLogs(this.store, this.db.sub('meta_logs') as Bee<LogMeta>, {
      maxLength: this.thingConf.logRotateMaxLength,
      keepCount: this.thingConf.logKeepCount,
      writeTimeoutMs: this.thingConf.storeTimeoutMs,
      onCorrupt: (log, gen, err) => this.logger.error({ err, log, gen }, 'corrupt log generation skipped; writes continue in a fresh one')
    })
    this.registry = new ThingRegistry(this.db.sub('things') as Bee<ThingRecord>, this.getThingType(), this.getThingTags(), this.thingConf.storeTimeoutMs)
    await this.registry.load()
    await mapLimit(this.registry.all(), this.thingConf.thingQueryConcurrency, (state) => this.setupThing(state))
    await super.onStart()
    this.collectLimiter = new Limiter(this.thingConf.thingQueryConcurrency)
    // The tick does not wait for slow things: each thing is collected on its own, at most
    // thingQueryConcurrency at once, and a thing still collecting is skipped by the next tick.
    this.interval.add('collectSnaps', () => { void this.collectSnaps() }, this.thingConf.collectSnapsItvMs)
    this.logger.info({ things: this.registry.size, rackId: this.rackId }, 'things loaded')
  }

  protected override async onStop (): Promise<void> {
    this.interval.clear('collectSnaps')
    // Closing the devices first ends in-flight collections quickly instead of waiting them out.
    this.closing = true
    const disconnectAll = async (): Promise<void> => { await Promise.all(this.registry?.all().map((s) => this.disconnectThing(s)) ?? []) }
    await disconnectAll()
    await Promise.allSettled([...this.inflight])
    await disconnectAll()
    await super.onStop()
  }

  /** Connects a loaded thing and restores `last` from its newest stored snapshot. */
  private async setupThing (state: ThingState): Promise<void> {
    await this.connectSafely(state)
    try {
      const latest = await this.logs.latest(thingLogKey(state.record.id)) as { ts?: number, err?: string | null, snap?: Snap | null } | null
      if (latest) {
        state.last = { snap: latest.snap ?? null, err: latest.err ?? null, ts: latest.ts, alerts: this.evaluateAlerts(state, latest.snap ?? null) }
        state.lastStoredTs = latest.ts ?? 0
      }
    } catch (err) {
      this.logger.warn({ err, thingId: state.record.id }, 'could not restore last snapshot')
    }
  }

  /**
   * (Re)creates the thing's controller. A controller it replaces is closed, and none is kept
   * for a thing that was forgotten or a worker that is stopping meanwhile.
   */
  private async connectSafely (state: ThingState): Promise<string | null> {
    if (state.forgotten || this.closing) return 'ERR_THING_NOT_CONNECTED'
    const previous = state.ctrl
    try {
      await this.connectThing(state)
    } catch (err) {
      state.ctrl = null
      this.logger.warn({ thingId: state.record.id, code: errorCode(err) }, 'thing connect failed')
      return errorCode(err, 'ERR_THING_CONNECTION_FAILURE')
    } finally {
      if (previous && previous !== state.ctrl) await this.closeController(state.record.id, previous)
    }
    if (state.forgotten || this.closing) await this.disconnectThing(state)
    return null
  }

  private async disconnectThing (state: ThingState): Promise<void> {
    const ctrl = state.ctrl
    state.ctrl = null
    if (ctrl) await this.closeController(state.record.id, ctrl)
  }

  private async closeController (thingId: string, ctrl: { close: () => Promise<void> | void }): Promise<void> {
    try {
      await ctrl.close()
    } catch (err) {
      this.logger.debug({ err, thingId }, 'thing close failed')
    }
  }

  // ---- snapshot loop ---------------------------------------------------------------------

  /**
   * One collection cycle: every thing not already being collected, at most
   * `thingQueryConcurrency` at once (shared across overlapping cycles). Resolves when this
   * cycle's collections are done.
   */
  async collectSnaps (): Promise<void> {
    const runs = this.registry.all().filter((s) => !s.collecting).map((state) => {
      state.collecting = true
      const run = this.collectLimiter.run(() => this.collectThing(state)).finally(() => {
        state.collecting = false
        this.inflight.delete(run)
      })
      this.inflight.add(run)
      return run
    })
    await Promise.allSettled(runs)
  }

  private async collectThing (state: ThingState): Promise<void> {
    if (this.closing || state.forgotten) return
    const ts = Date.now()
    try {
      let snap: Snap | null = null
      let err: string | null = null
      if (state.record.info.container === 'maintenance') {
        snap = OFFLINE_SNAP
      } else {
        if (!state.ctrl) err = await this.connectSafely(state)
        if (state.ctrl && !this.closing) {
          try {
            snap = await withTimeout(this.collectThingSnap(state), this.thingConf.collectSnapTimeoutMs, 'ERR_THING_SNAP_TIMEOUT')
            // A controller reports a failed read as an error/offline envelope, not by throwing.
            if (!snap.success) err = state.ctrl?.lastErrorCode ?? failureCode(snap)
          } catch (e) {
            snap = OFFLINE_SNAP
            err = errorCode(e, 'ERR_THING_SNAP_FAILED')
          }
        } else {
          snap = OFFLINE_SNAP
          err = err ?? 'ERR_THING_NOT_CONNECTED'
        }
      }
      // Forgotten while collecting: drop the result and whatever controller it opened.
      if (state.forgotten) {
        await this.disconnectThing(state)
        return
      }
      debug('snapshot %s %s in %d ms', state.record.id, err ?? 'ok', Date.now() - ts)
      state.last = { snap, alerts: this.evaluateAlerts(state, snap), err, ts }
      if (ts - state.lastStoredTs >= this.thingConf.storeSnapItvMs) {
        state.lastStoredTs = ts
        await this.logs.append(thingLogKey(state.record.id), ts, { ts, err, snap })
      }
    } catch (e) {
      this.logger.error({ err: e, thingId: state.record.id }, 'snapshot collection failed')
    }
  }

  // ---- registry methods ------------------------------------------------------------------

  getRack (): { id: string, rpcPubKey: string } {
    return { id: this.rackId, rpcPubKey: this.net.rpcPublicKey.toString('hex') }
  }

  private checkOpts (opts: JsonMap): void {
    try {
      this.validateThingOpts(opts)
    } catch (err) {
      throw new WrkError(errorCode(err, 'ERR_THING_OPTS_INVALID'), 'invalid thing opts')
    }
  }

  async registerThing (req: Req<'registerThing'>): Promise<1> {
    this.checkOpts(req.opts)
    const state = await this.registry.register(req)
    await this.connectSafely(state)
    return 1
  }

  async updateThing (req: Req<'updateThing'>): Promise<1> {
    return await this.thingLock.run(req.id, () => this.updateThingLocked(req))
  }

  private async updateThingLocked (req: Req<'updateThing'>): Promise<1> {
    const state = this.registry.get(req.id)
    if (req.code !== undefined) this.registry.assertCodeFree(req.code, req.id)
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
    const next: ThingRecord = { ...prev, code, opts, info, comments, tags: this.registry.buildTags({ id: prev.id, code, info }, extraTags) }
    const change = req.info !== undefined ? infoChange(prev, next, now, req.user) : null
    // Both writes are checked before either is made. The history entry goes first: if the
    // record write then fails, the record is unchanged and only the log knows of the attempt.
    if (change) assertStorable(change, 'the info-history entry')
    assertStorable(next, 'thing record')
    if (change) await this.logs.append(INFO_HISTORY_LOG, now, change)
    await this.registry.save(next)
    if (req.opts !== undefined) await this.connectSafely(state)
    return 1
  }

  /** `{all: true}` forgets every thing; an absent or empty query forgets none (never all by accident). */
  async forgetThings (req: Req<'forgetThings'>): Promise<1> {
    const targets = req.all
      ? this.registry.all()
      : req.query && Object.keys(req.query).length > 0
        ? match(this.registry.all().map((s) => this.thingDoc(s)), req.query).map((d) => this.registry.get(d.id))
        : []
    for (const state of targets) state.forgotten = true
    const results = await Promise.allSettled(targets.map((state) => this.thingLock.run(state.record.id, async () => {
      await this.disconnectThing(state)
      await this.forgetThingHook(state)
      await this.registry.remove(state.record.id)
      // Its history stays on disk; what it held open is released.
      await this.logs.close(thingLogKey(state.record.id))
    })))
    const failed = results.find((r) => r.status === 'rejected')
    if (failed) throw failed.reason
    return 1
  }

  /** Called before a thing is deleted (the DHCP layer releases its address here). */
  protected async forgetThingHook (_state: ThingState): Promise<void> {}

  /** The document queries run on: the public view plus `last` and non-secret opts. */
  private thingDoc (state: ThingState): Doc & { id: string } {
    const r = state.record
    const safeOpts: JsonMap = {}
    for (const [k, v] of Object.entries(r.opts)) if (!SECRET_OPTS.has(k)) safeOpts[k] = v
    return {
      id: r.id,
      code: r.code,
      type: r.type,
      tags: r.tags,
      info: r.info,
      rack: this.rackId,
      comments: r.comments,
      ...this.selectThingInfo(r),
      opts: safeOpts,
      last: state.last
    }
  }

  private selectThings (req: { query?: Doc, sort?: Record<string, number>, offset?: number, limit?: number, fields?: Doc }): Doc[] {
    let docs: Doc[] = match(this.registry.all().map((s) => this.thingDoc(s)), req.query)
    docs = project(docs, req.fields)
    docs = naturalSort(docs, req.sort)
    return page(docs, { offset: req.offset ?? 0, limit: req.limit })
  }

  listThings (req: Req<'listThings'>): Doc[] {
    const docs = this.selectThings({ ...req, limit: req.limit ?? 100 })
    return docs.map(({ opts: _opts, last, ...item }) => ({ ...item, rack: this.rackId, ...(req.status ? { last } : {}) }))
  }

  getThingsCount (req: Req<'getThingsCount'>): number {
    return match(this.registry.all().map((s) => this.thingDoc(s)), req.query).length
  }

  getThingConf (_req: Req<'getThingConf'>): string {
    return this.registry.nextCode()
  }

  // ---- controller calls --------------------------------------------------------------------

  private queryThingKind (req: unknown): 'read' | 'write' {
    const method = req !== null && typeof req === 'object' ? (req as { method?: unknown }).method : undefined
    return typeof method === 'string' && this.readMethods().includes(method) ? 'read' : 'write'
  }

  private declaredMethod (state: ThingState, method: string): (...args: unknown[]) => Promise<unknown> {
    if (!this.readMethods().includes(method) && !this.writeMethods().includes(method)) throw new WrkError('ERR_THING_METHOD_NOTFOUND')
    if (!state.ctrl) throw new WrkError('ERR_THING_NOT_INITIALIZED')
    const fn = (state.ctrl as unknown as Record<string, unknown>)[method]
    if (typeof fn !== 'function') throw new WrkError('ERR_THING_METHOD_NOTFOUND')
    return (...args: unknown[]) => Promise.resolve(fn.apply(state.ctrl, args))
  }

  async queryThing (req: Req<'queryThing'>): Promise<unknown> {
    const state = this.registry.get(req.id)
    const fn = this.declaredMethod(state, req.method)
    return await fn(...(req.params ?? []))
  }

  async applyThings (req: Req<'applyThings'>): Promise<number> {
    if (!this.readMethods().includes(req.method) && !this.writeMethods().includes(req.method)) throw new WrkError('ERR_THING_METHOD_NOTFOUND')
    const targets = this.selectThings(req).map((d) => this.registry.get(d.id))
    const done = await mapLimit(targets, this.thingConf.thingQueryConcurrency, async (state) => {
      try {
        await this.declaredMethod(state, req.method)(...(req.params ?? []))
        return 1
      } catch (err) {
        this.logger.debug({ thingId: state.record.id, method: req.method, code: errorCode(err) }, 'applyThings call failed')
        return 0
      }
    })
    return done.reduce<number>((a, b) => a + b, 0)
  }

  // ---- comments ----------------------------------------------------------------------------

  async saveThingComment (req: Req<'saveThingComment'>): Promise<1> {
    return await this.changeComments(req.thingId, (comments) => [
      ...comments,
      { id: randomUUID(), ts: Date.now(), comment: req.comment, user: req.user, ...(req.pos ? { pos: req.pos } : {}) }
    ])
  }

  async editThingComment (req: Req<'editThingComment'>): Promise<1> {
    return await this.changeComments(req.thingId, (comments) => {
      const idx = findComment(comments, req)
      return comments.map((c, i) => i === idx ? { ...c, comment: req.comment } : c)
    })
  }

  async deleteThingComment (req: Req<'deleteThingComment'>): Promise<1> {
    return await this.changeComments(req.thingId, (comments) => {
      const idx = findComment(comments, req)
      return comments.filter((_c, i) => i !== idx)
    })
  }

  private async changeComments (thingId: string, change: (comments: ThingComment[]) => ThingComment[]): Promise<1> {
    await this.thingLock.run(thingId, async () => {
      const state = this.registry.get(thingId)
      await this.registry.save({ ...state.record, comments: change(state.record.comments) })
    })
    return 1
  }

  // ---- logs, settings, configuration -------------------------------------------------------

  /**
   * Entries of `thing-5m-<id>` or `stat-<tf>-<tag>`, newest first. Without a range the default
   * limit is 100; with one, every entry in it up to MAX_TAIL_ENTRIES per reply.
   */
  async tailLog (req: Req<'tailLog'>): Promise<unknown[]> {
    if (!TAIL_LOG_KEY.test(req.key)) throw new WrkError('ERR_LOG_KEY_NOTFOUND')
    const offset = req.offset ?? 0
    if (offset >= this.logs.maxHeight) throw new WrkError('ERR_LOG_NOTFOUND')
    const hasRange = req.start !== undefined || req.end !== undefined
    const entries = await this.logs.read(`${req.key}-${req.tag}`, offset, {
      start: req.start,
      end: req.end,
      limit: Math.min(req.limit ?? (hasRange ? MAX_TAIL_ENTRIES : 100), MAX_TAIL_ENTRIES)
    })
    if (entries === null) throw new WrkError('ERR_LOG_NOTFOUND')
    const out = req.groupRange ? groupByRange(entries, req.groupRange, req.shouldCalculateAvg) : entries
    return project(out as Doc[], req.fields)
  }

  async getWrkSettings (): Promise<JsonMap> {
    const out: JsonMap = {}
    for await (const entry of this.settings.createReadStream()) out[entry.key] = entry.value
    return out
  }

  async saveWrkSettings (req: Req<'saveWrkSettings'>): Promise<1> {
    const batch = this.settings.batch()
    for (const [k, v] of Object.entries(req.entries)) await batch.put(k, v)
    await batch.flush()
    return 1
  }

  getWrkConf (req: Req<'getWrkConf'>): Doc {
    return project([{ ...this.thingConf }], req.fields)[0] ?? {}
  }

  /** Replies 1, then stops the worker; the CLI exits non-zero so a supervisor restarts it. */
  rackReboot (): 1 {
    setImmediate(() => {
      this.logger.warn('rackReboot requested: stopping')
      this.stop().catch((err: unknown) => this.logger.error({ err }, 'stop after rackReboot failed')).finally(() => this.onReboot())
    })
    return 1
  }

  /** What happens after a rackReboot stop; the CLI sets it to exit the process. */
  onReboot: () => void = () => {}
}
