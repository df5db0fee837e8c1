/**
 * The allow list every query and projection passes before mingo sees it, and the per-query caps
 * that bound what one request can make the worker do, whatever the shape of its operators:
 *
 * - Query operators: {@link QUERY_OPERATORS}; anything else starting with `$` → ERR_QUERY_INVALID.
 * - Projections (`fields`): inclusion / exclusion only (0, 1, true, false; dotted or nested plain
 *   paths) and a top-level `$elemMatch` whose criteria is an allowed query; anything else →
 *   ERR_FIELDS_INVALID naming the operator or the value.
 * - The code-evaluating operators (`$where`, `$expr`, `$function`, `$accumulator`, `$regexMatch`,
 *   `$regexFind`, `$regexFindAll`) keep their long-standing code ERR_QUERY_INVALID wherever they
 *   appear, in a projection too.
 * - Caps per query (per projection for its `$elemMatch` criteria): {@link MAX_QUERY_OPERATORS}
 *   operators and field conditions, {@link MAX_QUERY_REGEXES} `$regex`, {@link MAX_QUERY_REGEX_PROGRAM}
 *   RE2 instructions over all of them, {@link MAX_QUERY_VALUES} values in `$in`/`$nin`/`$all`,
 *   nesting {@link MAX_DEPTH}. Over a cap → ERR_QUERY_INVALID (ERR_FIELDS_INVALID in `fields`)
 *   naming it.
 * - `$regex`: RE2 syntax on a linear-time engine (query-regex.ts), compiled here once per distinct
 *   pattern and options; a checked query reaches mingo with each `{$regex, $options}` replaced by
 *   the compiled matcher ({@link prepareQuery}).
 */
import { WrkError } from '../../../core/errors'
import type { JsonObject } from '../../../core/types'
import { RE2_REGEX_OP, RegexRefusal, compileRegex, regexKey, type Re2Matcher } from './regex'

/** Deepest nesting of a query or projection (the RPC layer already refuses more than 32 levels). */
export const MAX_DEPTH = 32
/** Most operators and field conditions in one query: every `$` key and every field path counts, nested ones too. */
export const MAX_QUERY_OPERATORS = 256
/** Most `$regex` conditions in one query. */
export const MAX_QUERY_REGEXES = 16
/**
 * Most RE2 instructions over all the `$regex` of one query (each pattern counted wherever it
 * appears). A query's regex work is O(this × characters tested): about 1.5 s over 1000 documents
 * with 1 KiB strings built against the worst pattern, milliseconds on ordinary values.
 */
export const MAX_QUERY_REGEX_PROGRAM = 128
/** Most values in all the `$in`, `$nin` and `$all` arrays of one query together. */
export const MAX_QUERY_VALUES = 1000

/** Operators allowed in a query, by where they may appear. */
export const QUERY_OPERATORS = {
  /** At the top level of a query (or of an `$elemMatch` on documents): arrays of queries. */
  logical: ['$and', '$or', '$nor'],
  /** In a field's condition. */
  field: [
    '$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$not', '$exists', '$type', '$elemMatch', '$size', '$all',
    '$regex', '$options'
  ]
} as const
/** Operators allowed in a projection (`fields`), besides 0 / 1 / true / false. */
export const FIELDS_OPERATORS = ['$elemMatch'] as const

/** Operators that evaluate code or expressions: refused with ERR_QUERY_INVALID wherever they appear. */
const CODE_OPERATORS = new Set(['$where', '$expr', '$function', '$accumulator', '$regexMatch', '$regexFind', '$regexFindAll'])
const LOGICAL = new Set<string>(QUERY_OPERATORS.logical)
const FIELD_OPS = new Set<string>(QUERY_OPERATORS.field)

type ErrCode = 'ERR_QUERY_INVALID' | 'ERR_FIELDS_INVALID'

/** What one query (or one projection) has used of the caps, and the patterns it compiled. */
class Check {
  private operators = 0
  private regexes = 0
  private program = 0
  private values = 0
  readonly matchers = new Map<string, Re2Matcher>()

  constructor (readonly code: ErrCode) {}

  private get what (): string { return this.code === 'ERR_QUERY_INVALID' ? 'query' : 'fields' }

  fail (message: string): never {
    throw new WrkError(this.code, message)
  }

  operator (): void {
    if (++this.operators > MAX_QUERY_OPERATORS) {
      this.fail(`more than ${MAX_QUERY_OPERATORS} operators and field conditions in one ${this.what} (MAX_QUERY_OPERATORS)`)
    }
  }

  valueCount (n: number): void {
    this.values += n
    if (this.values > MAX_QUERY_VALUES) {
      this.fail(`more than ${MAX_QUERY_VALUES} $in/$nin/$all values in one ${this.what} (MAX_QUERY_VALUES)`)
    }
  }

  regex (pattern: unknown, options: unknown): void {
    if (++this.regexes > MAX_QUERY_REGEXES) this.fail(`more than ${MAX_QUERY_REGEXES} $regex in one ${this.what} (MAX_QUERY_REGEXES)`)
    const key = typeof pattern === 'string' && typeof options === 'string' ? regexKey(pattern, options) : null
    let matcher = key === null ? undefined : this.matchers.get(key)
    if (matcher === undefined) {
      try {
        matcher = compileRegex(pattern, options)
      } catch (err) {
        if (err instanceof RegexRefusal) this.fail(err.message)
        throw err
      }
      this.matchers.set(key as string, matcher)
    }
    this.program += matcher.program
    if (this.program > MAX_QUERY_REGEX_PROGRAM) {
      this.fail(`the $regex of one ${this.what} compile to more than ${MAX_QUERY_REGEX_PROGRAM} instructions together ` +
        '(MAX_QUERY_REGEX_PROGRAM)')
    }
  }

  depth (depth: number): void {
    if (depth > MAX_DEPTH) this.fail(`${this.what} nested too deeply`)
  }
}

function refuseOperator (op: string, check: Check, where: string): never {
  if (CODE_OPERATORS.has(op)) throw new WrkError('ERR_QUERY_INVALID', `operator ${op} is not allowed`)
  check.fail(`operator ${op} is not allowed ${where}`)
}

const isPlainObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v)
const isOperator = (k: string): boolean => k.startsWith('$')

function checkPath (path: string, check: Check): void {
  if (path === '' || path.split('.').some((seg) => seg === '' || isOperator(seg))) {
    check.fail(`"${path}" is not a plain field path`)
  }
}

/** A value compared for equality: any JSON, but no `$` key anywhere (it would be an operator in disguise). */
function checkLiteral (value: unknown, check: Check, depth: number): void {
  check.depth(depth)
  if (Array.isArray(value)) {
    for (const v of value) checkLiteral(v, check, depth + 1)
  } else if (value instanceof RegExp) {
    check.fail('a RegExp value is not allowed (use $regex)')
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (isOperator(k)) refuseOperator(k, check, 'in a value')
      checkLiteral(v, check, depth + 1)
    }
  }
}

/** A query: field conditions and `$and`/`$or`/`$nor` of queries. */
function checkQuery (query: unknown, check: Check, depth: number): void {
  check.depth(depth)
  if (!isPlainObject(query)) check.fail('a query must be an object')
  for (const [k, v] of Object.entries(query)) {
    if (isOperator(k)) {
      if (!LOGICAL.has(k)) refuseOperator(k, check, 'at the top level of a query')
      check.operator()
      if (!Array.isArray(v) || v.length === 0) check.fail(`${k} expects a non-empty array of queries`)
      for (const q of v) checkQuery(q, check, depth + 1)
    } else {
      checkPath(k, check)
      check.operator()
      checkCondition(v, check, depth + 1)
    }
  }
}

/** What a field is matched with: a literal, or an object of allowed field operators. */
function checkCondition (cond: unknown, check: Check, depth: number): void {
  check.depth(depth)
  if (!isPlainObject(cond) || cond instanceof RegExp) return checkLiteral(cond, check, depth)
  const keys = Object.keys(cond)
  const ops = keys.filter(isOperator)
  if (ops.length === 0) return checkLiteral(cond, check, depth)
  if (ops.length !== keys.length) check.fail('a condition mixes operators and fields')
  for (const op of ops) {
    const v = cond[op]
    if (!FIELD_OPS.has(op)) refuseOperator(op, check, 'in a field condition')
    check.operator()
    switch (op) {
      case '$eq': case '$ne': case '$gt': case '$gte': case '$lt': case '$lte':
        checkLiteral(v, check, depth + 1)
        break
      case '$in': case '$nin':
      case '$all':
        if (!Array.isArray(v)) check.fail(`${op} expects an array`)
        check.valueCount(v.length)
        for (const item of v) {
          if (op === '$all' && isPlainObject(item) && Object.keys(item)[0] === '$elemMatch') checkCondition(item, check, depth + 2)
          else checkLiteral(item, check, depth + 2)
        }
        break
      case '$not':
        checkCondition(v, check, depth + 1)
        break
      case '$exists':
        if (typeof v !== 'boolean' && v !== 0 && v !== 1) check.fail('$exists expects true or false')
        break
      case '$size':
        if (!Number.isSafeInteger(v) || (v as number) < 0) check.fail('$size expects a non-negative integer')
        break
      case '$type': {
        const types = Array.isArray(v) ? v : [v]
        if (types.length === 0 || types.length > 16 ||
          !types.every((t) => (typeof t === 'string' && t.length <= 16) || Number.isSafeInteger(t))) {
          check.fail('$type expects a type name or number, or an array of them')
        }
        break
      }
      case '$elemMatch':
        if (!isPlainObject(v)) check.fail('$elemMatch expects an object')
        checkElemMatch(v, check, depth + 1)
        break
      case '$regex':
        check.regex(v, cond.$options ?? '')
        break
      case '$options':
        if (!('$regex' in cond)) check.fail('$options without $regex')
        break
    }
  }
}

/** `$elemMatch` criteria: operators on the element itself, or a query on element documents (as mingo reads it). */
function checkElemMatch (criteria: JsonObject, check: Check, depth: number): void {
  const keys = Object.keys(criteria)
  if (keys.length > 0 && keys.every((k) => isOperator(k) && !LOGICAL.has(k))) checkCondition(criteria, check, depth)
  else checkQuery(criteria, check, depth)
}

function queryCheck (value: unknown, depth: number): Check {
  const check = new Check('ERR_QUERY_INVALID')
  checkQuery(value, check, depth)
  return check
}

/**
 * Refuses anything outside the query allow list (ERR_QUERY_INVALID): operators other than
 * {@link QUERY_OPERATORS}, `$regex` patterns RE2 cannot run or over the size caps, malformed
 * operator arguments, more than the per-query caps, nesting deeper than 32 levels.
 */
export function assertSafeQuery (value: unknown, depth = 0): void {
  if (value === undefined) return
  queryCheck(value, depth)
}

function fieldsCheck (fields: unknown, check: Check, depth: number): void {
  check.depth(depth)
  if (!isPlainObject(fields)) check.fail('fields must be an object')
  for (const [k, v] of Object.entries(fields)) {
    if (isOperator(k)) refuseOperator(k, check, 'in fields')
    checkPath(k, check)
    if (v === 0 || v === 1 || v === true || v === false) continue
    if (!isPlainObject(v)) check.fail(`fields.${k} must be 0, 1, true or false (expressions are not allowed)`)
    const keys = Object.keys(v)
    const ops = keys.filter(isOperator)
    if (keys.length === 0) check.fail(`fields.${k} is an empty object`)
    if (ops.length === 0) {
      fieldsCheck(v, check, depth + 1)
      continue
    }
    if (keys.length !== 1) check.fail(`fields.${k} mixes operators and fields, or holds more than one operator`)
    const op = ops[0] as string
    if (op !== '$elemMatch') refuseOperator(op, check, 'in fields (only inclusion, exclusion and $elemMatch)')
    if (depth > 0 || k.includes('.')) check.fail('$elemMatch is only allowed on a top-level field')
    if (!isPlainObject(v[op])) check.fail('$elemMatch expects an object')
    check.operator()
    checkElemMatch(v[op] as JsonObject, check, depth + 2)
  }
}

/**
 * Refuses anything but inclusion/exclusion in a projection (ERR_FIELDS_INVALID): values other than
 * 0, 1, true, false or a nested object of those; a top-level `$elemMatch` with allowed query criteria
 * is the one operator (bounded: it filters an array the document already holds). `$slice` is refused:
 * mingo evaluates the sliced array's elements as expressions.
 */
export function assertSafeFields (fields: unknown, depth = 0): void {
  fieldsCheck(fields, new Check('ERR_FIELDS_INVALID'), depth)
}

/**
 * A checked copy of a query or projection for mingo: every condition holding `$regex` has it (and
 * `$options`) replaced by the matcher compiled during the check. Only the objects on the way to a
 * `$regex` are copied; the rest is shared with the input (mingo copies what it keeps anyway).
 */
function withMatchers<T> (value: T, matchers: Map<string, Re2Matcher>): T {
  if (Array.isArray(value)) {
    let out: unknown[] | null = null
    value.forEach((item: unknown, i) => {
      const next = withMatchers(item, matchers)
      if (next !== item) (out ??= value.slice())[i] = next
    })
    return (out ?? value) as T
  }
  if (!isPlainObject(value)) return value
  const hasRegex = Object.hasOwn(value, '$regex')
  let out: JsonObject | null = null
  for (const [k, v] of Object.entries(value)) {
    if (hasRegex && (k === '$regex' || k === '$options')) {
      out ??= copyBefore(value, k)
      if (k === '$regex') {
        const matcher = matchers.get(regexKey(v as string, (value.$options ?? '') as string))
        if (matcher === undefined) throw new WrkError('ERR_QUERY_INVALID', '$regex was not checked')
        setOwn(out, RE2_REGEX_OP, matcher)
      }
      continue
    }
    const next = withMatchers(v, matchers)
    if (next !== v || out !== null) setOwn(out ??= copyBefore(value, k), k, next)
  }
  return (out ?? value) as T
}

/** Sets an own property, as JSON.parse does (a `__proto__` key stays a key, not the prototype). */
function setOwn (obj: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
}

/** The entries of `obj` before key `stop` (the keys already walked unchanged), as a new object. */
function copyBefore (obj: JsonObject, stop: string): JsonObject {
  const out: JsonObject = {}
  for (const [k, v] of Object.entries(obj)) {
    if (k === stop) break
    setOwn(out, k, v)
  }
  return out
}

/** Checks a query ({@link assertSafeQuery}) and returns it ready for the mingo context (compiled `$regex`). */
export function prepareQuery (query: JsonObject): JsonObject {
  return withMatchers(query, queryCheck(query, 0).matchers)
}

/** Checks a projection ({@link assertSafeFields}) and returns it ready for the mingo context. */
export function prepareFields (fields: JsonObject): JsonObject {
  const check = new Check('ERR_FIELDS_INVALID')
  fieldsCheck(fields, check, 0)
  return withMatchers(fields, check.matchers)
}
