/**
 * The plain-path fast path of `project` (workers/tpl/thing/query/select.ts) gives exactly mingo's
 * result: same JSON, same key order, values shared rather than copied, same refusals.
 */
import fc from 'fast-check'
import { Query } from 'mingo'
import { describe, expect, it } from 'vitest'
import { project } from '../../../../workers/tpl/thing/query/select'
import type { JsonObject } from '../../../../workers/tpl/thing/types'

/** mingo on its own, as `project` used it before the fast path. */
function mingoProject (docs: JsonObject[], fields: JsonObject): string {
  try {
    return JSON.stringify(new Query({}).find<JsonObject>(docs, fields).all().map((d) => [Object.keys(d), d]))
  } catch {
    return 'refused'
  }
}

function ours (docs: JsonObject[], fields: JsonObject): string {
  try {
    return JSON.stringify(project(docs, fields).map((d) => [Object.keys(d), d]))
  } catch {
    return 'refused'
  }
}

const KEYS = ['a', 'b', 'c', 'last', 'snap', '_id']
const PATHS = ['a', 'b', 'c', 'a.b', 'a.c', 'b.a', 'last.snap', 'last.snap.a', 'last.ts', 'a.b.c', '_id']

const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(null), fc.constant(undefined), fc.boolean())
const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('v'), { maxKeys: 4 }))
})).v
const doc = fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 5 }) as fc.Arbitrary<JsonObject>
const fields = fc.uniqueArray(fc.constantFrom(...PATHS), { minLength: 1, maxLength: 4 })
  .chain((paths) => fc.tuple(...paths.map(() => fc.constantFrom<unknown>(1, true, 1, 0))).map((vals) => Object.fromEntries(paths.map((p, i) => [p, vals[i]]))))

describe('project: plain inclusion paths', () => {
  it('equals mingo on arbitrary documents and projections', () => {
    fc.assert(fc.property(fc.array(doc, { maxLength: 4 }), fields, (docs, f) => {
      expect(ours(docs, f as JsonObject)).toBe(mingoProject(docs, f as JsonObject))
    }), { numRuns: 3000 })
  })

  it('projects a thing document as listThings asks, sharing the values', () => {
    const stats = { status: 'running', power_w: 1 }
    const docs: JsonObject[] = [
      { id: 't-1', code: 'C-1', tags: ['t-container'], last: { snap: { success: true, stats }, ts: 5, alerts: [] } },
      { id: 't-2', code: 'C-2', last: {} },
      { id: 't-3', last: { snap: null } }
    ]
    const fieldsSpec = { id: 1, 'last.snap.stats.status': 1 }
    expect(ours(docs, fieldsSpec)).toBe(mingoProject(docs, fieldsSpec))
    expect(project(docs, fieldsSpec)).toEqual([
      { id: 't-1', last: { snap: { stats: { status: 'running' } } } },
      { id: 't-2', last: {} },
      { id: 't-3', last: {} }
    ])
    expect(project(docs, { 'last.snap.stats': 1 })[0]?.last).toEqual({ snap: { stats } })
    expect((project(docs, { 'last.snap.stats': 1 })[0]?.last as { snap: { stats: unknown } }).snap.stats).toBe(stats)
  })

  it('leaves arrays, exclusions, operators and path collisions to mingo', () => {
    const docs: JsonObject[] = [{ id: 'x', tags: [{ t: 1, u: 2 }], info: { a: 1, b: 2 } }]
    for (const f of [{ 'tags.t': 1 }, { info: 0 }, { 'info.a': 1, info: 1 }, { tags: { $elemMatch: { t: 1 } } }]) {
      expect(ours(docs, f as JsonObject)).toBe(mingoProject(docs, f as JsonObject))
    }
  })

  it('an $elemMatch with $regex (RE2 here, V8 in mingo alone) projects as mingo does', () => {
    const docs: JsonObject[] = [
      { id: 'x', comments: [{ user: 'alice', comment: 'fan noisy' }, { user: 'Bob', comment: 'ok' }, { user: 'bob', comment: 'FAN ok' }] },
      { id: 'y', comments: [{ user: 'carol', comment: 'pump' }] },
      { id: 'z', comments: 'not an array' }
    ]
    const fieldsSpecs: JsonObject[] = [
      { comments: { $elemMatch: { comment: { $regex: '^fan' } } } },
      { comments: { $elemMatch: { comment: { $regex: '^fan', $options: 'i' } } } },
      { comments: { $elemMatch: { user: { $regex: 'o' }, comment: { $not: { $regex: 'fan' } } } } },
      { comments: { $elemMatch: { user: { $regex: 'zzz' } } } }
    ]
    for (const f of fieldsSpecs) expect(ours(docs, f)).toBe(mingoProject(docs, f))
    expect(project(docs, fieldsSpecs[1] as JsonObject)[0]).toEqual({ comments: [{ user: 'alice', comment: 'fan noisy' }] })
  })
})
