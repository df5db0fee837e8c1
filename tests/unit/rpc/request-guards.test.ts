/**
 * Request guards on pure units: request sanitising (assertPlainJson), the query guard (regex and
 * expression operators, runtime mingo errors), groupByRange and prototype keys, KeyedLock.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { assertPlainJson } from '../../../workers/rpc/limits'
import { assertSafeQuery, match, project } from '../../../workers/tpl/thing/query/select'
import { KeyedLock } from '../../../workers/core/async'
import { groupByRange } from '../../../workers/tpl/thing/logs/range-groups'
import { WrkError } from '../../../workers/core/errors'
import { thrownCode } from '../../helpers/errors'
import { sleep } from '../../helpers/wait'

/** Object.prototype must never receive a key from data. */
function prototypeIsClean (): boolean {
  const probe: Record<string, unknown> = {}
  return probe.polluted === undefined && !Object.hasOwn(Object.prototype, 'polluted')
}

/** Removes what a failing (unfixed) run may have put on Object.prototype, so later tests stay sane. */
function scrubPrototype (): void {
  Reflect.deleteProperty(Object.prototype, 'polluted')
}

// ---- assertPlainJson ---------------------------------------------------------------------------

describe('assertPlainJson (every request, before any layer sees it)', () => {
  afterEach(scrubPrototype)

  it.each([
    ['top-level __proto__', '{"__proto__": {"polluted": 1}}'],
    ['nested __proto__ (updateThing info)', '{"id": "t", "info": {"note": {"__proto__": {"polluted": 1}}}}'],
    ['__proto__ in a forget query', '{"query": {"__proto__": {"id": "x"}}}'],
    ['__proto__ inside an array', '{"params": [[1, {"a": {"__proto__": {"polluted": 1}}}]]}'],
    ['constructor key', '{"info": {"constructor": {"prototype": {"polluted": 1}}}}'],
    ['prototype key deep down', '{"a": {"b": {"c": {"d": {"prototype": 1}}}}}']
  ])('refuses %s with ERR_PARAMS_INVALID', (_name, text) => {
    const req: unknown = JSON.parse(text)
    expect(thrownCode(() => assertPlainJson(req))).toBe('ERR_PARAMS_INVALID')
    expect(prototypeIsClean()).toBe(true)
  })

  it('refuses absurd nesting, accepts ordinary requests (keys that merely look alike included)', () => {
    let deep: unknown = 1
    for (let i = 0; i < 40; i++) deep = { a: deep }
    expect(thrownCode(() => assertPlainJson(deep))).toBe('ERR_PARAMS_INVALID')
    const ok: unknown = JSON.parse('{"id": "t", "info": {"proto": 1, "__proto": 2, "constructors": [3], "Prototype": {"x": null}}, "tags": ["a"]}')
    expect(() => assertPlainJson(ok)).not.toThrow()
    for (const v of [null, 1, 'x', true, [], {}]) expect(() => assertPlainJson(v)).not.toThrow()
  })
})

// ---- query guard -------------------------------------------------------------------------------

describe('query guard', () => {
  // ids on which the patterns below backtrack on V8's engine (kept short: the expected answers use it)
  const docs = [{ id: 'a'.repeat(20), code: 'MBT-KEHUA-0001' }, { id: `z${'a'.repeat(24)}b`, code: 'MBT-KEHUA-0002' }]

  it.each([
    ['^([0-9a-f-]+)+x$', '^([0-9a-f-]+)+x$'],
    ['(a|aa)*$', '(a|aa)*$'],
    ['^(a+)+$', '^(a+)+$'],
    ['(\\w*)*z', '(\\w*)*z'],
    ['(x{1,3}){2,}y', '(x{1,3}){2,}y'],
    ['nested groups ^((a+))+$', '^((a+))+$'],
    ['nested groups ^((a)+)+$', '^((a)+)+$'],
    ['a non-capturing group ^((?:a+))+$', '^((?:a+))+$']
  ])('answers $regex %s quickly (RE2: linear time), as JavaScript would', (_label, pattern) => {
    const expected = docs.filter((d) => new RegExp(pattern).test(d.id))
    // only the query engine is timed: V8's backtracking takes ~0.8 s on (\w*)*z here (twice that for the two queries),
    // RE2 a few milliseconds; the bound leaves room for a loaded CI box
    const t0 = Date.now()
    const matched = match(docs, { id: { $regex: pattern } })
    const negated = match(docs, { $or: [{ code: 'x' }, { id: { $not: { $regex: pattern } } }] })
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(matched).toEqual(expected)
    expect(negated).toEqual(docs.filter((d) => !expected.includes(d)))
  })

  it.each([
    ['a back-reference (a)\\1+b', '(a)\\1+b'],
    ['a lookahead (?=a)', '(?=a)'],
    ['a pattern of 257 characters', 'a'.repeat(257)]
  ])('refuses $regex %s with ERR_QUERY_INVALID', (_label, pattern) => {
    expect(thrownCode(() => match(docs, { id: { $regex: pattern } }))).toBe('ERR_QUERY_INVALID')
    expect(thrownCode(() => match(docs, { $or: [{ code: 'x' }, { id: { $not: { $regex: pattern } } }] }))).toBe('ERR_QUERY_INVALID')
  })

  it('plain patterns still work', () => {
    expect(match(docs, { code: { $regex: '^MBT-KEHUA-000' } })).toHaveLength(2)
    expect(match(docs, { code: { $regex: '2$' } })).toEqual([docs[1]])
    expect(match(docs, { id: { $regex: '^z', $options: 'i' } })).toEqual([docs[1]])
    expect(() => assertSafeQuery({ id: { $regex: '^[a-z]+-\\d{4}$' } })).not.toThrow()
    expect(() => assertSafeQuery({ code: { $regex: '^MBT-(KEHUA|WONDERINT)-00' } })).not.toThrow()
    expect(() => assertSafeQuery({ code: { $regex: '\\(a+\\)+' } })).not.toThrow()
  })

  it.each(['$regexMatch', '$regexFind', '$regexFindAll'])('refuses the expression operator %s in a projection', (op) => {
    const fields = { x: { [op]: { input: '$id', regex: '^(a+)+$' } } }
    expect(thrownCode(() => project(docs, fields))).toBe('ERR_QUERY_INVALID')
  })

  it('a query mingo only rejects while matching ({code: {$in: 5}}) is ERR_QUERY_INVALID', () => {
    expect(thrownCode(() => match(docs, { code: { $in: 5 } }))).toBe('ERR_QUERY_INVALID')
    expect(thrownCode(() => match(docs, { code: { $nin: 'x' } }))).toBe('ERR_QUERY_INVALID')
  })
})

// ---- groupByRange ------------------------------------------------------------------------------

describe('groupByRange and prototype keys in stored entries', () => {
  afterEach(scrubPrototype)

  it('ignores __proto__ / constructor / prototype keys and leaves Object.prototype untouched', () => {
    const entries: unknown[] = [
      JSON.parse('{"ts": 61000, "power": 3, "__proto__": {"polluted": 1, "power": 100}}'),
      JSON.parse('{"ts": 60500, "power": 5, "stats": {"__proto__": {"polluted": 2}, "kw": 1}}'),
      JSON.parse('{"ts": 60000, "power": 4, "constructor": {"prototype": {"polluted": 3}}, "prototype": {"polluted": 4}}')
    ]
    const [bucket, ...rest] = groupByRange(entries, '1m')
    expect(rest).toEqual([])
    expect(prototypeIsClean()).toBe(true)
    expect(bucket).toEqual({ ts: 60000, count: 3, power: 12, stats: { kw: 1 } })
    expect(Object.getPrototypeOf(bucket)).toBe(Object.prototype)
    expect(Object.keys(bucket).sort()).toEqual(['count', 'power', 'stats', 'ts'])
    const stats = bucket.stats as Record<string, unknown>
    expect(Object.getPrototypeOf(stats)).toBe(Object.prototype)
    expect(Object.hasOwn(stats, '__proto__')).toBe(false)

    const [avg] = groupByRange(entries, '1m', true)
    expect(avg).toEqual({ ts: 60000, count: 3, power: 4, stats: { kw: 1 } })
    expect(prototypeIsClean()).toBe(true)
  })
})

// ---- KeyedLock ---------------------------------------------------------------------------------

describe('KeyedLock', () => {
  it('runs tasks of one key one at a time, in arrival order, and releases after a failure', async () => {
    const lock = new KeyedLock()
    const log: string[] = []
    let active = 0
    let peak = 0
    const task = (name: string, ms: number, fail = false) => async (): Promise<string> => {
      active++
      peak = Math.max(peak, active)
      log.push(`start ${name}`)
      await sleep(ms)
      log.push(`end ${name}`)
      active--
      if (fail) throw new WrkError('ERR_TEST')
      return name
    }
    const results = await Promise.allSettled([
      lock.run('t1', task('a', 30)),
      lock.run('t1', task('b', 5, true)),
      lock.run('t1', task('c', 1))
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'a' })
    expect(results[2]).toEqual({ status: 'fulfilled', value: 'c' })
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c'])
    expect(peak).toBe(1)
    // the key is free again afterwards
    expect(await lock.run('t1', async () => 'again')).toBe('again')
  })

  it('runs different keys in parallel', async () => {
    const lock = new KeyedLock()
    let active = 0
    let peak = 0
    const task = async (): Promise<void> => {
      active++
      peak = Math.max(peak, active)
      await sleep(20)
      active--
    }
    await Promise.all([lock.run('x', task), lock.run('y', task), lock.run('z', task)])
    expect(peak).toBe(3)
  })
})
