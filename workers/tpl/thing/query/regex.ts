/**
 * `$regex` on a linear-time engine. Patterns are compiled by re2js (a JavaScript port of RE2),
 * never by V8's backtracking RegExp: matching a value costs O(n·m) for an n-character value and a
 * program of m instructions, whatever the pattern's shape. What is bounded here is m and the
 * engine's memory:
 *
 * - a pattern is at most {@link MAX_REGEX_LENGTH} characters and compiles to at most
 *   {@link MAX_REGEX_PROGRAM} RE2 instructions (RE2 itself refuses counts above 1000);
 * - RE2 syntax: no back-references, no lookarounds (they cannot be matched in linear time), and no
 *   Unicode classes `\p{…}` (as before; each costs a search over hundreds of ranges per character),
 *   so such a pattern is refused before any document is read;
 * - each compiled pattern's lazy DFA keeps at most {@link DFA_MEMORY} bytes (re2js' default is 8 MiB)
 *   and {@link MAX_DFA_STATES} states: a pattern whose DFA keeps growing or had to drop its cache
 *   (a counted repeat over characters the unanchored search also takes, `a[ab]{100}$`, can need a
 *   new state per character) runs on RE2's NFA for the rest of the query — still O(m) per
 *   character, without allocating a DFA state per character.
 *
 * Matching is a search (anywhere in the value), like `RegExp.prototype.test`.
 */
import { RE2JS, RE2JSException } from 're2js'
import type { Any, Options } from 'mingo/types'
import { $regex as mingoRegex } from 'mingo/operators/query/evaluation'
import { WrkError } from '../../../core/errors'

/** Longest `$regex` pattern accepted, in UTF-16 code units. */
export const MAX_REGEX_LENGTH = 256
/**
 * Largest RE2 program (`RE2JS.programSize()`, about one instruction per character position once
 * counted repeats are unrolled) a `$regex` may compile to: `.*.{100}x` is 105, `^MBT-KEHUA-\d{4}$`
 * 18. The cost of testing a value is at most ≈ 20 ns per instruction per character (every
 * instruction a live NFA thread): ≈ 0.2 s for a 64 KiB value at this cap with the costliest
 * shape built for it (`\w{110}$|a[ab]{12}$`), a few ms for ordinary patterns.
 */
export const MAX_REGEX_PROGRAM = 128
/** DFA states a compiled pattern may build before it is run on the NFA only. */
const MAX_DFA_STATES = 1024
/**
 * The lazy DFA's memory budget per compiled pattern (re2js' accounting, bytes; its default is
 * 8 MiB). Enough for the states of any pattern whose DFA settles (`.*.{100}x` needs about 100);
 * a pattern whose DFA would need a state per character exhausts it within a few hundred
 * characters and goes to the NFA instead of allocating megabytes.
 */
const DFA_MEMORY = 256 * 1024

/** `$options` letters and the RE2 flag each sets. */
const OPTION_FLAGS: Record<string, number> = { i: RE2JS.CASE_INSENSITIVE, m: RE2JS.MULTILINE, s: RE2JS.DOTALL }

/** Why a `$regex` is refused: the message of the ERR_QUERY_INVALID / ERR_FIELDS_INVALID it becomes. */
export class RegexRefusal extends Error {}

/** The RE2 flags of an `$options` string (each of `i`, `m`, `s` at most once), or null. */
export function regexFlags (options: string): number | null {
  if (options.length > 3) return null
  let flags = 0
  for (const ch of options) {
    const flag = OPTION_FLAGS[ch]
    if (flag === undefined || (flags & flag) !== 0) return null
    flags |= flag
  }
  return flags
}

/** A compiled `$regex`: test() searches a string; exec() is what mingo's `$regex` predicate calls. */
export class Re2Matcher {
  /** RE2 instructions of the compiled program. */
  readonly program: number
  private readonly re: RE2JS
  private dfaStates = 0

  constructor (re: RE2JS) {
    this.re = re
    this.program = re.programSize()
    const dfa = re.re2Input.dfa
    dfa.stateBudget = DFA_MEMORY
    dfa.memBudget = DFA_MEMORY
  }

  /** Whether the pattern matches anywhere in `value`. */
  test (value: string): boolean {
    const hit = this.re.test(value)
    this.boundDfa()
    return hit
  }

  /** For mingo's `$regex` predicate (it only looks at whether the result is truthy). */
  exec (value: string): [] | null {
    return this.test(value) ? [] : null
  }

  /** Past MAX_DFA_STATES, or once the DFA had to drop its cache (it shrank), the NFA takes over. */
  private boundDfa (): void {
    const dfa = this.re.re2Input.lazyDFA as typeof this.re.re2Input.lazyDFA | null
    if (dfa === null || dfa.failed) return
    if (dfa.stateCount > MAX_DFA_STATES || dfa.stateCount < this.dfaStates) {
      dfa.failed = true
      dfa.clearCache()
      return
    }
    this.dfaStates = dfa.stateCount
  }
}

/**
 * Compiles a `$regex` pattern with its `$options`, or throws a {@link RegexRefusal} saying why it
 * is refused (not a string, too long, options other than i/m/s, not RE2 syntax, too large).
 */
export function compileRegex (pattern: unknown, options: unknown = ''): Re2Matcher {
  if (typeof pattern !== 'string') throw new RegexRefusal('$regex expects a string')
  if (typeof options !== 'string') throw new RegexRefusal('$options expects a string')
  if (pattern.length > MAX_REGEX_LENGTH) {
    throw new RegexRefusal(`$regex refused: longer than ${MAX_REGEX_LENGTH} characters (MAX_REGEX_LENGTH)`)
  }
  const flags = regexFlags(options)
  if (flags === null) throw new RegexRefusal(`$regex refused: options "${options.slice(0, 16)}" (only i, m and s, each at most once)`)
  let re: RE2JS
  try {
    re = RE2JS.compile(pattern, flags | RE2JS.DISABLE_UNICODE_GROUPS)
  } catch (err) {
    if (!(err instanceof RE2JSException)) throw err
    throw new RegexRefusal(`$regex refused: ${err.message} (RE2 syntax, without back-references, lookarounds or \\p{…} classes)`)
  }
  const matcher = new Re2Matcher(re)
  if (matcher.program > MAX_REGEX_PROGRAM) {
    throw new RegexRefusal(`$regex refused: compiles to ${matcher.program} instructions, ` +
      `more than ${MAX_REGEX_PROGRAM} (MAX_REGEX_PROGRAM)`)
  }
  return matcher
}

/** The key a pattern is compiled under: the same pattern and flags compile once per query. */
export function regexKey (pattern: string, options: string): string {
  return `${regexFlags(options) ?? options}/${pattern}`
}

/**
 * The name the RE2 `$regex` operator is registered under in the mingo context. mingo's Query
 * turns any condition holding a `$regex` key into a V8 RegExp before an operator sees it, so
 * checked queries reach mingo with `{$regex, $options}` replaced by `{[RE2_REGEX_OP]: Re2Matcher}`
 * (query-allowlist.ts) and mingo's own `$regex` is not registered at all. A request can never
 * name this operator itself: the allow list refuses every `$` key it does not know.
 */
export const RE2_REGEX_OP = '$re2Regex' as const

/**
 * The mingo query operator: mingo's own `$regex` predicate (a value or any element of an array
 * value, arrays of arrays flattened one level; non-strings never match) run with a
 * {@link Re2Matcher} in place of the RegExp.
 */
export function re2Regex (selector: string, value: Any, options: Options): ReturnType<typeof mingoRegex> {
  if (!(value instanceof Re2Matcher)) throw new WrkError('ERR_QUERY_INVALID', '$regex was not compiled')
  return mingoRegex(selector, value as unknown as Any, options)
}
