import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { currentInfoChanges, infoChanges } from '../../../../workers/tpl/thing/registry/info-changes'
import type { JsonObject } from '../../../../workers/core/types'

describe('infoChanges (the reference shape)', () => {
  it('dotted paths within info, nested objects key by key, arrays as additions/deletions, the rest as oldValue/newValue', () => {
    const prev = { pos: 'A1', site: { col: 1, row: 2, rack: { u: 3 } }, slots: ['a', 'b'], gone: 5, same: [1, 2], updatedAt: 1 }
    const next = { pos: 'A2', site: { col: 1, row: 3, rack: { u: 4 } }, slots: ['b', 'c'], added: { x: 1 }, same: [2, 1], updatedAt: 2 }
    expect(infoChanges(prev, next)).toEqual({
      pos: { oldValue: 'A1', newValue: 'A2' },
      'site.row': { oldValue: 2, newValue: 3 },
      'site.rack.u': { oldValue: 3, newValue: 4 },
      slots: { additions: ['c'], deletions: ['a'] },
      gone: { oldValue: 5 },
      added: { newValue: { x: 1 } }
    })
  })

  it('no change (updatedAt aside) → {}; a type change gives oldValue/newValue; objects in arrays compare as JSON', () => {
    expect(infoChanges({ a: 1, updatedAt: 1 }, { a: 1, updatedAt: 2 })).toEqual({})
    expect(infoChanges({ a: { b: 1 } }, { a: 'flat' })).toEqual({ a: { oldValue: { b: 1 }, newValue: 'flat' } })
    expect(infoChanges({ a: [{ k: 1 }] }, { a: [{ k: 1 }, { k: 2 }] })).toEqual({ a: { additions: [{ k: 2 }], deletions: [] } })
  })

  it('property: applying the changes of every leaf path to prev gives next (for objects of scalars)', () => {
    const leafObj = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.dictionary(fc.constantFrom('x', 'y'), fc.integer())))
    fc.assert(fc.property(leafObj, leafObj, (prev, next) => {
      const changes = infoChanges(prev as JsonObject, next as JsonObject)
      const out = structuredClone(prev) as Record<string, unknown>
      for (const [path, ch] of Object.entries(changes) as Array<[string, { newValue?: unknown }]>) {
        const keys = path.split('.')
        let node = out
        for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>
        const last = keys[keys.length - 1] as string
        if ('newValue' in ch) node[last] = ch.newValue
        else delete node[last]
      }
      expect(out).toEqual(next)
    }))
  })
})

describe('currentInfoChanges (entries stored before)', () => {
  it('converts {old, new} per top-level key into the current shape; current entries pass unchanged', () => {
    expect(currentInfoChanges({ pos: { old: 'A0', new: 'A1' }, site: { old: { col: 1 }, new: { col: 2 } }, tags: { old: ['a'], new: ['a', 'b'] }, added: { new: 3 } })).toEqual({
      pos: { oldValue: 'A0', newValue: 'A1' },
      'site.col': { oldValue: 1, newValue: 2 },
      tags: { additions: ['b'], deletions: [] },
      added: { newValue: 3 }
    })
    const current = { 'site.col': { oldValue: 1, newValue: 2 } }
    expect(currentInfoChanges(current)).toBe(current)
    expect(currentInfoChanges({})).toEqual({})
  })
})
