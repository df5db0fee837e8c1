/**
 * BaseThing's collection sharing and read-your-writes, with collections and writes the test
 * settles by hand (no device, no timers).
 */
import { describe, expect, it } from 'vitest'
import { BaseThing } from '../../../workers/tpl/thing/base-thing'

interface Snap { success: true, n: number }

interface Deferred<T> {
  promise: Promise<T>
  resolve: (v: T) => void
  reject: (e: Error) => void
}

function deferred<T> (): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: Error) => void
  const promise = new Promise<T>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
  return { promise, resolve, reject }
}

/** Each collection waits until the test settles it; writes too. */
class HandThing extends BaseThing<Snap> {
  readonly collections: Array<Deferred<Snap>> = []

  protected collectSnap (): Promise<Snap> {
    const d = deferred<Snap>()
    this.collections.push(d)
    return d.promise
  }

  write (op: Promise<void>): Promise<void> {
    return this.controlWrite(() => op)
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('BaseThing.getSnap', () => {
  it('concurrent calls without a write in between share one collection', async () => {
    const t = new HandThing()
    const a = t.getSnap()
    const b = t.getSnap({ actionId: 1 })
    expect(b).toBe(a)
    expect(t.collections).toHaveLength(1)
    t.collections[0].resolve({ success: true, n: 1 })
    expect(await a).toEqual({ success: true, n: 1 })
    // after it settled, the next call collects again
    void t.getSnap()
    expect(t.collections).toHaveLength(2)
  })

  it('after a write settled, getSnap never joins a collection that started before it', async () => {
    const t = new HandThing()
    const loop = t.getSnap()
    const w = deferred<void>()
    const writing = t.write(w.promise)
    // the write is not acknowledged yet: joining is still fine
    expect(t.getSnap()).toBe(loop)
    w.resolve()
    await writing
    const after = t.getSnap()
    expect(after).not.toBe(loop)
    expect(t.collections).toHaveLength(2)
    expect(t.getSnap()).toBe(after) // later callers share the new one
    // the old collection finishes last: its callers get it, lastSnap stays the newer result
    t.collections[1].resolve({ success: true, n: 2 })
    expect(await after).toEqual({ success: true, n: 2 })
    t.collections[0].resolve({ success: true, n: 1 })
    expect(await loop).toEqual({ success: true, n: 1 })
    await tick()
    expect(t.lastSnap).toEqual({ success: true, n: 2 })
  })

  it('a failed write counts too (it may have landed in part)', async () => {
    const t = new HandThing()
    const loop = t.getSnap()
    await expect(t.write(Promise.reject(new Error('ERR_X')))).rejects.toThrow('ERR_X')
    expect(t.getSnap()).not.toBe(loop)
  })
})
