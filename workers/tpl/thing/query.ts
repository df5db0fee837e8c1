import { Query } from 'mingo'
import { WrkError } from '../errors'

export type Doc = Record<string, unknown>
export type SortSpec = Record<string, number>

const FORBIDDEN_OPERATORS = new Set(['$where', '$expr', '$function', '$accumulator', '$regexMatch', '$regexFind', '$regexFindAll'])
const MAX_REGEX_LENGTH = 256

/** True when `pattern[i]` starts a quantifier that repeats without bound or with a range. */
function isRepeat (pattern: string, i: number): boolean {
  const c = pattern[i]
  return c === '+' || c === '*' || (c === '{' && /^\{\d*,?\d*\}/.test(pattern.slice(i)))
}

/**
 * Whether a pattern can backtrack catastrophically: a repeated group that contains, at any depth,
 * another quantifier or an alternation (`(a+)+`, `((a)+)+`, `(a|aa)*`), or a back-reference.
 * Character classes and escapes are skipped; a lone `?` is harmless.
 */
export function mayBacktrack (pattern: string): boolean {
  const stack: boolean[] = [false]
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '\\') {
      if (/[1-9k]/.test(pattern[i + 1] ?? '')) return true
      i++
    } else if (c === '[') {
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++
    } else if (c === '(') {
      stack.push(false)
    } else if (c === ')') {
      const inner = stack.length > 1 ? stack.pop() ?? false : false
      const repeated = isRepeat(pattern, i + 1)
      if (repeated && inner) return true
      stack[stack.length - 1] ||= inner || repeated
    } else if (c === '|' || isRepeat(pattern, i)) {
      stack[stack.length - 1] = true
    }
  }
  return false
}

function assertSafePattern (pattern: unknown): void {
  if (typeof pattern !== 'string') return
  if (pattern.length > MAX_REGEX_LENGTH || mayBacktrack(pattern)) {
    throw new WrkError('ERR_QUERY_INVALID', '$regex pattern is too long or may backtrack catastrophically')
  }
}

/**
 * Refuses operators that evaluate code or expressions (they could reach anything in memory)
 * and `$regex` patterns that could block the event loop.
 */
export function assertSafeQuery (value: unknown, depth = 0): void {
  if (depth > 32) throw new WrkError('ERR_QUERY_INVALID', 'query nested too deeply')
  if (Array.isArray(value)) {
    for (const v of value) assertSafeQuery(v, depth + 1)
    return
  }
  if (value === null || typeof value !== 'object') return
  for (const [k, v] of Object.entries(value)) {
    if (FORBIDDEN_OPERATORS.has(k)) throw new WrkError('ERR_QUERY_INVALID', `operator ${k} is not allowed`)
    if (k === '$regex') assertSafePattern(v)
    assertSafeQuery(v, depth + 1)
  }
}

function compile (query: Doc): Query {
  assertSafeQuery(query)
  try {
    return new Query(query)
  } catch (err) {
    throw new WrkError('ERR_QUERY_INVALID', (err as Error).message)
  }
}

/** Documents matching a MongoDB-style query (mingo); `{}` or undefined matches all. */
export function match<T extends Doc> (docs: T[], query: Doc | undefined): T[] {
  if (!query || Object.keys(query).length === 0) return docs
  const q = compile(query)
  try {
    return docs.filter((d) => q.test(d))
  } catch (err) {
    throw new WrkError('ERR_QUERY_INVALID', (err as Error).message)
  }
}

/** MongoDB-style projection of each document. */
export function project (docs: Doc[], fields: Doc | undefined): Doc[] {
  if (!fields || Object.keys(fields).length === 0) return docs
  assertSafeQuery(fields)
  try {
    return new Query({}).find<Doc>(docs, fields).all()
  } catch (err) {
    throw new WrkError('ERR_FIELDS_INVALID', (err as Error).message)
  }
}

export function getPath (doc: unknown, dotted: string): unknown {
  let cur: unknown = doc
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Doc)[part]
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
