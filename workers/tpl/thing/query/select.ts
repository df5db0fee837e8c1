/**
 * The query layer behind listThings / getThingsCount / forgetThings / applyThings / tailLog /
 * getWrkConf / getHistoricalLogs: the select engine (filter → sort → page → project). Queries and
 * projections are data, checked against an allow list with per-query caps before mingo sees them
 * (query-allowlist.ts), and mingo runs with a context that holds only the allowed operators (no
 * expression, accumulator or pipeline operator is registered at all), so nothing in a request can
 * compute. `$regex` runs on RE2 (query-regex.ts), in time linear in the value's length.
 */
import { Query } from 'mingo/query'
import { Context } from 'mingo/core'
import { $eq, $gt, $gte, $in, $lt, $lte, $ne, $nin } from 'mingo/operators/query/comparison'
import { $and, $nor, $not, $or } from 'mingo/operators/query/logical'
import { $all, $elemMatch, $size } from 'mingo/operators/query/array'
import { $exists, $type } from 'mingo/operators/query/element'
import { $elemMatch as projectElemMatch } from 'mingo/operators/projection'
import { WrkError } from '../../../core/errors'
import { assertSafeFields, prepareFields, prepareQuery } from './allow-list'
import { RE2_REGEX_OP, re2Regex } from './regex'

import type { JsonObject } from '../../../core/types'

export {
  FIELDS_OPERATORS, MAX_QUERY_OPERATORS, MAX_QUERY_REGEXES, MAX_QUERY_REGEX_PROGRAM, MAX_QUERY_VALUES, QUERY_OPERATORS,
  assertSafeFields, assertSafeQuery
} from './allow-list'
export { MAX_REGEX_LENGTH, MAX_REGEX_PROGRAM } from './regex'

export type SortSpec = Record<string, number>

// ---- mingo with only the allowed operators -----------------------------------------------------

/** mingo's own `$regex` (V8's backtracking RegExp) is not registered: checked queries carry RE2 matchers. */
const CONTEXT = Context.init({
  query: {
    $eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $and, $or, $nor, $not, $exists, $type, $elemMatch, $size, $all, [RE2_REGEX_OP]: re2Regex
  },
  projection: { $elemMatch: projectElemMatch }
})

type ErrCode = 'ERR_QUERY_INVALID' | 'ERR_FIELDS_INVALID'

function rethrow (err: unknown, code: ErrCode): never {
  if (err instanceof WrkError) throw err
  throw new WrkError(code, (err as Error).message)
}

function compile (query: JsonObject): Query {
  const prepared = prepareQuery(query)
  try {
    return new Query(prepared, { context: CONTEXT })
  } catch (err) {
    rethrow(err, 'ERR_QUERY_INVALID')
  }
}

/**
 * A query checked and compiled once (its regexes included), as a test of one document; `{}` or
 * undefined matches all. For callers that test documents one at a time (streamed logs, within a
 * read budget); throws ERR_QUERY_INVALID at once for a query outside the allow list.
 */
export function matcher (query: JsonObject | undefined): (doc: JsonObject) => boolean {
  if (!query || Object.keys(query).length === 0) return () => true
  const q = compile(query)
  return (doc) => {
    try {
      return q.test(doc)
    } catch (err) {
      rethrow(err, 'ERR_QUERY_INVALID')
    }
  }
}

/** Documents matching a MongoDB-style query (mingo, allow-listed operators); `{}` or undefined matches all. */
export function match<T extends JsonObject> (docs: T[], query: JsonObject | undefined): T[] {
  if (!query || Object.keys(query).length === 0) return docs
  const test = matcher(query)
  return docs.filter((d) => test(d))
}

/** An inclusion projection as a tree of its paths: `true` = take the value, an object = descend. */
interface PathTree { [key: string]: true | PathTree }

const PLAIN_PATH = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/

/**
 * The tree of a projection made only of `path: 1 | true` with plain dotted paths, none inside
 * another; else null. Built from the paths in sorted order, as mingo applies them, so that the
 * tree's key order is the order of the keys mingo's result has.
 */
function inclusionTree (fields: JsonObject): PathTree | null {
  const tree: PathTree = {}
  for (const [path, v] of Object.entries(fields)) {
    if ((v !== 1 && v !== true) || path === '_id' || !PLAIN_PATH.test(path)) return null
  }
  for (const path of Object.keys(fields).sort()) {
    const keys = path.split('.')
    if (keys.some((k) => k in Object.prototype)) return null
    let node = tree
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string
      const existing = Object.hasOwn(node, key) ? node[key] : undefined
      if (i === keys.length - 1) {
        if (existing !== undefined) return null // a path inside another: mingo's path collision
        node[key] = true
      } else {
        if (existing === true) return null
        if (existing === undefined) node[key] = {}
        node = node[key] as PathTree
      }
    }
  }
  return tree
}

const ABORT = Symbol('abort')

function isPlainRecord (v: unknown): v is JsonObject {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v) as unknown
  return proto === Object.prototype || proto === null
}

/**
 * What mingo's inclusion projection gives for a document of plain objects (keys in the sorted
 * order of the paths, undefined values left out, a path through a primitive left out, one
 * through an object lacking the rest gives `{}`, values shared, not copied); ABORT when it
 * meets an array or anything else on a path, or an `_id` (mingo's own rules apply then).
 */
function projectPlain (doc: JsonObject, tree: PathTree, top: boolean): JsonObject | typeof ABORT {
  if (top && Object.hasOwn(doc, '_id')) return ABORT
  const out: JsonObject = {}
  for (const key of Object.keys(tree)) {
    if (!Object.hasOwn(doc, key)) continue
    const sub = tree[key] as true | PathTree
    const v = doc[key]
    if (sub === true) {
      if (v !== undefined) out[key] = v
      continue
    }
    if (Array.isArray(v)) return ABORT
    if (v === null || v === undefined || typeof v !== 'object') continue
    if (!isPlainRecord(v)) return ABORT
    const inner = projectPlain(v, sub, false)
    if (inner === ABORT) return ABORT
    out[key] = inner
  }
  return out
}

/** The plain-path fast path of `project`, or null when mingo has to do it. */
function projectFast (docs: JsonObject[], fields: JsonObject): JsonObject[] | null {
  const tree = inclusionTree(fields)
  if (tree === null) return null
  const out: JsonObject[] = []
  for (const doc of docs) {
    if (!isPlainRecord(doc)) return null
    const p = projectPlain(doc, tree, true)
    if (p === ABORT) return null
    out.push(p)
  }
  return out
}

/**
 * MongoDB-style projection of each document: inclusion / exclusion (and a top-level `$elemMatch`)
 * only. An inclusion of plain dotted paths over documents of plain objects (the common
 * `fields: {id: 1, 'last.snap.stats.status': 1}`) is done here, with mingo's result; anything
 * else goes to mingo.
 */
export function project (docs: JsonObject[], fields: JsonObject | undefined): JsonObject[] {
  if (!fields || Object.keys(fields).length === 0) return docs
  const prepared = prepareFields(fields)
  const fast = projectFast(docs, fields)
  if (fast !== null) return fast
  try {
    return new Query({}, { context: CONTEXT }).find<JsonObject>(docs, prepared).all()
  } catch (err) {
    rethrow(err, 'ERR_FIELDS_INVALID')
  }
}

export function getPath (doc: unknown, dotted: string): unknown {
  let cur: unknown = doc
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as JsonObject)[part]
  }
  return cur
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' })

function compareValues (a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b)
  return collator.compare(typeof a === 'object' ? JSON.stringify(a) : String(a), typeof b === 'object' ? JSON.stringify(b) : String(b))
}

/** Natural (number-aware) multi-key sort; missing values go last in either direction. */
export function naturalSort<T> (docs: T[], sort: SortSpec | undefined): T[] {
  const keys = Object.entries(sort ?? {})
  if (keys.length === 0) return docs
  return [...docs].sort((x, y) => {
    for (const [path, dir] of keys) {
      const a = getPath(x, path)
      const b = getPath(y, path)
      const aMissing = a === undefined || a === null
      const bMissing = b === undefined || b === null
      if (aMissing || bMissing) {
        if (aMissing && bMissing) continue
        return aMissing ? 1 : -1
      }
      const c = compareValues(a, b)
      if (c !== 0) return dir < 0 ? -c : c
    }
    return 0
  })
}

export interface PageOpts { offset?: number, limit?: number }

export function page<T> (docs: T[], { offset = 0, limit }: PageOpts): T[] {
  const from = Math.max(0, offset)
  return limit === undefined ? docs.slice(from) : docs.slice(from, from + Math.max(0, limit))
}

export interface SelectOpts extends PageOpts { query?: JsonObject, sort?: SortSpec, fields?: JsonObject }

/**
 * The listing pipeline: filter (`query`), sort, page (`offset`/`limit`), then project (`fields`).
 * Both `query` and `fields` are checked before any document is touched. Sorting runs on the whole,
 * unprojected documents, so a sort key need not be in `fields`; the projection runs only on the
 * page, so its cost is bounded by `limit`, not by the number of documents.
 */
export function select (docs: JsonObject[], { query, sort, offset = 0, limit, fields }: SelectOpts): JsonObject[] {
  const hasFields = fields !== undefined && Object.keys(fields).length > 0
  if (hasFields) assertSafeFields(fields)
  return project(page(naturalSort(match(docs, query), sort), { offset, limit }), hasFields ? fields : undefined)
}
