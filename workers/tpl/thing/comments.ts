/** Comments on a thing: saved, edited and deleted under the thing's write lock; only the author may change one. */
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { WrkError } from '../../core/errors'
import { defineMethod, type RpcMethod } from '../../rpc/method'
import type { RackParts } from './rack-parts'
import { schemas } from './schemas'
import type { ThingComment } from './types'

/** Index of the comment addressed by `id` (or `ts`); only its author may change it. */
function findComment (comments: ThingComment[], req: { id?: string, ts?: number, user: string }): number {
  const idx = comments.findIndex((c) => req.id !== undefined ? c.id === req.id : c.ts === req.ts)
  if ((req.id === undefined && req.ts === undefined) || idx < 0) throw new WrkError('ERR_THING_COMMENT_NOTFOUND')
  if (comments[idx].user !== req.user) throw new WrkError('ERR_COMMENT_ACCESS_DENIED')
  return idx
}

export class ThingComments {
  constructor (private readonly rack: RackParts) {}

  private async change (thingId: string, change: (comments: ThingComment[]) => ThingComment[]): Promise<1> {
    await this.rack.thingLock.run(thingId, async () => {
      const state = this.rack.registry.get(thingId)
      await this.rack.registry.save({ ...state.record, comments: change(state.record.comments) })
    })
    return 1
  }

  declarations (): RpcMethod[] {
    const errors = ['ERR_THING_NOTFOUND', 'ERR_VALUE_TOO_LARGE', 'ERR_STORE_TIMEOUT', 'ERR_STORE_WRITE_FAILED'] as const
    const fieldErrors = { thingId: 'ERR_THING_NOTFOUND' }
    return [
      defineMethod({
        name: 'saveThingComment',
        kind: 'write',
        summary: 'Adds a comment to a thing.',
        params: schemas.saveThingComment,
        fieldErrors,
        result: z.literal(1),
        errors,
        handler: (req) => this.change(req.thingId, (comments) => [
          ...comments,
          { id: randomUUID(), ts: Date.now(), comment: req.comment, user: req.user, ...(req.pos ? { pos: req.pos } : {}) }
        ])
      }),
      defineMethod({
        name: 'editThingComment',
        kind: 'write',
        summary: 'Changes the text of a comment (by `id`, or `ts`); author only.',
        params: schemas.editThingComment,
        fieldErrors,
        result: z.literal(1),
        errors: [...errors, 'ERR_THING_COMMENT_NOTFOUND', 'ERR_COMMENT_ACCESS_DENIED'],
        handler: (req) => this.change(req.thingId, (comments) => {
          const idx = findComment(comments, req)
          return comments.map((c, i) => i === idx ? { ...c, comment: req.comment } : c)
        })
      }),
      defineMethod({
        name: 'deleteThingComment',
        kind: 'write',
        summary: 'Deletes a comment (by `id`, or `ts`); author only.',
        params: schemas.deleteThingComment,
        fieldErrors,
        result: z.literal(1),
        errors: [...errors, 'ERR_THING_COMMENT_NOTFOUND', 'ERR_COMMENT_ACCESS_DENIED'],
        handler: (req) => this.change(req.thingId, (comments) => {
          const idx = findComment(comments, req)
          return comments.filter((_c, i) => i !== idx)
        })
      })
    ]
  }
}
