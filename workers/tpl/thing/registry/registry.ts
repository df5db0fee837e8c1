import { randomUUID } from 'node:crypto'
import { assertStorable, type Bee } from '../../../facs/store'
import { WrkError, errorCode } from '../../../core/errors'
import { entryKey, type SecretOpts, type StoredThingRecord } from './secret-opts'
import { isStatTag } from '../stats/stats'
import { withTimeout } from '../../../core/async'
import type { ThingId, ThingRecord, ThingState, JsonObject } from '../types'

/** Digits of a code's number: padded to 4, at most 9 (so max + 1 stays exact and short). */
const CODE_MIN_DIGITS = 4
const CODE_MAX_NUMBER = 999_999_999

/** What one rack may hold: its memory is bounded by these, not by what callers send. */
export interface RegistryLimits {
  maxThings: number
  /** Tags of one thing, automatic ones included. */
  maxTagsPerThing: number
  /** Distinct stat tags (isStatTag) over all things: each has its own stat logs. */
  maxStatTags: number
}

const NO_LIMITS: RegistryLimits = { maxThings: Infinity, maxTagsPerThing: Infinity, maxStatTags: Infinity }

/** What the rack logs at start when the stored things pass the configured limits (./rack.thing.wrk.ts). */
export const OVER_LIMITS_WARNING = 'the stored things pass the configured limits: new registrations are refused until some are forgotten'

/**
 * The registry of things: persisted in the `things` sub-database, loaded into memory at start.
 * Every change is written to Hyperbee before memory is updated, so nothing acknowledged is
 * lost across a crash, and a write that fails leaves memory as it was.
 *
 * Every write has a bounded duration (`writeTimeoutMs`, then ERR_STORE_TIMEOUT). A write that
 * timed out may still land later; the record as memory has it is then written again behind it
 * (Hyperbee applies writes in call order), so the disk converges to what callers were told.
 *
 * With `secrets`, the secret opts keys are written to their own bee (never replicated) under a
 * fresh reference before the record that names it; the record in `db` never holds them.
 */
export class ThingRegistry {
  private readonly things = new Map<ThingId, ThingState>()
  private readonly reservedCodes = new Set<string>()
  private readonly reservedIds = new Set<ThingId>()
  /** Thing id → reference of its stored secrets. */
  private readonly secretRefs = new Map<ThingId, string>()
  /** Stat tag → how many things carry it (registrations in flight included). */
  private readonly statTags = new Map<string, number>()

  constructor (
    private readonly db: Bee<ThingRecord>,
    readonly thingType: string,
    private readonly layerTags: string[],
    private readonly writeTimeoutMs = 10_000,
    private readonly secrets: SecretOpts | null = null,
    private readonly limits: RegistryLimits = NO_LIMITS
  ) {}

  /** Distinct stat tags of the registered things. */
  get statTagCount (): number {
    return this.statTags.size
  }

  private countTags (tags: readonly string[], delta: 1 | -1): void {
    for (const tag of tags) {
      if (!isStatTag(tag)) continue
      const n = (this.statTags.get(tag) ?? 0) + delta
      if (n > 0) this.statTags.set(tag, n)
      else this.statTags.delete(tag)
    }
  }

  /**
   * Checks a record's tags against the limits and counts the stat tags it adds over `prev`
   * (so that concurrent writes cannot pass a limit together); returns the undo for a failed write.
   */
  private reserveTags (tags: readonly string[], prev: readonly string[]): () => void {
    if (tags.length > this.limits.maxTagsPerThing) {
      throw new WrkError('ERR_THING_TAGS_INVALID',
        `a thing may have at most ${this.limits.maxTagsPerThing} tags (automatic ones included), this one would have ${tags.length}`)
    }
    const had = new Set(prev)
    const added = tags.filter((t) => isStatTag(t) && !had.has(t))
    const fresh = added.filter((t) => !this.statTags.has(t)).length
    if (fresh > 0 && this.statTags.size + fresh > this.limits.maxStatTags) {
      throw new WrkError('ERR_STAT_TAGS_LIMIT',
        `the rack aggregates at most ${this.limits.maxStatTags} distinct stat tags (it has ${this.statTags.size})`)
    }
    this.countTags(added, 1)
    return () => this.countTags(added, -1)
  }

  /** The record as written to `db`: without the secret opts, with the reference to them. */
  private stored (record: ThingRecord, ref: string | undefined): StoredThingRecord {
    if (!this.secrets) return record
    const { open } = this.secrets.split(record.opts)
    return { ...record, opts: open, ...(ref !== undefined ? { secretRef: ref } : {}) }
  }

  /** The reference for the secrets of `next`: the current one when they did not change, else a new entry. */
  private async secretRefFor (id: ThingId, next: JsonObject, prev: JsonObject | null): Promise<string | undefined> {
    if (!this.secrets) return undefined
    const { secret } = this.secrets.split(next)
    if (!secret) return undefined
    const current = this.secretRefs.get(id)
    if (current !== undefined && prev && JSON.stringify(this.secrets.split(prev).secret) === JSON.stringify(secret)) return current
    let ref: string | undefined
    await this.write(id, this.secrets.put(id, secret).then((r) => { ref = r }))
    return ref
  }

  /** After a record write: the secrets entries it no longer names go. */
  private settleSecrets (id: ThingId, ref: string | undefined): void {
    if (!this.secrets) return
    const before = this.secretRefs.get(id)
    if (ref === undefined) this.secretRefs.delete(id)
    else this.secretRefs.set(id, ref)
    if (before !== undefined && before !== ref) void this.secrets.drop(id, ref)
  }

  /** Runs one store write of thing `id` within the time bound; failures get a named code. */
  private async write (id: ThingId, write: Promise<unknown>): Promise<void> {
    try {
      await withTimeout(write, this.writeTimeoutMs, 'ERR_STORE_TIMEOUT')
    } catch (err) {
      write.then(() => this.reconcile(id), () => {})
      throw new WrkError(errorCode(err, 'ERR_STORE_WRITE_FAILED'), `store write of thing ${id} failed: ${(err as Error).message}`,
        { cause: err })
    }
  }

  /** Writes what memory holds for `id` (the record, or its absence) after a late write. */
  private async reconcile (id: ThingId): Promise<void> {
    const state = this.things.get(id)
    try {
      if (state && !state.forgotten) await this.db.put(id, this.stored(state.record, this.secretRefs.get(id)))
      else await this.db.del(id)
    } catch {
      // The store is failing; the next write of this thing tries again.
    }
  }

  /** `container-mbt-kehua` → `MBT-KEHUA`. */
  get codePrefix (): string {
    return this.thingType.replace(/^[^-]+-/, '').toUpperCase()
  }

  async load (): Promise<ThingRecord[]> {
    const records: ThingRecord[] = []
    const stored = new Map<string, JsonObject>(this.secrets ? await this.secrets.all() : [])
    const referenced = new Set<string>()
    const inline: ThingId[] = []
    for await (const entry of this.db.createReadStream()) {
      const { secretRef, ...record } = entry.value as StoredThingRecord
      if (secretRef !== undefined) {
        const key = entryKey(record.id, secretRef)
        referenced.add(key)
        this.secretRefs.set(record.id, secretRef)
        record.opts = { ...record.opts, ...stored.get(key) }
      } else if (this.secrets?.split(record.opts ?? {}).secret) {
        inline.push(record.id)
      }
      records.push(record)
    }
    for (const record of records) {
      this.things.set(record.id, { record, ctrl: null, last: {}, collecting: false, lastStoredTs: 0, forgotten: false })
      this.countTags(record.tags, 1)
    }
    // Things registered without a code (older data) get the next free codes, in id order.
    for (const state of [...this.things.values()].filter((s) => !s.record.code)) {
      const code = this.nextCode()
      await this.save({ ...state.record, code, tags: this.buildTags({ ...state.record, code }, state.record.tags) })
    }
    // Credentials still inside a record move to the secrets bee; entries nothing refers to go.
    for (const id of inline) await this.save(this.get(id).record, { movingSecrets: true })
    if (this.secrets) for (const key of stored.keys()) if (!referenced.has(key)) await this.secrets.del(key).catch(() => {})
    return records
  }

  /**
   * A read replica's view of a record changed by the master (null: deleted). Nothing is
   * written; the state object of a known thing is kept (its `last` stays).
   */
  applyReplicated (id: ThingId, stored: ThingRecord | null): ThingState | null {
    const state = this.things.get(id)
    if (!stored) {
      if (state) {
        state.forgotten = true
        this.things.delete(id)
      }
      return null
    }
    const { secretRef: _ref, ...record } = stored as StoredThingRecord
    if (state) {
      state.record = record
      return state
    }
    const fresh: ThingState = { record, ctrl: null, last: {}, collecting: false, lastStoredTs: 0, forgotten: false }
    this.things.set(id, fresh)
    return fresh
  }

  get size (): number {
    return this.things.size
  }

  all (): ThingState[] {
    return [...this.things.values()]
  }

  get (id: unknown): ThingState {
    const state = typeof id === 'string' ? this.things.get(id) : undefined
    if (!state) throw new WrkError('ERR_THING_NOTFOUND')
    return state
  }

  has (id: ThingId): boolean {
    return this.things.has(id)
  }

  /** `<PREFIX>-<4 to 9 digits>`, e.g. `MBT-KEHUA-0001`. */
  private get codePattern (): RegExp {
    return new RegExp(`^${this.codePrefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d{${CODE_MIN_DIGITS},9})$`)
  }

  /** The numbers of the codes in use (or being written) that follow this rack's pattern. */
  private codeNumbers (): Set<number> {
    const pattern = this.codePattern
    const out = new Set<number>()
    for (const code of [...[...this.things.values()].map((s) => s.record.code), ...this.reservedCodes]) {
      const m = code ? pattern.exec(code) : null
      if (m) out.add(Number(m[1]))
    }
    return out
  }

  /**
   * max + 1 over this rack's codes (a forgotten thing's code comes back only if it was the
   * highest); once the highest possible number is taken, the smallest free one.
   */
  nextCode (): string {
    const used = this.codeNumbers()
    let n = Math.max(0, ...used) + 1
    if (n > CODE_MAX_NUMBER) for (n = 1; used.has(n); n++);
    return `${this.codePrefix}-${String(n).padStart(CODE_MIN_DIGITS, '0')}`
  }

  assertCodeFree (code: string, exceptId?: ThingId): void {
    if (!this.codePattern.test(code)) {
      throw new WrkError('ERR_THING_CODE_INVALID', `a code is ${this.codePrefix}-<${CODE_MIN_DIGITS} to 9 digits>`)
    }
    if (this.reservedCodes.has(code)) throw new WrkError('ERR_THING_WITH_CODE_ALREADY_EXISTS')
    for (const s of this.things.values()) {
      if (s.record.code === code && s.record.id !== exceptId) throw new WrkError('ERR_THING_WITH_CODE_ALREADY_EXISTS')
    }
  }

  /** Type tags (`t-container`, `t-container-mbt`…), layer tags, caller tags, id/code/pos/container. */
  buildTags (thing: { id: ThingId, code: string, info: JsonObject }, extra: string[] = []): string[] {
    const parts = this.thingType.split('-')
    const tags: string[] = []
    for (let i = 1; i <= parts.length; i++) tags.push(`t-${parts.slice(0, i).join('-')}`)
    tags.push(...this.layerTags)
    for (const t of extra) {
      if (t.startsWith('id-') || t.startsWith('code-') || t.startsWith('pos-') || t.startsWith('container-')) continue
      tags.push(t)
    }
    tags.push(`id-${thing.id}`, `code-${thing.code}`)
    if (thing.info.container !== undefined && thing.info.container !== null && thing.info.container !== '') {
      tags.push(`container-${String(thing.info.container)}`)
    }
    if (thing.info.pos !== undefined && thing.info.pos !== null && thing.info.pos !== '') tags.push(`pos-${String(thing.info.pos)}`)
    return [...new Set(tags)]
  }

  /**
   * Registers a thing; the code is reserved while the write is in flight so that two
   * concurrent registrations never get the same code.
   */
  async register (
    input: { id?: string, code?: string, opts: JsonObject, info?: JsonObject, tags?: string[], comment?: string, user?: string }
  ): Promise<ThingState> {
    const id = input.id ?? randomUUID()
    if (this.things.has(id) || this.reservedIds.has(id)) throw new WrkError('ERR_THING_WITH_ID_ALREADY_EXISTS')
    if (this.things.size + this.reservedIds.size >= this.limits.maxThings) {
      throw new WrkError('ERR_THING_LIMIT', `the rack holds at most ${this.limits.maxThings} things`)
    }
    const code = input.code ?? this.nextCode()
    this.assertCodeFree(code)
    const now = Date.now()
    const info = { ...(input.info ?? {}), createdAt: now, updatedAt: now }
    const record: ThingRecord = {
      id,
      code,
      type: this.thingType,
      tags: this.buildTags({ id, code, info }, input.tags),
      info,
      opts: input.opts,
      comments: input.comment && input.user ? [{ id: randomUUID(), ts: now, comment: input.comment, user: input.user }] : []
    }
    assertStorable(record, 'thing record')
    const undoTags = this.reserveTags(record.tags, [])
    this.reservedCodes.add(code)
    this.reservedIds.add(id)
    let written = false
    try {
      const ref = await this.secretRefFor(id, record.opts, null)
      await this.write(id, this.db.put(id, this.stored(record, ref)))
      this.settleSecrets(id, ref)
      const state: ThingState = { record, ctrl: null, last: {}, collecting: false, lastStoredTs: 0, forgotten: false }
      this.things.set(id, state)
      written = true
      return state
    } finally {
      if (!written) undoTags()
      this.reservedCodes.delete(code)
      this.reservedIds.delete(id)
    }
  }

  /**
   * Persists a new version of a thing's record, then swaps it in memory. A changed code is
   * checked and reserved while the write is in flight.
   */
  async save (record: ThingRecord, opts: { movingSecrets?: boolean, beforeWrite?: () => Promise<void> } = {}): Promise<ThingState> {
    const state = this.get(record.id)
    if (state.forgotten) throw new WrkError('ERR_THING_NOTFOUND')
    const newCode = record.code !== state.record.code ? record.code : null
    if (newCode !== null) this.assertCodeFree(newCode, record.id)
    assertStorable(record, 'thing record')
    const prev = state.record
    const undoTags = this.reserveTags(record.tags, prev.tags)
    if (newCode !== null) this.reservedCodes.add(newCode)
    let written = false
    try {
      // what must be written first (an update's info-history entry), once every check passed
      if (opts.beforeWrite) await opts.beforeWrite()
      const ref = await this.secretRefFor(record.id, record.opts, opts.movingSecrets ? null : prev.opts)
      await this.write(record.id, this.db.put(record.id, this.stored(record, ref)))
      this.settleSecrets(record.id, ref)
      state.record = record
      const kept = new Set(record.tags)
      this.countTags(prev.tags.filter((t) => !kept.has(t)), -1)
      written = true
      return state
    } finally {
      if (newCode !== null) this.reservedCodes.delete(newCode)
      if (!written) undoTags()
    }
  }

  /**
   * Deletes a thing (marked `forgotten` first, so no write can race the delete). If the delete
   * fails the thing stays registered.
   */
  async remove (id: ThingId): Promise<void> {
    const state = this.things.get(id)
    if (state) state.forgotten = true
    try {
      await this.write(id, this.db.del(id))
    } catch (err) {
      if (state) state.forgotten = false
      throw err
    }
    if (state && this.things.get(id) === state) {
      this.things.delete(id)
      this.countTags(state.record.tags, -1)
    }
    if (this.secrets && this.secretRefs.delete(id)) await this.secrets.drop(id)
  }
}
