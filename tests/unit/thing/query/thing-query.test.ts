/**
 * The query layer behind listThings / getThingsCount / forgetThings / applyThings / tailLog:
 * mingo match and projection with allow-listed operators only (the hostile corpus is in
 * query-hardening.test.ts), the natural (number-aware) multi-key sort with missing values last,
 * paging, and select (filter → sort → page → project).
 */
import { describe, expect, it } from 'vitest'
import { assertSafeQuery, getPath, match, naturalSort, page, project, select } from '../../../../workers/tpl/thing/query/select'
import type { JsonObject } from '../../../../workers/core/types'
import { WrkError } from '../../../../workers/core/errors'

function codeOf (fn: () => unknown): string | null {
  try {
    fn()
  } catch (err) {
    return err instanceof WrkError ? err.code : `not a WrkError: ${String(err)}`
  }
  return null
}

const things: JsonObject[] = [
  { id: 'a', code: 'MBT-KEHUA-0001', tags: ['t-container', 'grp-x'], info: { pos: 'pos-10', container: 'c1' }, last: { snap: { success: true } } },
  { id: 'b', code: 'MBT-KEHUA-0002', tags: ['t-container', 'grp-y'], info: { pos: 'pos-2', container: 'c2' }, last: { snap: { success: false } } },
  { id: 'c', code: 'MBT-KEHUA-0003', tags: ['t-container', 'grp-x'], info: { pos: 'pos-1', container: 'c1' }, last: {} }
]

describe('match', () => {
  it('returns every document for an empty or absent query', () => {
    expect(match(things, undefined)).toEqual(things)
    expect(match(things, {})).toEqual(things)
  })

  it('filters with MongoDB-style queries on nested fields and arrays', () => {
    expect(match(things, { 'info.container': 'c1' }).map((d) => d.id)).toEqual(['a', 'c'])
    expect(match(things, { tags: 'grp-y' }).map((d) => d.id)).toEqual(['b'])
    expect(match(things, { tags: { $in: ['grp-x'] }, 'info.pos': 'pos-1' }).map((d) => d.id)).toEqual(['c'])
    expect(match(things, { 'last.snap.success': true }).map((d) => d.id)).toEqual(['a'])
    expect(match(things, { $or: [{ id: 'a' }, { id: 'b' }] }).map((d) => d.id)).toEqual(['a', 'b'])
    expect(match(things, { type: 'miner-am-s19xp' })).toEqual([])
  })

  it.each(['$where', '$expr', '$function', '$accumulator'])('refuses %s at the top level', (op) => {
    expect(codeOf(() => match(things, { [op]: 'return true' }))).toBe('ERR_QUERY_INVALID')
  })

  it.each(['$where', '$expr', '$function', '$accumulator'])('refuses %s nested in $and / $or / a field', (op) => {
    expect(codeOf(() => match(things, { $and: [{ id: 'a' }, { [op]: 'x' }] }))).toBe('ERR_QUERY_INVALID')
    expect(codeOf(() => match(things, { $or: [{ id: 'a' }, { $and: [{ [op]: { a: 1 } }] }] }))).toBe('ERR_QUERY_INVALID')
    expect(codeOf(() => match(things, { info: { $elemMatch: { [op]: 1 } } }))).toBe('ERR_QUERY_INVALID')
  })

  it('refuses $expr even when it would be harmless and never evaluates $where code', () => {
    let evaluated = false
    const query = { $where: () => { evaluated = true; return true } }
    expect(codeOf(() => match(things, query))).toBe('ERR_QUERY_INVALID')
    expect(evaluated).toBe(false)
    expect(codeOf(() => match(things, { $expr: { $eq: ['$id', 'a'] } }))).toBe('ERR_QUERY_INVALID')
  })

  it('turns an invalid query into ERR_QUERY_INVALID', () => {
    expect(codeOf(() => match(things, { id: { $nosuchop: 1 } }))).toBe('ERR_QUERY_INVALID')
  })

  it('assertSafeQuery bounds the nesting depth and accepts plain queries', () => {
    let deep: JsonObject = { id: 'a' }
    for (let i = 0; i < 40; i++) deep = { $and: [deep] }
    expect(codeOf(() => assertSafeQuery(deep))).toBe('ERR_QUERY_INVALID')
    expect(codeOf(() => assertSafeQuery({ $and: [{ a: 1 }, { b: { $gt: 2 } }] }))).toBeNull()
  })
})

describe('project', () => {
  it('keeps only the included fields (nested paths too)', () => {
    expect(project(things, { code: 1 })).toEqual([{ code: 'MBT-KEHUA-0001' }, { code: 'MBT-KEHUA-0002' }, { code: 'MBT-KEHUA-0003' }])
    expect(project(things.slice(0, 1), { 'info.pos': 1, id: 1 })).toEqual([{ id: 'a', info: { pos: 'pos-10' } }])
  })

  it('drops excluded fields', () => {
    expect(project(things.slice(0, 1), { last: 0, info: 0, tags: 0 })).toEqual([{ id: 'a', code: 'MBT-KEHUA-0001' }])
  })

  it('returns the documents untouched without fields', () => {
    expect(project(things, undefined)).toBe(things)
    expect(project(things, {})).toBe(things)
  })

  it('refuses code-evaluating operators in a projection', () => {
    expect(codeOf(() => project(things, { x: { $function: { body: 'return 1', args: [], lang: 'js' } } }))).toBe('ERR_QUERY_INVALID')
  })

  it('refuses computing operators and expressions in a projection with ERR_FIELDS_INVALID', () => {
    expect(codeOf(() => project(things, { x: { $range: [0, 1e9] } }))).toBe('ERR_FIELDS_INVALID')
    expect(codeOf(() => project(things, { x: { $map: { input: '$tags', in: '$$this' } } }))).toBe('ERR_FIELDS_INVALID')
    expect(codeOf(() => project(things, { x: '$id' }))).toBe('ERR_FIELDS_INVALID')
    expect(codeOf(() => project(things, { tags: { $slice: 1 } }))).toBe('ERR_FIELDS_INVALID')
  })
})

describe('select', () => {
  it('filters, sorts on the unprojected documents, pages, then projects', () => {
    // sorting by info.pos works although fields leave info out
    expect(select(things, { query: { tags: 'grp-x' }, sort: { 'info.pos': 1 }, limit: 1, fields: { id: 1 } })).toEqual([{ id: 'c' }])
    expect(select(things, { sort: { 'info.pos': -1 }, offset: 1, fields: { code: 1 } })).toEqual([{ code: 'MBT-KEHUA-0002' }, { code: 'MBT-KEHUA-0003' }])
    expect(select(things, {})).toEqual(things)
  })

  it('refuses a bad query or fields whatever the page', () => {
    expect(codeOf(() => select(things, { query: { id: { $regex: '(a)\\1' } }, limit: 0 }))).toBe('ERR_QUERY_INVALID')
    expect(codeOf(() => select([], { query: { id: { $regex: '(?=a)' } } }))).toBe('ERR_QUERY_INVALID')
    expect(codeOf(() => select([], { fields: { x: { $range: [0, 1e9] } } }))).toBe('ERR_FIELDS_INVALID')
  })

  it('runs the stacked quantifiers mayBacktrack used to flag: $regex is RE2 now', () => {
    expect(select(things, { query: { code: { $regex: `${'.*'.repeat(10)}3` } }, fields: { id: 1 } })).toEqual([{ id: 'c' }])
    expect(select(things, { query: { code: { $regex: '^MBT-KEHUA-00' } } })).toEqual(things)
  })
})

describe('naturalSort', () => {
  const pos = (docs: JsonObject[]): unknown[] => docs.map((d) => getPath(d, 'info.pos'))
  const docs: JsonObject[] = [
    { id: '1', info: { pos: 'pos-10' } },
    { id: '2', info: {} },
    { id: '3', info: { pos: 'pos-2' } },
    { id: '4', info: { pos: null } },
    { id: '5', info: { pos: 'pos-1' } },
    { id: '6' }
  ]

  it('is number-aware: pos-2 sorts before pos-10', () => {
    expect(pos(naturalSort(docs, { 'info.pos': 1 })).slice(0, 3)).toEqual(['pos-1', 'pos-2', 'pos-10'])
    expect(pos(naturalSort(docs, { 'info.pos': -1 })).slice(0, 3)).toEqual(['pos-10', 'pos-2', 'pos-1'])
  })

  it('puts missing values (absent, null, missing parent) last in both directions', () => {
    for (const dir of [1, -1]) {
      const sorted = naturalSort(docs, { 'info.pos': dir })
      expect(sorted.slice(3).map((d) => d.id).sort()).toEqual(['2', '4', '6'])
      expect(sorted.slice(0, 3).every((d) => typeof getPath(d, 'info.pos') === 'string')).toBe(true)
    }
  })

  it('compares numbers numerically and breaks ties with the next key', () => {
    const rows: JsonObject[] = [
      { g: 'b', n: 10, id: 'x' },
      { g: 'a', n: 9, id: 'y' },
      { g: 'b', n: 2, id: 'z' },
      { g: 'a', n: 100, id: 'w' },
      { n: 1, id: 'v' }
    ]
    expect(naturalSort(rows, { g: 1, n: -1 }).map((r) => r.id)).toEqual(['w', 'y', 'x', 'z', 'v'])
    expect(naturalSort(rows, { g: -1, n: 1 }).map((r) => r.id)).toEqual(['z', 'x', 'y', 'w', 'v'])
    expect(naturalSort(rows, { n: 1 }).map((r) => r.id)).toEqual(['v', 'z', 'y', 'x', 'w'])
  })

  it('keeps the input order without a sort and does not mutate the input', () => {
    const copy = [...docs]
    expect(naturalSort(docs, undefined)).toEqual(copy)
    naturalSort(docs, { 'info.pos': 1 })
    expect(docs).toEqual(copy)
  })

  it('sorts codes like MBT-KEHUA-0009 < MBT-KEHUA-0010 and case-insensitively', () => {
    const rows: JsonObject[] = [{ c: 'MBT-KEHUA-0010' }, { c: 'mbt-kehua-0009' }, { c: 'MBT-KEHUA-0100' }]
    expect(naturalSort(rows, { c: 1 }).map((r) => r.c)).toEqual(['mbt-kehua-0009', 'MBT-KEHUA-0010', 'MBT-KEHUA-0100'])
  })
})

describe('page', () => {
  const items = Array.from({ length: 10 }, (_, i) => i)

  it('applies offset and limit', () => {
    expect(page(items, { offset: 2, limit: 3 })).toEqual([2, 3, 4])
    expect(page(items, { offset: 8, limit: 5 })).toEqual([8, 9])
    expect(page(items, { offset: 20, limit: 5 })).toEqual([])
    expect(page(items, { limit: 0 })).toEqual([])
  })

  it('defaults to everything from offset 0 and clamps negatives', () => {
    expect(page(items, {})).toEqual(items)
    expect(page(items, { offset: 7 })).toEqual([7, 8, 9])
    expect(page(items, { offset: -3, limit: 2 })).toEqual([0, 1])
    expect(page(items, { offset: 0, limit: -1 })).toEqual([])
  })
})
