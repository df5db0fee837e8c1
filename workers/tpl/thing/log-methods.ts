/** `tailLog`: entries of a thing's snapshot log or a stat log, newest first, optionally grouped and projected. */
import { z } from 'zod'
import { WrkError } from '../errors'
import { capReply } from '../rpc/limits'
import { defineMethod, type RpcMethod } from '../rpc/method'
import { project } from './query'
import type { JsonObject } from '../types'
import type { RackParts } from './rack-parts'
import { schemas, type Req } from './schemas'
import { groupByRange } from './util'

/** Logs tailLog may read: the thing snapshot logs and the stat logs. */
const TAIL_LOG_KEY = /^(thing-5m|stat-[A-Za-z0-9]+)$/
/** Upper bound of entries in one tailLog reply (a snapshot entry is tens of kB). */
export const MAX_TAIL_ENTRIES = 10_000

export class LogMethods {
  constructor (private readonly rack: RackParts) {}

  /**
   * Entries of `thing-5m-<id>` or `stat-<tf>-<tag>`, newest first. Without a range the default
   * limit is 100; with one, every entry in it up to MAX_TAIL_ENTRIES per reply.
   */
  async tailLog (req: Req<'tailLog'>): Promise<unknown[]> {
    if (!TAIL_LOG_KEY.test(req.key)) throw new WrkError('ERR_LOG_KEY_NOTFOUND')
    const { logs } = this.rack
    const offset = req.offset ?? 0
    if (offset >= logs.maxHeight) throw new WrkError('ERR_LOG_NOTFOUND')
    const hasRange = req.start !== undefined || req.end !== undefined
    const entries = await logs.read(`${req.key}-${req.tag}`, offset, {
      start: req.start,
      end: req.end,
      limit: Math.min(req.limit ?? (hasRange ? MAX_TAIL_ENTRIES : 100), MAX_TAIL_ENTRIES)
    })
    if (entries === null) throw new WrkError('ERR_LOG_NOTFOUND')
    const out = req.groupRange ? groupByRange(entries, req.groupRange, req.shouldCalculateAvg) : entries
    // a page over MAX_REPLY_BYTES is cut at a whole entry: page on with `end` = its oldest ts − 1
    return capReply(project(out as JsonObject[], req.fields))
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
        handler: (req) => this.tailLog(req)
      })
    ]
  }
}
