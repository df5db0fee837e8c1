import { describe, expect, it } from 'vitest'
import { LIST_CACHE_ENTRIES, ListCache } from '../../../../workers/tpl/thing/registry/list-cache'
import type { ThingRecord, ThingState } from '../../../../workers/tpl/thing/types'

function state (id: string): ThingState {
  const record = { id, code: id, type: 't', tags: [], info: {}, opts: {}, comments: [] } as unknown as ThingRecord
  return { record, ctrl: null, last: {}, collecting: false, lastStoredTs: 0, forgotten: false }
}

describe('ListCache', () => {
  it('keeps a value while the same states hold the same record and last objects', () => {
    const cache = new ListCache<string>()
    const a = state('a')
    const b = state('b')
    cache.set('k', [a, b], 'rack', 'v1')
    expect(cache.get('k', [a, b], 'rack')).toBe('v1')
    expect(cache.get('other', [a, b], 'rack')).toBeUndefined()
    // flags that do not change a document do not matter
    a.collecting = true
    expect(cache.get('k', [a, b], 'rack')).toBe('v1')
  })

  it('drops it when a last or a record is replaced, a thing comes or goes, the order or the rack id changes', () => {
    const cache = new ListCache<string>()
    const a = state('a')
    const b = state('b')
    const changes: Array<() => [ThingState[], string]> = [
      () => { a.last = { ...a.last, ts: 1 }; return [[a, b], 'rack'] },
      () => { b.record = { ...b.record, info: { x: 1 } }; return [[a, b], 'rack'] },
      () => [[a, b, state('c')], 'rack'],
      () => [[a], 'rack'],
      () => [[b, a], 'rack'],
      () => [[a, b], 'other-rack']
    ]
    for (const change of changes) {
      cache.set('k', [a, b], 'rack', 'v')
      const [states, rack] = change()
      expect(cache.get('k', states, rack)).toBeUndefined()
      // dropped: not even the original list finds it
      expect(cache.get('k', [a, b], 'rack')).toBeUndefined()
    }
  })

  it('holds a bounded number of requests, dropping the oldest', () => {
    const cache = new ListCache<number>()
    const s = [state('a')]
    for (let i = 0; i < LIST_CACHE_ENTRIES + 5; i++) cache.set(`k${i}`, s, 'r', i)
    expect(cache.size).toBe(LIST_CACHE_ENTRIES)
    expect(cache.get('k0', s, 'r')).toBeUndefined()
    expect(cache.get(`k${LIST_CACHE_ENTRIES + 4}`, s, 'r')).toBe(LIST_CACHE_ENTRIES + 4)
  })
})
