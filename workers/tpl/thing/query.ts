/**
 * The query layer behind listThings / getThingsCount / forgetThings / applyThings / tailLog /
 * getWrkConf. Queries and projections are data, checked against an allow list before mingo sees
 * them, and mingo runs with a context that holds only the allowed operators (no expression,
 * accumulator or pipeline operator is registered at all), so nothing in a request can compute.
 *
 * - Query operators: {@link QUERY_OPERATORS}; anything else starting with `$` → ERR_QUERY_INVALID.
 * - Projections (`fields`): inclusion / exclusion only (0, 1, true, false; dotted or nested plain
 *   paths) and a top-level `$elemMatch` whose criteria is an allowed query; anything else →
 *   ERR_FIELDS_INVALID naming the operator or the value.
 * - `$regex`: at most MAX_REGEX_LENGTH characters, options from `i m s`, and a shape whose
 *   backtracking cost is bounded (see {@link regexRefusal}); it is tested only against strings of at
 *   most MAX_REGEX_INPUT characters (a longer one fails the query rather than stall the worker).
 * - The code-evaluating operators (`$where`, `$expr`, `$function`, `$accumulator`, `$regexMatch`,
 *   `$regexFind`, `$regexFindAll`) keep their long-standing code ERR_QUERY_INVALID wherever they
 *   appear, in a projection too.
 */
import { Query } from 'mingo/query'
import { Context } from 'mingo/core'
import { $eq, $gt, $gte, $in, $lt, $lte, $ne, $nin } from 'mingo/operators/query/comparison'
import { $and, $nor, $not, $or } from 'mingo/operators/query/logical'
import { $all, $elemMatch, $size } from 'mingo/operators/query/array'
import { $exists, $type } from 'mingo/operators/query/element'
import { $regex as mingoRegex } from 'mingo/operators/query/evaluation'
import { $elemMatch as projectElemMatch } from 'mingo/operators/projection'
import { WrkError } from '../errors'

import type { JsonObject } from '../types'
export type SortSpec = Record<string, number>

/** Longest `$regex` pattern accepted, in UTF-16 code units. */
export const MAX_REGEX_LENGTH = 256
/** Longest string a `$regex` is tested against; a longer value makes the query fail with ERR_QUERY_INVALID. */
export const MAX_REGEX_INPUT = 1024
/** Deepest nesting of a query or projection (the RPC layer already refuses more than 32 levels). */
const MAX_DEPTH = 32
/** Largest `{n}` / `{n,m}` repeat count in a `$regex`. */
const MAX_REGEX_REPEAT = 100
/** Most character positions a `$regex` may expand to (counted repeats unrolled). */
const MAX_REGEX_POSITIONS = 512
/** Most pairwise character-set comparisons the regex check may make before calling a pattern too complex. */
const MAX_REGEX_COMPARISONS = 100_000

/** Operators allowed in a query, by where they may appear. */
export const QUERY_OPERATORS = {
  /** At the top level of a query (or of an `$elemMatch` on documents): arrays of queries. */
  logical: ['$and', '$or', '$nor'],
  /** In a field's condition. */
  field: ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$not', '$exists', '$type', '$elemMatch', '$size', '$all', '$regex', '$options']
} as const
/** Operators allowed in a projection (`fields`), besides 0 / 1 / true / false. */
export const FIELDS_OPERATORS = ['$elemMatch'] as const

/** Operators that evaluate code or expressions: refused with ERR_QUERY_INVALID wherever they appear. */
const CODE_OPERATORS = new Set(['$where', '$expr', '$function', '$accumulator', '$regexMatch', '$regexFind', '$regexFindAll'])
const LOGICAL = new Set<string>(QUERY_OPERATORS.logical)
const FIELD_OPS = new Set<string>(QUERY_OPERATORS.field)
const REGEX_OPTIONS = /^(?!.*(.).*\1)[ims]*$/

// ---- $regex safety -----------------------------------------------------------------------------

/**
 * A set of UTF-16 code units as sorted, disjoint, non-adjacent inclusive ranges `[lo0, hi0, lo1, hi1, …]`.
 * (Without the `u` flag a pattern and its input are sequences of code units.)
 */
type CharSet = number[]
const MAX_CU = 0xffff

function charSet (ranges: Array<[number, number]>): CharSet {
  const sorted = ranges.filter(([lo, hi]) => lo <= hi).sort((a, b) => a[0] - b[0])
  const out: CharSet = []
  for (const [lo, hi] of sorted) {
    const n = out.length
    if (n > 0 && lo <= out[n - 1] + 1) out[n - 1] = Math.max(out[n - 1], hi)
    else out.push(lo, hi)
  }
  return out
}

function pairs (set: CharSet): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (let i = 0; i < set.length; i += 2) out.push([set[i], set[i + 1]])
  return out
}

function union (...sets: CharSet[]): CharSet {
  return charSet(sets.flatMap(pairs))
}

function negate (set: CharSet): CharSet {
  const out: Array<[number, number]> = []
  let next = 0
  for (const [lo, hi] of pairs(set)) {
    if (lo > next) out.push([next, lo - 1])
    next = hi + 1
  }
  if (next <= MAX_CU) out.push([next, MAX_CU])
  return charSet(out)
}

function intersects (a: CharSet, b: CharSet): boolean {
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    if (a[i + 1] < b[j]) i += 2
    else if (b[j + 1] < a[i]) j += 2
    else return true
  }
  return false
}

/**
 * What a set may match under the `i` flag, as a superset: ASCII letters gain their other case, and
 * a set holding any non-ASCII unit gains every non-ASCII unit (without `u`, case folding never maps
 * between ASCII and non-ASCII, so this is conservative and exact enough for overlap checks).
 */
function foldCase (set: CharSet): CharSet {
  const extra: Array<[number, number]> = []
  for (const [lo, hi] of pairs(set)) {
    const a = Math.max(lo, 0x41)
    const b = Math.min(hi, 0x5a)
    if (a <= b) extra.push([a + 0x20, b + 0x20])
    const c = Math.max(lo, 0x61)
    const d = Math.min(hi, 0x7a)
    if (c <= d) extra.push([c - 0x20, d - 0x20])
    if (hi >= 0x80) extra.push([0x80, MAX_CU])
  }
  return union(set, charSet(extra))
}

const cu = (ch: string): number => ch.charCodeAt(0)
const single = (code: number): CharSet => [code, code]
const DIGIT = charSet([[0x30, 0x39]])
const WORD = charSet([[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]])
const SPACE = charSet([[0x09, 0x0d], [0x20, 0x20], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a], [0x2028, 0x2029], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000], [0xfeff, 0xfeff]])
const LINE_TERMINATORS = charSet([[0x0a, 0x0a], [0x0d, 0x0d], [0x2028, 0x2029]])
const CLASS_ESCAPES: Record<string, CharSet> = { d: DIGIT, D: negate(DIGIT), w: WORD, W: negate(WORD), s: SPACE, S: negate(SPACE) }
const CONTROL_ESCAPES: Record<string, number> = { t: 0x09, n: 0x0a, v: 0x0b, f: 0x0c, r: 0x0d }

/** The parsed pattern: character positions, sequences, alternations and repeats. */
type RegexNode =
  | { k: 'set', set: CharSet }
  | { k: 'empty' }
  | { k: 'seq', items: RegexNode[] }
  | { k: 'alt', alts: RegexNode[] }
  | { k: 'rep', node: RegexNode, min: number, max: number }

/** Thrown inside the regex check; its message is the reason a pattern is refused. */
class Refusal extends Error {}

/**
 * A parser for the subset of JavaScript regex syntax (without the `u`/`v` flags) an operator
 * writes. Whatever it does not know is refused rather than guessed: back-references, lookarounds,
 * `\p{…}`, octal and letter identity escapes, modifiers groups.
 */
class RegexParser {
  private i = 0
  constructor (private readonly src: string, private readonly flags: string) {}

  parse (): RegexNode {
    const node = this.disjunction()
    if (this.i < this.src.length) throw new Refusal(`unexpected "${this.src[this.i]}"`)
    return node
  }

  private peek (offset = 0): string | undefined { return this.src[this.i + offset] }

  private disjunction (): RegexNode {
    const alts = [this.alternative()]
    while (this.peek() === '|') {
      this.i++
      alts.push(this.alternative())
    }
    return alts.length === 1 ? alts[0] : { k: 'alt', alts }
  }

  private alternative (): RegexNode {
    const items: RegexNode[] = []
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek()) {
      const atom = this.atom()
      if (atom === null) {
        if (this.quantifier() !== null) throw new Refusal('a quantified assertion')
        continue
      }
      const q = this.quantifier()
      items.push(q === null ? atom : { k: 'rep', node: atom, min: q[0], max: q[1] })
    }
    return items.length === 1 ? items[0] : { k: 'seq', items }
  }

  /** The next atom, or null for an assertion (`^ $ \b \B`, zero-width). */
  private atom (): RegexNode | null {
    const c = this.src[this.i++]
    switch (c) {
      case '^':
      case '$':
        return null
      case '.':
        return this.set(this.flags.includes('s') ? [0, MAX_CU] : negate(LINE_TERMINATORS))
      case '*':
      case '+':
      case '?':
        throw new Refusal('nothing to repeat')
      case '[':
        return this.set(this.charClass())
      case '(':
        return this.group()
      case '\\': {
        const e = this.src[this.i]
        if (e === 'b' || e === 'B') {
          this.i++
          return null
        }
        const esc = this.escape(false)
        return this.set(typeof esc === 'number' ? single(esc) : esc)
      }
      case '{':
        if (/^\d+(,\d*)?\}/.test(this.src.slice(this.i))) throw new Refusal('nothing to repeat')
        return this.set(single(cu(c)))
      default:
        return this.set(single(cu(c)))
    }
  }

  private set (set: CharSet): RegexNode {
    return { k: 'set', set: this.flags.includes('i') ? foldCase(set) : set }
  }

  private group (): RegexNode {
    if (this.peek() === '?') {
      if (this.peek(1) === ':') {
        this.i += 2
      } else if (this.peek(1) === '<' && /^<[A-Za-z_$][\w$]*>/.test(this.src.slice(this.i + 1))) {
        this.i = this.src.indexOf('>', this.i) + 1
      } else {
        throw new Refusal('lookarounds and modifier groups are not supported')
      }
    }
    const node = this.disjunction()
    if (this.src[this.i++] !== ')') throw new Refusal('unbalanced parenthesis')
    return node
  }

  /** `[min, max]` of a quantifier at the cursor (max = Infinity when unbounded), or null. */
  private quantifier (): [number, number] | null {
    const c = this.peek()
    let q: [number, number] | null = null
    if (c === '*') q = [0, Infinity]
    else if (c === '+') q = [1, Infinity]
    else if (c === '?') q = [0, 1]
    if (q !== null) {
      this.i++
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i))
      if (m === null) return null
      const min = Number(m[1])
      const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3])
      if (min > MAX_REGEX_REPEAT || (max !== Infinity && max > MAX_REGEX_REPEAT)) throw new Refusal(`a repeat count above ${MAX_REGEX_REPEAT}`)
      if (min > max) throw new Refusal('a repeat range out of order')
      this.i += m[0].length
      q = [min, max]
    } else {
      return null
    }
    if (this.peek() === '?') this.i++ // lazy: the same paths, tried in another order
    return q
  }

  /** An escape after `\` (cursor on the character after it): a code unit or a class. */
  private escape (inClass: boolean): number | CharSet {
    const e = this.src[this.i++]
    if (e === undefined) throw new Refusal('a trailing backslash')
    if (CLASS_ESCAPES[e] !== undefined) return CLASS_ESCAPES[e]
    if (CONTROL_ESCAPES[e] !== undefined) return CONTROL_ESCAPES[e]
    if (inClass && e === 'b') return 0x08
    if (e === '0' && !/\d/.test(this.peek() ?? '')) return 0
    if (/\d/.test(e)) throw new Refusal('back-references (and octal escapes) are not supported')
    if (e === 'c' && /[A-Za-z]/.test(this.peek() ?? '')) return cu(this.src[this.i++]) % 32
    const hex = e === 'x' ? 2 : e === 'u' ? 4 : 0
    if (hex > 0) {
      const digits = this.src.slice(this.i, this.i + hex)
      if (!new RegExp(`^[0-9A-Fa-f]{${hex}}$`).test(digits)) throw new Refusal(`\\${e} without ${hex} hex digits`)
      this.i += hex
      return parseInt(digits, 16)
    }
    if (/[A-Za-z]/.test(e)) throw new Refusal(`the escape \\${e} is not supported`)
    return cu(e)
  }

  /** A character class (cursor after `[`), as the set it matches. */
  private charClass (): CharSet {
    const negated = this.peek() === '^'
    if (negated) this.i++
    const parts: CharSet[] = []
    const classAtom = (): number | CharSet => {
      const c = this.src[this.i++]
      if (c === undefined) throw new Refusal('an unterminated character class')
      return c === '\\' ? this.escape(true) : cu(c)
    }
    while (this.peek() !== ']') {
      const lo = classAtom()
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) {
        this.i++
        const hi = classAtom()
        if (typeof lo === 'number' && typeof hi === 'number') {
          if (lo > hi) throw new Refusal('a class range out of order')
          parts.push(charSet([[lo, hi]]))
        } else {
          parts.push(typeof lo === 'number' ? single(lo) : lo, single(cu('-')), typeof hi === 'number' ? single(hi) : hi)
        }
      } else {
        parts.push(typeof lo === 'number' ? single(lo) : lo)
      }
    }
    this.i++
    const set = union(...parts)
    return negated ? negate(set) : set
  }
}

type NfaState =
  | { k: 'pos', set: CharSet, out: number }
  | { k: 'split', outs: number[] }
  | { k: 'accept' }

/**
 * The pattern as a position automaton: one `pos` state per character position (counted repeats
 * unrolled, `X{n,m}` as n copies then m−n nested optional ones), `split` states for the choices.
 */
function buildNfa (root: RegexNode): { states: NfaState[], start: number } {
  const states: NfaState[] = [{ k: 'accept' }]
  let positions = 0
  const add = (s: NfaState): number => {
    if (s.k === 'pos' && ++positions > MAX_REGEX_POSITIONS) throw new Refusal(`more than ${MAX_REGEX_POSITIONS} character positions`)
    states.push(s)
    return states.length - 1
  }
  const build = (node: RegexNode, next: number): number => {
    switch (node.k) {
      case 'set': return add({ k: 'pos', set: node.set, out: next })
      case 'empty': return next
      case 'seq': return node.items.reduceRight((acc, item) => build(item, acc), next)
      case 'alt': return add({ k: 'split', outs: node.alts.map((a) => build(a, next)) })
      case 'rep': {
        let cur = next
        let copies = node.min
        if (node.max === Infinity) {
          // X* is a loop; X+ enters its loop through the body (one copy of X, as engines build it)
          const loop = add({ k: 'split', outs: [] })
          const body = build(node.node, loop)
          ;(states[loop] as { outs: number[] }).outs = [body, next]
          cur = copies > 0 ? body : loop
          copies = Math.max(0, copies - 1)
        } else {
          for (let j = node.min; j < node.max; j++) cur = add({ k: 'split', outs: [build(node.node, cur), next] })
        }
        for (let j = 0; j < copies; j++) cur = build(node.node, cur)
        return cur
      }
    }
  }
  return { states, start: build(root, 0) }
}

/**
 * Why a `$regex` pattern is refused, or null when it is safe to run on a backtracking engine.
 *
 * The rule: after the position automaton of the pattern is built, a *choice* is a set of
 * continuations that could consume the same next character (overlapping character sets, case
 * folded under `i`, or one position reachable two ways). A pattern is accepted when, besides the
 * start (left once, so its choices are finite), it has **at most one choice** (the positions that
 * face the same set of continuations count once: entering `.*` and staying in it is one choice);
 * at most one of its continuations may lead back to it; and when it repeats, the others (the exits)
 * must lead to loop-free remainders, or to remainders whose characters cannot match where an exit
 * starts. So `.*foo`, `foo.*bar`, `bay-\d+`, `row-(a|ab)`, `^MBT.*-\d+$` pass, and `.*.*`, `\d*\d*`,
 * `a*a*`, `.+.+`, `(a+)+`, `(.*a){n}`, `(a|a)*`, `.*\d+x` are refused. Such a pattern does O(n·m)
 * work from each start offset of an n-character input (m = its length), O(n²·m) in all. Also
 * refused: back-references, lookarounds, repeats that can match the empty string (`(a*)*`), counts
 * above 100, more than 512 positions once counted repeats are unrolled.
 */
export function regexRefusal (pattern: string, options = ''): string | null {
  if (pattern.length > MAX_REGEX_LENGTH) return `longer than ${MAX_REGEX_LENGTH} characters`
  if (!REGEX_OPTIONS.test(options)) return `options "${options}" (only i, m and s are allowed)`
  try {
    void new RegExp(pattern, options)
  } catch {
    return 'not a valid regular expression'
  }
  try {
    return analyse(new RegexParser(pattern, options).parse())
  } catch (err) {
    if (err instanceof Refusal) return err.message
    throw err
  }
}

function analyse (root: RegexNode): string | null {
  const { states, start } = buildNfa(root)
  const ACCEPT = 0

  // successors of a state through splits, as target → number of distinct paths (capped at 2)
  const closures = new Map<number, Map<number, number>>()
  const onStack = new Set<number>()
  const closure = (id: number): Map<number, number> => {
    const s = states[id]
    if (s.k !== 'split') return new Map([[id, 1]])
    const cached = closures.get(id)
    if (cached) return cached
    if (onStack.has(id)) throw new Refusal('a repeated part can match the empty string')
    onStack.add(id)
    const out = new Map<number, number>()
    for (const o of s.outs) for (const [t, n] of closure(o)) out.set(t, Math.min(2, (out.get(t) ?? 0) + n))
    onStack.delete(id)
    closures.set(id, out)
    return out
  }
  const follows = new Map<number, Map<number, number>>()
  /** The positions that may consume the character after position p (-1: the start), end of match left out. */
  const follow = (p: number): Map<number, number> => {
    let out = follows.get(p)
    if (out === undefined) {
      const s = states[p]
      out = new Map(p === -1 ? closure(start) : s.k === 'pos' ? closure(s.out) : [])
      out.delete(ACCEPT)
      follows.set(p, out)
    }
    return out
  }
  const reach = (from: number): Set<number> => {
    const seen = new Set<number>([from])
    const todo = [from]
    while (todo.length > 0) {
      for (const t of follow(todo.pop() as number).keys()) {
        if (!seen.has(t)) {
          seen.add(t)
          todo.push(t)
        }
      }
    }
    return seen
  }
  /** Whether a cycle is reachable from `from` (Kahn's algorithm on the reachable part). */
  const reachesLoop = (from: number): boolean => {
    const nodes = reach(from)
    const indeg = new Map<number, number>()
    for (const n of nodes) for (const t of follow(n).keys()) indeg.set(t, (indeg.get(t) ?? 0) + 1)
    const todo = [...nodes].filter((n) => (indeg.get(n) ?? 0) === 0)
    let done = 0
    while (todo.length > 0) {
      const n = todo.pop() as number
      done++
      for (const t of follow(n).keys()) {
        const d = (indeg.get(t) ?? 0) - 1
        indeg.set(t, d)
        if (d === 0) todo.push(t)
      }
    }
    return done < nodes.size
  }

  const setOf = (q: number): CharSet => (states[q] as { set: CharSet }).set
  let comparisons = 0
  // the choice: the positions after which continuations compete, grouped by what competes
  let group: { key: string, members: number[], competing: Map<number, number> } | null = null
  for (let p = -1; p < states.length; p++) {
    if (p !== -1 && states[p].k !== 'pos') continue
    const entries = [...follow(p)]
    // the continuations that compete for a character (with a multiplicity when reachable two ways)
    const competing = new Map<number, number>()
    for (const [q, n] of entries) if (n > 1) competing.set(q, n)
    for (let a = 0; a < entries.length; a++) {
      for (let b = a + 1; b < entries.length; b++) {
        if (++comparisons > MAX_REGEX_COMPARISONS) return 'too complex to check'
        const [qa, na] = entries[a]
        const [qb, nb] = entries[b]
        if (intersects(setOf(qa), setOf(qb))) {
          competing.set(qa, na)
          competing.set(qb, nb)
        }
      }
    }
    if (competing.size === 0 || p === -1) continue // the start is left once: its choices are finite
    const key = [...competing].sort((x, y) => x[0] - y[0]).join(';')
    if (group === null) group = { key, members: [p], competing }
    else if (group.key === key) group.members.push(p) // entering a loop and staying in it: one choice
    else return 'stacked quantifiers or alternatives over overlapping characters'
  }
  if (group === null) return null
  const members = new Set(group.members)
  const reachesGroup = (q: number): boolean => [...reach(q)].some((r) => members.has(r))
  let returning = 0
  const exits: number[] = []
  for (const [q, n] of group.competing) {
    if (reachesGroup(q)) returning += n
    else exits.push(q)
  }
  if (returning > 1) return 'a nested or ambiguous repetition'
  const inLoop = returning > 0 || group.members.some((p) => [...follow(p).keys()].some(reachesGroup))
  if (inLoop && exits.some(reachesLoop)) {
    // an exit may lead to a loop only if nothing after it can match where another exit starts,
    // so that the remainders tried from successive exits never cover the same characters
    const exitChars = union(...exits.map(setOf))
    const after = new Set(exits.flatMap((q) => [...follow(q).keys()].flatMap((t) => [...reach(t)])))
    if ([...after].some((r) => intersects(setOf(r), exitChars))) return 'a repetition after an overlapping repetition'
  }
  return null
}

/** Whether a `$regex` pattern is refused by {@link regexRefusal} (kept for older callers). */
export function mayBacktrack (pattern: string): boolean {
  return regexRefusal(pattern) !== null
}

/** A RegExp that refuses to run on inputs longer than MAX_REGEX_INPUT (mingo calls `exec`). */
class BoundedRegExp extends RegExp {
  override exec (input: string): RegExpExecArray | null {
    if (typeof input === 'string' && input.length > MAX_REGEX_INPUT) {
      throw new WrkError('ERR_QUERY_INVALID', `$regex tested against a value longer than ${MAX_REGEX_INPUT} characters`)
    }
    return super.exec(input)
  }
}

// ---- allow-list validation ---------------------------------------------------------------------

type ErrCode = 'ERR_QUERY_INVALID' | 'ERR_FIELDS_INVALID'

function refuseOperator (op: string, code: ErrCode, where: string): never {
  if (CODE_OPERATORS.has(op)) throw new WrkError('ERR_QUERY_INVALID', `operator ${op} is not allowed`)
  throw new WrkError(code, `operator ${op} is not allowed ${where}`)
}

const isPlainObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v)
const isOperator = (k: string): boolean => k.startsWith('$')

function checkDepth (depth: number, code: ErrCode): void {
  if (depth > MAX_DEPTH) throw new WrkError(code, `${code === 'ERR_QUERY_INVALID' ? 'query' : 'fields'} nested too deeply`)
}

function checkPath (path: string, code: ErrCode): void {
  if (path === '' || path.split('.').some((seg) => seg === '' || isOperator(seg))) {
    throw new WrkError(code, `"${path}" is not a plain field path`)
  }
}

/** A value compared for equality: any JSON, but no `$` key anywhere (it would be an operator in disguise). */
function checkLiteral (value: unknown, code: ErrCode, depth: number): void {
  checkDepth(depth, code)
  if (Array.isArray(value)) {
    for (const v of value) checkLiteral(v, code, depth + 1)
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (isOperator(k)) refuseOperator(k, code, 'in a value')
      checkLiteral(v, code, depth + 1)
    }
  }
}

/** A query: field conditions and `$and`/`$or`/`$nor` of queries. */
function checkQuery (query: unknown, code: ErrCode, depth: number): void {
  checkDepth(depth, code)
  if (!isPlainObject(query)) throw new WrkError(code, 'a query must be an object')
  for (const [k, v] of Object.entries(query)) {
    if (isOperator(k)) {
      if (!LOGICAL.has(k)) refuseOperator(k, code, 'at the top level of a query')
      if (!Array.isArray(v) || v.length === 0) throw new WrkError(code, `${k} expects a non-empty array of queries`)
      for (const q of v) checkQuery(q, code, depth + 1)
    } else {
      checkPath(k, code)
      checkCondition(v, code, depth + 1)
    }
  }
}

/** What a field is matched with: a literal, or an object of allowed field operators. */
function checkCondition (cond: unknown, code: ErrCode, depth: number): void {
  checkDepth(depth, code)
  if (!isPlainObject(cond)) return checkLiteral(cond, code, depth)
  const keys = Object.keys(cond)
  const ops = keys.filter(isOperator)
  if (ops.length === 0) return checkLiteral(cond, code, depth)
  if (ops.length !== keys.length) throw new WrkError(code, 'a condition mixes operators and fields')
  for (const op of ops) {
    const v = cond[op]
    switch (op) {
      case '$eq': case '$ne': case '$gt': case '$gte': case '$lt': case '$lte':
        checkLiteral(v, code, depth + 1)
        break
      case '$in': case '$nin':
      case '$all':
        if (!Array.isArray(v)) throw new WrkError(code, `${op} expects an array`)
        for (const item of v) {
          if (op === '$all' && isPlainObject(item) && Object.keys(item)[0] === '$elemMatch') checkCondition(item, code, depth + 2)
          else checkLiteral(item, code, depth + 2)
        }
        break
      case '$not':
        checkCondition(v, code, depth + 1)
        break
      case '$exists':
        if (typeof v !== 'boolean' && v !== 0 && v !== 1) throw new WrkError(code, '$exists expects true or false')
        break
      case '$size':
        if (!Number.isSafeInteger(v) || (v as number) < 0) throw new WrkError(code, '$size expects a non-negative integer')
        break
      case '$type': {
        const types = Array.isArray(v) ? v : [v]
        if (types.length === 0 || types.length > 16 || !types.every((t) => (typeof t === 'string' && t.length <= 16) || Number.isSafeInteger(t))) {
          throw new WrkError(code, '$type expects a type name or number, or an array of them')
        }
        break
      }
      case '$elemMatch':
        if (!isPlainObject(v)) throw new WrkError(code, '$elemMatch expects an object')
        checkElemMatch(v, code, depth + 1)
        break
      case '$regex': {
        const options = cond.$options ?? ''
        if (typeof v !== 'string') throw new WrkError(code, '$regex expects a string')
        if (typeof options !== 'string') throw new WrkError(code, '$options expects a string')
        const why = regexRefusal(v, options)
        if (why !== null) throw new WrkError(code, `$regex refused: ${why}`)
        break
      }
      case '$options':
        if (!('$regex' in cond)) throw new WrkError(code, '$options without $regex')
        break
      default:
        if (!FIELD_OPS.has(op)) refuseOperator(op, code, 'in a field condition')
    }
  }
}

/** `$elemMatch` criteria: operators on the element itself, or a query on element documents (as mingo reads it). */
function checkElemMatch (criteria: JsonObject, code: ErrCode, depth: number): void {
  const keys = Object.keys(criteria)
  if (keys.length > 0 && keys.every((k) => isOperator(k) && !LOGICAL.has(k))) checkCondition(criteria, code, depth)
  else checkQuery(criteria, code, depth)
}

/**
 * Refuses anything outside the query allow list (ERR_QUERY_INVALID): operators other than
 * {@link QUERY_OPERATORS}, unsafe `$regex` patterns, malformed operator arguments, nesting deeper
 * than 32 levels.
 */
export function assertSafeQuery (value: unknown, depth = 0): void {
  if (value === undefined) return
  checkQuery(value, 'ERR_QUERY_INVALID', depth)
}

/**
 * Refuses anything but inclusion/exclusion in a projection (ERR_FIELDS_INVALID): values other than
 * 0, 1, true, false or a nested object of those; a top-level `$elemMatch` with allowed query criteria
 * is the one operator (bounded: it filters an array the document already holds). `$slice` is refused:
 * mingo evaluates the sliced array's elements as expressions.
 */
export function assertSafeFields (fields: unknown, depth = 0): void {
  const code = 'ERR_FIELDS_INVALID'
  checkDepth(depth, code)
  if (!isPlainObject(fields)) throw new WrkError(code, 'fields must be an object')
  for (const [k, v] of Object.entries(fields)) {
    if (isOperator(k)) refuseOperator(k, code, 'in fields')
    checkPath(k, code)
    if (v === 0 || v === 1 || v === true || v === false) continue
    if (!isPlainObject(v)) throw new WrkError(code, `fields.${k} must be 0, 1, true or false (expressions are not allowed)`)
    const keys = Object.keys(v)
    const ops = keys.filter(isOperator)
    if (keys.length === 0) throw new WrkError(code, `fields.${k} is an empty object`)
    if (ops.length === 0) {
      assertSafeFields(v, depth + 1)
      continue
    }
    if (keys.length !== 1) throw new WrkError(code, `fields.${k} mixes operators and fields, or holds more than one operator`)
    const op = ops[0]
    if (op !== '$elemMatch') refuseOperator(op, code, 'in fields (only inclusion, exclusion and $elemMatch)')
    if (depth > 0 || k.includes('.')) throw new WrkError(code, '$elemMatch is only allowed on a top-level field')
    if (!isPlainObject(v[op])) throw new WrkError(code, '$elemMatch expects an object')
    checkElemMatch(v[op] as JsonObject, code, depth + 2)
  }
}

// ---- mingo with only the allowed operators -----------------------------------------------------

/** mingo's own $regex, run with a {@link BoundedRegExp}. */
const boundedRegex: typeof mingoRegex = (selector, value, options) => {
  if (!(value instanceof RegExp)) throw new WrkError('ERR_QUERY_INVALID', '$regex expects a string')
  return mingoRegex(selector, new BoundedRegExp(value.source, value.flags), options)
}

const CONTEXT = Context.init({
  query: { $eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $and, $or, $nor, $not, $exists, $type, $elemMatch, $size, $all, $regex: boundedRegex },
  projection: { $elemMatch: projectElemMatch }
})

function rethrow (err: unknown, code: ErrCode): never {
  if (err instanceof WrkError) throw err
  throw new WrkError(code, (err as Error).message)
}

function compile (query: JsonObject): Query {
  assertSafeQuery(query)
  try {
    return new Query(query, { context: CONTEXT })
  } catch (err) {
    rethrow(err, 'ERR_QUERY_INVALID')
  }
}

/** Documents matching a MongoDB-style query (mingo, allow-listed operators); `{}` or undefined matches all. */
export function match<T extends JsonObject> (docs: T[], query: JsonObject | undefined): T[] {
  if (!query || Object.keys(query).length === 0) return docs
  const q = compile(query)
  try {
    return docs.filter((d) => q.test(d))
  } catch (err) {
    rethrow(err, 'ERR_QUERY_INVALID')
  }
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
  assertSafeFields(fields)
  const fast = projectFast(docs, fields)
  if (fast !== null) return fast
  try {
    return new Query({}, { context: CONTEXT }).find<JsonObject>(docs, fields).all()
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
