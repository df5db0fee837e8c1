import { z } from 'zod'

/**
 * Request schemas of the thing-rack RPC methods: the single source for validation, types and
 * the OpenRPC document (each method's declaration names its schema and its field error codes).
 * Unknown keys (`rackId`, `type`, `overwriteCache`…) are accepted and ignored.
 */
const obj = z.record(z.string(), z.unknown())
const id = z.string().min(1).max(256)
const count = z.number().int().min(0).max(1_000_000)
const ts = z.number().finite().min(0)
const truthy = z.union([z.boolean(), z.literal(1), z.literal(0), z.literal('1'), z.literal('0'), z.literal('true'), z.literal('false')])
  .transform((v) => v === true || v === 1 || v === '1' || v === 'true')
const sort = z.record(z.string(), z.union([z.literal(1), z.literal(-1)]))
const tags = z.array(z.string().min(1).max(256)).max(256)

export const schemas = {
  registerThing: z.object({
    id: id.optional(),
    code: z.string().min(1).max(64).optional(),
    opts: obj,
    info: obj.optional(),
    tags: tags.optional(),
    comment: z.string().max(10_000).optional(),
    user: z.string().max(256).optional()
  }),
  updateThing: z.object({
    id,
    code: z.string().min(1).max(64).optional(),
    opts: obj.optional(),
    info: obj.optional(),
    tags: tags.optional(),
    forceOverwrite: z.boolean().optional(),
    comment: z.string().max(10_000).optional(),
    user: z.string().max(256).optional(),
    actionId: z.union([z.string(), z.number()]).optional()
  }),
  forgetThings: z.object({ query: obj.optional(), all: z.boolean().optional() }),
  listThings: z.object({
    query: obj.optional(),
    fields: obj.optional(),
    sort: sort.optional(),
    offset: count.optional(),
    limit: count.optional(),
    status: truthy.optional()
  }),
  getThingsCount: z.object({ query: obj.optional() }),
  queryThing: z.object({ id, method: z.string().min(1), params: z.array(z.unknown()).optional() }),
  applyThings: z.object({
    method: z.string().min(1),
    params: z.array(z.unknown()).optional(),
    query: obj.optional(),
    sort: sort.optional(),
    offset: count.optional(),
    limit: count.optional()
  }),
  saveThingComment: z.object({ thingId: id, comment: z.string().min(1).max(10_000), user: z.string().min(1).max(256), pos: z.string().max(256).optional() }),
  editThingComment: z.object({ thingId: id, id: z.string().optional(), ts: z.number().optional(), comment: z.string().min(1).max(10_000), user: z.string().min(1).max(256) }),
  deleteThingComment: z.object({ thingId: id, id: z.string().optional(), ts: z.number().optional(), user: z.string().min(1).max(256) }),
  tailLog: z.object({
    key: z.string().min(1).max(128),
    tag: z.string().min(1).max(256),
    offset: count.optional(),
    limit: count.optional(),
    start: ts.optional(),
    end: ts.optional(),
    fields: obj.optional(),
    groupRange: z.string().regex(/^\d+(s|m|h|H|d|D|w|W)$/).optional(),
    shouldCalculateAvg: z.boolean().optional()
  }),
  saveWrkSettings: z.object({ entries: obj.refine((e) => Object.keys(e).length > 0) }),
  getWrkConf: z.object({ fields: obj.optional() }),
  getThingConf: z.object({ requestType: z.literal('nextAvailableCode') })
}

export type Schemas = typeof schemas
export type Req<K extends keyof Schemas> = z.output<Schemas[K]>
