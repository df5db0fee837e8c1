import { z } from 'zod'
import { MAX_LOG_TIME_MS } from './logs/time-log'

/**
 * Request schemas of the thing-rack RPC methods: the single source for validation, types and
 * the OpenRPC document (each method's declaration names its schema and its field error codes).
 * Unknown keys (`rackId`, `type`, `overwriteCache`…) are accepted and ignored.
 */
const obj = z.record(z.string(), z.unknown())

/** JSON bytes of a value. */
function jsonBytes (v: unknown): number {
  return Buffer.byteLength(JSON.stringify(v) ?? '')
}

/** Bounds of what a thing record holds (the record as a whole: MAX_STORED_VALUE_BYTES). */
export const MAX_INFO_BYTES = 64 * 1024
export const MAX_OPTS_BYTES = 16 * 1024
/** Settings: keys per save, bytes per value, bytes of all settings together. */
export const MAX_SETTINGS_KEYS = 256
export const MAX_SETTING_BYTES = 64 * 1024
export const MAX_SETTINGS_BYTES = 1024 * 1024

/** Whether settings to save hold 1 to MAX_SETTINGS_KEYS keys of at most 256 characters, each value within MAX_SETTING_BYTES. */
function settingsFit (e: Record<string, unknown>): boolean {
  return Object.keys(e).length > 0 && Object.keys(e).length <= MAX_SETTINGS_KEYS &&
    Object.keys(e).every((k) => k.length <= 256) && Object.values(e).every((v) => jsonBytes(v) <= MAX_SETTING_BYTES)
}

const info = obj.refine((v) => jsonBytes(v) <= MAX_INFO_BYTES, { message: `info is over ${MAX_INFO_BYTES} bytes` })
const opts = obj.refine((v) => jsonBytes(v) <= MAX_OPTS_BYTES, { message: `opts is over ${MAX_OPTS_BYTES} bytes` })
const id = z.string().min(1).max(256)
const count = z.number().int().min(0).max(1_000_000)
/** A time argument: what a log key represents exactly (larger → ERR_PARAMS_INVALID). */
const ts = z.number().finite().min(0).max(MAX_LOG_TIME_MS)
const truthy = z.union([z.boolean(), z.literal(1), z.literal(0), z.literal('1'), z.literal('0'), z.literal('true'), z.literal('false')])
  .transform((v) => v === true || v === 1 || v === '1' || v === 'true')
const sort = z.record(z.string(), z.union([z.literal(1), z.literal(-1)]))
const tags = z.array(z.string().min(1).max(256)).max(256)

export const schemas = {
  registerThing: z.object({
    id: id.optional(),
    code: z.string().min(1).max(64).optional(),
    opts,
    info: info.optional(),
    tags: tags.optional(),
    comment: z.string().max(10_000).optional(),
    user: z.string().max(256).optional()
  }),
  updateThing: z.object({
    id,
    code: z.string().min(1).max(64).optional(),
    opts: opts.optional(),
    info: info.optional(),
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
  queryThing: z.object({
    id,
    method: z.string().min(1),
    params: z.array(z.unknown()).optional(),
    dryRun: z.boolean().optional(),
    background: z.boolean().optional()
  }),
  applyThings: z.object({
    method: z.string().min(1),
    params: z.array(z.unknown()).optional(),
    query: obj.optional(),
    sort: sort.optional(),
    offset: count.optional(),
    limit: count.optional(),
    verbose: z.boolean().optional(),
    dryRun: z.boolean().optional(),
    background: z.boolean().optional()
  }),
  saveThingComment: z.object({
    thingId: id,
    comment: z.string().min(1).max(10_000),
    user: z.string().min(1).max(256),
    pos: z.string().max(256).optional()
  }),
  editThingComment: z.object({
    thingId: id,
    id: z.string().optional(),
    ts: z.number().optional(),
    comment: z.string().min(1).max(10_000),
    user: z.string().min(1).max(256)
  }),
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
  saveWrkSettings: z.object({
    entries: obj.refine((e) => settingsFit(e), {
      message: `1 to ${MAX_SETTINGS_KEYS} keys of at most 256 characters, each value at most ${MAX_SETTING_BYTES} bytes`
    })
  }),
  getWrkConf: z.object({ fields: obj.optional() }),
  getThingConf: z.object({ requestType: z.literal('nextAvailableCode') })
}

export type Schemas = typeof schemas
export type Req<K extends keyof Schemas> = z.output<Schemas[K]>
