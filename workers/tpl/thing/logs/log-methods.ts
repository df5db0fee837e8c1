/** `tailLog`: entries of a thing's snapshot log or a stat log, newest first, optionally grouped and projected. */
import { z } from 'zod'
import { WrkError } from '../../../core/errors'
import { MAX_REPLY_BYTES, ReplyPage, capReply } from '../../../rpc/limits'
import { defineMethod, type RpcMethod } from '../../../rpc/method'
import { assertSafeFields, project } from '../query/select'
import type { JsonObject } from '../../../core/types'
import type { RackParts } from '../rack-parts'
import { ReadBudget } from '../../../core/read-budget'
import { schemas, type Req } from '../schemas'
import { RangeGroups } from './range-groups'
import { TAIL_LOG_KEY } from './log-names'

/** Upper bound of entries in one tailLog reply (a snapshot entry is tens of kB). */
export const MAX_TAIL_ENTRIES = 10_000
/** Entries projected at once. */
const PROJECT_CHUNK = 64

export class LogMethods {
  constructor (private readonly rack: RackParts) {}

  /**
   * Entries of `thing-5m-<id>` or `stat-<tf>-<tag>`, newest first (the rack's logs keep stat
   * logs one per timeframe and read them by tag: ./stat-log.ts). Without a range the default
   * limit is 100; with one, every entry in it up to MAX_TAIL_ENTRIES per reply. The log is read
   * one entry at a time and only the reply is kept: a page ends at the limit or at
   * MAX_REPLY_BYTES (cut at a whole entry or bucket: page on with `end` = its oldest ts − 1).
   */
  async tailLog (req: Req<'tailLog'>): Promise<unknown[]> {
    if (!TAIL_LOG_KEY.test(req.key)) throw new WrkError('ERR_LOG_KEY_NOTFOUND')
    if (req.fields !== undefined && Object.keys(req.fields).length > 0) assertSafeFields(req.fields)
    const { logs } = this.rack
    const key = `${req.key}-${req.tag}`
    const offset = req.offset ?? 0
    if (offset >= logs.maxHeight || !(await logs.hasGeneration(key, offset))) throw new WrkError('ERR_LOG_NOTFOUND')
    const hasRange = req.start !== undefined || req.end !== undefined
    const limit = Math.min(req.limit ?? (hasRange ? MAX_TAIL_ENTRIES : 100), MAX_TAIL_ENTRIES)
    if (limit === 0) return []
    const entries = logs.scan(key, offset, { start: req.start, end: req.end }, true)
    const budget = new ReadBudget()
    if (req.groupRange) return await this.grouped(entries, req, limit, budget)
    const page = new ReplyPage<JsonObject>()
    let chunk: JsonObject[] = []
    const flush = (): boolean => {
      for (const doc of project(chunk, req.fields)) if (!page.add(doc) || page.items.length >= limit) return false
      chunk = []
      return true
    }
    for await (const entry of entries) {
      await budget.tick()
      chunk.push(entry as JsonObject)
      if (chunk.length >= PROJECT_CHUNK && !flush()) return page.items
    }
    flush()
    return page.items
  }

  /**
   * The first `limit` entries grouped by `groupRange`. Buckets are kept, not entries; a bucket
   * is sized by its first entry, and the read stops before a bucket that would not fit the reply.
   */
  private async grouped (entries: AsyncIterable<unknown>, req: Req<'tailLog'>, limit: number, budget: ReadBudget): Promise<JsonObject[]> {
    const groups = new RangeGroups(req.groupRange as string, req.shouldCalculateAvg)
    let read = 0
    let bytes = 0
    for await (const entry of entries) {
      await budget.tick()
      const start = groups.bucketOf(entry)
      if (start !== null && !groups.has(start)) {
        bytes += Buffer.byteLength(JSON.stringify(entry))
        if (bytes > MAX_REPLY_BYTES && read > 0) break
      }
      groups.add(entry)
      if (++read >= limit) break
    }
    return capReply(project(groups.result(), req.fields))
  }

  declarations (): RpcMethod[] {
    return [
      defineMethod({
        name: 'tailLog',
        kind: 'read',
        summary: 'Entries of `thing-5m` (tag = thing id) or `stat-<tf>` (tag = stat tag) logs, newest first.',
        params: schemas.tailLog,
        fieldErrors: { key: 'ERR_LOG_KEY_NOTFOUND', tag: 'ERR_LOG_TAG_INVALID', groupRange: 'ERR_LOG_GROUP_RANGE_INVALID' },
        result: z.array(z.record(z.string(), z.unknown())),
        errors: ['ERR_LOG_KEY_NOTFOUND', 'ERR_LOG_TAG_INVALID', 'ERR_LOG_GROUP_RANGE_INVALID', 'ERR_LOG_NOTFOUND', 'ERR_FIELDS_INVALID'],
        heavy: true,
        handler: (req) => this.tailLog(req)
      })
    ]
  }
}
