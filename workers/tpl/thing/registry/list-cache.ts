/**
 * Replies of `listThings` kept while nothing they were computed from has changed, so that the
 * orchestrator's and dashboards' polling of a large rack (the same request, many times a second)
 * does not rebuild, filter, sort and project every thing's document each time.
 *
 * A reply depends only on the request, the rack id and, per thing in registry order, its
 * record and its `last`. Both are replaced, never changed in place, whenever a thing changes
 * (registry writes swap in a new record; a collection, a restore, an alert or DHCP update
 * assigns a new `last`), so a kept reply is valid exactly while the registry lists the same
 * states in the same order with the same record and `last` objects, under the same rack id.
 * Checking that costs a few comparisons per thing; a new collection anywhere in the rack makes
 * the next request compute afresh.
 */
import type { ThingLast, ThingRecord, ThingState } from '../types'

/** Distinct requests kept (the oldest is dropped beyond it). */
export const LIST_CACHE_ENTRIES = 16

interface Entry<T> {
  states: ThingState[]
  records: ThingRecord[]
  lasts: ThingLast[]
  rackId: string
  value: T
}

export class ListCache<T> {
  private readonly entries = new Map<string, Entry<T>>()

  /** The value kept for `key`, if the things and the rack id are still those it was computed from. */
  get (key: string, states: readonly ThingState[], rackId: string): T | undefined {
    const e = this.entries.get(key)
    if (e === undefined) return undefined
    if (e.rackId !== rackId || e.states.length !== states.length) return this.drop(key)
    for (let i = 0; i < states.length; i++) {
      const s = states[i] as ThingState
      if (s !== e.states[i] || s.record !== e.records[i] || s.last !== e.lasts[i]) return this.drop(key)
    }
    return e.value
  }

  set (key: string, states: readonly ThingState[], rackId: string, value: T): void {
    this.entries.delete(key)
    if (this.entries.size >= LIST_CACHE_ENTRIES) this.entries.delete(this.entries.keys().next().value as string)
    this.entries.set(key, {
      states: [...states],
      records: states.map((s) => s.record),
      lasts: states.map((s) => s.last),
      rackId,
      value
    })
  }

  get size (): number {
    return this.entries.size
  }

  private drop (key: string): undefined {
    this.entries.delete(key)
    return undefined
  }
}
